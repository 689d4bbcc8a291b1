"""Readers for real morphable models in their published on-disk layouts.

- :func:`load_sfm` -- the Surrey Face Model (``sfm_shape_3448.bin`` + the six expression
  blendshapes + ``ibug_to_sfm.txt`` + ``sfm_model_contours.json``), through ``eos-py``.
- :func:`load_bfm_3ddfa` -- the Basel Face Model as 3DDFA/3DDFA_V2 store it
  (``bfm_noneck_v3.pkl``: ``u``, ``w_shp``, ``w_exp``, ``keypoints``, ``tri``).

Neither file is shipped: users point the library at their own copies.
"""
from __future__ import annotations

import io
import json
import pickle
import tomllib
from pathlib import Path

import numpy as np

from .model import IBUG_MIRROR, FaceModel, FaceModelError

SKIN_RGB = (0.80, 0.60, 0.50)


# ----------------------------------------------------------------------------- helpers
def _unit_columns(W: np.ndarray):
    """Split a (3N, K) basis into unit-norm columns and the column norms."""
    norms = np.linalg.norm(W, axis=0)
    if np.any(norms == 0):
        raise FaceModelError("a basis column is all zeros")
    return (W / norms).astype(np.float32), norms.astype(np.float32)


def _orient_ccw(mean: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Flip the winding if most triangle normals point away from the camera (-z)."""
    a, b, c = mean[tris[:, 0]], mean[tris[:, 1]], mean[tris[:, 2]]
    nz = np.cross(b - a, c - a)[:, 2]
    return tris if (nz > 0).sum() >= (nz < 0).sum() else tris[:, [0, 2, 1]]


def approximate_mirror(mean: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficient mirror operator for a model without exact vertex symmetry.

    The vertex correspondence is the nearest neighbour of each x-flipped mean vertex.

    Returns:
        S (K, K) with ``mirror(U a) ~= U (S a)``, and the (N,) nearest-neighbour map.
    """
    from scipy.spatial import cKDTree

    flipped = mean * np.array([-1.0, 1.0, 1.0])
    _, nn = cKDTree(mean).query(flipped)
    B = basis.reshape(-1, 3, basis.shape[1])[nn] * np.array([-1.0, 1.0, 1.0])[None, :, None]
    S, *_ = np.linalg.lstsq(basis.astype(np.float64), B.reshape(-1, basis.shape[1]), rcond=None)
    return S.astype(np.float32), nn


# ----------------------------------------------------------------------------- SFM
def _sfm_files(path: Path) -> dict:
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    shape = path if path.is_file() else next(iter(sorted(folder.glob("sfm_shape_*.bin"))), None)
    if shape is None:
        raise FaceModelError(f"no sfm_shape_*.bin in {folder}")
    files = {
        "shape": shape,
        "blendshapes": folder / f"expression_blendshapes_{shape.stem.split('_')[-1]}.bin",
        "mapping": folder / "ibug_to_sfm.txt",
        "contours": folder / "sfm_model_contours.json",
    }
    for key, f in files.items():
        if not f.is_file():
            what = "an expression-blendshape file (the expression basis)" if key == "blendshapes" else key
            raise FaceModelError(f"Surrey Face Model: missing {what}: {f}")
    return files


def _jaw_from_contour(mean, contour, chin, n=8):
    """n vertices of a 3D contour, evenly spaced by arc length from eye level to the chin."""
    pts = mean[contour]
    start = int(np.argmin(np.abs(pts[:, 1] - (pts[:, 1].max() - 0.25 * np.ptp(pts[:, 1])))))
    path = np.concatenate([pts[start:], mean[[chin]]])
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    s = np.concatenate([[0], np.cumsum(seg)])
    targets = np.linspace(0, s[-1], n + 1)[:-1]
    return [int(contour[start + int(np.argmin(np.abs(s[:-1] - t)))]) for t in targets]


def load_sfm(path, n_shape: int = 40) -> FaceModel:
    """Read the Surrey Face Model with ``eos-py`` (``pip install eos-py``).

    Args:
        path: the folder holding ``sfm_shape_3448.bin`` and its companions, or that file.
        n_shape: leading shape components regressed (the paper's 40); every component is kept
            as the full basis (``FaceModel.full_basis``).
    Returns:
        A FaceModel with the 6 blendshapes (anger ... surprise) as expression basis
        (unit columns, std = blendshape norm), the model's UVs (v flipped to point up),
        68 landmarks from ``ibug_to_sfm.txt`` (inner mouth corners 61/65 take the outer
        corners' vertices, which the mapping leaves undefined) and 8+8 jaw vertices picked
        along ``sfm_model_contours.json``. No albedo (the shape-only model has none).
    """
    try:
        import eos  # noqa: F401
    except ImportError as exc:
        raise FaceModelError("reading the Surrey Face Model needs the optional package eos-py: "
                             "pip install eos-py") from exc
    files = _sfm_files(Path(path))
    try:
        mm = eos.morphablemodel.load_model(str(files["shape"]))
        blend = eos.morphablemodel.load_blendshapes(str(files["blendshapes"]))
    except Exception as exc:  # eos raises RuntimeError for unreadable archives
        raise FaceModelError(f"Surrey Face Model: cannot read {files['shape']} or "
                             f"{files['blendshapes']}: {exc}") from exc
    if len(blend) == 0:
        raise FaceModelError(f"Surrey Face Model: {files['blendshapes']} holds no blendshapes")
    sm = mm.get_shape_model()
    mean = np.asarray(sm.get_mean(), dtype=np.float32).reshape(-1, 3)
    n = mean.shape[0]
    k = min(n_shape, sm.get_num_principal_components())
    U_s = np.asarray(sm.get_orthonormal_pca_basis(), dtype=np.float32)  # full (Surrey: 63); regression: leading k
    s_std = np.sqrt(np.asarray(sm.get_eigenvalues(), dtype=np.float32))
    U_e, e_std = _unit_columns(np.stack([np.asarray(b.deformation, np.float32) for b in blend], 1))
    tris = _orient_ccw(mean, np.asarray(sm.get_triangle_list(), dtype=np.int64))
    uv = np.asarray(mm.get_texture_coordinates(), dtype=np.float32)
    uv = np.stack([uv[:, 0], 1.0 - uv[:, 1]], 1) if uv.shape == (n, 2) else None
    # landmarks
    mapping = tomllib.loads(files["mapping"].read_text())["landmark_mappings"]
    contours = json.loads(files["contours"].read_text())["model_contour"]
    lmk = -np.ones(68, np.int64)
    for key, vid in mapping.items():
        lmk[int(key) - 1] = int(vid)
    lmk[60], lmk[64] = lmk[48], lmk[54]
    chin = int(lmk[8])
    lmk[0:8] = _jaw_from_contour(mean, contours["right_contour"], chin)
    lmk[9:17] = _jaw_from_contour(mean, contours["left_contour"], chin)[::-1]
    if (lmk < 0).any():
        raise FaceModelError(f"{files['mapping']}: landmarks {np.nonzero(lmk < 0)[0] + 1} are not mapped")
    S_s, _ = approximate_mirror(mean, U_s[:, :k])
    S_e, _ = approximate_mirror(mean, U_e)
    return FaceModel.from_full_basis(
        k, U_e.shape[1], U_s, s_std, U_e, e_std,
        name=files["shape"].stem, mean=mean, triangles=tris, landmarks=lmk,
        landmark_mirror=IBUG_MIRROR.copy(), shape_mirror=S_s, exp_mirror=S_e, uv=uv,
        exp_names=tuple(b.name for b in blend),
        meta={"source": str(files["shape"]), "reader": "eos"},
    )


# ----------------------------------------------------------------------------- BFM (3DDFA)
class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts/lists of numpy arrays and nothing else (pickles can run code)."""

    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("builtins", "dict"), ("builtins", "list"), ("collections", "OrderedDict"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are accepted")


def safe_load_array_pickle(path) -> object:
    """Load a pickle that may hold only dicts/lists of numpy arrays (untrusted input)."""
    path = Path(path)
    try:
        data = path.read_bytes()
        return _ArrayOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise FaceModelError(f"{path}: {exc}") from exc
    except Exception as exc:
        raise FaceModelError(f"{path} is not a readable pickle of numpy arrays: {exc}") from exc


def load_bfm_3ddfa(path, n_shape: int = 40, n_exp: int = 10) -> FaceModel:
    """Read BFM in the 3DDFA/3DDFA_V2 layout (e.g. ``bfm_noneck_v3.pkl``).

    Expected keys: ``u`` (3N, 1) mean, ``w_shp`` (3N, >=n_shape), ``w_exp`` (3N, >=n_exp),
    (BFM: 199 and 29 columns; every column is kept as the full basis, the leading ``n_shape`` /
    ``n_exp`` are the regression basis, as 3DDFA truncates it),
    ``keypoints`` (204,) flat indices ``3k, 3k+1, 3k+2`` of the 68 landmark vertices, and
    ``tri`` (F, 3) or (3, F), 0- or 1-based. Bases are split into unit columns and norms; as
    the file carries no coefficient prior, ``std`` is the column norm (one unit of the
    file's own coefficients). The pickle is read with an unpickler that accepts only numpy
    arrays in dicts/lists, so a malicious file cannot run code.
    """
    path = Path(path)
    d = safe_load_array_pickle(path)
    if not isinstance(d, dict):
        raise FaceModelError(f"{path}: expected a dict of arrays, got {type(d).__name__}")
    missing = [k for k in ("u", "w_shp", "w_exp", "keypoints", "tri") if k not in d]
    if missing:
        raise FaceModelError(f"{path}: missing keys {missing} (3DDFA BFM layout)")
    u = np.asarray(d["u"], np.float32).reshape(-1)
    if u.size % 3:
        raise FaceModelError(f"{path}: 'u' has {u.size} values, not a multiple of 3")
    n = u.size // 3
    w_shp, w_exp = np.asarray(d["w_shp"], np.float32), np.asarray(d["w_exp"], np.float32)
    for key, w, k in (("w_shp", w_shp, n_shape), ("w_exp", w_exp, n_exp)):
        if w.ndim != 2 or w.shape[0] != 3 * n or w.shape[1] < k:
            raise FaceModelError(f"{path}: {key!r} must be (3N={3 * n}, >={k}), got {w.shape}")
    kp = np.asarray(d["keypoints"]).reshape(-1).astype(np.int64)
    if kp.size != 204 or np.any(kp[0::3] % 3) or np.any(kp[1::3] != kp[0::3] + 1):
        raise FaceModelError(f"{path}: 'keypoints' must be 204 flat indices 3k, 3k+1, 3k+2")
    tri = np.asarray(d["tri"]).astype(np.int64)
    if tri.ndim != 2 or 3 not in tri.shape:
        raise FaceModelError(f"{path}: 'tri' must be (F, 3) or (3, F), got {tri.shape}")
    if tri.shape[1] != 3:
        tri = tri.T
    if tri.min() == 1 and tri.max() == n:
        tri = tri - 1
    mean = u.reshape(-1, 3)
    U_s, s_std = _unit_columns(w_shp)  # every component (BFM: 199 / 29); the regression view is the leading ones
    U_e, e_std = _unit_columns(w_exp)
    S_s, _ = approximate_mirror(mean, U_s[:, :n_shape])
    S_e, _ = approximate_mirror(mean, U_e[:, :n_exp])
    return FaceModel.from_full_basis(
        n_shape, n_exp, U_s, s_std, U_e, e_std,
        name=path.stem, mean=mean, triangles=_orient_ccw(mean, tri), landmarks=kp[0::3] // 3,
        landmark_mirror=IBUG_MIRROR.copy(), shape_mirror=S_s, exp_mirror=S_e,
        meta={"source": str(path), "reader": "3ddfa-pkl"},
    )
