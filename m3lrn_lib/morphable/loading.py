"""One entry point, :func:`load_face_model`, and model-level measurements."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import paths
from .model import FaceModel, FaceModelError

ENV_VAR = "M3LRN_FACE_MODEL"

_cache: dict = {}


#: The default embedded model: version 2, a full basis of 150 / 29 components whose leading
#: 40 / 10 are regressed (:mod:`m3lrn_lib.morphable.embedded_v2`). Version 1 (40 / 10 components
#: and nothing beyond them, :mod:`m3lrn_lib.morphable.embedded`) stays loadable by name.
DEFAULT_VERSION = "2"

#: The embedded models by name ("embedded" is :data:`DEFAULT_VERSION`).
EMBEDDED = {"embedded": DEFAULT_VERSION, "embedded-v1": "1", "embedded-v2": "2"}


def build_embedded(version: str = DEFAULT_VERSION):
    """Build embedded model ``version`` ("1" or "2") from code (deterministic, any CPU)."""
    if version == "1":
        from .embedded import build_embedded_model
        return build_embedded_model()
    if version == "2":
        from .embedded_v2 import build_embedded_model_v2
        return build_embedded_model_v2()
    raise FaceModelError(f"unknown embedded model version {version!r} (known: 1, 2)")


def embedded_model_path(version: str = DEFAULT_VERSION) -> Path:
    """The file of embedded model ``version``, re-created from code if an installed package lacks it.

    In a source checkout this is the shipped ``data/face_model.npz`` (version 1) or
    ``data/face_model_v2.npz`` (an error names the command that re-creates a missing one). An
    installed package has no ``data/``: the model is built once, bit for bit the shipped file,
    into the user cache (:func:`m3lrn_lib.paths.cached_face_model`).
    """
    shipped = paths.shipped_face_model(version)
    if shipped is not None:
        if not shipped.is_file():
            raise FaceModelError(f"the embedded model file {shipped} is missing; re-create it with "
                                 f"`python -m m3lrn_lib.morphable build --version {version} --update-shipped`")
        return shipped
    cached = paths.cached_face_model(version)
    if not cached.is_file():
        print(f"m3lrn: building the embedded face model v{version} into {cached} (once, about "
              f"{'20 s' if version == '1' else '1-2 min'}; the same file "
              f"`python -m m3lrn_lib.morphable build --version {version} --out {cached}` writes)",
              file=sys.stderr, flush=True)
        build_embedded(version).save(cached)
    return cached


def load_face_model(source=None) -> FaceModel:
    """Load a morphable model.

    Args:
        source: None (use ``$M3LRN_FACE_MODEL`` or else the embedded default), the string
            ``"embedded"`` (= ``"embedded-v2"``, the default) or ``"embedded-v1"``, or a path: a Surrey Face
            Model folder or ``sfm_shape_*.bin``, a 3DDFA-layout BFM ``.pkl``, or an ``.npz`` written by :meth:`FaceModel.save`.
    Returns:
        A :class:`FaceModel`. Loaded models are cached per resolved path.
    """
    if source is None:
        source = paths.face_model_setting() or "embedded"
    if isinstance(source, FaceModel):
        return source
    if str(source) in EMBEDDED:
        path = embedded_model_path(EMBEDDED[str(source)])
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
