"""Evaluation metrics of the paper's protocols (Sec. 4.1-4.2, Eq. 8).

- :func:`nme_2d` -- per-sample 2D NME normalised by ``sqrt(w*h)`` of the ground-truth
  landmark box (AFLW2000-3D protocol, Eq. 8).
- :func:`nme_by_yaw` -- mean NME in the |yaw| bins [0,30], (30,60], (60,90] and "All" as the
  mean of the three bin means (the number the papers print, x100).
- :func:`pose_mae` -- head-pose MAE (degrees) of yaw, pitch, roll and their mean, dropping
  samples whose ground-truth angles leave [-99, 99] degrees.

Predictions and ground truth must be in the same frame (e.g. both mapped back to the
original image through the crop box); all functions take torch tensors or numpy arrays.
"""
from __future__ import annotations

import math

import numpy as np

YAW_BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0))
BIN_NAMES = ("[0,30]", "(30,60]", "(60,90]")


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def nme_2d(pred, gt) -> np.ndarray:
    """Eq. 8 per sample: mean 2D L2 error / sqrt(w*h) of the GT landmark bounding box.

    Args:
        pred, gt: (B, K, >=2) landmarks (only x, y are used).
    Returns:
        (B,) NME values (fractions; multiply by 100 for the papers' numbers).
    """
    p, g = _np(pred)[..., :2], _np(gt)[..., :2]
    if p.shape != g.shape or p.ndim != 3:
        raise ValueError(f"pred and gt must both be (B, K, 2+), got {p.shape} and {g.shape}")
    wh = g.max(axis=1) - g.min(axis=1)
    norm = np.sqrt(wh[:, 0] * wh[:, 1])
    if np.any(norm <= 0):
        raise ValueError("a ground-truth landmark box has zero area")
    return np.linalg.norm(p - g, axis=2).mean(axis=1) / norm


def nme_3d(pred, gt) -> np.ndarray:
    """Optional 3D variant: mean 3D L2 error / sqrt(w*h) of the GT 2D box. (B,) values."""
    p, g = _np(pred), _np(gt)
    wh = g[..., :2].max(axis=1) - g[..., :2].min(axis=1)
    return np.linalg.norm(p[..., :3] - g[..., :3], axis=2).mean(axis=1) / np.sqrt(wh[:, 0] * wh[:, 1])


def yaw_bin(yaw_deg) -> np.ndarray:
    """Bin index 0/1/2 of |yaw| in [0,30], (30,60], (60,90]; -1 beyond 90 degrees."""
    a = np.abs(_np(yaw_deg))
    out = np.full(a.shape, -1, dtype=np.int64)
    out[a <= 90] = 2
    out[a <= 60] = 1
    out[a <= 30] = 0
    return out


def nme_by_yaw(nme, yaw_deg) -> dict:
    """Mean NME (x100) per |yaw| bin and "All" = mean of the bin means (AFLW2000-3D protocol).

    Args:
        nme: (B,) per-sample NME from :func:`nme_2d`; yaw_deg: (B,) ground-truth yaw in degrees.
    Returns:
        dict with the three bin names, ``"All"``, ``"mean"`` (plain mean over samples) and
        ``"counts"`` per bin. Empty bins give NaN and are left out of "All".
    """
    n, b = _np(nme), yaw_bin(yaw_deg)
    out, means = {}, []
    for i, name in enumerate(BIN_NAMES):
        sel = n[b == i]
        out[name] = float(sel.mean() * 100) if sel.size else math.nan
        if sel.size:
            means.append(out[name])
    out["All"] = float(np.mean(means)) if means else math.nan
    out["mean"] = float(n.mean() * 100) if n.size else math.nan
    out["counts"] = [int((b == i).sum()) for i in range(3)]
    return out


def pose_mae(pred_deg, gt_deg, limit: float = 99.0) -> dict:
    """Head-pose MAE in degrees (Sec. 4.2).

    Args:
        pred_deg, gt_deg: (B, 3) (yaw, pitch, roll) in degrees.
        limit: samples with any |ground-truth angle| > limit are dropped (AFLW2000-3D: 31 of 2000).
    Returns:
        dict ``yaw``, ``pitch``, ``roll``, ``mean`` (MAE) and ``n`` (samples kept).
    """
    p, g = _np(pred_deg), _np(gt_deg)
    keep = np.all(np.abs(g) <= limit, axis=1)
    err = np.abs(p[keep] - g[keep])
    mae = err.mean(axis=0) if keep.any() else np.full(3, math.nan)
    return {"yaw": float(mae[0]), "pitch": float(mae[1]), "roll": float(mae[2]),
            "mean": float(mae.mean()), "n": int(keep.sum())}
