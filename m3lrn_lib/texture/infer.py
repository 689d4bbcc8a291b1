"""Textures for faces in arbitrary images: crop the face as in training, run the generator.

The GAN was trained on crops framed by the landmark policy
(:func:`m3lrn_lib.data.crop.box_from_landmarks` with ``crop_scale``), rendered at twice the UV
size or more and area-resized; :func:`face_input` frames a face in any photo the same way from
its 68 landmarks (e.g. a :class:`~m3lrn_lib.predict.Face`'s ``landmarks``) or from a given
square crop box.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..data.crop import box_from_landmarks, crop_image
from .evaluate import generate_textures
from .gan import TextureGenerator

__all__ = ["face_input", "predict_texture", "DEFAULT_CROP_SCALE"]

DEFAULT_CROP_SCALE = 1.3  # TextureSynthConfig.crop_scale / DataSection.crop_scale


def _rgb(image, name="image") -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{name} must be an (H, W, 3) RGB image, got shape {a.shape}"
                         + (" (gray: stack it to 3 channels; RGBA: drop alpha)" if a.ndim in (2, 3) else ""))
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind != "f":
        raise ValueError(f"{name} must be uint8 or float in [0, 1], got dtype {a.dtype}")
    return np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)


def face_input(image, uv_size: int, landmarks=None, box=None, crop_scale: float = DEFAULT_CROP_SCALE):
    """The generator's input for one face.

    Args:
        image: (H, W, 3) uint8 (or float [0, 1]) RGB image.
        uv_size: S of the generator.
        landmarks: (68, 2 or 3) image-frame landmarks; or box: a square crop box [x0, y0, x1, y1].
    Returns:
        (S, S, 3) uint8 input and the (4,) crop box used.
    """
    img = _rgb(image)
    if (landmarks is None) == (box is None):
        raise ValueError("give exactly one of landmarks= (68 points) or box= (a crop box)")
    if landmarks is not None:
        lm = np.asarray(landmarks, np.float64)
        if lm.ndim != 2 or lm.shape[0] != 68 or lm.shape[1] < 2:
            raise ValueError(f"landmarks must be (68, 2 or 3), got {lm.shape}")
        box = box_from_landmarks(lm, scale=crop_scale)
    box = np.asarray(box, np.float64).reshape(-1)
    if box.shape != (4,) or not box[2] > box[0]:
        raise ValueError(f"box must be [x0, y0, x1, y1] with x1 > x0, got {box.tolist()}")
    big = crop_image(img, box, max(2 * uv_size, 128))
    return cv2.resize(big, (uv_size, uv_size), interpolation=cv2.INTER_AREA), box


def predict_texture(generator: TextureGenerator, image, landmarks=None, box=None,
                    crop_scale: float = DEFAULT_CROP_SCALE) -> np.ndarray:
    """(S, S, 3) float32 UV texture in [0, 1] of the face at ``landmarks`` / ``box`` in ``image``."""
    x, _ = face_input(image, generator.config.uv_size, landmarks, box, crop_scale)
    return generate_textures(generator, x[None])[0]
