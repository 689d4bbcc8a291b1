"""The embedded default morphable model, generated from a seed (no download, no licence).

How it is built (notebook 01 walks through it):

1. **Topology.** A fixed grid of ``N_ROWS x N_COLS`` vertices (4941) covering the front of
   the head from the forehead to under the chin and back to the ears, triangulated into
   quads, with a *mouth slit* (a pair of grid rows with no triangles between them in the
   mouth) so that the jaw can open. Per-vertex UVs are the grid coordinates. Column ``j``
   mirrors to column ``N_COLS-1-j``, so the mesh is exactly left/right symmetric.
2. **One face = anatomical controls.** :func:`face_surface` maps the grid to 3D from a few
   dozen anatomical controls (face width/height, jaw, nose length/width/protrusion, eye
   spacing and size, mouth width, lips, chin, cheekbones, brow ridge, forehead slope,
   depth) plus smooth random bumps. Rows and columns follow anatomical anchors (eye line,
   mouth line, eye corners), so the 68 landmark vertices keep their meaning for every
   identity.
3. **Shape basis by PCA** over a sampled population (default 300 identities and their
   mirror images), exactly as real 3DMMs are built from scans (Sec. 3.1). PCA is done
   separately on the symmetric and antisymmetric parts of the mirror-closed population,
   so every component is either symmetric or antisymmetric and the coefficient-space
   mirror operator is an exact diagonal of +-1.
4. **Expression basis by PCA** over mixtures of named expressions (jaw open, smile, brow
   raise, frown, pucker, eyes closed, cheek puff, sneer, mouth stretch, wink).
5. **Albedo**: a painted mean skin (lips, brows, eyes, cheeks) and a PCA basis over skin
   tone, redness, lip and brow colour and smooth blotches.

Re-create the shipped file bit for bit with ``python -m m3lrn_lib.morphable build --update-shipped``
(or compare: ``build`` alone writes the user cache's copy and says whether it equals the shipped file).

**Same bytes on any CPU.** The PCA runs through LAPACK/BLAS, whose results differ in the last
bits between CPU kernels (``OPENBLAS_CORETYPE``) and thread counts (seen: up to 3e-15). A plain
float32 cast of such values flips an ulp now and then, so the file would differ from machine to
machine. The build therefore (1) computes in float64, (2) orients every component by a fixed
probe (:data:`ORIENTATION`, the signs of the first published model, so that trained networks keep
their meaning), and (3) rounds every stored array to a grid far coarser than that noise
(:func:`stable_float32`) and exactly representable in float32, before the cast. Values that are
zero by symmetry are exactly zero already (the symmetrisation in :func:`symmetric_pca`).
"""
from __future__ import annotations

import numpy as np

from .model import IBUG_MIRROR, FaceModel

GENERATOR_VERSION = "1"
DEFAULT_SEED = 20211
N_ROWS, N_COLS = 81, 61
N_SHAPE, N_EXP, N_ALBEDO = 40, 10, 10

# Row anchors: (row index, anatomical height name). Rows between anchors are linear in y.
_ROW_ANCHORS = [(0, "top"), (14, "brow"), (30, "eye"), (46, "nose_base"), (56, "mouth_up"),
                (57, "mouth_lo"), (80, "bottom")]
MOUTH_ROW = 56  # upper lip's inner row; MOUTH_ROW + 1 is the lower lip's inner row
_U_INNER, _U_OUTER = 0.2, 0.6  # grid |u| of the inner and outer eye corners

#: Neutral anatomy in millimetres (the population mean is close to it).
NEUTRAL = dict(
    top=100.0, brow=50.0, eye=34.0, nasion=40.0, nose_tip=-1.0, nose_base=-15.0, mouth=-38.0,
    chin=-82.0, bottom=-90.0,
    eye_inner=16.0, eye_outer=45.0, eye_open=4.0, mouth_half=24.0,
    half_width=74.0, jaw_width=0.84, chin_width=0.3, forehead_width=0.86,
    depth=78.0, nose_height=24.0, nose_width=10.0, alar_width=15.0, brow_ridge=4.0,
    cheekbone=5.0, lip_full=4.5, chin_prom=5.0, forehead_slope=22.0, socket=7.0,
)

