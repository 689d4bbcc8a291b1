"""Reading the predictor's inputs: images of any common kind, folders, videos.

:func:`to_rgb8` normalises any decoded array to (H, W, 3) uint8 RGB: grayscale is repeated to
three channels, an alpha channel is composited over black (RGBA/BGRA). Pixel types:

- ``uint8``: as is; ``uint16``: 16-bit, ``/ 257`` (whatever its values);
- floats: [0, 1] -> [0, 255] when the maximum is <= 1, else taken as 0..255 (NaN -> 0, clipped);
- any other integer type (``int64``, ``int32``, ``int16``, ``int8``, ``uint32``, ``uint64``) by its
  *values*, not by its type's range: values in 0..255 are 8-bit (kept), values in 0..65535 are
  16-bit (``/ 257``); a negative value or one above 65535 is an :class:`InputError` naming the
  range found (an ``int64`` array from ``np.array(...)`` of 8-bit pixels is never turned black).

:func:`load_image` adds clear :class:`InputError` messages for missing, empty, corrupt,
unsupported and oversized files. Images are limited to :data:`MAX_IMAGE_PIXELS` (100
megapixels), checked from the header (Pillow reads it without decoding) before any decoding, so
a file whose header claims 60000 x 60000 is refused instead of allocating gigabytes. The EXIF
orientation tag (phone photos) is applied: the array comes back the way the photo is meant to be
seen. :func:`iter_video` compares the frames it could read with the container's frame count
and reports a truncated video (see its ``info``).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import UserError

__all__ = ["InputError", "IMAGE_EXTS", "VIDEO_EXTS", "MAX_IMAGE_PIXELS", "to_rgb8", "load_image", "image_size",
           "classify", "list_folder", "iter_video"]

#: The largest image accepted, in pixels (width x height): 100 megapixels.
MAX_IMAGE_PIXELS = 100_000_000
#: Containers whose frame count is exact (indexed); others may report an estimate.
_EXACT_COUNT_EXTS = (".avi", ".mp4", ".mov", ".m4v")

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm")
VIDEO_EXTS = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


class InputError(UserError):
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
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise InputError(f"{a.dtype} pixel values {lo}..{hi} are outside 0..255 (8-bit) and 0..65535 "
                             "(16-bit)", hint="rescale the image to 0..255 or 0..65535, or give uint8")
        f = a.astype(np.float32) if hi <= 255 else a.astype(np.float32) / 257.0
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


def _header(p: Path):
    """``(width, height, exif orientation)`` from the file's header (Pillow, lazy), or None when
    Pillow cannot read it (OpenCV may still decode it). InputError for an image over the limit."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover -- Pillow is a dependency
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                w, h = im.size
                try:
                    orientation = int(im.getexif().get(0x0112, 1) or 1)
                except Exception:  # noqa: BLE001 -- a broken EXIF block: ignore the orientation
                    orientation = 1
    except Image.DecompressionBombError as exc:
        w, h = _size_from_bomb(p, exc)
        orientation = 1
    except Exception:  # noqa: BLE001 -- not readable by Pillow: let OpenCV try
        return None
    if w * h > MAX_IMAGE_PIXELS:
        raise InputError(f"the header claims {w}x{h} pixels ({w * h / 1e6:.0f} megapixels), over the limit of "
                         f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels", subject=str(p),
                         hint="shrink the image, or it is corrupt")
    return w, h, orientation


def _size_from_bomb(p: Path, exc) -> tuple[int, int]:
    """Width and height of an image Pillow refused to open as a decompression bomb: open it with
    the format plugins directly (no bomb check), else guess a square from the message."""
    import re

    from PIL import Image
    Image.init()
    with open(p, "rb") as fh:
        prefix = fh.read(16)
        for fmt in Image.ID:
            factory, accept = Image.OPEN[fmt]
            try:
                if accept and not accept(prefix):
                    continue
                fh.seek(0)
                return tuple(factory(fh, os.fspath(p)).size)
            except Exception:  # noqa: BLE001 -- not this format
                continue
    m = re.search(r"\((\d+) pixels\)", str(exc))
    side = int(int(m.group(1)) ** 0.5) if m else MAX_IMAGE_PIXELS
    return side, side


def _apply_orientation(a: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a decoded array the way EXIF ``orientation`` (1-8) says it is meant to be seen."""
    ops = {2: lambda x: x[:, ::-1], 3: lambda x: x[::-1, ::-1], 4: lambda x: x[::-1],
           5: lambda x: x.swapaxes(0, 1), 6: lambda x: np.rot90(x, -1), 7: lambda x: x[::-1, ::-1].swapaxes(0, 1),
           8: lambda x: np.rot90(x, 1)}
    op = ops.get(int(orientation))
    return a if op is None else np.ascontiguousarray(op(a))


def image_size(path) -> tuple[int, int] | None:
    """``(height, width)`` of an image file as :func:`load_image` returns it (EXIF orientation
    applied), read from the header only; None when the header cannot be read."""
    head = _header(Path(path))
    if head is None:
        return None
    w, h, orientation = head
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def load_image(path) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 RGB (EXIF orientation applied); :class:`InputError`
    when it cannot be used (missing, empty, corrupt, over :data:`MAX_IMAGE_PIXELS`)."""
    import cv2

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not an image")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: empty file")
    head = _header(p)
    data = np.fromfile(os.fspath(p), np.uint8)
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        msg = str(exc).strip().splitlines()[-1][:160]
        raise InputError(f"{p}: cannot be decoded ({msg}; corrupt, truncated, too large or not an image)") from None
    if img is None:
        raise InputError(f"{p}: cannot be decoded (corrupt, truncated or not an image)")
    if img.shape[0] * img.shape[1] > MAX_IMAGE_PIXELS:
        raise InputError(f"{img.shape[1]}x{img.shape[0]} pixels, over the limit of "
                         f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels", subject=str(p), hint="shrink the image")
    try:
        rgb = to_rgb8(img, bgr=True)
    except InputError as exc:
        raise InputError(f"{p}: {exc}") from None
    return _apply_orientation(rgb, head[2]) if head is not None else rgb


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


def iter_video(path, every: int = 1, max_frames: int | None = None, info: dict | None = None):
    """Yield ``(frame_index, (H, W, 3) uint8 RGB, fps)`` of a video (every ``every``-th frame).

    Raises InputError when the file does not exist or OpenCV cannot open/decode it. ``info`` (a
    dict, filled when the generator finishes) gets ``frames_read`` (frames decoded),
    ``frame_count`` (the container's ``CAP_PROP_FRAME_COUNT``, 0 when unknown) and ``truncated``:
    True when decoding stopped before the container's count (not when ``max_frames`` stopped it;
    for containers without an index -- not avi/mp4/mov/m4v -- the count is an estimate and 2% or
    at least 2 frames of slack are allowed).
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
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        count = int(count) if np.isfinite(count) and count > 0 else 0
        i = n = 0
        stopped_early = False
        while True:
            if max_frames is not None and n >= max_frames:
                stopped_early = True
                break
            ok, frame = cap.read()
            if not ok:
                break
            if i % every == 0:
                yield i, to_rgb8(frame, bgr=True), fps
                n += 1
            i += 1
        if i == 0:
            raise InputError(f"{p}: the video has no decodable frame (corrupt file or unsupported codec)")
        slack = 0 if p.suffix.lower() in _EXACT_COUNT_EXTS else max(2, round(0.02 * count))
        if info is not None:
            info.update(frames_read=i, frame_count=count, truncated=bool(not stopped_early and count
                                                                          and i < count - slack))
    finally:
        cap.release()
