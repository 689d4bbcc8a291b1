"""Evaluation metrics of the paper's protocols (Sec. 4.1-4.2, Eq. 8).

- :func:`nme_2d` -- per-sample 2D NME normalised by ``sqrt(w*h)`` of the ground-truth
  landmark box (AFLW2000-3D protocol, Eq. 8); :func:`box_norm` is that normaliser.
- :func:`nme_by_yaw` -- mean NME in the |yaw| bins of :data:`YAW_BINS` ([0,30], (30,60],
  (60,90]) and "All" as the mean of the three bin means (the number the papers print, x100).
- :func:`group_nme` -- the mean error of each face part (jaw, brows, ...), normalised like Eq. 8.
- :func:`pose_mae` -- head-pose MAE (degrees) of yaw, pitch, roll and their mean, dropping
  samples whose ground-truth angles leave [-99, 99] degrees (:func:`pose_keep_mask`).
- :func:`points_to_image` -- crop-frame predictions mapped back to the original image
  through the crop boxes (x, y and z scaled), :func:`nme_2d_from_crop` -- Eq. 8 after that map.
- :func:`aflw21_from_68` / :func:`nme_aflw21` -- the 21-point AFLW variant (Table 5, Table S2
  backbone study): the 19 AFLW points that have an iBUG-68 counterpart, with visibility.
- :func:`nme_3d` -- optional 3D variant of Eq. 8.

The 3D face-modelling protocols (Table 9, 10) are in :mod:`m3lrn_lib.protocols`.

Predictions and ground truth must be in the same frame (e.g. both mapped back to the
original image through the crop box); all functions take torch tensors or numpy arrays.
"""
from __future__ import annotations

import math

import numpy as np

#: The |yaw| bins of the AFLW2000-3D protocol in degrees, ``(low, high)``: the first includes
#: both ends, the others only their upper end. The one definition of the bins in the library.
YAW_BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0))
#: The bins' names, the keys of :func:`nme_by_yaw`: ``"[0,30]"``, ``"(30,60]"``, ``"(60,90]"``.
BIN_NAMES = tuple(f"{'[' if i == 0 else '('}{lo:g},{hi:g}]" for i, (lo, hi) in enumerate(YAW_BINS))


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def box_norm(gt, mask=None) -> np.ndarray:
    """Eq. 8's normaliser per sample: ``sqrt(w*h)`` of the ground-truth landmark box.

    Args:
        gt: (B, K, >=2) landmarks (only x, y are used).
        mask: optional (B, K) bool, the points that span the box (NaN coordinates of those are
            skipped); without it every point counts.
    Returns:
        (B,) float64.
    """
    g = _np(gt)[..., :2]
    if mask is None:
        wh = g.max(axis=1) - g.min(axis=1)
    else:
        big = np.where(np.asarray(mask, bool)[..., None], g, np.nan)
        wh = np.nanmax(big, axis=1) - np.nanmin(big, axis=1)
    return np.sqrt(wh[:, 0] * wh[:, 1])


def nme_2d(pred, gt, mask=None) -> np.ndarray:
    """Eq. 8 per sample: mean 2D L2 error / sqrt(w*h) of the GT landmark bounding box.

    Args:
        pred, gt: (B, K, >=2) landmarks (only x, y are used).
        mask: optional (B, K) bool, the points that count (e.g. AFLW's visible points); the
            box and the mean are then taken over those points only.
    Returns:
        (B,) NME values (fractions; multiply by 100 for the papers' numbers).
    """
    p, g = _np(pred)[..., :2], _np(gt)[..., :2]
    if p.shape != g.shape or p.ndim != 3:
        raise ValueError(f"pred and gt must both be (B, K, 2+), got {p.shape} and {g.shape}")
    if mask is None:
        m = np.ones(g.shape[:2], bool)
    else:
        m = _np(mask) > 0.5
        if m.shape != g.shape[:2]:
            raise ValueError(f"mask must be (B, K) = {g.shape[:2]}, got {m.shape}")
        if not m.any(axis=1).all():
            raise ValueError("a sample has no point left in the mask")
    norm = box_norm(g, m)
    if np.any(~(norm > 0)):
        raise ValueError("a ground-truth landmark box has zero area")
    err = np.where(m, np.linalg.norm(np.nan_to_num(p - g), axis=2), 0.0)
    return err.sum(axis=1) / m.sum(axis=1) / norm


