"""Overlays drawn on (H, W, 3) uint8 RGB images (copies; the input is never modified).

- :func:`draw_mesh` -- the dense mesh, shaded (Gouraud, :mod:`m3lrn_lib.render`) and blended;
- :func:`draw_landmarks` -- the 68 points with the iBUG connectivity lines;
- :func:`draw_pose_axes` -- the head's x (red, towards the subject's left), y (green, up) and
  z (blue, out of the face) axes, from the rotation of the pose parameters, drawn at the nose tip;
- :func:`draw_faces` -- all of the above plus the boxes for a list of predicted faces.

Points that are not finite are not drawn (a face with a NaN landmark or pose draws nothing of
it); finite coordinates far outside the image are clamped so OpenCV's fixed-point drawing cannot
overflow.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..morphable.model import ibug_edges

__all__ = ["draw_mesh", "draw_landmarks", "draw_pose_axes", "draw_faces"]

_EDGES = ibug_edges()
_SHIFT = 4  # sub-pixel bits for cv2 drawing


_LIMIT = float(1 << 20)  # px; cv2's shifted int coordinates overflow far beyond this


def _fx(p) -> tuple:
    x, y = (float(np.clip(v, -_LIMIT, _LIMIT)) for v in (p[0], p[1]))
    return int(round(x * (1 << _SHIFT))), int(round(y * (1 << _SHIFT)))


def _finite(*arrays) -> bool:
    return all(np.isfinite(np.asarray(a, np.float64)).all() for a in arrays)


def _thick(img) -> int:
    return max(1, int(round(max(img.shape[:2]) / 400)))


def draw_landmarks(image, points, color=(0, 255, 0), lines: bool = True) -> np.ndarray:
    """68 image-frame points (68, 2+) drawn as dots (+ iBUG lines); returns a new image."""
    out = np.ascontiguousarray(image).copy()
    p = np.asarray(points, np.float64)[:, :2] - 0.5  # pixel centres at +0.5 -> cv2's integer centres
    t = _thick(out)
    ok = np.isfinite(p).all(axis=1)
    if lines and len(p) == 68:
        for a, b in _EDGES:
            if ok[a] and ok[b]:
                cv2.line(out, _fx(p[a]), _fx(p[b]), color, t, cv2.LINE_AA, _SHIFT)
    for q in p[ok]:
        cv2.circle(out, _fx(q), (t + 1) << _SHIFT, color, -1, cv2.LINE_AA, _SHIFT)
    return out


def draw_pose_axes(image, rotation, origin, length: float) -> np.ndarray:
    """The rotated model axes (view frame y up -> image y down) from ``origin`` (2,)."""
    out = np.ascontiguousarray(image).copy()
    R = np.asarray(rotation, np.float64)
    o = np.asarray(origin, np.float64)[:2] - 0.5
    if not _finite(R, o, length):
        return out
    t = _thick(out) + 1
    order = np.argsort(R[2])  # draw the axis pointing away first
    for i in order:
        tip = o + length * np.array([R[0, i], -R[1, i]])
        col = [(255, 0, 0), (0, 200, 0), (0, 90, 255)][i]
        cv2.arrowedLine(out, _fx(o), _fx(tip), col, t, cv2.LINE_AA, _SHIFT, 0.15)
    return out


def draw_mesh(image, vertices, triangles, alpha: float = 0.6, color=(0.55, 0.72, 1.0)) -> np.ndarray:
    """The mesh (N, 3) image frame, shaded with a frontal light and alpha-blended over the image."""
    from .. import render

    out = np.ascontiguousarray(image).copy()
    h, w = out.shape[:2]
    v = np.asarray(vertices, np.float64)
    if not np.isfinite(v).all():
        return out
    res = render.render(v, triangles, np.asarray(color, np.float64), h, w,
                   lighting=render.Lighting(ambient=0.3, diffuse=0.75, direction=(0.0, 0.2, 1.0), specular=0.1))
    m = res.mask
    out[m] = np.clip((1 - alpha) * out[m] + alpha * res.image[m] * 255.0, 0, 255).astype(np.uint8)
    return out


def draw_faces(image, faces, triangles=None, mesh: bool = True, landmarks: bool = True, axes: bool = True,
               boxes: bool = True) -> np.ndarray:
    """Every overlay for a list of :class:`~m3lrn_lib.predict.Face` on a copy of ``image``."""
    out = np.ascontiguousarray(image).copy()
    for f in faces:
        if mesh and f.vertices is not None and triangles is not None:
            out = draw_mesh(out, f.vertices, triangles)
    for f in faces:
        if boxes and _finite(f.box):
            b = np.asarray(f.box, np.float64) - 0.5
            cv2.rectangle(out, _fx(b[:2]), _fx(b[2:]), (255, 200, 0), _thick(out), cv2.LINE_AA, _SHIFT)
        if landmarks:
            out = draw_landmarks(out, f.landmarks_2d)
        if axes and _finite(f.landmarks_2d):
            ext = float(np.ptp(f.landmarks_2d, axis=0).max())
            out = draw_pose_axes(out, f.rotation, f.landmarks_2d[30], 0.5 * ext)
    return out
