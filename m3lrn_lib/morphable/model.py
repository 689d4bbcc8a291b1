"""The morphable-model object that everything downstream takes (Sec. 3.1, Eq. 1).

A :class:`FaceModel` holds plain numpy arrays; :meth:`FaceModel.tensors` gives cached torch
copies on a device. Nothing in the library reads a global model: every function takes one.

Conventions (all models, embedded or real):

- Model space is right-handed, in millimetres: x towards the subject's left (image right
  in a frontal view), y up, z out of the face towards the camera.
- Bases are stored flat, like 3DDFA: ``shape_basis`` is (3N, K_s) with rows ordered
  ``x0, y0, z0, x1, y1, z1, ...``; the columns are unit-norm directions and the
  coefficients ``alpha_s`` are in millimetres with prior standard deviation ``shape_std``.
  Eq. 1: ``R_f = Mat(M + U_s alpha_s + U_e alpha_e)``.
- ``landmarks`` are 68 vertex indices in iBUG-68 order (0-based: jaw 0-16, brows 17-26,
  nose 27-35, eyes 36-47, mouth 48-67); jaw points are fixed 3D vertices.
- ``landmark_mirror[i]`` is the landmark that point ``i`` becomes after a left/right flip;
  ``vertex_mirror`` does the same for vertices (or is ``None`` for models without an exact
  vertex symmetry). ``shape_mirror`` (K_s, K_s) and ``exp_mirror`` (K_e, K_e) map
  coefficients to the coefficients of the mirrored face.
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass, field, fields
from typing import NamedTuple

import numpy as np
import torch

from ..errors import UserError
from ..fileio import atomic_write_bytes

N_LANDMARKS = 68

#: iBUG-68 left/right landmark permutation (0-based): point i maps to IBUG_MIRROR[i].
IBUG_MIRROR = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # nostrils
    + [45, 44, 43, 42, 47, 46]  # right eye <- left eye
    + [39, 38, 37, 36, 41, 40]  # left eye <- right eye
    + [54, 53, 52, 51, 50, 49, 48]  # outer upper lip
    + [59, 58, 57, 56, 55]  # outer lower lip
    + [64, 63, 62, 61, 60]  # inner upper lip
    + [67, 66, 65],  # inner lower lip
    dtype=np.int64,
)

#: Names of the iBUG-68 groups with their 0-based index ranges (used by plots).
IBUG_GROUPS = {
    "jaw": range(0, 17),
    "right_brow": range(17, 22),
    "left_brow": range(22, 27),
    "nose_bridge": range(27, 31),
    "nostrils": range(31, 36),
    "right_eye": range(36, 42),
    "left_eye": range(42, 48),
    "outer_lips": range(48, 60),
    "inner_lips": range(60, 68),
}

#: The five coarse face parts, each the union of :data:`IBUG_GROUPS` (sorted 0-based indices;
#: together every landmark once): used to split an error by part.
IBUG_PARTS = {part: [i for g in groups for i in IBUG_GROUPS[g]] for part, groups in (
    ("jaw", ("jaw",)),
    ("brows", ("right_brow", "left_brow")),
    ("nose", ("nose_bridge", "nostrils")),
    ("eyes", ("right_eye", "left_eye")),
    ("mouth", ("outer_lips", "inner_lips")),
)}

#: Closed loops among the groups (eyes and lips) for drawing connectivity lines.
IBUG_CLOSED = {"right_eye", "left_eye", "outer_lips", "inner_lips"}


def ibug_edges() -> np.ndarray:
    """The 68-point connectivity lines as an (E, 2) int array of 0-based landmark pairs."""
    edges = []
    for name, rng in IBUG_GROUPS.items():
        idx = list(rng)
        edges += list(zip(idx[:-1], idx[1:]))
        if name in IBUG_CLOSED:
            edges.append((idx[-1], idx[0]))
    return np.array(edges, dtype=np.int64)


class FaceModelError(UserError):
    """A morphable model file or array is missing, corrupt or inconsistent."""


class ModelTensors(NamedTuple):
    """Torch views of a :class:`FaceModel` on one device (see :meth:`FaceModel.tensors`)."""

    mean: torch.Tensor  # (3N,)
    shape_basis: torch.Tensor  # (3N, K_s)
    exp_basis: torch.Tensor  # (3N, K_e)
    lmk_mean: torch.Tensor  # (3*68,)  rows of the landmark vertices only
    lmk_shape_basis: torch.Tensor  # (3*68, K_s)
    lmk_exp_basis: torch.Tensor  # (3*68, K_e)
    triangles: torch.Tensor  # (F, 3) int64
    landmarks: torch.Tensor  # (68,) int64


@dataclass(eq=False)
class FaceModel:
    """A linear 3D morphable face model (Eq. 1) with landmarks, UVs and albedo.

    Attributes (N vertices, F triangles, K_s/K_e/K_a components):
        name: short identifier, e.g. ``"m3lrn-embedded"`` or ``"sfm_shape_3448"``.
        mean: (N, 3) float32 mean shape, millimetres.
        shape_basis: (3N, K_s) float32 unit-norm shape directions (U_s).
        shape_std: (K_s,) float32 prior std of the shape coefficients (mm).
        exp_basis: (3N, K_e) float32 unit-norm expression directions (U_e).
        exp_std: (K_e,) float32 prior std of the expression coefficients (mm).
        triangles: (F, 3) int64, counter-clockwise seen from outside.
        uv: (N, 2) float32 texture coordinates in [0, 1] (v up), or None.
        landmarks: (68,) int64 vertex indices in iBUG-68 order.
        landmark_mirror: (68,) int64 landmark permutation under a left/right flip.
        vertex_mirror: (N,) int64 vertex permutation under a flip, or None.
        shape_mirror: (K_s, K_s) float32, coefficients of the mirrored face: a' = S a.
        exp_mirror: (K_e, K_e) float32, likewise for expression.
        albedo_mean: (N, 3) float32 per-vertex RGB in [0, 1], or None.
        albedo_basis: (3N, K_a) float32 albedo directions, or None.
        albedo_std: (K_a,) float32, or None.
        exp_names: names of the expression components (or of the source blendshapes).
        meta: free-form string metadata (generator version, seed, source path).
    """

    name: str
    mean: np.ndarray
    shape_basis: np.ndarray
    shape_std: np.ndarray
    exp_basis: np.ndarray
    exp_std: np.ndarray
    triangles: np.ndarray
    landmarks: np.ndarray
    landmark_mirror: np.ndarray = field(default_factory=lambda: IBUG_MIRROR.copy())
    shape_mirror: np.ndarray | None = None
    exp_mirror: np.ndarray | None = None
    vertex_mirror: np.ndarray | None = None
    uv: np.ndarray | None = None
    albedo_mean: np.ndarray | None = None
    albedo_basis: np.ndarray | None = None
    albedo_std: np.ndarray | None = None
    exp_names: tuple = ()
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.validate()
        self._tensor_cache: dict = {}

    # ------------------------------------------------------------------ checks
    @property
    def n_vertices(self) -> int:
        return int(self.mean.shape[0])

    @property
    def n_shape(self) -> int:
        return int(self.shape_basis.shape[1])

    @property
    def n_exp(self) -> int:
        return int(self.exp_basis.shape[1])

    @property
    def n_params(self) -> int:
        """Length of the full parameter vector: 12 pose + K_s + K_e (62 for 40/10)."""
        return 12 + self.n_shape + self.n_exp

    def validate(self) -> None:
        """Check shapes, dtypes, finiteness and index ranges; raise FaceModelError."""
        def fail(what):
            raise FaceModelError(f"face model {self.name!r}: {what}")

        if self.mean.ndim != 2 or self.mean.shape[1] != 3:
            fail(f"mean must be (N, 3), got {self.mean.shape}")
        n = self.mean.shape[0]
        for nm in ("shape_basis", "exp_basis"):
            b = getattr(self, nm)
            if b.ndim != 2 or b.shape[0] != 3 * n:
                fail(f"{nm} must be (3N={3 * n}, K), got {b.shape}")
        if self.exp_basis.shape[1] == 0:
            fail("exp_basis has no components (an expression basis is required)")
        if self.shape_std.shape != (self.n_shape,):
            fail(f"shape_std must be ({self.n_shape},), got {self.shape_std.shape}")
        if self.exp_std.shape != (self.n_exp,):
            fail(f"exp_std must be ({self.n_exp},), got {self.exp_std.shape}")
        for nm in ("mean", "shape_basis", "exp_basis", "shape_std", "exp_std"):
            if not np.all(np.isfinite(getattr(self, nm))):
                fail(f"{nm} contains NaN or inf")
        for nm in ("shape_std", "exp_std"):  # a prior std is a positive length (mm)
            bad = np.nonzero(~(np.asarray(getattr(self, nm)) > 0))[0]
            if bad.size:
                fail(f"{nm} must be > 0, got {np.asarray(getattr(self, nm))[bad[:5]].tolist()} "
                     f"at components {bad[:10].tolist()} (re-create the model; a prior std is a positive length)")
        for nm in ("shape_basis", "exp_basis"):  # columns are unit-norm directions
            norms = np.linalg.norm(np.asarray(getattr(self, nm), np.float64), axis=0)
            bad = np.nonzero(norms <= 1e-6)[0]
            if bad.size:
                fail(f"{nm} has all-zero columns {bad[:10].tolist()} (each column must be a unit-norm direction; "
                     "re-create the model)")
        if self.triangles.ndim != 2 or self.triangles.shape[1] != 3:
            fail(f"triangles must be (F, 3), got {self.triangles.shape}")
        if self.triangles.size and (self.triangles.min() < 0 or self.triangles.max() >= n):
            fail(f"triangle index out of range [0, {n})")
        if self.landmarks.shape != (N_LANDMARKS,):
            fail(f"landmarks must be ({N_LANDMARKS},), got {self.landmarks.shape}")
        if self.landmarks.min() < 0 or self.landmarks.max() >= n:
            bad = self.landmarks[(self.landmarks < 0) | (self.landmarks >= n)]
            fail(f"landmark vertex index out of range [0, {n}): {bad.tolist()}")
        if sorted(self.landmark_mirror.tolist()) != list(range(N_LANDMARKS)):
            fail("landmark_mirror is not a permutation of 0..67")
        if self.vertex_mirror is not None and sorted(self.vertex_mirror.tolist()) != list(range(n)):
            fail("vertex_mirror is not a permutation of the vertices")
        if self.uv is not None and self.uv.shape != (n, 2):
            fail(f"uv must be (N, 2), got {self.uv.shape}")
        if self.albedo_mean is not None and self.albedo_mean.shape != (n, 3):
            fail(f"albedo_mean must be (N, 3), got {self.albedo_mean.shape}")

    def require_uv(self) -> np.ndarray:
        """Return the (N, 2) UV coordinates or raise a clear error if the model has none."""
        if self.uv is None:
            raise FaceModelError(f"face model {self.name!r} has no UV coordinates")
        return self.uv

    # ------------------------------------------------------------------ torch
    def tensors(self, device="cpu", dtype=torch.float32) -> ModelTensors:
        """Cached torch copies of the arrays needed by :mod:`m3lrn_lib.geometry`."""
        key = (str(torch.device(device)), dtype)
        if key not in self._tensor_cache:
            with torch.inference_mode(False):  # cached tensors must also serve autograd later
                self._tensor_cache[key] = self._make_tensors(device, dtype)
        return self._tensor_cache[key]

    def _make_tensors(self, device, dtype) -> ModelTensors:
        rows = (3 * self.landmarks[:, None] + np.arange(3)[None, :]).reshape(-1)
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)  # noqa: E731
        return ModelTensors(
            mean=t(self.mean.reshape(-1)),
            shape_basis=t(self.shape_basis),
            exp_basis=t(self.exp_basis),
            lmk_mean=t(self.mean.reshape(-1)[rows]),
            lmk_shape_basis=t(self.shape_basis[rows]),
            lmk_exp_basis=t(self.exp_basis[rows]),
            triangles=torch.as_tensor(self.triangles, dtype=torch.int64, device=device),
            landmarks=torch.as_tensor(self.landmarks, dtype=torch.int64, device=device),
        )

    # ------------------------------------------------------------------ numpy helpers
    def vertices(self, alpha_shp=None, alpha_exp=None) -> np.ndarray:
        """Eq. 1 in numpy for one face: (N, 3) vertices from (K_s,) and (K_e,) coefficients."""
        v = self.mean.reshape(-1).astype(np.float64)
        if alpha_shp is not None:
            v = v + self.shape_basis @ np.asarray(alpha_shp, dtype=np.float64)
        if alpha_exp is not None:
            v = v + self.exp_basis @ np.asarray(alpha_exp, dtype=np.float64)
        return v.reshape(-1, 3).astype(np.float32)

    def fingerprint(self) -> str:
        """A short hash of the geometry arrays, stored in checkpoints to catch mismatches."""
        h = hashlib.sha1()
        for a in (self.mean, self.shape_basis, self.exp_basis, self.landmarks):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    # ------------------------------------------------------------------ io
    def save(self, path) -> None:
        """Write the model to an ``.npz`` file atomically (temp file, then rename).

        The file is byte-for-byte deterministic for identical arrays.
        """
        path = os.fspath(path)
        arrays = {}
        for f in fields(self):
            val = getattr(self, f.name)
            if val is None:
                continue
            if f.name == "meta":
                val = np.array(sorted(f"{k}={v}" for k, v in val.items()))
            elif f.name == "exp_names":
                val = np.array(list(val), dtype=str)
            elif f.name == "name":
                val = np.array(val)
            arrays[f.name] = val
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for key in sorted(arrays):
                info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w") as fh:
                    np.lib.format.write_array(fh, np.asarray(arrays[key]), allow_pickle=False)
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path) -> FaceModel:
        """Read a model written by :meth:`save`; errors name the file and the problem."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FaceModelError(f"face model file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError ...
            raise FaceModelError(f"face model file {path} is corrupt or not an .npz: {exc}") from exc
        required = {"name", "mean", "shape_basis", "shape_std", "exp_basis", "exp_std",
                    "triangles", "landmarks"}
        missing = sorted(required - set(data))
        if missing:
            raise FaceModelError(f"face model file {path} lacks arrays: {missing}")
        kw = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            val = data[f.name]
            if f.name == "name":
                val = str(val)
            elif f.name == "meta":
                val = dict(s.split("=", 1) for s in val.tolist())
            elif f.name == "exp_names":
                val = tuple(val.tolist())
            kw[f.name] = val
        try:
            return cls(**kw)
        except FaceModelError as exc:
            raise FaceModelError(f"face model file {path}: {exc}") from exc
