"""The embedded model, version 2: a full basis richer than the 62 regressed numbers.

Version 1 (:mod:`m3lrn_lib.morphable.embedded`) has exactly the 40 shape and 10 expression
components that the network regresses, so every synthetic face lies in the span of the 62-d
parameter vector and a perfect first stage leaves nothing to refine. Real data is not like that:
3DDFA-style networks regress the leading 40 / 10 of BFM's 199 / 29 components, and the ground
truth (3DMM fits of every component, and human annotation) has a leftover outside that span --
the "3DMM bottleneck" of Sec. 1 and 3.2 that M²FA refines.

Version 2 rebuilds that situation from the same topology, landmarks and anatomy:

1. **Shape**: PCA (mirror-symmetric, as version 1) over :data:`N_IDENTITIES` sampled identities.
   Each identity has version 1's anatomical controls and smooth depth bumps, plus finer 3D
   detail (:func:`detail_bumps`): bumps of 5-16 mm that move vertices in x, y and z, denser
   around the eyes, nose, mouth and jaw line, drawn independently on the two sides (faces are
   not symmetric). The model keeps :data:`N_SHAPE_FULL` components; the leading 40 are the
   regression basis.
2. **Expression**: PCA over mixtures of :data:`EXPRESSION_NAMES_V2` -- 30 named expressions
   including one-sided ones (smile, brow raise, squint, sneer, ... on one side) and sideways
   jaw and mouth moves -- keeping :data:`N_EXP_FULL` components, the leading 10 regressed.
3. **Albedo** as version 1.

The model is a :class:`~m3lrn_lib.morphable.model.FaceModel` with a full basis
(``full_shape_basis`` / ``full_exp_basis``); ``shape_basis`` / ``exp_basis`` are their leading
columns. The same rules as version 1 make the file identical on every CPU: float64 PCA, pinned
component signs (:data:`ORIENTATION_V2`), and rounding to grids far coarser than BLAS noise
(:data:`GRID_V2`: the regressed columns as version 1, the remaining columns on a coarser grid,
which also keeps the file under its 5 MB budget).
"""
from __future__ import annotations

import numpy as np

from .embedded import (
    GRID,
    IBUG_MIRROR,
    NEUTRAL,
    _gauss,
    _smooth_step,
    choose_landmarks,
    expression_and_albedo_pca,
    expression_fields,
    face_surface,
    grid_topology,
    orient,
    sample_anatomy,
    stable_float32,
    symmetric_pca,
)
from .model import FaceModel

GENERATOR_VERSION = "2"
DEFAULT_SEED = 20212
N_IDENTITIES = 480
N_SHAPE_FULL, N_EXP_FULL = 150, 29
N_SHAPE, N_EXP = 40, 10

#: Rounding grids (see :func:`m3lrn_lib.morphable.embedded.stable_float32`): the regressed columns on
#: 2**-20, the rest of the basis on 2**-14 (a typical entry is ~0.008: relative error < 1e-2 in a
#: component whose std is under 10 mm, i.e. < 0.1 mm; far above BLAS noise), the albedo basis on
#: 2**-17. The coarse grids let deflate shrink the file to under the 5 MB budget of data/.
GRID_V2 = dict(GRID, basis=("abs", 20), basis_tail=("abs", 14), albedo_basis=("abs", 17))

#: Pinned signs of every component (see :func:`m3lrn_lib.morphable.embedded.orient`): the signs
#: of the first build of this version, so that the file and trained networks do not depend on
#: which sign an SVD returns.
ORIENTATION_V2 = {
    "shape": (
        "+--+-+--+---+---++-+----++-+++-++----+++++++-+++++-+--++-++----+++++-+-+-++"
        "+--+---+----+++++-+-++-+---++-++----+-+--+++-+-----++++-+---+++-++----+--++"
    ),
    "exp": "+++-+++-+-+-++++--+--+++-+---",
    "albedo": "+------+-+",
}

EXPRESSION_NAMES_V2 = (
    "jaw_open", "smile_left", "smile_right", "brow_raise_left", "brow_raise_right", "frown", "pucker",
    "eyes_closed_left", "eyes_closed_right", "cheek_puff_left", "cheek_puff_right", "sneer_left", "sneer_right",
    "mouth_stretch_left", "mouth_stretch_right", "jaw_sideways", "mouth_sideways", "lip_press", "lip_funnel",
    "upper_lip_raise", "lower_lip_depress", "chin_raise", "squint_left", "squint_right",
    "lip_corner_down_left", "lip_corner_down_right", "nostril_flare", "cheek_suck", "brow_inner_up", "jaw_thrust",
)

# Where fine detail concentrates: (cx, cy, spread) in mm on the neutral face, right side
# (x < 0; each is also used mirrored, with independent draws).
_DETAIL_SITES = ((-30, 34, 14), (-16, 20, 10), (-8, -5, 8), (-14, -18, 8), (-20, -38, 10), (-8, -48, 8),
                 (-60, 10, 14), (-55, -35, 14), (-35, -65, 14), (-10, -82, 10), (-36, 52, 14), (-45, -5, 16),
                 (0, 75, 30), (0, 40, 6), (0, -28, 6))