def points_to_image(points, boxes, size: int = 120) -> np.ndarray:
    """Crop-frame points -> original image frame through each sample's crop box.

    The inverse of the crop map of :mod:`m3lrn_lib.data.crop` for a batch:
    ``x = x_c / k + x0``, ``y = y_c / k + y0``, ``z = z_c / k`` with ``k = size / (x1 - x0)``.

    Args:
        points: (B, K, 2 or 3) in the ``size`` crop's pixel frame; boxes: (B, 4) ``[x0, y0, x1, y1]``.
    Returns:
        (B, K, 2 or 3) float64 in the original image frame.
    """
    p, b = _np(points).copy(), _np(boxes)
    if p.ndim != 3 or b.shape != (p.shape[0], 4):
        raise ValueError(f"points must be (B, K, 2+) and boxes (B, 4), got {p.shape} and {b.shape}")
    side = b[:, 2] - b[:, 0]
    if np.any(~(side > 0)):
        raise ValueError("crop boxes must have positive size")
    inv = (side / size)[:, None]
    p[..., 0] = p[..., 0] * inv + b[:, None, 0]
    p[..., 1] = p[..., 1] * inv + b[:, None, 1]
    if p.shape[-1] > 2:
        p[..., 2:] *= inv[..., None]
    return p


def nme_2d_from_crop(pred_crop, boxes, gt_image, size: int = 120, mask=None) -> np.ndarray:
    """AFLW2000-3D protocol: crop-frame predictions mapped back through the crop boxes, then
    Eq. 8 against image-frame ground truth. (B, K, 2+), (B, 4), (B, K, 2+) -> (B,)."""
    return nme_2d(points_to_image(pred_crop, boxes, size), gt_image, mask)


def nme_3d(pred, gt) -> np.ndarray:
    """Optional 3D variant: mean 3D L2 error / sqrt(w*h) of the GT 2D box. (B,) values."""
    p, g = _np(pred), _np(gt)
    return np.linalg.norm(p[..., :3] - g[..., :3], axis=2).mean(axis=1) / box_norm(g)


def group_nme(pred, gt, groups: dict | None = None) -> dict:
    """Mean 2D error per landmark group, normalised like Eq. 8 (x100).

    Args:
        pred, gt: (N, 68, >=2) landmarks. groups: ``{name: [indices]}`` (default
            :data:`m3lrn_lib.morphable.model.IBUG_PARTS`: jaw, brows, nose, eyes, mouth).
    Returns:
        ``{group: value}`` -- the part of the NME that group's points contribute on average.
    """
    if groups is None:
        from .morphable.model import IBUG_PARTS as groups
    err = point_errors(pred, gt)  # (N, 68)
    return {k: float(err[:, idx].mean() * 100) for k, idx in groups.items()}


def point_errors(pred, ref, box_of=None) -> np.ndarray:
    """Eq. 8 per point: the 2D distance ``|pred - ref|`` of every point divided by the box size
    (:func:`box_norm`) of ``box_of`` (default ``ref``, the ground truth). (N, K, >=2) x2 -> (N, K).
    Pass ``box_of=gt`` to measure, in the NME's unit, how far one prediction is from another."""
    p, r = _np(pred)[..., :2], _np(ref)[..., :2]
    return np.linalg.norm(p - r, axis=2) / box_norm(r if box_of is None else _np(box_of))[:, None]


def yaw_bin(yaw_deg) -> np.ndarray:
    """Bin index 0/1/2 of |yaw| in :data:`YAW_BINS` ([0,30], (30,60], (60,90]); -1 beyond 90 degrees."""
    a = np.abs(_np(yaw_deg))
    out = np.full(a.shape, -1, dtype=np.int64)
    for i in reversed(range(len(YAW_BINS))):
        out[a <= YAW_BINS[i][1]] = i
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
    out["counts"] = [int((b == i).sum()) for i in range(len(BIN_NAMES))]
    return out


