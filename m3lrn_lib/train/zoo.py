"""Re-train the shipped checkpoints: one per ablation row of Table 1 (+ Table S2's extra-MLP stage).

    python -m m3lrn_lib.train.zoo                       # all five, `cpu` preset: ~20 min each alone on 2 CPU cores
    python -m m3lrn_lib.train.zoo --only full,baseline  # some of them
    python -m m3lrn_lib.train.zoo --config paper data.train=/data/300W_LP_3ddfa   # on a GPU, real data

For each row it trains a run (resumable: an interrupted zoo continues where it stopped) in
``--runs`` (default ``runs/zoo``), then writes into ``--out`` (default ``data/checkpoints``):

* ``NAME.pt`` -- fp16 weights (:func:`m3lrn_lib.train.checkpoint.export_weights`) of the best
  validation epoch, with the resolved configuration, the epoch / validation log, the
  validation metrics and the training wall time inside (4.1M parameters -> ~8 MB for ``full``);
* ``NAME.toml`` (resolved configuration) and ``NAME.log.jsonl`` / ``.csv`` (the full step log);
* ``zoo.json`` -- an index: file, size, wall time, NME, the command that made it.

Load one with :func:`m3lrn_lib.train.load_checkpoint` (or :func:`load_zoo_model`).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

from .checkpoint import export_weights, load_checkpoint
from .config import load_config
from .logs import read_log

__all__ = ["ZOO", "CHECKPOINT_DIR", "train_zoo", "load_zoo_model", "zoo_index", "MAX_BYTES"]

#: The shipped checkpoints (``data/checkpoints``); the environment variable ``M3LRN_CHECKPOINTS``
#: points the notebooks and :func:`load_zoo_model` at another folder (e.g. your own zoo).
CHECKPOINT_DIR = Path(os.environ.get("M3LRN_CHECKPOINTS") or Path(__file__).resolve().parents[2] / "data" / "checkpoints")
MAX_BYTES = 8_000_000  # 8 MB per shipped checkpoint (the repository keeps no file over 8 MB)

#: name -> (M3LRN preset, the row of the paper it reproduces)
ZOO = {
    "baseline": ("baseline", "Table 1 row 1: first stage only (MobileNet-V2 + 3 FC heads)"),
    "m2fa": ("m2fa", "Table 1 row 2: + M2FA landmark refinement"),
    "lgs": ("lgs", "Table 1 row 3: + LGS (landmark-to-3DMM) from the coarse landmarks"),
    "full": ("full", "Table 1 row 4: M2FA + LGS, the full M^3-LRN"),
    "baseline_extra_mlp": ("baseline_extra_mlp", "Table S2: first stage with MLP heads of the full model's size"),
}


def zoo_index(out=CHECKPOINT_DIR) -> dict:
    """The ``zoo.json`` index of a checkpoint folder ({} when there is none)."""
    p = Path(out) / "zoo.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def load_zoo_model(name: str = "full", out=CHECKPOINT_DIR, model=None):
    """The shipped network ``name`` (see :data:`ZOO`) in eval mode; FileNotFoundError with the
    command that makes it when the file is missing."""
    if name not in ZOO:
        raise ValueError(f"unknown zoo entry {name!r}; choose one of {list(ZOO)}")
    path = Path(out) / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; make it with `python -m m3lrn_lib.train.zoo --only {name}`")
    return load_checkpoint(path, model)


def train_zoo(out=CHECKPOINT_DIR, config="cpu", overrides=(), only=None, runs_dir="runs/zoo",
              fresh: bool = False, log=print) -> dict:
    """Train the zoo entries ``only`` (default all) and export them; returns the updated index."""
    from .engine import Trainer
    names = list(ZOO) if not only else list(only)
    unknown = [n for n in names if n not in ZOO]
    if unknown:
        raise ValueError(f"unknown zoo entries {unknown}; choose from {list(ZOO)}")
    out, runs = Path(out), Path(runs_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = zoo_index(out)
    for name in names:
        preset, row = ZOO[name]
        run_dir = runs / name
        if fresh and run_dir.exists():
            shutil.rmtree(run_dir)
        cfg = load_config(config, [*overrides, f"model.preset={preset}", f"run.name=zoo-{name}",
                                   f"run.out_dir={run_dir}"])
        log(f"[zoo] {name}: {row}")
        trainer = Trainer(cfg, resume="auto")
        try:
            summary = trainer.fit()
        finally:
            trainer.close()  # stop this row's DataLoader workers before the next row starts its own
        src = Path(summary["best"] or summary["last"])
        records = read_log(trainer.log_path)
        epochs = [r for r in records if r.get("kind") in ("epoch", "eval")]
        cmd = "python -m m3lrn_lib.train.zoo " + shlex.join(
            ["--config", str(config), "--only", name, *overrides])
        size = export_weights(src, out / f"{name}.pt", fp16=True, log=epochs, wall_time_s=summary["wall_time_s"],
                              zoo_name=name, paper_row=row, command=cmd, exported_from=src.name)
        shutil.copyfile(run_dir / "config.toml", out / f"{name}.toml")
        shutil.copyfile(trainer.log_path, out / f"{name}.log{trainer.log_path.suffix}")
        m = (summary["metrics"] or {})
        index = zoo_index(out)  # re-read: another zoo process (``--only``) may have added entries meanwhile
        index[name] = {"file": f"{name}.pt", "bytes": size, "preset": preset, "row": row,
                       "wall_time_s": round(summary["wall_time_s"], 1), "steps": summary["step"],
                       "epochs": summary["epoch"], "nme_all": m.get("nme_all"), "yaw_mae": m.get("yaw_mae"),
                       "best_epoch": summary["best_epoch"], "skipped_steps": summary["skipped"], "command": cmd}
        atomic_bytes = (json.dumps(index, indent=1) + "\n").encode()
        _write_text(out / "zoo.json", atomic_bytes)
        flag = "" if size <= MAX_BYTES else f"  (over the {MAX_BYTES / 1e6:.0f} MB target!)"
        log(f"[zoo] {name}: {size / 1e6:.2f} MB -> {out / (name + '.pt')}{flag}; "
            f"{summary['wall_time_s'] / 60:.1f} min; NME {m.get('nme_all')}")
    return index


def _write_text(path: Path, data: bytes) -> None:
    from ..fileio import atomic_write_bytes
    atomic_write_bytes(path, data)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m m3lrn_lib.train.zoo", description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(CHECKPOINT_DIR), help="checkpoint folder (default data/checkpoints)")
    ap.add_argument("--config", default="cpu", help="preset or config file (default cpu)")
    ap.add_argument("--only", default="", help=f"comma-separated subset of {','.join(ZOO)}")
    ap.add_argument("--runs", default="runs/zoo", help="folder of the training runs (resumable)")
    ap.add_argument("--fresh", action="store_true", help="delete earlier runs instead of resuming them")
    ap.add_argument("overrides", nargs="*", metavar="section.key=value")
    a = ap.parse_args(argv)
    from ..data import DatasetError
    from .checkpoint import CheckpointError
    from .config import ConfigError
    try:
        train_zoo(a.out, a.config, a.overrides, [s for s in a.only.split(",") if s] or None, a.runs, a.fresh)
    except (ConfigError, DatasetError, CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