def detail_bumps(rng: np.random.Generator, n_site: int = 3, n_free: int = 10) -> list:
    """Fine 3D detail of one identity: a list of (cx, cy, sx, sy, (dx, dy, dz)) Gaussian bumps in mm.

    ``n_site`` bumps around each detail site (both sides drawn independently) and ``n_free``
    anywhere on the face; displacements are mostly in depth but also in the image plane, so that
    landmarks move in ways the leading components do not capture.
    """
    out = []
    for cx, cy, spread in _DETAIL_SITES:
        for side in ((-1, 1) if cx != 0 else (1,)):
            for _ in range(n_site):
                s = rng.uniform(4.0, 9.0, 2)
                out.append((side * cx + rng.normal(0, spread / 2), cy + rng.normal(0, spread / 2), s[0], s[1],
                            rng.normal(0, 1.0, 3) * np.array([1.4, 1.4, 2.2])))
    for _ in range(n_free):
        s = rng.uniform(6.0, 16.0, 2)
        out.append((rng.uniform(-65, 65), rng.uniform(-85, 95), s[0], s[1], rng.normal(0, 1.0, 3) * np.array([0.8, 0.8, 1.5])))
    return out


def identity_surface(rng: np.random.Generator) -> np.ndarray:
    """One identity of the version-2 population: (N, 3) float64 vertices in mm."""
    a, bumps = sample_anatomy(rng)
    V = face_surface(a, bumps)
    for cx, cy, sx, sy, d in detail_bumps(rng):
        V = V + _gauss(V[:, 0], V[:, 1], cx, cy, sx, sy)[:, None] * d[None, :]
    return V


# ----------------------------------------------------------------------------- expressions
def expression_fields_v2(V: np.ndarray, a: dict) -> np.ndarray:
    """Displacement fields (30, N, 3) in mm of :data:`EXPRESSION_NAMES_V2` on the neutral face V."""
    base = dict(zip(("jaw_open", "smile", "brow_raise", "frown", "pucker", "eyes_closed", "cheek_puff", "sneer",
                     "mouth_stretch", "wink_left"), expression_fields(V, a)))
    x, y = V[:, 0], V[:, 1]
    left = _smooth_step((x + 6.0) / 12.0)[:, None]  # the subject's left side (x > 0), soft across the midline
    m, mh, e = a["mouth"], a["mouth_half"], a["eye"]
    eye_c = (a["eye_inner"] + a["eye_outer"]) / 2
    zero = np.zeros_like(x)
    lower = _smooth_step((a["nose_base"] - 8 - y) / 20.0) * _gauss(x, y, 0, a["chin"] + 10, 60, 45)
    lips = _gauss(x, y, 0, m, mh * 1.1, 9)
    upper = lips * (y > m)
    lower_lip = lips * (y <= m)
    corner = _gauss(np.abs(x), y, mh, m, 9, 7)
    sq = _gauss(np.abs(x), y, eye_c, e - 0.5 * a["eye_open"], (a["eye_outer"] - a["eye_inner"]) / 2, 5.0)
    f = {}
    f["jaw_open"] = base["jaw_open"]
    for name in ("smile", "brow_raise", "cheek_puff", "sneer", "mouth_stretch"):
        f[f"{name}_left"], f[f"{name}_right"] = base[name] * left, base[name] * (1 - left)
    f["frown"], f["pucker"] = base["frown"], base["pucker"]
    f["eyes_closed_left"], f["eyes_closed_right"] = base["eyes_closed"] * left, base["eyes_closed"] * (1 - left)
    f["jaw_sideways"] = np.stack([6.0 * lower, zero, zero], -1)
    f["mouth_sideways"] = np.stack([5.0 * lips, 0.5 * lips * np.sign(x), zero], -1)
    f["lip_press"] = np.stack([zero, -1.5 * upper + 1.5 * lower_lip, -1.5 * lips], -1)
    f["lip_funnel"] = np.stack([-0.25 * x * lips, 2.0 * upper - 2.0 * lower_lip, 5.0 * lips], -1)
    f["upper_lip_raise"] = np.stack([zero, 3.5 * upper, 0.8 * upper], -1)
    f["lower_lip_depress"] = np.stack([zero, -3.5 * lower_lip, 0.8 * lower_lip], -1)
    chin = _gauss(x, y, 0, a["chin"] + 8, 16, 10)
    f["chin_raise"] = np.stack([zero, 3.0 * chin, 1.5 * chin], -1)
    f["squint_left"], f["squint_right"] = (np.stack([zero, 1.6 * sq, 0.3 * sq], -1) * w for w in (left, 1 - left))
    down = np.stack([np.sign(x) * 1.0 * corner, -3.5 * corner, -0.5 * corner], -1)
    f["lip_corner_down_left"], f["lip_corner_down_right"] = down * left, down * (1 - left)
    nose = _gauss(np.abs(x), y, a["alar_width"], a["nose_base"] + 3, 6, 6)
    f["nostril_flare"] = np.stack([np.sign(x) * 2.0 * nose, zero, 0.5 * nose], -1)
    cheek = _gauss(np.abs(x), y, 40, m + 10, 12, 12)
    f["cheek_suck"] = np.stack([-np.sign(x) * 2.0 * cheek, zero, -3.0 * cheek], -1)
    inner = _gauss(np.abs(x), y, 18, a["brow"], 10, 8)
    f["brow_inner_up"] = np.stack([zero, 4.0 * inner, 0.5 * inner], -1)
    f["jaw_thrust"] = np.stack([zero, zero, 5.0 * lower], -1)
    return np.stack([f[n] for n in EXPRESSION_NAMES_V2]).astype(np.float64)


