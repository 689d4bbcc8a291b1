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
- **Full and regression bases** (the "3DMM bottleneck", Sec. 1 and 3.2). A model may carry a
  fuller basis than the network regresses, as BFM has 199 shape / 29 expression components of
  which 3DDFA-style networks regress the leading 40 / 10. ``shape_basis`` / ``exp_basis`` are
  always the *regression* view (what Eq. 1 and the 62-d parameter vector use);
  ``full_shape_basis`` / ``full_exp_basis`` (or None: the full basis is the regression one) hold
  every component, and the regression view is their leading columns -- the same memory, one
  model object. Truncating full coefficients to the regression ones is taking their leading
  entries (:meth:`FaceModel.truncate`), because the columns are orthonormal principal directions.
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
    lmk_basis: torch.Tensor  # (3*68, K_s + K_e)  [shape | expression]: one matrix multiply for both
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
        full_shape_basis: (3N, K_s_full >= K_s) float32 every shape component, or None (= shape_basis);
            its leading K_s columns are ``shape_basis``.
        full_shape_std: (K_s_full,) float32 prior std of every shape component (leading K_s = shape_std).
        full_exp_basis, full_exp_std: likewise for expression (K_e_full >= K_e), or None.
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
    full_shape_basis: np.ndarray | None = None
    full_shape_std: np.ndarray | None = None
    full_exp_basis: np.ndarray | None = None
    full_exp_std: np.ndarray | None = None

    def __post_init__(self):
        self._share_full_basis()
        self.validate()
        self._tensor_cache: dict = {}

    @classmethod
    def from_full_basis(cls, n_shape: int, n_exp: int, full_shape_basis, full_shape_std, full_exp_basis,
                        full_exp_std, **fields_) -> FaceModel:
        """A model whose regression basis is the leading ``n_shape`` / ``n_exp`` columns of a full basis.

        Args:
            n_shape, n_exp: K_s, K_e regressed by the networks (40 / 10 in the paper).
            full_shape_basis: (3N, K_s_full) unit-norm columns; full_shape_std: (K_s_full,).
            full_exp_basis: (3N, K_e_full); full_exp_std: (K_e_full,).
            fields_: every other :class:`FaceModel` field (name, mean, triangles, landmarks, ...).
        Raises:
            FaceModelError: a full basis with fewer components than the regression basis.
        """
        name = fields_.get("name", "?")
        for what, full, k in (("shape", full_shape_basis, n_shape), ("expression", full_exp_basis, n_exp)):
            have = np.asarray(full).shape[1] if np.ndim(full) == 2 else 0
            if not 1 <= k <= have:
                raise FaceModelError(f"face model {name!r}: the full {what} basis has {have} components, fewer than "
                                     f"the {k} of the regression basis (give a fuller basis or regress fewer)")
        fs, fe = np.asarray(full_shape_basis), np.asarray(full_exp_basis)
        return cls(shape_basis=fs[:, :n_shape], shape_std=np.asarray(full_shape_std)[:n_shape],
                   exp_basis=fe[:, :n_exp], exp_std=np.asarray(full_exp_std)[:n_exp],
                   full_shape_basis=fs, full_shape_std=np.asarray(full_shape_std),
                   full_exp_basis=fe, full_exp_std=np.asarray(full_exp_std), **fields_)

    def _share_full_basis(self) -> None:
        """Check a full basis against the regression view and make the view share its memory."""
        for part in ("shape", "exp"):
            full, std = getattr(self, f"full_{part}_basis"), getattr(self, f"full_{part}_std")
            if full is None and std is None:
                continue
            reg, reg_std = getattr(self, f"{part}_basis"), getattr(self, f"{part}_std")
            what = "shape" if part == "shape" else "expression"
            if full is None or std is None:
                raise FaceModelError(f"face model {self.name!r}: full_{part}_basis and full_{part}_std "
                                     "come together (give both or neither)")
            if full.ndim != 2 or full.shape[0] != reg.shape[0] or std.shape != (full.shape[1],):
                raise FaceModelError(f"face model {self.name!r}: full {what} basis {full.shape} / std {std.shape} "
                                     f"do not match the regression basis {reg.shape}")
            bad_std = np.nonzero(~(np.isfinite(std) & (std > 0)))[0]
            if bad_std.size:
                raise FaceModelError(f"face model {self.name!r}: full_{part}_std must be finite and > 0, got "
                                     f"{std[bad_std[:5]].tolist()} at components {bad_std[:10].tolist()} "
                                     "(re-create the model file; a prior std is a positive length)")
            bad_col = np.nonzero(~np.isfinite(full).all(0) | (np.linalg.norm(full, axis=0) <= 1e-6))[0]
            if bad_col.size:
                raise FaceModelError(f"face model {self.name!r}: full_{part}_basis has non-finite or all-zero columns "
                                     f"{bad_col[:10].tolist()} (each column must be a unit-norm direction; re-create "
                                     "the model file)")
            k = reg.shape[1]
            if full.shape[1] < k:
                raise FaceModelError(f"face model {self.name!r}: the full {what} basis has {full.shape[1]} components, "
                                     f"fewer than the {k} of the regression basis (re-create the model file)")
            if not (np.array_equal(full[:, :k], reg) and np.array_equal(std[:k], reg_std)):
                raise FaceModelError(f"face model {self.name!r}: the regression {what} basis is not the leading "
                                     f"{k} columns of the full basis (re-create the model file)")
            setattr(self, f"{part}_basis", full[:, :k])
            setattr(self, f"{part}_std", std[:k])

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
    def n_shape_full(self) -> int:
        """Shape components of the full basis (K_s_full >= K_s; = K_s without a fuller basis)."""
        return self.n_shape if self.full_shape_basis is None else int(self.full_shape_basis.shape[1])

    @property
    def n_exp_full(self) -> int:
        """Expression components of the full basis (K_e_full >= K_e)."""
        return self.n_exp if self.full_exp_basis is None else int(self.full_exp_basis.shape[1])

    def full_basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The full view: shape basis (3N, K_s_full), shape std (K_s_full,), expression basis
        (3N, K_e_full) and std (K_e_full,). Without a fuller basis these are the regression arrays."""
        pick = lambda full, reg: reg if full is None else full  # noqa: E731
        return (pick(self.full_shape_basis, self.shape_basis), pick(self.full_shape_std, self.shape_std),
                pick(self.full_exp_basis, self.exp_basis), pick(self.full_exp_std, self.exp_std))

    def truncate(self, alpha_shp_full, alpha_exp_full) -> tuple[np.ndarray, np.ndarray]:
        """Full coefficients (..., K_s_full), (..., K_e_full) -> regression ones (..., K_s), (..., K_e).

        The 3DDFA-style target of a face drawn from the full model: the leading entries, i.e. the
        orthogonal projection of its shape onto the regression span (orthonormal columns).
        """
        a_s, a_e = np.asarray(alpha_shp_full), np.asarray(alpha_exp_full)
        if a_s.shape[-1] != self.n_shape_full or a_e.shape[-1] != self.n_exp_full:
            raise ValueError(f"expected (..., {self.n_shape_full}) and (..., {self.n_exp_full}) full coefficients, "
                             f"got {a_s.shape} and {a_e.shape}")
        return a_s[..., :self.n_shape], a_e[..., :self.n_exp]

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
            lmk_basis=t(np.concatenate([self.shape_basis[rows], self.exp_basis[rows]], 1)),
            triangles=torch.as_tensor(self.triangles, dtype=torch.int64, device=device),
            landmarks=torch.as_tensor(self.landmarks, dtype=torch.int64, device=device),
        )

    # ------------------------------------------------------------------ numpy helpers
    def vertices(self, alpha_shp=None, alpha_exp=None) -> np.ndarray:
        """Eq. 1 in numpy for one face: (N, 3) vertices from (K, ) coefficients.

        ``alpha_shp`` may have K_s (regression) or K_s_full entries, ``alpha_exp`` K_e or K_e_full:
        the matching basis is used, so the same call builds a truncated or a full face.
        """
        full_s, _, full_e, _ = self.full_basis()
        v = self.mean.reshape(-1).astype(np.float64)
        for alpha, reg, full, what in ((alpha_shp, self.shape_basis, full_s, "alpha_shp"),
                                       (alpha_exp, self.exp_basis, full_e, "alpha_exp")):
            if alpha is None:
                continue
            a = np.asarray(alpha, dtype=np.float64)
            basis = reg if a.shape == (reg.shape[1],) else full if a.shape == (full.shape[1],) else None
            if basis is None:
                raise ValueError(f"{what} must have {reg.shape[1]} (regression) or {full.shape[1]} (full) entries, "
                                 f"got shape {a.shape}")
            v = v + basis @ a
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
        shared = {f"{part}_{kind}" for part, full in (("shape", self.full_shape_basis), ("exp", self.full_exp_basis))
                  if full is not None for kind in ("basis", "std")}
        for f in fields(self):
            val = getattr(self, f.name)
            if val is None:
                continue
            if f.name in shared:  # the leading columns of the full basis: stored once, as its size
                val = np.array(getattr(self, f.name).shape[-1], np.int64)
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
        for part in ("shape", "exp"):  # a regression basis stored as its size: the full basis's leading columns
            if data[f"{part}_basis"].ndim == 0:
                full, std = data.get(f"full_{part}_basis"), data.get(f"full_{part}_std")
                k = int(data[f"{part}_basis"])
                if full is None or std is None or full.ndim != 2 or std.ndim != 1:
                    raise FaceModelError(f"face model file {path}: {part}_basis is stored as a size ({k}) but the "
                                         f"file has no full_{part}_basis / full_{part}_std (re-create the model file)")
                if not 1 <= k <= full.shape[1] or k > std.shape[0]:
                    what = "shape" if part == "shape" else "expression"
                    raise FaceModelError(f"face model file {path}: the full {what} basis has {full.shape[1]} components, "
                                         f"fewer than the {k} of the regression basis (re-create the model file)")
                data[f"{part}_basis"], data[f"{part}_std"] = full[:, :k], std[:k]
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
