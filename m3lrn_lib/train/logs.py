"""Metrics logs (JSONL or CSV), reading them back, and plots for notebooks.

:class:`MetricsLog` and :func:`read_log` are the log files of both trainers (the texture GAN's
``log.jsonl`` too, with its own record fields); the plots are the landmark trainer's.

Every record has ``kind`` (``step``, ``epoch`` or ``eval``), ``epoch`` and ``step``. Step records
carry the loss terms, ``lr``, ``images_per_s`` (all processes together, averaged since the
previous record), ``data_frac`` (share of that time spent waiting for data) and ``skipped``
(steps skipped so far because of non-finite values). Epoch records carry ``train_loss`` and
``epoch_s``; eval records the validation NME (x100) by yaw bin and the pose MAE (degrees).
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

__all__ = ["FIELDS", "MetricsLog", "read_log", "plot_log", "LivePlot", "eval_record"]

FIELDS = ["kind", "epoch", "step", "lr", "total", "loss_3dmm", "loss_lmk", "loss_3dmm_lmk", "loss_g",
          "loss_lmk_coarse", "images_per_s", "data_frac", "skipped", "elapsed_s", "train_loss", "epoch_s",
          "nme_all", "nme_0_30", "nme_30_60", "nme_60_90", "nme_coarse_all", "yaw_mae", "pitch_mae",
          "roll_mae", "pose_mae", "n_eval"]


def eval_record(result: dict) -> dict:
    """Flatten :func:`m3lrn_lib.train.evaluate`'s result into log fields."""
    n, p = result["nme"], result["pose"]
    return {"nme_all": n["All"], "nme_0_30": n["[0,30]"], "nme_30_60": n["(30,60]"], "nme_60_90": n["(60,90]"],
            "nme_coarse_all": result["nme_coarse"]["All"], "yaw_mae": p["yaw"], "pitch_mae": p["pitch"],
            "roll_mae": p["roll"], "pose_mae": p["mean"], "n_eval": result["n"]}


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class MetricsLog:
    """Append-only log file. ``resume_step``: keep only records up to that step (a run killed
    after its last checkpoint logged steps that the resumed run will repeat). ``fields``: the
    allowed record keys, in the CSV's column order (None: any keys, JSONL only)."""

    def __init__(self, path, fmt: str = "jsonl", resume_step: int | None = None, fields=FIELDS):
        if fields is None and fmt == "csv":
            raise ValueError("a CSV log needs its fields")
        self.path, self.fmt, self.fields = Path(path), fmt, fields
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None or not self.path.exists():
            self._start()
        else:
            keep = [r for r in read_log(self.path) if (r.get("step") or 0) <= resume_step]
            self._start()
            for r in keep:
                self.write(r)

    def _start(self):
        with open(self.path, "w", newline="") as fh:
            if self.fmt == "csv":
                csv.writer(fh).writerow(self.fields)

    def write(self, record: dict) -> None:
        extra = sorted(set(record) - set(self.fields)) if self.fields is not None else []
        if extra:
            raise KeyError(f"unknown log fields {extra}")
        with open(self.path, "a", newline="") as fh:
            if self.fmt == "csv":
                csv.writer(fh).writerow(["" if _clean(record.get(k)) is None else record.get(k) for k in self.fields])
            else:
                fh.write(json.dumps({k: _clean(v) for k, v in record.items()}) + "\n")


def _num(s: str):
    if s == "":
        return None
    try:
        return int(s)
    except ValueError:
        try:
            return float(s)
        except ValueError:
            return s


def read_log(path) -> list[dict]:
    """Records of a ``.jsonl`` or ``.csv`` log (empty cells / nulls left out)."""
    path = Path(path)
    if path.suffix == ".csv":
        with open(path, newline="") as fh:
            return [{k: _num(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                out.append({k: v for k, v in json.loads(line).items() if v is not None})
            except json.JSONDecodeError:  # a line cut by a kill
                continue
    return out


def _records(log) -> list[dict]:
    return read_log(log) if isinstance(log, (str, Path)) else list(log)


def plot_log(log, fig=None, title: str | None = None):
    """Four panels from a log (path or records): training loss, learning rate, throughput,
    validation NME. Returns the matplotlib figure."""
    import matplotlib.pyplot as plt
    recs = _records(log)
    steps = [r for r in recs if r.get("kind") == "step"]
    evals = [r for r in recs if r.get("kind") == "eval"]
    if fig is None:
        fig = plt.figure(figsize=(13, 3))
    fig.clear()
    ax = fig.subplots(1, 4)
    x = [r["step"] for r in steps]
    ax[0].plot(x, [r.get("total", float("nan")) for r in steps], lw=1)
    if any(r.get("total", 0) > 0 for r in steps):
        ax[0].set_yscale("log")
    ax[0].set_title("training loss (Eq. 7)")
    ax[1].plot(x, [r.get("lr", float("nan")) for r in steps])
    ax[1].set_title("learning rate")
    ax[2].plot(x, [r.get("images_per_s", float("nan")) for r in steps])
    ax[2].set_title("images / s")
    for a in ax[:3]:
        a.set_xlabel("step")
    if evals:
        ax[3].plot([r["epoch"] for r in evals], [r.get("nme_all", float("nan")) for r in evals], "o-", label="refined")
        ax[3].plot([r["epoch"] for r in evals], [r.get("nme_coarse_all", float("nan")) for r in evals], "s--",
                   label="first stage")
        ax[3].legend(fontsize=8)
    ax[3].set_title("validation NME (%)")
    ax[3].set_xlabel("epoch")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


class LivePlot:
    """Trainer callback that redraws :func:`plot_log` in a notebook every ``every`` steps."""

    def __init__(self, every: int = 10, title: str | None = None):
        self.every, self.title, self.records, self.handle, self.fig = every, title, [], None, None

    def __call__(self, trainer, record: dict) -> None:
        self.records.append(record)
        if record.get("kind") == "step" and record["step"] % self.every:
            return
        self.draw()

    def draw(self):
        import matplotlib.pyplot as plt
        from IPython.display import display
        if self.fig is None:
            self.fig = plt.figure(figsize=(13, 3))
        plot_log(self.records, self.fig, self.title)
        if self.handle is None:
            self.handle = display(self.fig, display_id=True)
        else:
            self.handle.update(self.fig)

    def close(self):
        """Final redraw, then close the figure (so it is not shown twice)."""
        import matplotlib.pyplot as plt
        if self.fig is not None:
            self.draw()
            plt.close(self.fig)