# Relative (or absolute, in mm) standard deviations of the anatomical controls.
_ANATOMY_STD = dict(
    top=4.0, brow=2.0, eye=1.2, nasion=1.5, nose_tip=2.0, nose_base=1.5, mouth=2.0, chin=4.0,
    bottom=4.0, eye_inner=1.2, eye_outer=2.0, eye_open=0.6, mouth_half=2.0, half_width=4.0,
    jaw_width=0.05, chin_width=0.05, forehead_width=0.04, depth=5.0, nose_height=3.0,
    nose_width=1.5, alar_width=1.5, brow_ridge=1.2, cheekbone=1.5, lip_full=1.0,
    chin_prom=1.5, forehead_slope=4.0, socket=1.5,
)

#: Orientation of every PCA component: the sign of its dot product with the probe
#: :func:`_orientation_probe`, as in the first published model. Pinning it makes the signs of the
#: basis independent of the LAPACK build (an SVD may return any component negated).
ORIENTATION = {
    "shape": "+--+++++--+-++--+--++++---++------+---+-",
    "exp": "++++++-+++",
    "albedo": "+-----+--+",
}

#: Rounding grid of each stored array (see :func:`stable_float32`): ``("abs", k)`` rounds to
#: multiples of 2**-k, ``("rel", k)`` keeps k significant bits.
GRID = {"mean": ("abs", 14), "basis": ("abs", 22), "std": ("rel", 16), "albedo_mean": ("abs", 22)}

EXPRESSION_NAMES = ("jaw_open", "smile", "brow_raise", "frown", "pucker", "eyes_closed",
                    "cheek_puff", "sneer", "mouth_stretch", "wink_left")


# ----------------------------------------------------------------------------- topology
def grid_topology():
    """Triangles (F, 3) int64 (CCW from outside), UVs (N, 2) and the vertex mirror (N,)."""
    idx = np.arange(N_ROWS * N_COLS).reshape(N_ROWS, N_COLS)
    tris = []
    mouth_cols = _mouth_slit_cols()
    for r in range(N_ROWS - 1):
        for c in range(N_COLS - 1):
            if r == MOUTH_ROW and c in mouth_cols:
                continue  # the mouth slit
            a, b, d, e = idx[r, c], idx[r, c + 1], idx[r + 1, c], idx[r + 1, c + 1]
            # rows go down (y decreasing), columns go right (x increasing): CCW from +z
            if c < N_COLS // 2:  # mirror-symmetric diagonals
                tris += [(a, d, e), (a, e, b)]
            else:
                tris += [(a, d, b), (b, d, e)]
    u = np.linspace(0.0, 1.0, N_COLS)
    v = np.linspace(1.0, 0.0, N_ROWS)
    uv = np.stack(np.meshgrid(u, v), -1).reshape(-1, 2).astype(np.float32)
    mirror = idx[:, ::-1].reshape(-1)
    return np.array(tris, dtype=np.int64), uv, mirror


