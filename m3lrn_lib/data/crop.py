"""Crop policies and the maps between an original image and its 120x120 crop.

A crop is described by its *box* ``[x0, y0, x1, y1]`` (float, square) in the original
image frame (x right, y down, pixel centres at +0.5, as in :mod:`m3lrn_lib.geometry`).
The crop of side ``size`` maps an image point ``(x, y, z)`` to
``((x - x0) k, (y - y0) k, z k)`` with ``k = size / (x1 - x0)``: depth is scaled like x, y
so that crop-frame 3DMM parameters stay a scaled rotation.

Two policies make the box:

- **Benchmark policy** (:func:`box_from_landmarks`, what AFLW2000-3D evaluation and our
  synthetic test set use): the 68 ground-truth landmarks' bounding box ``w x h``; side
  ``LANDMARK_SCALE * max(w, h)``, centred on the landmark box moved up by
  ``LANDMARK_SHIFT * max(w, h)`` so the forehead (above the brows) is in the crop.
  ``max(w, h)`` is stable across yaw: a profile is narrow but as tall as a frontal face.
  The synthetic training crops are drawn around this same box (with jitter), so a
  network sees at test time the framing it was trained on.
- **Inference policy** (:func:`box_from_detector`): a face detector's box ``w x h``; side
  ``DETECTOR_SCALE * (w + h) / 2`` centred on the box moved down by
  ``DETECTOR_SHIFT * (w + h) / 2``. The defaults make a detector whose box is the landmarks'
  bounding box reproduce the benchmark crop; for a real detector, fit the two constants
  by matching its boxes to :func:`box_from_landmarks` on labelled images.

Image content outside the original image is filled with black.
"""
from __future__ import annotations

import cv2
import numpy as np

CROP_SIZE = 120
LANDMARK_SCALE = 1.45
LANDMARK_SHIFT = 0.12
DETECTOR_SCALE = LANDMARK_SCALE
DETECTOR_SHIFT = -LANDMARK_SHIFT


def _square(cx, cy, side) -> np.ndarray:
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float64)


def box_from_landmarks(points, scale: float = LANDMARK_SCALE, shift: float = LANDMARK_SHIFT) -> np.ndarray:
    """Benchmark crop box from (68, 2 or 3) image-frame landmarks -> (4,) float64 ``[x0, y0, x1, y1]``."""
    p = np.asarray(points, np.float64)[:, :2]
    lo, hi = p.min(0), p.max(0)
    ext = float(max(hi - lo))
    c = (lo + hi) / 2
    return _square(c[0], c[1] - shift * ext, scale * ext)


def box_from_detector(box, scale: float = DETECTOR_SCALE, shift: float = DETECTOR_SHIFT) -> np.ndarray:
    """Inference crop box from a detector's ``[x0, y0, x1, y1]`` -> (4,) float64 square box."""
    x0, y0, x1, y1 = (float(v) for v in box)
    ext = ((x1 - x0) + (y1 - y0)) / 2
    return _square((x0 + x1) / 2, (y0 + y1) / 2 + shift * ext, scale * ext)


def _k(box, size) -> float:
    side = float(box[2] - box[0])
    if not side > 0:
        raise ValueError(f"crop box must have positive size, got {list(box)}")
    return size / side


def crop_image(image: np.ndarray, box, size: int = CROP_SIZE) -> np.ndarray:
    """Resample the ``box`` region of an (H, W, C) image into a (size, size, C) crop (bilinear)."""
    k = _k(box, size)
    M = np.array([[k, 0, k * (0.5 - box[0]) - 0.5], [0, k, k * (0.5 - box[1]) - 0.5]])
    return cv2.warpAffine(image, M, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def points_to_crop(points, box, size: int = CROP_SIZE) -> np.ndarray:
    """Image-frame points (..., 2 or 3) -> the crop's image frame (same shape, float32)."""
    p = np.array(points, np.float64)
    k = _k(box, size)
    p[..., 0] = (p[..., 0] - box[0]) * k
    p[..., 1] = (p[..., 1] - box[1]) * k
    if p.shape[-1] > 2:
        p[..., 2:] *= k
    return p.astype(np.float32)


def points_from_crop(points, box, size: int = CROP_SIZE) -> np.ndarray:
    """Inverse of :func:`points_to_crop`: crop-frame points -> original image frame."""
    p = np.array(points, np.float64)
    k = _k(box, size)
    p[..., 0] = p[..., 0] / k + box[0]
    p[..., 1] = p[..., 1] / k + box[1]
    if p.shape[-1] > 2:
        p[..., 2:] /= k
    return p.astype(np.float32)


def params_to_crop(params, box, image_height: float, size: int = CROP_SIZE) -> np.ndarray:
    """3DMM parameters (..., D) of an image of height ``image_height`` -> the crop's frame.

    The pose rows scale by ``k`` and the translation moves with the box (the view frames
    are y-up: ``y_view = height - y_img``); shape and expression are unchanged.
    """
    p = np.array(params, np.float64)
    k = _k(box, size)
    p[..., :12] *= k
    p[..., 3] -= k * box[0]
    p[..., 7] += size - k * (image_height - box[1])
    return p.astype(np.float32)


def params_from_crop(params, box, image_height: float, size: int = CROP_SIZE) -> np.ndarray:
    """Inverse of :func:`params_to_crop`: crop-frame parameters -> the original image frame."""
    p = np.array(params, np.float64)
    k = _k(box, size)
    p[..., 3] += k * box[0]
    p[..., 7] -= size - k * (image_height - box[1])
    p[..., :12] /= k
    return p.astype(np.float32)