# ----------------------------------------------------------------------------- build


def _stable_basis(U: np.ndarray, k_reg: int) -> np.ndarray:
    """Round the regressed columns on the fine grid and the rest on the coarse one (float32)."""
    return np.concatenate([stable_float32(U[:, :k_reg], GRID_V2["basis"]),
                           stable_float32(U[:, k_reg:], GRID_V2["basis_tail"])], 1)


def build_embedded_model_v2(seed: int = DEFAULT_SEED, n_identities: int = N_IDENTITIES,
                            n_expression_samples: int = 600) -> FaceModel:
    """Generate the version-2 embedded model (full basis 150 / 29, regression basis 40 / 10).

    Args:
        seed: random seed; the same seed gives the same arrays bit for bit on any CPU.
        n_identities: identities for the shape PCA (>= 400; each is also mirrored).
        n_expression_samples: random mixtures of the named expressions for the expression PCA.
    Returns:
        a :class:`FaceModel` with ``full_shape_basis`` (3N, 150) and ``full_exp_basis`` (3N, 29).
    """
    if n_identities < 400:
        raise ValueError(f"n_identities must be >= 400 for a stable {N_SHAPE_FULL}-component PCA, got {n_identities}")
    rng = np.random.default_rng([seed, 2])
    tris, uv, vmirror = grid_topology()
    pop = np.stack([identity_surface(rng).reshape(-1) for _ in range(n_identities)])
    mean, U_s, s_std, s_sign, s_ratio = symmetric_pca(pop, vmirror, N_SHAPE_FULL)
    V0 = mean.reshape(-1, 3)
    lmk = choose_landmarks(V0, NEUTRAL)
    fields_ = expression_fields_v2(V0, NEUTRAL).reshape(len(EXPRESSION_NAMES_V2), -1)
    (U_e, e_std, e_sign, e_ratio), (a_mean, U_a, a_std) = expression_and_albedo_pca(
        fields_, V0, lmk, vmirror, rng, n_expression_samples, 0.2, N_EXP_FULL)
    U_s = orient(U_s, ORIENTATION_V2["shape"], seed)
    U_e = orient(U_e, ORIENTATION_V2["exp"], seed)
    U_a = orient(U_a, ORIENTATION_V2["albedo"], seed)
    full_s, full_e = _stable_basis(U_s, N_SHAPE), _stable_basis(U_e, N_EXP)
    meta = {"generator": GENERATOR_VERSION, "seed": str(seed), "n_identities": str(n_identities),
            "shape_variance_kept": f"{s_ratio:.4f}", "exp_variance_kept": f"{e_ratio:.4f}",
            "shape_variance_regressed": f"{float(s_std[:N_SHAPE] @ s_std[:N_SHAPE] / (s_std @ s_std) * s_ratio):.4f}",
            "exp_variance_regressed": f"{float(e_std[:N_EXP] @ e_std[:N_EXP] / (e_std @ e_std) * e_ratio):.4f}"}
    return FaceModel.from_full_basis(
        N_SHAPE, N_EXP, full_s, stable_float32(s_std, GRID_V2["std"]), full_e, stable_float32(e_std, GRID_V2["std"]),
        name="m3lrn-embedded-v2", mean=stable_float32(V0, GRID_V2["mean"]),
        triangles=tris, landmarks=lmk, landmark_mirror=IBUG_MIRROR.copy(),
        shape_mirror=np.diag(s_sign[:N_SHAPE]).astype(np.float32), exp_mirror=np.diag(e_sign[:N_EXP]).astype(np.float32),
        vertex_mirror=vmirror.astype(np.int64), uv=uv,
        albedo_mean=stable_float32(a_mean.reshape(-1, 3), GRID_V2["albedo_mean"]),
        albedo_basis=stable_float32(U_a, GRID_V2["albedo_basis"]), albedo_std=stable_float32(a_std, GRID_V2["std"]),
        exp_names=EXPRESSION_NAMES_V2,  # the named expressions the components are a PCA of
        meta=meta,
    )