def _mouth_slit_cols():
    """Grid columns whose quads between the two mouth rows are removed."""
    c0 = N_COLS // 2
    half = int(round(0.42 * (N_COLS // 2)))
    return set(range(c0 - half, c0 + half))


def _grid_u():
    return np.linspace(-1.0, 1.0, N_COLS)


# ----------------------------------------------------------------------------- one face
def _smooth_step(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _smooth_profile(y, knots_y, knots_v, sigma=8.0):
    """A piecewise-linear profile through the knots, Gaussian-smoothed (no creases), at y."""
    fine = np.arange(-160.0, 160.0, 0.5)
    v = np.interp(fine, knots_y, knots_v)
    k = np.exp(-0.5 * (np.arange(-4 * sigma, 4 * sigma + 0.5, 0.5) / sigma) ** 2)
    pad = len(k) // 2
    v = np.convolve(np.pad(v, pad, mode="edge"), k / k.sum(), mode="valid")
    return np.interp(y, fine, v)


def _gauss(x, y, cx, cy, sx, sy):
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def face_surface(a: dict, bumps=()) -> np.ndarray:
    """Map the grid to a 3D face from anatomical controls ``a`` (see :data:`NEUTRAL`).

    Args:
        a: dict of anatomical controls in mm (or ratios).
        bumps: iterable of (cx, cy, sx, sy, amplitude) smooth depth bumps in mm.
    Returns:
        (N_ROWS * N_COLS, 3) float64 vertices in the model frame (mm).
    """
    # --- rows: y through anatomical anchors
    ys = {"top": a["top"], "brow": a["brow"], "eye": a["eye"], "nose_base": a["nose_base"],
          "mouth_up": a["mouth"] + 0.2, "mouth_lo": a["mouth"] - 0.2, "bottom": a["bottom"]}
    rows = np.array([r for r, _ in _ROW_ANCHORS], float)
    y_row = np.interp(np.arange(N_ROWS), rows, [ys[n] for _, n in _ROW_ANCHORS])
    # --- half-width of the face outline per row
    hw = a["half_width"]
    prof_y = [a["bottom"], a["chin"], a["mouth"], a["nose_base"], a["eye"] - 10, a["brow"] + 10, a["top"]]
    prof_w = [0.12 * hw, a["chin_width"] * hw, a["jaw_width"] * hw, 0.95 * hw, hw,
              0.98 * hw, a["forehead_width"] * hw]
    half_w = _smooth_profile(y_row, prof_y, prof_w, sigma=4.0)
    # --- columns: eye corners sit on fixed columns at the eye line
    w_eye = float(_smooth_profile(np.array([a["eye"]]), prof_y, prof_w, sigma=4.0)[0])
    u = np.abs(_grid_u())
    g = np.interp(u, [0, _U_INNER, _U_OUTER, 1.0], [0, a["eye_inner"] / w_eye, a["eye_outer"] / w_eye, 1.0])
    X = np.sign(_grid_u())[None, :] * g[None, :] * half_w[:, None]
    Y = np.repeat(y_row[:, None], N_COLS, axis=1)
    # --- depth: elliptic cross-section + frontal profile + features
    depth = _smooth_profile(y_row, [a["bottom"], a["chin"], a["mouth"], a["top"]],
                            [0.45 * a["depth"], 0.7 * a["depth"], a["depth"], a["depth"]])
    Z = depth[:, None] * (np.sqrt(np.clip(1 - g[None, :] ** 2, 0, 1)) - 1)
    zf = _smooth_profile(y_row, [a["bottom"], a["chin"], a["mouth"], a["nose_base"], a["eye"], a["brow"], a["top"]],
                         [-34.0, -14.0, -6.0, -8.0, -11.0, -8.0, -8.0 - a["forehead_slope"]])
    Z = Z + zf[:, None]
    x, y = X, Y
    # nose: ridge from nasion to tip, then down to the base
    ny = np.interp(y, [a["nose_base"] - 6, a["nose_base"], a["nose_tip"], a["nasion"], a["nasion"] + 8],
                   [0.0, 0.35, 1.0, 0.3, 0.0])
    nw = np.interp(y, [a["nose_base"], a["nose_tip"], a["nasion"]],
                   [a["nose_width"] * 1.1, a["nose_width"], a["nose_width"] * 0.55])
    Z = Z + a["nose_height"] * ny * np.exp(-0.5 * (x / nw) ** 2)
    for s in (-1, 1):
        Z = Z + 0.3 * a["nose_height"] * _gauss(x, y, s * a["alar_width"], a["nose_base"] + 3, 5.0, 5.0)
        ex = s * (a["eye_inner"] + a["eye_outer"]) / 2
        ew = (a["eye_outer"] - a["eye_inner"]) / 2
        Z = Z - a["socket"] * _gauss(x, y, ex, a["eye"] + 1, ew * 1.2, 9.0)
        Z = Z + 0.45 * a["socket"] * _gauss(x, y, ex, a["eye"], ew * 0.8, a["eye_open"] * 1.2)
        Z = Z + a["cheekbone"] * _gauss(x, y, s * 0.62 * hw, a["nose_tip"] + 6, 14.0, 12.0)
    Z = Z + a["brow_ridge"] * np.exp(-0.5 * ((y - a["brow"] + 2) / 6.0) ** 2) * _smooth_step((62 - np.abs(x)) / 20)
    mw = a["mouth_half"]
    Z = Z + a["lip_full"] * _gauss(x, y, 0, a["mouth"] + 5, mw * 0.75, 4.0)
    Z = Z + 0.9 * a["lip_full"] * _gauss(x, y, 0, a["mouth"] - 6, mw * 0.65, 4.0)
    Z = Z - 2.5 * _gauss(x, y, 0, a["mouth"] - 16, mw * 0.6, 3.5)
    Z = Z + a["chin_prom"] * _gauss(x, y, 0, a["chin"] + 12, 14.0, 8.0)
    for cx, cy, sx, sy, amp in bumps:
        Z = Z + amp * _gauss(x, y, cx, cy, sx, sy)
    return np.stack([X, Y, Z], -1).reshape(-1, 3)


def sample_anatomy(rng: np.random.Generator) -> tuple[dict, list]:
    """Draw one identity: anatomical controls and smooth random bumps."""
    a = {k: v + _ANATOMY_STD[k] * rng.standard_normal() for k, v in NEUTRAL.items()}
    # keep the anchors ordered
    a["mouth"] = min(a["mouth"], a["nose_base"] - 12)
    a["chin"] = min(a["chin"], a["mouth"] - 30)
    a["bottom"] = min(a["bottom"], a["chin"] - 4)
    a["eye_outer"] = max(a["eye_outer"], a["eye_inner"] + 20)
    bumps = [(rng.uniform(-60, 60), rng.uniform(-80, 90), rng.uniform(10, 30), rng.uniform(10, 30),
              rng.normal(0, 1.5)) for _ in range(6)]
    return a, bumps


# ----------------------------------------------------------------------------- landmarks
def _nearest_vertex(V, x, y, rows=None):
    """Index of the grid vertex nearest to (x, y) in the frontal projection."""
    d = (V[:, 0] - x) ** 2 + (V[:, 1] - y) ** 2
    if rows is not None:
        mask = np.zeros(len(V), bool)
        for r in rows:
            mask[r * N_COLS:(r + 1) * N_COLS] = True
        d = np.where(mask, d, np.inf)
    return int(np.argmin(d))


def choose_landmarks(V: np.ndarray, a: dict) -> np.ndarray:
    """68 iBUG landmark vertex indices on the neutral face ``V`` (N, 3); exactly symmetric."""
    e, m = a["eye"], a["mouth"]
    ei, eo, eu = a["eye_inner"], a["eye_outer"], a["eye_open"]
    right = {  # subject's right side has negative x; midline points have x = 0
        17: (-56, a["brow"] - 3), 18: (-47, a["brow"] + 1), 19: (-37, a["brow"] + 2.5),
        20: (-27, a["brow"] + 2), 21: (-18, a["brow"]),
        27: (0, a["nasion"]), 28: (0, (2 * a["nasion"] + a["nose_tip"]) / 3),
        29: (0, (a["nasion"] + 2 * a["nose_tip"]) / 3), 30: (0, a["nose_tip"]),
        31: (-0.85 * a["alar_width"], a["nose_base"] + 1), 32: (-7, a["nose_base"] - 1),
        33: (0, a["nose_base"] - 2),
        36: (-eo, e), 37: (-(2 * eo + ei) / 3, e + eu), 38: (-(eo + 2 * ei) / 3, e + eu), 39: (-ei, e),
        40: (-(eo + 2 * ei) / 3, e - 0.8 * eu), 41: (-(2 * eo + ei) / 3, e - 0.8 * eu),
        48: (-a["mouth_half"], m), 49: (-16, m + 5), 50: (-7, m + 8), 51: (0, m + 7),
        59: (-16, m - 7), 58: (-7, m - 11), 57: (0, m - 12),
        8: (0, a["chin"]),
    }
    lmk = -np.ones(68, np.int64)
    for i, (x, y) in right.items():
        lmk[i] = _nearest_vertex(V, x, y)
    slit = sorted(_mouth_slit_cols())
    c0 = N_COLS // 2
    lmk[60] = MOUTH_ROW * N_COLS + slit[0]
    lmk[61] = MOUTH_ROW * N_COLS + (slit[0] + c0) // 2
    lmk[62] = MOUTH_ROW * N_COLS + c0
    lmk[66] = (MOUTH_ROW + 1) * N_COLS + c0
    lmk[67] = (MOUTH_ROW + 1) * N_COLS + (slit[0] + c0) // 2
    # jaw: fixed 3D contour vertices near the face outline (|u| ~ 0.93)
    col = int(round((1 - 0.93) / 2 * (N_COLS - 1)))
    jaw_y = np.interp(np.arange(8), [0, 7], [a["eye"] - 6, a["chin"] + 6])
    for i in range(8):
        r = int(np.argmin(np.abs(V[col::N_COLS, 1] - jaw_y[i])))
        frac = i / 8
        c = int(round(col + frac ** 2.2 * (c0 - col) * 0.85))
        lmk[i] = r * N_COLS + c
    # mirror to the left side
    mirror = np.arange(N_ROWS * N_COLS).reshape(N_ROWS, N_COLS)[:, ::-1].reshape(-1)
    for i in range(68):
        j = IBUG_MIRROR[i]
        if lmk[i] >= 0 and lmk[j] < 0:
            lmk[j] = mirror[lmk[i]]
    assert (lmk >= 0).all(), np.nonzero(lmk < 0)
    return lmk


# ----------------------------------------------------------------------------- expressions
def expression_fields(V: np.ndarray, a: dict) -> np.ndarray:
    """Displacement fields (E, N, 3) in mm of the named expressions on the neutral face V."""
    x, y, z = V[:, 0], V[:, 1], V[:, 2]
    rows = np.arange(len(V)) // N_COLS
    m, e = a["mouth"], a["eye"]
    mh = a["mouth_half"]
    eye_c = (a["eye_inner"] + a["eye_outer"]) / 2
    out = []
    # jaw_open: rotate the lower face about a jaw axis near the ears
    below = rows > MOUTH_ROW
    tau = 0.3 + 8.0 * _smooth_step((np.abs(x) - mh + 2) / 12)
    w = np.where(np.abs(x) < mh - 2, below.astype(float), 1 / (1 + np.exp(np.clip((y - m) / tau, -60, 60))))
    w = w * _smooth_step((y - (m - 70)) / 30 + 1)
    th = np.deg2rad(14.0)
    py, pz = a["eye"] - 20, -70.0
    dy, dz = y - py, z - pz
    ny, nz = py + np.cos(th) * dy + np.sin(th) * dz, pz - np.sin(th) * dy + np.cos(th) * dz
    out.append(np.stack([0 * x, w * (ny - y), w * (nz - z)], -1))
    # smile: mouth corners up and out, cheeks raised
    wc = _gauss(np.abs(x), y, mh, m, 10, 8)
    wk = _gauss(np.abs(x), y, 40, m + 25, 14, 12)
    out.append(np.stack([np.sign(x) * 4 * wc, 5 * wc + 3 * wk, 2 * wk - 1.5 * wc], -1))
    # brow_raise
    wb = _gauss(np.abs(x), y, 36, a["brow"], 26, 12) + 0.5 * _gauss(x, y, 0, a["brow"] + 25, 50, 20)
    out.append(np.stack([0 * x, 6 * wb, 0.5 * wb], -1))
    # frown: inner brows down and together
    wf = _gauss(np.abs(x), y, 20, a["brow"], 12, 8)
    out.append(np.stack([-np.sign(x) * 3 * wf, -4 * wf, 1.0 * wf], -1))
    # pucker: lips together and forward
    wp = _gauss(x, y, 0, m, mh, 9)
    out.append(np.stack([-0.35 * x * wp, 0 * x, 7 * wp], -1))
    # eyes_closed: upper lid down to the lower lid
    wl = _gauss(np.abs(x), y, eye_c, e + a["eye_open"] * 0.8, (a["eye_outer"] - a["eye_inner"]) / 2.2, 4.0)
    wl = wl * (y > e - 0.8 * a["eye_open"])
    out.append(np.stack([0 * x, -1.6 * a["eye_open"] * wl, 0.5 * wl], -1))
    # cheek_puff
    wq = _gauss(np.abs(x), y, 38, m + 8, 14, 14)
    out.append(np.stack([np.sign(x) * 3 * wq, 0 * x, 5 * wq], -1))
    # sneer: nose wings and upper lip up
    ws = _gauss(np.abs(x), y, a["alar_width"], a["nose_base"], 9, 9)
    out.append(np.stack([0 * x, 4 * ws, 1.0 * ws], -1))
    # mouth_stretch: corners out and down
    out.append(np.stack([np.sign(x) * 5 * wc, -3 * wc, -1 * wc], -1))
    # wink_left: the left eye (x > 0) closes -- asymmetric
    out.append(out[5] * (x > 0)[:, None])
    return np.stack(out).astype(np.float64)


# ----------------------------------------------------------------------------- albedo
def _albedo_mean(V, lmk, a):
    x, y = V[:, 0], V[:, 1]
    skin = np.array([0.80, 0.60, 0.50])
    col = np.tile(skin, (len(V), 1))
    red = _gauss(np.abs(x), y, 38, a["nose_tip"] - 4, 14, 12)
    col = col + red[:, None] * np.array([0.06, -0.03, -0.02])
    lips = np.clip(_gauss(x, y, 0, a["mouth"], a["mouth_half"] * 0.85, 6.0) * 1.6, 0, 1)
    col = col * (1 - lips[:, None]) + lips[:, None] * np.array([0.70, 0.36, 0.36])
    brow = _gauss(np.abs(x), y, 36, a["brow"] + 1, 11, 2.5) * _smooth_step((np.abs(x) - 16) / 5)
    col = col * (1 - brow[:, None]) + brow[:, None] * np.array([0.30, 0.22, 0.17])
    ec = (a["eye_inner"] + a["eye_outer"]) / 2
    ew = (a["eye_outer"] - a["eye_inner"]) / 2
    sclera = np.clip(1.5 * _gauss(np.abs(x), y, ec, a["eye"], ew * 0.8, a["eye_open"] * 0.7), 0, 1)
    col = col * (1 - sclera[:, None]) + sclera[:, None] * np.array([0.88, 0.86, 0.82])
    iris = np.clip(1.6 * _gauss(np.abs(x), y, ec, a["eye"] + 0.3, 3.5, 3.0), 0, 1)
    col = col * (1 - iris[:, None]) + iris[:, None] * np.array([0.22, 0.15, 0.10])
    return np.clip(col, 0, 1)


def _albedo_samples(V, base, rng, n):
    x, y = V[:, 0], V[:, 1]
    lips = _gauss(x, y, 0, -38, 22, 6)
    brows = _gauss(np.abs(x), y, 36, 51, 11, 2.5)
    out = []
    for _ in range(n):
        tone = rng.normal(0, 0.12)
        c = base * (1 + tone) + rng.normal(0, 0.03) * np.array([1.0, -0.4, -0.6])
        c = c + rng.normal(0, 0.04) * lips[:, None] * np.array([1.0, 0.2, 0.2])
        c = c - rng.normal(0, 0.05) * brows[:, None]
        for _ in range(3):
            c = c + rng.normal(0, 0.03) * _gauss(x, y, rng.uniform(-60, 60), rng.uniform(-80, 90), 15, 15)[:, None]
        out.append(np.clip(c, 0, 1).reshape(-1))
    return np.array(out)


# ----------------------------------------------------------------------------- stable numbers
def stable_float32(x: np.ndarray, grid: tuple[str, int]) -> np.ndarray:
    """Round float64 values deterministically to a coarse grid, then cast to float32 (exactly).

    Args:
        x: float64 array of any shape.
        grid: ``("abs", k)`` rounds to the nearest multiple of ``2**-k`` (for bases, means: their
            noise is absolute); ``("rel", k)`` keeps ``k`` significant bits (for standard
            deviations: their noise is relative). Ties round to even, so ``f(-x) == -f(x)`` and
            mirror symmetry survives.
    Returns:
        float32 array of the same shape; every value is exact in float32 (k <= 24 significant bits
        for the magnitudes used here), so the cast itself rounds nothing; zeros are all +0.0.

    A value changes only if BLAS noise (~1e-15) moves it across a grid midpoint: with grids of
    2**-22 and 16 bits that has a chance of about 1e-7 per value, against one flip per file for
    a plain cast.
    """
    x = np.asarray(x, dtype=np.float64)
    kind, k = grid
    if kind == "abs":
        out = np.rint(x * 2.0 ** k) / 2.0 ** k
    elif kind == "rel":
        mant, exp = np.frexp(x)
        out = np.ldexp(np.rint(mant * 2.0 ** k) / 2.0 ** k, exp)
    else:
        raise ValueError(f"grid kind must be 'abs' or 'rel', got {kind!r}")
    out = out + 0.0  # noise around a zero rounds to -0.0 or +0.0: make every zero +0.0
    out32 = out.astype(np.float32)
    if not np.array_equal(out32.astype(np.float64), out):
        raise ValueError(f"grid {grid} is finer than float32 for values up to {np.abs(x).max():.3g}")
    return out32


def _orientation_probe(n: int, seed: int) -> np.ndarray:
    """A fixed standard-normal probe vector (n,) that orients the PCA components."""
    return np.random.default_rng([seed, 1]).standard_normal(n)


def orient(basis: np.ndarray, signs: str, seed: int) -> np.ndarray:
    """Negate columns of ``basis`` (3N, K) so that ``sign(probe @ basis[:, k]) == signs[k]``."""
    if len(signs) != basis.shape[1]:
        raise ValueError(f"{len(signs)} orientation signs for {basis.shape[1]} components")
    proj = _orientation_probe(basis.shape[0], seed) @ basis
    want = np.array([1.0 if c == "+" else -1.0 for c in signs])
    return basis * np.where(np.sign(proj) == want, 1.0, -1.0)[None, :]


# ----------------------------------------------------------------------------- PCA
def mirror_vectors(X: np.ndarray, vertex_mirror: np.ndarray, flip_x: bool = True) -> np.ndarray:
    """Mirror flat (S, 3N) vectors: permute vertices and (for geometry) negate x."""
    Y = X.reshape(X.shape[0], -1, 3)[:, vertex_mirror].copy()
    if flip_x:
        Y[..., 0] *= -1
    return Y.reshape(X.shape[0], -1)


def symmetric_pca(X: np.ndarray, vertex_mirror: np.ndarray, k: int, flip_x: bool = True):
    """PCA of the mirror-closure of samples X (S, 3N), split into symmetric/antisymmetric parts.

    Returns:
        mean (3N,), basis (3N, k) unit-norm columns, std (k,), mirror signs (k,) of +-1,
        and the explained-variance ratio of the k components.
    """
    mean = 0.5 * (X.mean(0) + mirror_vectors(X, vertex_mirror, flip_x).mean(0))
    Xc = X - mean
    Xm = mirror_vectors(Xc, vertex_mirror, flip_x)
    parts = []
    n = 2 * X.shape[0]
    total = 0.0
    for sign in (1.0, -1.0):
        P = 0.5 * (Xc + sign * Xm)
        # the closure {x, Mx} has covariance 2/(n-1) * P^T P per part
        _, s, vt = np.linalg.svd(P, full_matrices=False)
        var = 2 * s ** 2 / (n - 1)
        total += var.sum()
        for i in range(len(s)):
            parts.append((var[i], sign, vt[i]))
    parts.sort(key=lambda p: -p[0])
    parts = parts[:k]
    basis = np.stack([p[2] for p in parts], 1)
    signs = np.array([p[1] for p in parts])
    # enforce exact (anti)symmetry and unit norm
    Bm = mirror_vectors(basis.T, vertex_mirror, flip_x).T
    basis = 0.5 * (basis + signs[None, :] * Bm)
    basis /= np.linalg.norm(basis, axis=0, keepdims=True)
    std = np.sqrt(np.array([p[0] for p in parts]))
    return mean, basis, std, signs, float(std @ std / total)


# ----------------------------------------------------------------------------- build
def expression_and_albedo_pca(fields_: np.ndarray, V0: np.ndarray, lmk: np.ndarray, vmirror: np.ndarray, rng,
                              n_samples: int, p_active: float, n_exp: int):
    """The expression and albedo PCA of an embedded model (shared by versions 1 and 2).

    Args:
        fields_: (E, 3N) displacement fields of the named expressions on the neutral face V0 (N, 3);
        lmk: (68,) landmark vertices; vmirror: (N,) vertex mirror; rng: the build's generator
            (drawn from in a fixed order: mixture weights, their sparsity mask, albedo samples);
        n_samples: random mixtures (the first E are the pure expressions); p_active: chance that a
            named expression takes part in a mixture; n_exp: expression components kept.
    Returns:
        ``(U_e (3N, n_exp), e_std, e_sign, e_ratio)`` and ``(a_mean (3N,), U_a (3N, N_ALBEDO), a_std)``.
    """
    n_names = len(fields_)
    W = rng.uniform(0, 1, (n_samples, n_names))
    W *= rng.uniform(0, 1, W.shape) < p_active
    W[:n_names] = np.eye(n_names)  # the pure expressions
    ex = W @ fields_
    _, U_e, e_std, e_sign, e_ratio = symmetric_pca(np.concatenate([ex, -ex]), vmirror, n_exp)
    base = _albedo_mean(V0, lmk, NEUTRAL)
    alb = _albedo_samples(V0, base, rng, 300)
    a_mean, U_a, a_std, _, _ = symmetric_pca(alb, vmirror, N_ALBEDO, flip_x=False)
    return (U_e, e_std, e_sign, e_ratio), (a_mean, U_a, a_std)


def build_embedded_model(seed: int = DEFAULT_SEED, n_identities: int = 300,
                         n_expression_samples: int = 400) -> FaceModel:
    """Generate the embedded default model deterministically from ``seed``.

    Args:
        seed: random seed; the same seed gives the same arrays bit for bit.
        n_identities: identities sampled for the shape PCA (>= 200; each is also mirrored).
        n_expression_samples: random mixtures of the named expressions for the expression PCA.
    """
    if n_identities < 200:
        raise ValueError(f"n_identities must be >= 200 for a stable 40-component PCA, got {n_identities}")
    rng = np.random.default_rng(seed)
    tris, uv, vmirror = grid_topology()
    # shape population
    pop = np.stack([face_surface(*sample_anatomy(rng)).reshape(-1) for _ in range(n_identities)])
    mean, U_s, s_std, s_sign, s_ratio = symmetric_pca(pop, vmirror, N_SHAPE)
    V0 = mean.reshape(-1, 3)
    lmk = choose_landmarks(V0, NEUTRAL)
    fields_ = expression_fields(V0, NEUTRAL).reshape(len(EXPRESSION_NAMES), -1)
    (U_e, e_std, e_sign, e_ratio), (a_mean, U_a, a_std) = expression_and_albedo_pca(
        fields_, V0, lmk, vmirror, rng, n_expression_samples, 0.35, N_EXP)
    U_s = orient(U_s, ORIENTATION["shape"], seed)
    U_e = orient(U_e, ORIENTATION["exp"], seed)
    U_a = orient(U_a, ORIENTATION["albedo"], seed)
    return FaceModel(
        name="m3lrn-embedded",
        mean=stable_float32(V0, GRID["mean"]),
        shape_basis=stable_float32(U_s, GRID["basis"]), shape_std=stable_float32(s_std, GRID["std"]),
        exp_basis=stable_float32(U_e, GRID["basis"]), exp_std=stable_float32(e_std, GRID["std"]),
        triangles=tris, landmarks=lmk, landmark_mirror=IBUG_MIRROR.copy(),
        shape_mirror=np.diag(s_sign).astype(np.float32), exp_mirror=np.diag(e_sign).astype(np.float32),
        vertex_mirror=vmirror.astype(np.int64), uv=uv,
        albedo_mean=stable_float32(a_mean.reshape(-1, 3), GRID["albedo_mean"]),
        albedo_basis=stable_float32(U_a, GRID["basis"]), albedo_std=stable_float32(a_std, GRID["std"]),
        exp_names=EXPRESSION_NAMES,
        meta={"generator": GENERATOR_VERSION, "seed": str(seed), "n_identities": str(n_identities),
              "shape_variance_kept": f"{s_ratio:.4f}", "exp_variance_kept": f"{e_ratio:.4f}"},
    )