# ----------------------------------------------------------------------------- AFLW 21
#: The 21 AFLW points in AFLW's order. "Left"/"right" are the *subject's* left/right
#: throughout (also for corners: "LeftBrowLeftCorner" is the brow end on the subject's left).
AFLW21_NAMES = ("LeftBrowLeftCorner", "LeftBrowCenter", "LeftBrowRightCorner", "RightBrowLeftCorner",
                "RightBrowCenter", "RightBrowRightCorner", "LeftEyeLeftCorner", "LeftEyeCenter",
                "LeftEyeRightCorner", "RightEyeLeftCorner", "RightEyeCenter", "RightEyeRightCorner",
                "LeftEar", "NoseLeft", "NoseCenter", "NoseRight", "RightEar", "MouthLeftCorner",
                "MouthCenter", "MouthRightCorner", "ChinCenter")

#: iBUG-68 (0-based) points averaged to make each AFLW point; () for the ears, which iBUG-68
#: lacks (they never count). iBUG point 0 is the jaw end on the subject's right (image left
#: in a frontal view); eye/mouth centres are means of the contour points, NoseCenter is the tip.
AFLW21_FROM_IBUG68 = ((26,), (24,), (22,), (21,), (19,), (17,), (45,), (42, 43, 44, 45, 46, 47), (42,),
                      (39,), (36, 37, 38, 39, 40, 41), (36,), (), (35,), (30,), (31,), (), (54,),
                      (62, 66), (48,), (8,))


def aflw21_from_68(points) -> np.ndarray:
    """(B, 68, C) iBUG-68 points -> (B, 21, C) AFLW points (ears NaN).

    Used for predictions, and for ground truth that only exists in the 68-point definition
    (our synthetic counterpart of the AFLW full set).
    """
    p = _np(points)
    if p.ndim != 3 or p.shape[1] != 68:
        raise ValueError(f"points must be (B, 68, C), got {p.shape}")
    out = np.full((p.shape[0], 21, p.shape[2]), np.nan)
    for j, idx in enumerate(AFLW21_FROM_IBUG68):
        if idx:
            out[:, j] = p[:, list(idx)].mean(axis=1)
    return out


def nme_aflw21(pred68, gt21, visible=None) -> np.ndarray:
    """AFLW 21-point NME (Table 5): Eq. 8 over the points that are visible in the ground
    truth and have an iBUG-68 counterpart (at most 19 of 21).

    Args:
        pred68: (B, 68, 2+) predictions in the image frame.
        gt21: (B, 21, 2+) ground truth in :data:`AFLW21_NAMES` order (NaN = not annotated).
        visible: optional (B, 21) visibility flags of the annotation.
    Returns:
        (B,) NME values (fractions).
    """
    p, g = aflw21_from_68(pred68)[..., :2], _np(gt21)[..., :2]
    if g.shape != p.shape:
        raise ValueError(f"gt21 must be (B, 21, 2+) matching the predictions, got {_np(gt21).shape}")
    m = np.isfinite(g).all(-1) & np.isfinite(p).all(-1)
    if visible is not None:
        m &= _np(visible) > 0.5
    return nme_2d(p, g, m)


# ----------------------------------------------------------------------------- pose
def pose_keep_mask(gt_deg, limit: float = 99.0) -> np.ndarray:
    """(B,) bool: samples whose ground-truth (yaw, pitch, roll) all lie in [-limit, limit] deg."""
    return np.all(np.abs(_np(gt_deg)) <= limit, axis=1)


def pose_mae(pred_deg, gt_deg, limit: float = 99.0) -> dict:
    """Head-pose MAE in degrees (Sec. 4.2).

    Args:
        pred_deg, gt_deg: (B, 3) (yaw, pitch, roll) in degrees.
        limit: samples with any |ground-truth angle| > limit are dropped (AFLW2000-3D: 31 of 2000).
    Returns:
        dict ``yaw``, ``pitch``, ``roll``, ``mean`` (MAE) and ``n`` (samples kept).
    """
    p, g = _np(pred_deg), _np(gt_deg)
    if p.shape != g.shape or p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"pred_deg and gt_deg must both be (B, 3), got {p.shape} and {g.shape}")
    keep = pose_keep_mask(g, limit)
    err = np.abs(p[keep] - g[keep])
    mae = err.mean(axis=0) if keep.any() else np.full(3, math.nan)
    return {"yaw": float(mae[0]), "pitch": float(mae[1]), "roll": float(mae[2]),
            "mean": float(mae.mean()), "n": int(keep.sum())}
