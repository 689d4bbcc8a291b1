"""Augmentations that keep image, landmarks and 3DMM parameters consistent (Sec. 4, training).

Transforms are plain callables on a *raw sample* (a dict of numpy values) and are chained
with :class:`Compose`; the datasets end every pipeline with :func:`to_sample` (the
``ToTensor`` step). Raw sample keys:

- ``image``: (S, S, 3) uint8 RGB crop (S = 120);
- ``landmarks``: (68, 3) float32 in the crop's image frame (x right, y down, z depth);
- ``params``: (D,) float32 raw 3DMM parameters in the crop frame (zeros without a target);
- ``has_target``: bool; ``pose``: (3,) float32 radians (yaw, pitch, roll);
- ``box``: (4,) float32 crop box in the original image; ``index``: int.

Randomness comes from torch's RNG (``generator=None`` uses the global one, which a
``DataLoader`` seeds differently in every worker; pass a ``torch.Generator`` to reproduce).
The batch-level face-swap augmentation lives in :mod:`m3lrn_lib.data.faceswap`.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from .. import geometry
from ..morphable.model import FaceModel

_GRAY = np.array([0.299, 0.587, 0.114])
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def _uniform(lo, hi, generator) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=generator, dtype=torch.float64))


class Compose:
    """Apply transforms in order: ``Compose([ColorJitter(), RandomHorizontalFlip(model)])``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, raw: dict) -> dict:
        for t in self.transforms:
            raw = t(raw)
        return raw

    def __repr__(self):
        return f"Compose({self.transforms!r})"


class ColorJitter:
    """Random brightness, contrast, saturation and hue (the paper's colour jittering).

    The four changes are linear in RGB, so they are folded into one 3x3 matrix plus an
    offset and applied in a single pass. Factors are drawn uniformly from
    ``[1 - brightness, 1 + brightness]`` etc.; hue rotates the chroma plane (YIQ) by up to
    ``hue`` turns. Applied with probability ``p``; labels are untouched.
    """

    def __init__(self, brightness=0.3, contrast=0.3, saturation=0.3, hue=0.03, p=0.8, generator=None):
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue
        self.p, self.generator = p, generator

    def matrix(self, image: np.ndarray):
        """Draw one jitter: (3, 3) matrix M and (3,) offset o with ``out = M @ rgb + o``."""
        g = self.generator
        b = _uniform(1 - self.brightness, 1 + self.brightness, g)
        c = _uniform(1 - self.contrast, 1 + self.contrast, g)
        s = _uniform(1 - self.saturation, 1 + self.saturation, g)
        h = _uniform(-self.hue, self.hue, g) * 2 * math.pi
        M = b * np.eye(3)
        mean_gray = float(image.reshape(-1, 3).mean(0) @ _GRAY) * b
        M, o = c * M, np.full(3, (1 - c) * mean_gray)
        S = s * np.eye(3) + (1 - s) * np.tile(_GRAY, (3, 1))
        rot = np.array([[1, 0, 0], [0, math.cos(h), -math.sin(h)], [0, math.sin(h), math.cos(h)]])
        H = np.linalg.inv(_YIQ) @ rot @ _YIQ
        return H @ S @ M, H @ S @ o

    def __call__(self, raw: dict) -> dict:
        if float(torch.rand((), generator=self.generator)) >= self.p:
            return raw
        M, o = self.matrix(raw["image"])
        img = cv2.transform(raw["image"].astype(np.float32), np.concatenate([M, o[:, None]], 1))
        return {**raw, "image": np.clip(np.rint(img), 0, 255).astype(np.uint8)}

    def __repr__(self):
        return (f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
                f"saturation={self.saturation}, hue={self.hue}, p={self.p})")


class RandomHorizontalFlip:
    """Mirror the crop with probability ``p`` (0.5 in the paper), with consistent labels.

    Landmarks: ``x -> S - x`` and re-labelled with ``model.landmark_mirror``. Parameters:
    :func:`m3lrn_lib.geometry.mirror_params` (pose ``F P F`` and the model's coefficient-space
    mirror operators), so reconstructing the flipped parameters gives the flipped
    landmarks. Pose: ``(yaw, pitch, roll) -> (-yaw, pitch, -roll)``. ``box`` still names the
    unflipped region of the original image.
    """

    def __init__(self, model: FaceModel, p: float = 0.5, generator=None):
        if model.shape_mirror is None or model.exp_mirror is None:
            raise ValueError(f"face model {model.name!r} has no coefficient mirror operator: "
                             "flipping would break the 3DMM targets")
        self.model, self.p, self.generator = model, p, generator

    def __call__(self, raw: dict) -> dict:
        if float(torch.rand((), generator=self.generator)) >= self.p:
            return raw
        size = raw["image"].shape[1]
        out = dict(raw, image=np.ascontiguousarray(raw["image"][:, ::-1]))
        lm = raw["landmarks"].copy()
        lm[:, 0] = size - lm[:, 0]
        out["landmarks"] = lm[self.model.landmark_mirror]
        if raw["has_target"]:
            p = torch.as_tensor(raw["params"], dtype=torch.float64)[None]
            out["params"] = geometry.mirror_params(self.model, p, size)[0].numpy().astype(np.float32)
        out["pose"] = (raw["pose"] * np.array([-1, 1, -1])).astype(np.float32)
        return out

    def __repr__(self):
        return f"RandomHorizontalFlip(model={self.model.name!r}, p={self.p})"


def to_sample(raw: dict, param_mean: np.ndarray, param_std: np.ndarray) -> dict:
    """The ``ToTensor`` step: raw sample -> tensors.

    ``image`` (3, S, S) float32 ``(x - 127.5) / 128``; ``target`` (D,) whitened parameters
    ``(params - mean) / std`` (zeros when ``has_target`` is False); ``params``, ``landmarks``,
    ``pose``, ``box`` as float32 tensors; ``index`` int; ``has_target`` bool.
    """
    img = torch.from_numpy(np.ascontiguousarray(raw["image"])).permute(2, 0, 1).float()
    params = np.asarray(raw["params"], np.float32)
    target = (params - param_mean) / param_std if raw["has_target"] else np.zeros_like(params)
    return {
        "image": (img - 127.5) / 128.0,
        "target": torch.from_numpy(target.astype(np.float32)),
        "params": torch.from_numpy(params.copy()),
        "landmarks": torch.from_numpy(np.asarray(raw["landmarks"], np.float32).copy()),
        "pose": torch.from_numpy(np.asarray(raw["pose"], np.float32).copy()),
        "box": torch.from_numpy(np.asarray(raw["box"], np.float32).copy()),
        "index": int(raw["index"]),
        "has_target": bool(raw["has_target"]),
    }


class ToTensor:
    """Callable form of :func:`to_sample` with fixed whitening statistics."""

    def __init__(self, param_mean, param_std):
        self.param_mean = np.asarray(param_mean, np.float32)
        self.param_std = np.asarray(param_std, np.float32)

    def __call__(self, raw: dict) -> dict:
        return to_sample(raw, self.param_mean, self.param_std)
