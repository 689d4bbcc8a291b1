"""One entry point, :func:`load_face_model`, and model-level measurements."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import paths
from .model import FaceModel, FaceModelError

ENV_VAR = "M3LRN_FACE_MODEL"

_cache: dict = {}


def embedded_model_path() -> Path:
    """The embedded default model file, re-created from code if an installed package lacks it.

    In a source checkout this is the shipped ``data/face_model.npz`` (an error names the command
    that re-creates it when it is missing). An installed package has no ``data/``: the model is
    built once, bit for bit the shipped file, into the user cache (:func:`m3lrn_lib.paths.cached_face_model`).
    """
    from .embedded import GENERATOR_VERSION, build_embedded_model

    shipped = paths.shipped_face_model()
    if shipped is not None:
        if not shipped.is_file():
            raise FaceModelError(f"the embedded model file {shipped} is missing; re-create it with "
                                 "`python -m m3lrn_lib.morphable build --update-shipped`")
        return shipped
    cached = paths.cached_face_model(GENERATOR_VERSION)
    if not cached.is_file():
        print(f"m3lrn: building the embedded face model into {cached} (once, about 20 s; the same file "
              f"`python -m m3lrn_lib.morphable build --out {cached}` writes)", file=sys.stderr, flush=True)
        build_embedded_model().save(cached)
    return cached


def load_face_model(source=None) -> FaceModel:
    """Load a morphable model.

    Args:
        source: None (use ``$M3LRN_FACE_MODEL`` or else the embedded default), the string
            ``"embedded"``, or a path: a Surrey Face Model folder or ``sfm_shape_*.bin``, a
            3DDFA-layout BFM ``.pkl``, or an ``.npz`` written by :meth:`FaceModel.save`.
    Returns:
        A :class:`FaceModel`. Loaded models are cached per resolved path.
    """
    if source is None:
        source = paths.face_model_setting() or "embedded"
    if isinstance(source, FaceModel):
        return source
    if str(source) == "embedded":
        path = embedded_model_path()
    else:
        path = Path(source).expanduser().resolve()
        if not path.exists():
            raise FaceModelError(f"face model path does not exist: {path}")
    key = str(path)
    if key not in _cache:
        from . import readers
        if path.is_dir() or path.suffix == ".bin":
            model = readers.load_sfm(path)
        elif path.suffix == ".pkl":
            model = readers.load_bfm_3ddfa(path)
        elif path.suffix == ".npz":
            model = FaceModel.load(path)
        else:
            raise FaceModelError(f"unknown face model format {path.suffix!r} for {path} "
                                 "(expected a SFM folder/.bin, a BFM .pkl or an .npz)")
        _cache[key] = model
    return _cache[key]


def face_proportions(points: np.ndarray) -> dict:
    """Anatomical distances (in the points' units) of 68 iBUG landmarks (68, 2 or 3).

    - ``interocular``: outer eye corners (points 36-45, 0-based);
    - ``nose_length``: nasion to subnasale (27-33);
    - ``face_width``: the upper jaw contour points (0-16);
    - ``face_height``: nasion to chin (27-8).
    """
    p = np.asarray(points, dtype=np.float64)
    d = lambda i, j: float(np.linalg.norm(p[i] - p[j]))  # noqa: E731
    return {"interocular": d(36, 45), "nose_length": d(27, 33),
            "face_width": d(0, 16), "face_height": d(27, 8)}
