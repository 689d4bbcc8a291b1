"""Reading the predictor's inputs: images of any common kind, folders, videos.

:func:`to_rgb8` normalises any decoded array to (H, W, 3) uint8 RGB: grayscale is repeated to
three channels, an alpha channel is composited over black (RGBA/BGRA), 16-bit and float images
are rescaled (16-bit: ``/ 257``; float: [0, 1] -> [0, 255]). :func:`load_image` adds clear
:class:`InputError` messages for missing, empty, corrupt and unsupported files.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["InputError", "IMAGE_EXTS", "VIDEO_EXTS", "to_rgb8", "load_image", "classify", "list_folder",
           "iter_video"]

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm")
VIDEO_EXTS = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


class InputError(ValueError):
    """An input image/video/folder cannot be used (the message names the file and the reason)."""


def to_rgb8(img: np.ndarray, bgr: bool = False) -> np.ndarray:
    """Any (H, W), (H, W, 1|3|4) array -> (H, W, 3) uint8 RGB (see the module docstring).

    Args:
        bgr: the channels are in OpenCV's BGR(A) order (as ``cv2.imread`` returns them).
    """
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or min(a.shape[:2]) < 1:
        raise InputError(f"unsupported image shape {a.shape} (expected H x W, H x W x 3 or H x W x 4)")
    if a.dtype == np.uint8:
        f = None
    elif a.dtype == np.uint16:
        f = a.astype(np.float32) / 257.0
    elif a.dtype.kind == "f":
        f = np.nan_to_num(a.astype(np.float32)) * (255.0 if np.nanmax(a) <= 1.0 else 1.0)
    elif a.dtype.kind in "iu":
        f = a.astype(np.float32) * (255.0 / max(float(np.iinfo(a.dtype).max), 1.0))
    else:
        raise InputError(f"unsupported pixel type {a.dtype}")
    if f is not None:
        a = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return np.repeat(a[..., None], 3, axis=2)
    if a.shape[2] == 4:
        alpha = a[..., 3:].astype(np.float32) / 255.0
        a = np.clip(np.rint(a[..., :3].astype(np.float32) * alpha), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a[..., ::-1] if bgr else a)


def load_image(path) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 RGB; :class:`InputError` when it cannot be used."""
    import cv2

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not an image")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: empty file")
    data = np.fromfile(os.fspath(p), np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError(f"{p}: cannot be decoded (corrupt, truncated or not an image)")
    try:
        return to_rgb8(img, bgr=True)
    except InputError as exc:
        raise InputError(f"{p}: {exc}") from None


def classify(path) -> str:
    """``'folder'``, ``'video'`` or ``'image'`` by the path (extension for files)."""
    p = Path(path)
    if p.is_dir():
        return "folder"
    return "video" if p.suffix.lower() in VIDEO_EXTS else "image"


def list_folder(folder) -> tuple[list[Path], list[Path]]:
    """Images of a folder (sorted, not recursive) and the other files that were skipped."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTS]
    return images, [p for p in files if p not in images]


def iter_video(path, every: int = 1, max_frames: int | None = None):
    """Yield ``(frame_index, (H, W, 3) uint8 RGB, fps)`` of a video (every ``every``-th frame).

    Raises InputError when the file does not exist or OpenCV cannot open/decode it.
    """
    import cv2

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: video file not found")
    cap = cv2.VideoCapture(os.fspath(p))
    try:
        if not cap.isOpened():
            raise InputError(f"{p}: cannot open the video (unsupported codec/container or corrupt file)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0
        i = n = 0
        while max_frames is None or n < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            if i % every == 0:
                yield i, to_rgb8(frame, bgr=True), fps
                n += 1
            i += 1
        if i == 0:
            raise InputError(f"{p}: the video has no decodable frame (corrupt file or unsupported codec)")
    finally:
        cap.release()
