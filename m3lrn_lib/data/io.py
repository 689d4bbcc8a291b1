"""File helpers shared by the writers and readers: atomic writes, deterministic ``.mat``
files, image decoding with clear errors, and array-only pickles.
"""
from __future__ import annotations

import io
import os
import pickle

import cv2
import numpy as np
import scipy.io

from ..errors import UserError
from ..fileio import TMP_PREFIX, atomic_write_bytes, remove_temp_files  # noqa: F401 (re-exported)
from ..morphable.model import FaceModelError
from ..morphable.readers import safe_load_array_pickle


class DatasetError(UserError):
    """A dataset folder or file is missing, malformed or inconsistent (the message names it)."""


def pickle_bytes(obj) -> bytes:
    """Pickle (protocol 4) of an array or a dict of arrays -- what 3DDFA's files hold."""
    return pickle.dumps(obj, protocol=4)


def load_array_pickle(path):
    """Read a pickle that may only hold numpy arrays (pickles are untrusted input)."""
    try:
        return safe_load_array_pickle(path)
    except FaceModelError as exc:
        raise DatasetError(str(exc)) from None


_MAT_HEADER = b"MATLAB 5.0 MAT-file, written by m3lrn_lib.data".ljust(116)


def mat_bytes(arrays: dict) -> bytes:
    """A MATLAB v5 ``.mat`` file of ``arrays`` as bytes, byte-identical for identical input
    (scipy stamps the creation time into the 116-byte text header; we overwrite it)."""
    buf = io.BytesIO()
    scipy.io.savemat(buf, arrays, do_compression=False, oned_as="row")
    data = bytearray(buf.getvalue())
    data[:116] = _MAT_HEADER
    return bytes(data)


def load_mat(path, required: dict) -> dict:
    """Load a ``.mat`` file and check that each ``required`` key exists with the given
    number of elements (``{"pt3d_68": 204}``); raise DatasetError naming the file."""
    try:
        mat = scipy.io.loadmat(path)
    except Exception as exc:
        raise DatasetError(f"{path}: not a readable .mat file ({exc})") from None
    missing = [k for k in required if k not in mat]
    if missing:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise DatasetError(f"{path}: missing key(s) {missing}; found {found}")
    for k, n in required.items():
        if np.asarray(mat[k]).size < n or not np.issubdtype(np.asarray(mat[k]).dtype, np.number):
            raise DatasetError(f"{path}: key {k!r} must hold at least {n} numbers, "
                               f"got shape {np.shape(mat[k])}")
    return mat


def read_rgb(path) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 RGB; unreadable or grayscale -> DatasetError."""
    img = cv2.imread(os.fspath(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        reason = "file not found" if not os.path.exists(path) else "cannot be decoded (corrupt or not an image)"
        raise DatasetError(f"{path}: {reason}")
    if img.dtype != np.uint8:
        raise DatasetError(f"{path}: unsupported pixel type {img.dtype} (8-bit RGB expected)")
    if img.ndim == 2 or img.shape[2] == 1:
        raise DatasetError(f"{path}: grayscale image ({img.shape[1]}x{img.shape[0]}, 1 channel); "
                           "the readers expect 3-channel colour images")
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def jpeg_bytes(rgb: np.ndarray, quality: int) -> bytes:
    """Encode an (H, W, 3) uint8 RGB image as baseline JPEG (deterministic for equal input)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
