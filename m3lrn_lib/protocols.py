"""3D face-modelling protocols (Sec. 4.3, Tables 9 and 10) and the pieces they are made of.

- :func:`umeyama` -- the least-squares similarity ``dst ~ s R src + t`` of corresponding points
  (Umeyama 1991), with or without scale; :func:`icp` -- similarity ICP on nearest neighbours
  (``scipy.spatial.cKDTree``), optionally started from known correspondences.
- :func:`protocol1_nme` -- Table 9, protocol 1: rigid ICP (with scale) of the predicted mesh
  onto the ground truth, then the mean per-vertex 3D error divided by the ground truth's
  outer inter-ocular distance (iBUG points 36 and 45).
- :func:`protocol2_nme` -- Table 9, protocol 2 ("dense alignment"): no ICP, so pose errors
  count; per-vertex error divided by ``sqrt(w*h)`` of the ground-truth landmark box (Eq. 8's B).
- :func:`point_to_plane_rmse`, :func:`florence_rmse` -- Table 10: both meshes cropped to 95 mm
  around the nose tip, ICP, RMSE of the point-to-plane distances (mm).
- :func:`florence_views` / :func:`florence_benchmark` -- the synthetic counterpart of the
  Florence protocol: faces of the embedded model rendered at pitch (-15, 20, 25) x yaw
  (-80, -40, 0, 40, 80) degrees; the ground truth is the same face in millimetres.

Meshes are (N, 3) numpy arrays; per-vertex errors use vertex correspondence when both meshes
share the topology (our predictions and our ground truth do), nearest neighbours otherwise.
NMEs are returned as fractions (x100 for the papers' numbers), RMSEs in the ground truth's unit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

#: iBUG-68 indices of the outer eye corners and the nose tip (0-based).
OUTER_EYES = (36, 45)
NOSE_TIP = 30
#: The Florence protocol's rendering grid (degrees) and crop radius (mm).
FLORENCE_PITCH = (-15.0, 20.0, 25.0)
FLORENCE_YAW = (-80.0, -40.0, 0.0, 40.0, 80.0)
FLORENCE_RADIUS_MM = 95.0


def _pts(a, name: str) -> np.ndarray:
    p = np.asarray(a, np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise ValueError(f"{name} must be a non-empty (N, 3) array, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError(f"{name} contains NaN or inf")
    return p


# ----------------------------------------------------------------------------- similarity
def umeyama(src, dst, scale: bool = True):
    """Least-squares similarity of corresponding points: minimise ``sum |dst - (s R src + t)|^2``.

    Args:
        src, dst: (N, 3) corresponding points (N >= 3, not collinear for a unique R).
        scale: estimate s (else s = 1: a rigid fit).
    Returns:
        ``(s, R, t)``: float, (3, 3) proper rotation (det +1), (3,).
    """
    x, y = _pts(src, "src"), _pts(dst, "dst")
    if x.shape != y.shape:
        raise ValueError(f"src and dst must have the same shape, got {x.shape} and {y.shape}")
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    cov = yc.T @ xc / len(x)
    U, S, Vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        d[2] = -1.0
    R = U @ np.diag(d) @ Vt
    var = (xc ** 2).sum() / len(x)
    s = float((S * d).sum() / var) if scale and var > 0 else 1.0
    return s, R, my - s * R @ mx


def apply_similarity(points, s: float, R, t) -> np.ndarray:
    """``s R p + t`` for (N, 3) points."""
    return s * np.asarray(points, np.float64) @ np.asarray(R).T + np.asarray(t)


@dataclass
class ICPResult:
    """Result of :func:`icp`: ``aligned = s R src + t``; ``rmse`` of the final nearest-neighbour
    distances; ``iterations`` run; ``converged`` when the rmse change fell below ``tol``."""

    s: float
    R: np.ndarray
    t: np.ndarray
    aligned: np.ndarray
    rmse: float
    iterations: int
    converged: bool


def icp(src, dst, iters: int = 30, tol: float = 1e-6, scale: bool = True, correspond: bool = False,
        init=None, tree: cKDTree | None = None) -> ICPResult:
    """Similarity ICP of ``src`` onto ``dst``: nearest neighbours, then :func:`umeyama`, repeated.

    Args:
        src: (N, 3) moving points; dst: (M, 3) fixed points.
        iters: maximum iterations; tol: stop when the relative change of the rmse is below it.
        scale: estimate a scale (similarity ICP) or not (rigid).
        correspond: ``src[i]`` and ``dst[i]`` correspond (same topology): start from their
            Umeyama fit instead of from aligned centroids and RMS radii.
        init: optional ``(s, R, t)`` start (overrides the above).
        tree: a prebuilt ``cKDTree(dst)`` (saves time when ``dst`` is reused).
    Returns:
        :class:`ICPResult`.
    """
    x, y = _pts(src, "src"), _pts(dst, "dst")
    if init is not None:
        s, R, t = init
    elif correspond:
        if x.shape != y.shape:
            raise ValueError("correspond=True needs src and dst of the same shape")
        s, R, t = umeyama(x, y, scale)
    else:
        rx = np.sqrt(((x - x.mean(0)) ** 2).sum(1).mean())
        ry = np.sqrt(((y - y.mean(0)) ** 2).sum(1).mean())
        s = ry / rx if scale and rx > 0 else 1.0
        R = np.eye(3)
        t = y.mean(0) - s * x.mean(0)
    tree = cKDTree(y) if tree is None else tree
    prev, converged, it = np.inf, False, 0
    for it in range(1, iters + 1):
        cur = apply_similarity(x, s, R, t)
        dist, idx = tree.query(cur)
        rmse = float(np.sqrt(np.mean(dist ** 2)))
        if abs(prev - rmse) <= tol * max(rmse, 1e-12):
            converged = True
            break
        prev = rmse
        s, R, t = umeyama(x, y[idx], scale)
    aligned = apply_similarity(x, s, R, t)
    rmse = float(np.sqrt(np.mean(tree.query(aligned)[0] ** 2)))
    return ICPResult(float(s), np.asarray(R), np.asarray(t), aligned, rmse, it, converged)


# ----------------------------------------------------------------------------- Table 9
def _errors(moved, gt) -> np.ndarray:
    """Per-point 3D errors: by correspondence for equal shapes, else nearest neighbour."""
    if moved.shape == gt.shape:
        return np.linalg.norm(moved - gt, axis=1)
    return cKDTree(gt).query(moved)[0]


def protocol1_nme(pred, gt, landmarks=None, iters: int = 20) -> float:
    """Table 9, protocol 1: similarity ICP of ``pred`` onto ``gt``, then mean per-point 3D
    error / the ground truth's outer inter-ocular distance.

    Args:
        pred: (N, 3) predicted mesh; gt: (M, 3) ground-truth mesh, same frame and units.
        landmarks: (68,) iBUG vertex indices of ``gt`` (for the eye corners 36, 45), or a
            (68, 3) array of ground-truth landmarks.
        iters: ICP iterations (started from the vertex correspondence when N == M).
    Returns:
        NME as a fraction.
    """
    p, g = _pts(pred, "pred"), _pts(gt, "gt")
    if landmarks is None:
        raise ValueError("protocol 1 needs the ground truth's landmarks (indices or points) "
                         "for the inter-ocular distance")
    lm = np.asarray(landmarks)
    eyes = g[lm[list(OUTER_EYES)]] if lm.ndim == 1 else _pts(lm, "landmarks")[list(OUTER_EYES)]
    iod = float(np.linalg.norm(eyes[0] - eyes[1]))
    if not iod > 0:
        raise ValueError("the ground truth's outer eye corners coincide (inter-ocular distance 0)")
    res = icp(p, g, iters=iters, scale=True, correspond=p.shape == g.shape)
    return float(_errors(res.aligned, g).mean() / iod)


def protocol2_nme(pred, gt, landmarks=None, dims: int = 3) -> float:
    """Table 9, protocol 2 (dense alignment): no ICP, per-point error of the meshes as
    predicted in the image, / ``sqrt(w*h)`` of the ground-truth landmark box (Eq. 8's B).

    Args:
        pred, gt: (N, 3) meshes in the image frame (x right, y down, z depth), same topology.
        landmarks: (68,) vertex indices or (68, 2+) ground-truth landmarks for the box; None
            uses the box of the whole ground-truth mesh.
        dims: 2 (x, y only) or 3. With 3, each mesh's mean depth is removed first: the depth
            offset of an orthographic projection is not observable in the image.
    Returns:
        NME as a fraction.
    """
    p, g = _pts(pred, "pred"), _pts(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"protocol 2 compares corresponding vertices: pred {p.shape} vs gt {g.shape}")
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, got {dims}")
    if landmarks is None:
        box = g[:, :2]
    else:
        lm = np.asarray(landmarks)
        box = g[lm, :2] if lm.ndim == 1 else np.asarray(lm, np.float64)[:, :2]
    wh = box.max(0) - box.min(0)
    norm = float(np.sqrt(wh[0] * wh[1]))
    if not norm > 0:
        raise ValueError("the ground-truth box has zero area")
    if dims == 2:
        err = np.linalg.norm(p[:, :2] - g[:, :2], axis=1)
    else:
        pc, gc = p.copy(), g.copy()
        pc[:, 2] -= pc[:, 2].mean()
        gc[:, 2] -= gc[:, 2].mean()
        err = np.linalg.norm(pc - gc, axis=1)
    return float(err.mean() / norm)


# ----------------------------------------------------------------------------- Table 10
def point_to_plane_rmse(src, dst, dst_normals, tree: cKDTree | None = None) -> float:
    """RMSE of ``|(p - q) . n_q|`` with q the nearest ``dst`` vertex of each ``src`` point and
    n_q its unit normal. (N, 3), (M, 3), (M, 3) -> float in the points' unit."""
    x, y, n = _pts(src, "src"), _pts(dst, "dst"), _pts(dst_normals, "dst_normals")
    if n.shape != y.shape:
        raise ValueError(f"dst_normals must match dst's shape {y.shape}, got {n.shape}")
    idx = (cKDTree(y) if tree is None else tree).query(x)[1]
    d = np.einsum("ij,ij->i", x - y[idx], n[idx])
    return float(np.sqrt(np.mean(d ** 2)))


def crop_sphere(points, centre, radius: float) -> np.ndarray:
    """(N,) bool mask of the points within ``radius`` of ``centre``."""
    return np.linalg.norm(np.asarray(points, np.float64) - np.asarray(centre, np.float64), axis=1) <= radius


def florence_rmse(pred, gt, gt_normals, pred_landmarks, gt_landmarks, radius: float = FLORENCE_RADIUS_MM,
                  iters: int = 20) -> float:
    """Table 10's error for one view: point-to-plane RMSE (in the ground truth's unit, mm).

    Steps: (1) a similarity from the 68 landmark pairs brings the prediction (pixels) into
    the ground truth's frame (mm); (2) both meshes are cropped to ``radius`` around their
    nose tips (iBUG 30); (3) similarity ICP of the cropped prediction onto the cropped
    ground truth; (4) RMSE of the distances from the aligned predicted points to the planes
    of their nearest ground-truth vertices (normals of the ground-truth mesh).

    Args:
        pred: (N, 3) predicted mesh, any frame; gt: (M, 3) ground-truth scan/mesh in mm;
        gt_normals: (M, 3) unit normals of ``gt``; pred_landmarks, gt_landmarks: (68, 3).
    """
    p, g = _pts(pred, "pred"), _pts(gt, "gt")
    pl, gl = _pts(pred_landmarks, "pred_landmarks"), _pts(gt_landmarks, "gt_landmarks")
    s, R, t = umeyama(pl, gl, scale=True)
    p = apply_similarity(p, s, R, t)
    pl = apply_similarity(pl, s, R, t)
    pm, gm = crop_sphere(p, pl[NOSE_TIP], radius), crop_sphere(g, gl[NOSE_TIP], radius)
    if pm.sum() < 3 or gm.sum() < 3:
        raise ValueError(f"fewer than 3 points within {radius} of the nose tip; are both meshes in mm?")
    tree = cKDTree(g[gm])
    res = icp(p[pm], g[gm], iters=iters, scale=True, init=(1.0, np.eye(3), np.zeros(3)), tree=tree)
    return point_to_plane_rmse(res.aligned, g[gm], np.asarray(gt_normals, np.float64)[gm], tree)


# ----------------------------------------------------------------------------- synthetic Florence
def florence_views(model, n_subjects: int = 4, seed: int = 0, size: int = 160, pitches=FLORENCE_PITCH,
                   yaws=FLORENCE_YAW) -> list[dict]:
    """Synthetic stand-ins for the Florence renders: ``n_subjects`` neutral faces of ``model``
    (shape drawn from its prior, no expression, like the neutral Florence scans) rendered with
    the model's albedo at every (pitch, yaw) of the grid on a grey background.

    Returns:
        list of dicts: ``image`` (size, size, 3) uint8 RGB, ``box`` (4,) benchmark crop box (from
        the true landmarks), ``gt`` (N, 3) the face in millimetres (model frame), ``gt_landmarks``
        (68, 3) mm, ``gt_image`` (N, 3) the rendered mesh in the image frame, ``subject``,
        ``pitch``, ``yaw`` (degrees).
    """
    import torch

    from . import geometry, render
    from .data.crop import box_from_landmarks

    rng = np.random.default_rng([seed, 7])
    mean = model.mean.astype(np.float64)
    albedo = model.albedo_mean if model.albedo_mean is not None else np.tile([0.8, 0.6, 0.5], (model.n_vertices, 1))
    views = []
    for subj in range(n_subjects):
        a_s = np.clip(rng.standard_normal(model.n_shape), -2.5, 2.5) * model.shape_std
        V = mean + (model.shape_basis.astype(np.float64) @ a_s).reshape(-1, 3)
        for pitch in pitches:
            for yaw in yaws:
                Rm = geometry.euler_to_matrix(torch.tensor(np.radians([yaw, pitch, 0.0]))).numpy()
                X = V @ Rm.T
                lm = X[model.landmarks]
                ext = float(max(lm[:, :2].max(0) - lm[:, :2].min(0)))
                k = 0.55 * size / ext  # the landmark box fills 55 % of the image
                img_pts = np.stack([X[:, 0] * k, -X[:, 1] * k, X[:, 2] * k], 1)
                lo, hi = img_pts[model.landmarks, :2].min(0), img_pts[model.landmarks, :2].max(0)
                img_pts[:, :2] += size / 2 - (lo + hi) / 2
                res = render.render(img_pts, model.triangles, albedo, size, size, lighting=render.Lighting(),
                               background=np.array([0.5, 0.5, 0.5]))
                views.append({"image": np.clip(np.rint(res.image * 255), 0, 255).astype(np.uint8),
                              "box": box_from_landmarks(img_pts[model.landmarks]), "gt": V, "gt_image": img_pts,
                              "gt_landmarks": V[model.landmarks], "subject": subj, "pitch": pitch, "yaw": yaw})
    return views


def florence_benchmark(predict, model, n_subjects: int = 4, seed: int = 0, views=None) -> dict:
    """Table 10 on :func:`florence_views`.

    Args:
        predict: ``predict(images (B,H,W,3) uint8, boxes (B,4)) -> (vertices (B,N,3), landmarks
            (B,68,3))`` in the image frame (e.g. :meth:`m3lrn_lib.predict.Predictor.predict_boxes`).
        model: the morphable model of the ground truth (its triangles give the normals).
    Returns:
        dict ``rmse`` (mean over views, mm), ``by_yaw`` {yaw: mean}, ``by_pitch``, ``n_views``,
        ``per_view`` list of (subject, pitch, yaw, rmse).
    """
    from .render import vertex_normals

    views = florence_views(model, n_subjects, seed) if views is None else views
    imgs = np.stack([v["image"] for v in views])
    boxes = np.stack([v["box"] for v in views])
    verts, lmks = predict(imgs, boxes)
    rows = []
    normals = {}
    for v, pv, pl in zip(views, verts, lmks):
        key = v["subject"]
        if key not in normals:
            normals[key] = vertex_normals(v["gt"], model.triangles)
        # image frame (y down) -> right-handed (y up) so the similarity is a proper rotation
        flip = np.array([1.0, -1.0, 1.0])
        e = florence_rmse(np.asarray(pv) * flip, v["gt"], normals[key], np.asarray(pl) * flip, v["gt_landmarks"])
        rows.append((v["subject"], v["pitch"], v["yaw"], e))
    arr = np.array([r[3] for r in rows])

    def by(j):
        return {k: float(np.mean([r[3] for r in rows if r[j] == k])) for k in sorted({r[j] for r in rows})}

    return {"rmse": float(arr.mean()), "by_yaw": by(2), "by_pitch": by(1), "n_views": len(rows),
            "per_view": [tuple(map(float, r)) for r in rows]}
