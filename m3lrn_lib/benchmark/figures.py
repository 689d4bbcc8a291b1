"""Figures and small tables of benchmark results (notebook 06): NME by yaw bin, error CDFs, the
hardest faces. Inputs are :func:`m3lrn_lib.benchmark.run` reports (made with ``keep_arrays=True``
where per-face arrays are needed). The speed table is :func:`m3lrn_lib.benchmark.speed.format_speed_table`."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..metrics import BIN_NAMES

__all__ = ["nme_by_yaw_figure", "nme_cdf_figure", "hardest_faces", "summary_markdown"]


def _measurements(report: dict) -> list[dict]:
    if "measurements" not in report:
        raise KeyError("not a benchmark report (no 'measurements'); make one with m3lrn_lib.benchmark.run")
    return report["measurements"]


def nme_by_yaw_figure(report: dict, key: str = "nme68", title: str | None = None) -> go.Figure:
    """Grouped bars: mean NME (%) per |yaw| bin and "All" (Eq. 8, mean of the bin means), one bar
    colour per checkpoint of ``report``; ``key`` is ``'nme68'``, ``'nme68_coarse'`` or ``'nme21'``."""
    cols = [*BIN_NAMES, "All"]
    fig = go.Figure()
    for r in _measurements(report):
        vals = [r[key].get(c) for c in cols]
        fig.add_trace(go.Bar(name=r["label"], x=cols, y=vals, text=[f"{v:.2f}" if v is not None else "" for v in vals],
                             textposition="outside"))
    fig.update_layout(barmode="group", yaxis_title="NME (%)", xaxis_title="|yaw| bin",
                      title=title or f"{key}: NME by yaw ({report['data']['kind']} data, n={report['data']['n']})",
                      height=420, margin=dict(l=50, r=10, t=50, b=40))
    return fig


def nme_cdf_figure(per_face: dict, key: str = "nme", max_nme: float = 20.0) -> go.Figure:
    """Cumulative error distribution: fraction of faces with NME (%) <= x, one curve per label.

    Args:
        per_face: {label: arrays} from ``run(..., keep_arrays=True)["per_face"]``.
        key: ``'nme'`` (refined) or ``'nme_coarse'`` (first stage).
    """
    fig = go.Figure()
    for label, a in per_face.items():
        x = np.sort(np.asarray(a[key]) * 100)
        y = np.arange(1, len(x) + 1) / len(x)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"{label} (median {np.median(x):.2f})"))
    fig.update_layout(xaxis_title="NME (%)", yaxis_title="fraction of faces", xaxis_range=[0, max_nme],
                      yaxis_range=[0, 1.01], height=380, title="Cumulative error distribution",
                      margin=dict(l=50, r=10, t=50, b=40))
    return fig


def hardest_faces(per_face: dict, label: str, k: int = 4, by: str = "yaw") -> np.ndarray:
    """Indices of ``k`` hard test faces: the largest |yaw| (``by='yaw'``) or the largest NME of
    checkpoint ``label`` (``by='nme'``); (k,) int64, hardest first."""
    if label not in per_face:
        raise KeyError(f"no per-face arrays for {label!r}; have {list(per_face)}")
    a = per_face[label]
    if by == "yaw":
        score = np.abs(np.asarray(a["yaw"]))
    elif by == "nme":
        score = np.asarray(a["nme"])
    else:
        raise ValueError(f"by must be 'yaw' or 'nme', got {by!r}")
    return np.argsort(-score, kind="stable")[:k].astype(np.int64)


def summary_markdown(report: dict) -> str:
    """One row per checkpoint: NME by yaw (refined and first stage), AFLW-21 "All", pose MAE,
    protocol 1/2 and Florence RMSE where measured."""
    head = ["checkpoint", "variant", *BIN_NAMES, "All", "All (1st stage)", "All (21 pts)", "yaw", "pitch", "roll",
            "pose mean", "P1 NME", "P2 NME", "Florence RMSE"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def f(v, fmt="{:.2f}"):
        return "—" if v is None else fmt.format(v)

    for r in _measurements(report):
        p1, p2, fl = r.get("protocol1"), r.get("protocol2"), r.get("florence")
        cells = [f"`{r['label']}`", r["variant"], *[f(r["nme68"].get(c)) for c in BIN_NAMES], f(r["nme68"]["All"]),
                 f(r["nme68_coarse"]["All"]), f(r["nme21"]["All"]), f(r["pose"]["yaw"]), f(r["pose"]["pitch"]),
                 f(r["pose"]["roll"]), f(r["pose"]["mean"]), f(p1 and p1["nme"]), f(p2 and p2["nme"]),
                 f(fl and fl["rmse"])]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
