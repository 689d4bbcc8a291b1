"""Procedural heads around the embedded morphable face: cranium, ears, neck, hair, eyes, mouth.

The embedded model (:mod:`m3lrn_lib.morphable.embedded`) is a face *mask*: a grid of
``N_ROWS x N_COLS`` vertices whose rows are horizontal slices of the face (row 0 the top of the
forehead, row 80 under the chin) and whose outer columns reach back to the face outline. This
module closes it into a head, once per model (:meth:`HeadTemplate.for_model`), and dresses it per
face (:meth:`HeadTemplate.build`). Model frame throughout: mm, x to the subject's left, y up, z
towards the camera; azimuth ``w = atan2(x, z - z_axis)`` around a vertical head axis (0 = front,
+-180 deg = back).

Construction (all on the mean face, in :meth:`HeadTemplate.for_model`, about 1 s):

1. **Shell (cranium + neck).** For a subset of the face rows, a *back arc* of head vertices runs
   at the row's height from the row's right outline vertex around the back of the head to its
   left one, on a smooth cross-section model (half-width, back depth and axis as smoothed
   profiles of the height; a radial offset blended out from each outline vertex makes the arc
   start exactly there). A *collar* column of head vertices 5 mm behind every outline vertex
   takes the face's boundary edges; consecutive arcs form quads and the collar is zipped to
   them, so the shell *shares* every face boundary vertex and edge: no crack, no gap. Above face
   row 0, closed *cap rings* shrink to the top of the skull (a superellipse dome whose
   cross-section is face row 0 + its arc); below face row 80, closed *neck rings* go down to the
   shoulders (y = -300 mm); under the chin the V-shaped last face row is closed by a flat fan.
   Face + head form one consistently wound (CCW from outside) surface, open only at the bottom of
   the neck and at the backs of the eyeballs.
2. **Ears**: a closed shell per side (an egg-shaped outline with helix rim, antihelix, concha,
   tragus and lobe relief on the lateral side), hinged at its front edge, sunk into the shell
   between eye and nose-base height, flared out by ~28 deg.
3. **Eyes**: each eye opening is the set of face quads between the upper- and lower-lid landmark
   rows (:attr:`HeadParts.hide_face`); the lid landmarks stay on its rim. Behind it an eyeball
   (pupil, iris and sclera rings; a random gaze per face) sits just behind the visible skin, in a
   socket bag attached to the rim (no see-through at the corners). The model's own lids close
   only part of the way (to ~40 % of the gap), so when they close (eyes_closed, wink) the covered
   part of the opening is drawn again, painted as skin with the lash line at its lower edge: the
   visible eyeball shrinks to nothing.
4. **Mouth**: a bag attached to the rim of the mouth slit with, in profile, the inner lips, gums,
   upper teeth, palate, a dark cavity, tongue and lower teeth on a dental arch; its upper half
   follows the upper jaw, its lower half the lower jaw, so jaw_open shows it.
5. **Hair** (:data:`HAIR_STYLES`): the shell vertices above a hairline (softened on the shell
   mesh) are pushed outwards by a hair thickness and coloured as hair (a scalp cap); styles add
   a fringe layer over the forehead (full or side fringe, welded to the cap and always >= 7 mm
   above the brow landmarks' polyline) or a two-sided curtain of long hair around the back.
   Flat things are *painted* on face vertices (:attr:`HeadParts.paint_index`): the soft hairline,
   temples and sideburns, the eyebrows (in a colour derived from the hair), the lash lines, and
   the model's painted eye outside the openings is replaced by the surrounding skin. Paint only
   changes colours, so no landmark is moved or covered; geometric brows would cover the brow
   landmarks in a frontal view.

**Deformation.** Every head vertex follows the face through a precomputed linear map of the
face vertices' displacement ``D = V - mean`` (N, 3): ``H = H0 + G @ [B @ D; D]``, one sparse
product. ``B @ D`` are ridge-regularised affine fits (4 x 3 each) of the displacement of face
regions (upper face for the skull, chin for the lower jaw, upper lip for the upper jaw, under
each eye for the eyeballs); ``G = [Q | W]`` evaluates them at each head vertex (``Q``) and adds
(``W``) the *residual* of the nearest face boundary vertices, faded out with the distance to the
seam, and the lips' and lids' own displacement for the mouth and the sockets. So the head
scales with the face's width, height and depth, the seam stays closed for any identity and
expression, and the neck front, the lower teeth and the tongue follow the jaw. Per face, the
rng also scales the hair volume and the neck thickness (precomputed offset fields).

**Colour.** The head's albedo and the face paint are one precomputed sparse matrix (per style
and brow strength) applied to ``[face albedo; mean seam skin; region palette; hair; brow;
lash]``: skin of the cranium, ears and neck is gathered from the face albedo at the nearest seam
vertices (fading to the mean seam skin), with some ambient occlusion (concha, under the chin).

**Cost.** Per face ~0.6 ms for :meth:`HeadTemplate.build` on one (shared, busy) core; the head
adds 1.8-2.4k vertices and 4.0-5.0k triangles. :func:`assemble` with ``view_dir`` drops the
back-facing triangles (the closed head hides them anyway), which roughly halves the raster work
and more than pays for the head: in all, build + assemble + render of a 120x120 crop costs about
40-50 % more than rendering the face alone. Deterministic: the same ``rng`` state gives the same
arrays (no BLAS in the per-face path); the only module state is the per-model template cache.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from ..morphable import embedded as _emb
from ..morphable.model import FaceModel, FaceModelError

NR, NC = _emb.N_ROWS, _emb.N_COLS
_MR = _emb.MOUTH_ROW

#: Part names; :attr:`HeadParts.labels` indexes this tuple.
PARTS = ("cranium", "neck", "hair", "ear", "eye_socket", "sclera", "iris", "pupil", "mouth", "teeth",
         "tongue")
_L = {n: i for i, n in enumerate(PARTS)}

#: Hair styles and their probabilities.
HAIR_STYLES = ("bald", "buzz", "short", "medium", "full_fringe", "side_fringe_r", "side_fringe_l", "bob", "long")
STYLE_P = (0.07, 0.11, 0.20, 0.12, 0.12, 0.06, 0.06, 0.10, 0.16)

#: Hair colour palette (albedo rgb) and probabilities.
HAIR_COLOURS = {
    "black": (0.045, 0.040, 0.038), "dark_brown": (0.12, 0.08, 0.055), "brown": (0.27, 0.17, 0.10),
    "light_brown": (0.42, 0.30, 0.19), "blonde": (0.70, 0.56, 0.34), "red": (0.48, 0.19, 0.08),
    "grey": (0.52, 0.51, 0.50), "white": (0.80, 0.79, 0.76),
}
HAIR_P = (0.27, 0.24, 0.15, 0.07, 0.09, 0.06, 0.08, 0.04)
IRIS_COLOURS = ((0.25, 0.14, 0.07), (0.12, 0.07, 0.04), (0.38, 0.27, 0.12), (0.27, 0.36, 0.20),
                (0.28, 0.42, 0.58), (0.42, 0.47, 0.50))
IRIS_P = (0.35, 0.25, 0.12, 0.08, 0.13, 0.07)

_TEMPLATES: dict = {}


# ----------------------------------------------------------------------------- small helpers
def _vid(r, c):
    return np.asarray(r) * NC + np.asarray(c)


def _sstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _profile(y, ky, kv, sigma=6.0):
    """Piecewise-linear profile through knots (ky increasing), Gaussian-smoothed, at y."""
    fine = np.arange(ky[0] - 40.0, ky[-1] + 40.0, 0.5)
    v = np.interp(fine, ky, kv)
    k = np.exp(-0.5 * (np.arange(-4 * sigma, 4 * sigma + 0.25, 0.5) / sigma) ** 2)
    v = np.convolve(np.pad(v, len(k) // 2, mode="edge"), k / k.sum(), mode="valid")
    return np.interp(y, fine, v)


def _wrap(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


def _zip(a, ta, b, tb):
    """Triangulate the strip between two polylines a, b (vertex ids) with increasing params."""
    out, i, j = [], 0, 0
    while i < len(a) - 1 or j < len(b) - 1:
        if j == len(b) - 1 or (i < len(a) - 1 and ta[i + 1] <= tb[j + 1]):
            out.append((a[i], a[i + 1], b[j]))
            i += 1
        else:
            out.append((a[i], b[j + 1], b[j]))
            j += 1
    return out


def _zip_loops(a, ta, b, tb):
    """Triangulate between two closed loops given by ids and angles (radians)."""
    oa, ob = np.argsort(_wrap(ta)), np.argsort(_wrap(tb))
    a, ta, b, tb = np.asarray(a)[oa], _wrap(ta)[oa], np.asarray(b)[ob], _wrap(tb)[ob]
    k = int(np.searchsorted(tb, ta[0]))  # b starts at its first vertex at or after a's first
    b, tb = np.roll(b, -k), np.concatenate([tb[k:], tb[:k] + 2 * np.pi])
    a, ta = np.append(a, a[0]), np.append(ta, ta[0] + 2 * np.pi)
    b, tb = np.append(b, b[0]), np.append(tb, tb[0] + 2 * np.pi)
    return _zip(a, ta, b, tb)


def _orient(P, tris, outward):
    """Flip triangles (T, 3) so their normal points along outward(centroids) (T, 3)."""
    t = np.asarray(tris, np.int64).reshape(-1, 3)
    t = t[(t[:, 0] != t[:, 1]) & (t[:, 1] != t[:, 2]) & (t[:, 0] != t[:, 2])]
    p0, p1, p2 = P[t[:, 0]], P[t[:, 1]], P[t[:, 2]]
    n = np.cross(p1 - p0, p2 - p0)
    flip = (n * outward((p0 + p1 + p2) / 3)).sum(1) < 0
    t[flip] = t[flip][:, [0, 2, 1]]
    return t


def _orient_like(tris, ref):
    """Flip triangles that use an edge in the same direction as a triangle of ``ref`` does."""
    d = {(int(a), int(b)) for t in ref for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))}
    out = np.array(tris, np.int64)
    for k, t in enumerate(out):
        if any((int(a), int(b)) in d for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))):
            out[k] = t[[0, 2, 1]]
    return out


def _fan_normals(P, tris):
    """Area-weighted vertex normals (unnormalised where unused: zeros) of a mesh."""
    n = np.zeros_like(P)
    fn = np.cross(P[tris[:, 1]] - P[tris[:, 0]], P[tris[:, 2]] - P[tris[:, 0]])
    for k in range(3):
        np.add.at(n, tris[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


# ----------------------------------------------------------------------------- cross sections
# Knots of the head/neck cross-section model (mean face; y in mm): half-width W, back depth Db,
# front depth Df (only used near the seam and below the chin) and the axis z.
_KY = [-300, -270, -235, -215, -200, -185, -170, -150, -120, -91, -70, -50, -30, -10, 10, 30, 50, 70, 90, 100, 110]
_KW = [176, 172, 160, 140, 114, 86, 62, 55, 53, 54, 56, 60, 65, 70, 74, 76, 77, 77.5, 76.5, 75.5, 75]
_KDB = [86, 85, 80, 72, 63, 56, 52, 51, 51, 52, 54, 58, 66, 78, 88, 93, 95, 95, 92, 90, 89]
_KDF = [96, 95, 90, 80, 70, 60, 50, 46, 45, 45, 45, 48, 55, 70, 80, 80, 80, 80, 80, 80, 80]
_KZ = [-104, -104, -105, -106, -107, -108, -109, -110, -110, -110, -110, -108, -105, -102, -100, -100, -100, -100,
       -100, -100, -100]
_P_CS = 2.3  # superellipse exponent of the cross-sections (a little boxier than an ellipse)
_Z_DOME, _Y_TOP, _Y_EQ = -100.0, 150.0, 40.0  # axis of the cap, top of the skull, height of its widest section
_P_DOME = 2.6  # the skull above its widest height is a superellipse of this exponent in profile


def _zax(y):
    return _profile(y, _KY, _KZ)


def _dome_e(y):
    u = np.clip((np.asarray(y, np.float64) - _Y_EQ) / (_Y_TOP - _Y_EQ), 0.0, 1.0)
    return (1 - u ** _P_DOME) ** (1 / _P_DOME)


def _cs_radius(w, y):
    """Horizontal distance from the axis of the cross-section model at azimuth w, height y."""
    e = _dome_e(y)
    W = np.where(y > _Y_EQ, _profile(_Y_EQ, _KY, _KW) * e, _profile(y, _KY, _KW))
    Db = np.where(y > _Y_EQ, _profile(_Y_EQ, _KY, _KDB) * e, _profile(y, _KY, _KDB))
    Df = _profile(y, _KY, _KDF)
    D = np.where(np.abs(w) > np.pi / 2, Db, Df)
    return (np.abs(np.sin(w) / W) ** _P_CS + np.abs(np.cos(w) / D) ** _P_CS) ** (-1 / _P_CS)


def _dome(y):
    """Cap ring scale relative to face row 0's loop (1 at y=100, 0 at the top)."""
    return _dome_e(y) / _dome_e(100.0)


# ----------------------------------------------------------------------------- results
@dataclass(eq=False)
class HeadParts:
    """The head of one face (M head vertices, T head triangles, N face vertices, F face triangles).

    Attributes:
        vertices: (M, 3) float64 head vertices in the model frame (mm).
        triangles: (T, 3) int64 into the concatenation ``[face vertices (N); head vertices (M)]``
            (CCW seen from outside); the shell's triangles use the face boundary vertices.
        albedo: (M, 3) float64 in [0, 1]: skin (from the face albedo at the seam), hair, eyes...
        hide_face: (F,) bool, face triangles not to draw (the eye openings).
        labels: (M,) int8 index into :data:`PARTS`.
        paint_index: (P,) int64 face vertices whose albedo is replaced (brows, lid margins,
            temples and soft hairline: colour only, they stay where they are).
        paint_albedo: (P, 3) float64 their new albedo.
        style: the hair style (one of :data:`HAIR_STYLES`).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    albedo: np.ndarray
    hide_face: np.ndarray
    labels: np.ndarray
    paint_index: np.ndarray
    paint_albedo: np.ndarray
    style: str = ""


def assemble(face_vertices, face_triangles, face_albedo, parts: HeadParts, view_dir=None):
    """What a renderer draws: the face (without its hidden triangles, with the paint) + the head.

    Args:
        face_vertices: (N, 3) face vertices in the frame of ``parts.vertices`` (the model frame,
            or any frame both were mapped to).
        face_triangles: (F, 3) int face triangles (``model.triangles``).
        face_albedo: (N, 3) face albedo.
        parts: the :class:`HeadParts` of this face.
        view_dir: optional (3,) direction towards the camera in that frame (for a pose
            ``P = s R | t`` mapping the model to the image: ``P[2, :3]``). Back-facing triangles
            are then dropped: the head closes the face, so nothing visible is lost, and the
            rasteriser has about half the work.
    Returns:
        verts (N+M, 3) float64, tris (T', 3) int64, albedo (N+M, 3) float64.
    """
    fv = np.asarray(face_vertices, np.float64)
    fa = np.array(face_albedo, np.float64)
    fa[parts.paint_index] = parts.paint_albedo
    verts = np.concatenate([fv, parts.vertices])
    ft = np.compress(~parts.hide_face, np.asarray(face_triangles, np.int64), axis=0)  # (faster than a mask index)
    tris = np.concatenate([ft, parts.triangles])
    if view_dir is not None:
        # signed areas in a plane normal to view_dir: (a, b = d x a, d) is right-handed. Plain float
        # arithmetic and element-wise products (no BLAS): the same bits for any thread count
        dx, dy, dz = (float(c) for c in np.asarray(view_dir, np.float64).reshape(3))
        n = math.sqrt(dx * dx + dy * dy + dz * dz)
        dx, dy, dz = dx / n, dy / n, dz / n
        ax, ay, az = (0.0, dz, -dy) if abs(dx) < 0.9 else (-dz, 0.0, dx)  # d x e_x or d x e_y (up to sign)
        n = math.sqrt(ax * ax + ay * ay + az * az)
        ax, ay, az = ax / n, ay / n, az / n
        bx, by, bz = dy * az - dz * ay, dz * ax - dx * az, dx * ay - dy * ax
        tc = np.ascontiguousarray(tris.T)
        xa = (verts[:, 0] * ax + verts[:, 1] * ay + verts[:, 2] * az).take(tc)
        xb = (verts[:, 0] * bx + verts[:, 1] * by + verts[:, 2] * bz).take(tc)
        area = (xa[1] - xa[0]) * (xb[2] - xb[0]) - (xb[1] - xb[0]) * (xa[2] - xa[0])
        tris = np.compress(area > 0, tris, axis=0)
    return verts, tris, np.concatenate([fa, parts.albedo])


# ----------------------------------------------------------------------------- builder
class _Builder:
    """Accumulates head vertices (rest positions), labels, triangles and the deformation rows."""

    def __init__(self, V0):
        self.V0, self.N = V0, len(V0)
        self.P, self.lab, self.tris = [], [], []
        self.n = 0
        self.q = []      # (global head ids, fit name, (k, 4) homogeneous weights)
        self.loc = []    # (global head ids, face cols, vals)

    def add(self, pts, label) -> np.ndarray:
        pts = np.asarray(pts, np.float64).reshape(-1, 3)
        ids = self.N + self.n + np.arange(len(pts))
        self.P.append(pts)
        lab = np.full(len(pts), _L[label], np.int8) if isinstance(label, str) else np.asarray(label, np.int8)
        self.lab.append(np.broadcast_to(lab, (len(pts),)).copy())
        self.n += len(pts)
        return ids

    def all_points(self):
        return np.concatenate([self.V0] + self.P) if self.P else self.V0.copy()

    def add_tris(self, tris, outward):
        t = _orient(self.all_points(), tris, outward)
        self.tris.append(t)
        return t


class _Fits:
    """Ridge-regularised affine fits of face-region displacements (see the module docstring)."""

    def __init__(self, V0):
        self.V0 = V0
        self.names, self.ctrl, self.mu, self.B = [], [], [], []

    def add(self, name, ctrl, lam=30.0):
        ctrl = np.asarray(ctrl, np.int64)
        P = self.V0[ctrl]
        mu = P.mean(0)
        X = np.concatenate([P - mu, np.ones((len(P), 1))], 1)
        A = np.einsum("ki,kj->ij", X, X) + np.diag([lam * len(P)] * 3 + [0.0])
        self.names.append(name)
        self.ctrl.append(ctrl)
        self.mu.append(mu)
        self.B.append(np.einsum("ij,kj->ik", np.linalg.inv(A), X))

    def hom(self, name, pts):
        return np.concatenate([np.asarray(pts) - self.mu[self.names.index(name)], np.ones((len(pts), 1))], 1)


# ----------------------------------------------------------------------------- template
class HeadTemplate:
    """Precomputed head geometry of one embedded-topology model (see the module docstring).

    Use :meth:`for_model` (cached per model fingerprint), then :meth:`build` per face.
    """

    def __init__(self, model: FaceModel):
        _check_topology(model)
        self.model = model
        self.fingerprint = model.fingerprint()
        V0 = model.mean.astype(np.float64)
        self.V0 = V0
        self.N, self.F = len(V0), len(model.triangles)
        self._build_all(model)

    @classmethod
    def for_model(cls, model: FaceModel) -> HeadTemplate:
        """The template of ``model``, built once (about a second) and cached by fingerprint (call it
        once per worker, not per face: the fingerprint hashes the model's arrays).

        Raises:
            FaceModelError: the model lacks the embedded grid topology (e.g. a real model).
        """
        _check_topology(model, full=False)
        key = (model.fingerprint(), hashlib.sha1(np.ascontiguousarray(model.triangles, np.int64).tobytes()).hexdigest())
        if key not in _TEMPLATES:
            _TEMPLATES[key] = cls(model)
        return _TEMPLATES[key]

    # ------------------------------------------------------------------ construction
    def _build_all(self, model):
        V0 = self.V0
        G = V0.reshape(NR, NC, 3)
        self.fits = fits = _Fits(V0)
        rr, cc = np.divmod(np.arange(self.N), NC)
        sub = (rr % 3 == 0) & (cc % 3 == 0)
        fits.add("skull", np.flatnonzero(sub & (rr <= 46)))
        fits.add("jaw", np.flatnonzero((rr >= 62) & (np.abs(V0[:, 0]) < 20) & (cc % 2 == 0)), lam=10.0)
        fits.add("maxilla", np.flatnonzero((rr >= 40) & (rr <= 54) & (np.abs(V0[:, 0]) < 22) & (cc % 2 == 0)),
                 lam=10.0)
        lmk = model.landmarks
        self.lmk_rc = np.stack(np.divmod(lmk, NC), 1)
        for side, (i0, i1) in (("eye_r", (36, 39)), ("eye_l", (42, 45))):
            c0, c1 = sorted((int(self.lmk_rc[i0, 1]), int(self.lmk_rc[i1, 1])))
            er = int(self.lmk_rc[i0, 0])
            fits.add(side, np.flatnonzero((rr >= er + 1) & (rr <= er + 10) & (cc >= c0 - 4) & (cc <= c1 + 4)
                                          & (cc % 2 == 0)), lam=20.0)
        b = _Builder(V0)
        self._region, self._tex, self._ao = {}, {}, {}
        self.seam = np.flatnonzero((rr == 0) | (rr == NR - 1) | (cc == 0) | (cc == NC - 1))
        self._seam_tree = cKDTree(V0[self.seam])
        shell = self._shell(b, G)
        self._ears(b, shell)
        self._eyes(b, G)
        self._mouth(b, G)
        self.base = b
        skin_seam = self.seam[(self.V0[self.seam, 1] < 92) & (self.V0[self.seam, 1] > -85)]
        self._skin_seam, self._skin_tree = skin_seam, cKDTree(V0[skin_seam])
        self._mean_albedo = (model.albedo_mean.astype(np.float64) if model.albedo_mean is not None
                             else np.tile([0.8, 0.6, 0.5], (self.N, 1)))
        P = b.all_points()
        self._balls = [(info["ball"] - self.N, P[info["ball"]] - info["centre"]) for info in self.eye_info]
        self._eye_x = np.array([info["centre"][0] for info in self.eye_info])
        fields = _emb.expression_fields(V0, _emb.NEUTRAL)
        self._rho_open, self._rho_closed = np.zeros(2), np.zeros(2)
        for e, info in enumerate(self.eye_info):
            u1, u2, l1, l2, co, ci = info["lids"]
            for V, out in ((V0, self._rho_open), (V0 + fields[_emb.EXPRESSION_NAMES.index("eyes_closed")],
                                                   self._rho_closed)):
                out[e] = 0.5 * (V[u1, 1] + V[u2, 1] - V[l1, 1] - V[l2, 1]) / np.linalg.norm(V[ci] - V[co])
        self._paint_setup(G)
        self._hair_styles(b, G, shell)
        self._ball_idx = np.concatenate([bi for bi, _ in self._balls])
        self._ball_rel = np.concatenate([rel for _, rel in self._balls])
        self._lid_idx = np.array([info["lids"] for info in self.eye_info])
        self._rho_a = 0.85 * self._rho_open
        self._rho_inv = 1.0 / np.maximum(0.85 * self._rho_open - self._rho_closed - 0.005, 1e-6)
        self._cum_style, self._cum_hair, self._cum_iris = (np.cumsum(p) / np.sum(p) for p in (STYLE_P, HAIR_P, IRIS_P))
        self._hair_rgb = np.array(list(HAIR_COLOURS.values()))
        self._iris_rgb = np.array(IRIS_COLOURS)
        self._brow_bald = np.array([0.16, 0.11, 0.08])
        self._p_eyes = np.flatnonzero((self.p_eye >= 0) | (self.p_rim > 0))
        self._p_hole = (self.p_eye >= 0)[self._p_eyes]
        near = np.argmin(np.abs(self.V0[self.pidx, 0][:, None] - self._eye_x[None]), 1)
        self.p_eye = np.where(self.p_eye >= 0, self.p_eye, near)
        # base colours of the non-skin regions (skin-relative for the socket and inner lips)
        self._pal0 = np.array([[0, 0, 0], [0, 0, 0], [0.84, 0.81, 0.78], [0, 0, 0], [0.02, 0.02, 0.02],
                               [0.6, 0.42, 0.41], [0.22, 0.14, 0.14], [0.72, 0.45, 0.45], [0.74, 0.42, 0.42],
                               [0.86, 0.83, 0.74], [0.42, 0.16, 0.16], [0.12, 0.04, 0.04], [0.66, 0.33, 0.33]])
        for a in (self.hole, self.hole_s, self.hole_eye, self.pidx):
            a.flags.writeable = False
        del self.base, self._region, self._tex, self._ao  # construction scaffolding

    # residual-type deformation row: affine fit + faded residual of the nearest seam vertices
    def _def_seam(self, b, ids, pts, fit="skull", sigma=45.0, at=None, k=6, h=10.0, seam=None):
        pts = np.asarray(pts, np.float64).reshape(-1, 3)
        at = pts if at is None else np.asarray(at, np.float64).reshape(-1, 3)
        if seam is None:
            seam, tree = self.seam, self._seam_tree
        else:
            tree = cKDTree(self.V0[seam])
        d, nn = tree.query(at, k=k)
        w = np.exp(-(((d - d[:, :1]) / h) ** 2))
        w /= w.sum(1, keepdims=True)
        f = np.exp(-((d[:, 0] / sigma) ** 2))
        fw = f[:, None] * w
        cols = seam[nn]
        q = self.fits.hom(fit, pts) - (fw[:, :, None] * self.fits.hom(fit, self.V0[cols].reshape(-1, 3))
                                       .reshape(len(pts), k, 4)).sum(1)
        b.q.append((np.asarray(ids), fit, q))
        b.loc.append((np.repeat(np.asarray(ids), k), cols.reshape(-1), fw.reshape(-1)))

    def _def_affine(self, b, ids, pts, fit, weight=1.0):
        q = self.fits.hom(fit, np.asarray(pts).reshape(-1, 3)) * np.reshape(weight, (-1, 1))
        b.q.append((np.asarray(ids), fit, q))

    @staticmethod
    def _def_local(b, ids, cols, vals):
        b.loc.append((np.asarray(ids).reshape(-1), np.asarray(cols).reshape(-1), np.asarray(vals, float).reshape(-1)))

    # ------------------------------------------------------------------ shell
    def _arc_points(self, G, r, t):
        """Shell points at face row r's height for arc parameters t (radians, from the row's right
        outline vertex at t = w_R around the back to its left one at t = 2 pi + w_L)."""
        y = G[r, 0, 1]
        za = float(_zax(y))
        R, L = G[r, NC - 1], G[r, 0]
        wR, wL = np.arctan2(R[0], R[2] - za), np.arctan2(L[0], L[2] - za)
        t = np.asarray(t, np.float64)
        w = _wrap(t)
        rad = _cs_radius(w, y)
        dR = np.hypot(R[0], R[2] - za) - _cs_radius(np.array([wR]), y)[0]
        dL = np.hypot(L[0], L[2] - za) - _cs_radius(np.array([wL]), y)[0]
        span = np.radians(60.0)
        rad = rad + dR * (1 - _sstep((t - wR) / span)) + dL * (1 - _sstep((2 * np.pi + wL - t) / span))
        return np.stack([rad * np.sin(w), np.full(len(t), y), za + rad * np.cos(w)], 1), wR, 2 * np.pi + wL

    def _shell(self, b, G):
        """Cranium, cap and neck sharing the face boundary (see the module docstring, 1)."""
        K = 20
        rows = [0, 4, 8, 12, 14, 19, 24, 28, 30, 34, 38, 42, 46, 50, 53, 56, 60, 64, 68, 72, 76, 80]
        arcs, arc_t = {}, {}
        collar = {NC - 1: [], 0: []}  # a column of head vertices ~5 mm behind each side outline vertex
        collar_t = {NC - 1: [], 0: []}
        for r in range(NR):
            _, t0, t1 = self._arc_points(G, r, [0.0])
            rad = np.hypot(G[r, 0, 0], G[r, 0, 2] - _zax(G[r, 0, 1]))
            d = 5.0 / max(rad, 20.0)
            pts, _, _ = self._arc_points(G, r, [t0 + d, t1 - d])
            ids = b.add(pts, "cranium" if G[r, 0, 1] > -45 else "neck")
            collar[NC - 1].append(ids[0])
            collar[0].append(ids[1])
            collar_t[NC - 1].append(t0 + d)
            collar_t[0].append(t1 - d)
            if r in rows:
                t = np.linspace(t0 + 2.5 * d, t1 - 2.5 * d, K)
                pts, _, _ = self._arc_points(G, r, t)
                arcs[r] = b.add(pts, "cranium" if G[r, 0, 1] > -45 else "neck")
                arc_t[r] = t
        tris = []
        for col in (NC - 1, 0):
            cl = collar[col]
            for r in range(NR - 1):
                a, c = _vid(r, col), _vid(r + 1, col)
                tris += [(a, c, cl[r + 1]), (a, cl[r + 1], cl[r])]
        for r1, r2 in zip(rows[:-1], rows[1:]):
            a1, a2 = arcs[r1], arcs[r2]
            for j in range(K - 1):
                tris += [(a1[j], a1[j + 1], a2[j + 1]), (a1[j], a2[j + 1], a2[j])]
            seam_rows = np.arange(r1, r2 + 1)
            for col, end in ((NC - 1, 0), (0, K - 1)):
                tris += _zip([collar[col][r] for r in seam_rows], list(seam_rows.astype(float)),
                             [a1[end], a2[end]], [float(r1), float(r2)])
        self.collar = {k: np.array(v) for k, v in collar.items()}
        # cap: rings above face row 0, scaled copies of row 0's loop towards the top of the skull
        loop0 = np.concatenate([_vid(0, np.arange(NC)), [collar[NC - 1][0], collar[0][0]], arcs[0]])
        P = b.all_points()
        w0 = np.arctan2(P[loop0, 0], P[loop0, 2] - _Z_DOME)
        rho0 = np.hypot(P[loop0, 0], P[loop0, 2] - _Z_DOME)
        o = np.argsort(w0)
        ws, rs = w0[o], rho0[o]
        ws_p = np.concatenate([ws - 2 * np.pi, ws, ws + 2 * np.pi])
        rs_p = np.tile(rs, 3)
        prev, prev_w = loop0, w0
        cap_y = [103.0, 111.0, 120.0, 128.0, 135.0, 141.0, 145.5, 148.6]
        cap_n = [44, 42, 40, 36, 30, 24, 16, 8]
        self.cap_rings = []
        for y, n in zip(cap_y, cap_n):
            w = _wrap(np.linspace(0, 2 * np.pi, n, endpoint=False) + np.pi / n)
            rho = np.interp(w, ws_p, rs_p) * _dome(y)
            ids = b.add(np.stack([rho * np.sin(w), np.full(n, y), _Z_DOME + rho * np.cos(w)], 1), "cranium")
            self.cap_rings.append((ids, w))
            tris += _zip_loops(prev, prev_w, ids, w)
            prev, prev_w = ids, w
        top = b.add([[0.0, _Y_TOP, _Z_DOME]], "cranium")
        tris += [(prev[i], prev[(i + 1) % len(prev)], top[0]) for i in range(len(prev))]
        # neck: closed rings below the chin
        za80 = float(_zax(G[80, 0, 1]))
        loop80 = np.concatenate([[_vid(80, 0), _vid(80, NC - 1), collar[NC - 1][80], collar[0][80]], arcs[80]])
        P = b.all_points()
        prev, prev_w = loop80, np.arctan2(P[loop80, 0], P[loop80, 2] - za80)
        neck_y = [-96.0, -105.0, -118.0, -135.0, -155.0, -173.0, -192.0, -212.0, -240.0, -300.0]
        self.neck_rings = []
        for y in neck_y:
            n = 26
            w = _wrap(np.linspace(0, 2 * np.pi, n, endpoint=False) + np.pi / n)
            za = float(_zax(y))
            rad = _cs_radius(w, y)
            ids = b.add(np.stack([rad * np.sin(w), np.full(n, y), za + rad * np.cos(w)], 1), "neck")
            self.neck_rings.append((ids, w))
            tris += _zip_loops(prev, prev_w, ids, w)
            prev, prev_w = ids, w

        def outward(c):
            y = c[:, 1]
            ref = np.stack([np.zeros(len(c)), np.clip(y, -400, 40.0), _zax(y)], 1)
            return c - ref

        b.add_tris(tris, outward)
        # flat fan closing the V of the last face row under the chin
        fan = []
        for c in range(NC // 2):
            fan += [(_vid(80, c), _vid(80, c + 1), _vid(80, NC - 1 - c)), (_vid(80, c + 1), _vid(80, NC - 2 - c),
                                                                          _vid(80, NC - 1 - c))]
        b.add_tris(fan, lambda c: np.tile([0.0, -1.0, 0.0], (len(c), 1)))
        shell_ids = np.concatenate([arcs[r] for r in rows] + [self.collar[NC - 1], self.collar[0]]
                                   + [r[0] for r in self.cap_rings] + [top] + [r[0] for r in self.neck_rings])
        P = b.all_points()
        self._def_seam(b, shell_ids, P[shell_ids])
        self.arcs, self.arc_rows, self.arc_t = arcs, rows, arc_t
        return shell_ids

    # ------------------------------------------------------------------ ears
    def _ears(self, b, shell_ids):
        """Two ear shells hinged at their front edge, sunk into the side of the shell."""
        lm = self.V0[self.model.landmarks]
        y_c = 0.5 * (lm[[36, 39, 42, 45], 1].mean() + lm[[31, 35], 1].mean()) + 2.0
        H, Wd = 62.0, 33.0
        P = b.all_points()
        ring_rho = [0.0, 0.3, 0.55, 0.75, 0.88, 1.0]
        n_seg = 14
        t = np.linspace(0, 2 * np.pi, n_seg, endpoint=False)  # 0 = back, pi/2 = top, pi = front
        shell_pts = P[shell_ids]
        for s in (1.0, -1.0):
            # anchor: the shell point at the ear's height, ~12 mm behind the face outline
            r_seam = int(np.argmin(np.abs(self.V0.reshape(NR, NC, 3)[:, 0, 1] - y_c)))
            seam_v = self.V0[_vid(r_seam, NC - 1 if s > 0 else 0)]
            target = seam_v + np.array([0.0, 0.0, -16.0])
            side = shell_pts[:, 0] * s > 0
            cand = shell_ids[side]
            d = np.linalg.norm(P[cand] - target, axis=1)
            anc = P[cand[np.argmin(d)]].copy()
            anc[1], anc[2] = y_c, target[2]
            anc[0] = s * (abs(anc[0]) - 0.5)
            tilt, flare = np.radians(14.0), np.radians(28.0)
            e_up = np.array([0.0, np.cos(tilt), -np.sin(tilt)])
            e_bk = np.array([0.0, -np.sin(tilt), -np.cos(tilt)])
            e_out = np.array([s, 0.0, 0.0])
            front, back = [], []
            for k, rho in enumerate(ring_rho):
                tt = t if rho > 0 else t[:1]
                a = 0.5 * H * rho * np.sin(tt)
                wprof = np.where(a > 0, 1.0, 0.78 + 0.22 * (1 + a / (0.5 * H)))
                bb = 0.5 * Wd + 0.5 * Wd * rho * np.cos(tt) * wprof
                upper = _sstep((np.sin(tt) + 0.6) / 0.8)          # no helix on the lobe
                not_front = _sstep((np.cos(tt) + 0.5) / 0.6)      # nor at the tragus
                helix = 2.6 * _sstep((rho - 0.8) / 0.2) * upper * not_front
                anti = 1.4 * np.exp(-(((rho - 0.56) / 0.12) ** 2)) * upper * not_front
                concha = -5.0 * np.exp(-((rho / 0.42) ** 2))
                tragus = 2.2 * np.exp(-(((rho - 0.72) / 0.15) ** 2)) * np.exp(-(((tt - np.pi) / 0.45) ** 2))
                h = bb * np.tan(flare) - 3.0 + helix + anti + concha + tragus
                hb = bb * np.tan(flare) - 3.0 - 2.0 - 6.0 * (1 - rho)
                base = anc + a[:, None] * e_up + (bb - 0.5 * Wd)[:, None] * e_bk
                front.append(base + h[:, None] * e_out)
                if 0 < rho < 1:
                    back.append(base + hb[:, None] * e_out)
            fr = np.concatenate(front)
            bk = np.concatenate(back[1::2])  # rings 0.55, 0.88 on the back side
            bk_c = (anc + (0.5 * Wd * np.tan(flare) - 3 - 8.0) * e_out)[None]
            ids_f = b.add(fr, "ear")
            ids_b = b.add(np.concatenate([bk, bk_c]), "ear")
            ring_of = np.concatenate([[0], np.repeat(np.arange(1, len(ring_rho)), n_seg)])
            for i, r in zip(ids_f, ring_of):
                self._ao[int(i)] = (0.55, 0.75, 0.92, 1.0, 0.97, 1.0)[r]
            for i in ids_b:
                self._ao[int(i)] = 0.82
            rings_f = [ids_f[:1]] + [ids_f[1 + n_seg * i:1 + n_seg * (i + 1)] for i in range(len(ring_rho) - 1)]
            rings_b = [ids_f[-n_seg:], ids_b[n_seg:2 * n_seg], ids_b[:n_seg]]
            tris = []
            for rings in (rings_f, [rings_b[0], rings_b[1], rings_b[2]]):
                for r1, r2 in zip(rings[:-1], rings[1:]):
                    if len(r1) == 1:
                        tris += [(r1[0], r2[i], r2[(i + 1) % n_seg]) for i in range(n_seg)]
                    else:
                        for i in range(n_seg):
                            j = (i + 1) % n_seg
                            tris += [(r1[i], r1[j], r2[j]), (r1[i], r2[j], r2[i])]
            tris += [(rings_b[2][i], rings_b[2][(i + 1) % n_seg], ids_b[-1]) for i in range(n_seg)]
            centre = anc + (0.5 * Wd * np.tan(flare) - 6.0) * e_out
            t_front = tris[:n_seg + 4 * 2 * n_seg]  # the fan and 4 ring strips of the lateral side
            t_back = tris[n_seg + 4 * 2 * n_seg:]
            b.add_tris(t_front, lambda c, e=e_out: np.tile(e, (len(c), 1)))
            b.add_tris(t_back, lambda c, e=e_out, m=centre: c - m - 30 * e)
            ids = np.concatenate([ids_f, ids_b])
            P = b.all_points()
            self._def_seam(b, ids, P[ids], at=np.repeat(anc[None], len(ids), 0))

    # ------------------------------------------------------------------ eyes
    def _eyes(self, b, G):
        """Eye openings (hidden face quads), eyeballs behind them and socket bags on their rims."""
        rc = self.lmk_rc
        V0 = self.V0
        lmk = lambda i: int(self.model.landmarks[i])  # noqa: E731
        tr, tcol = np.divmod(np.asarray(self.model.triangles), NC)
        tri_rc = np.stack([tr.min(1), tcol.min(1)], 1)  # the grid quad of each triangle
        self.hole = np.zeros(self.F, bool)
        self.hole_eye = np.full(self.F, -1, np.int8)
        self.hole_s = np.zeros(self.F)
        self.eye_info = []
        R = 12.0
        for e, (c_out, up1, up2, c_in, lo1, lo2) in enumerate(((36, 37, 38, 39, 40, 41), (45, 44, 43, 42, 47, 46))):
            pc = [int(rc[i, 1]) for i in (c_out, up1, up2, c_in)]
            order = np.argsort(pc)
            cols = np.array(pc)[order]
            up = np.array([rc[i, 0] for i in (c_out, up1, up2, c_in)], float)[order]
            lo = np.array([rc[i, 0] for i in (c_out, lo2, lo1, c_in)], float)[order]
            c0, c1 = cols[0], cols[-1]
            quads = {}
            for c in range(c0, c1):
                u, lw = np.interp(c + 0.5, cols, up), np.interp(c + 0.5, cols, lo)
                for r in range(int(np.floor(u)), int(np.ceil(lw))):
                    if min(r + 1, lw) - max(r, u) >= 0.5 - 1e-9:
                        quads[(r, c)] = (r + 0.5 - u) / max(lw - u, 1e-6)
            for t, (r, c) in enumerate(tri_rc):
                if (r, c) in quads:
                    self.hole[t], self.hole_eye[t], self.hole_s[t] = True, e, quads[(r, c)]
            # rim loop: boundary edges of the hidden quads
            tri = self.model.triangles[self.hole_eye == e]
            edges = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), 1)
            uniq, cnt = np.unique(edges, axis=0, return_counts=True)
            bnd = uniq[cnt == 1]
            nxt = {}
            for a, c in bnd:
                nxt.setdefault(a, []).append(c)
                nxt.setdefault(c, []).append(a)
            loop = [int(bnd[0, 0])]
            prev = -1
            while True:
                cand = [v for v in nxt[loop[-1]] if v != prev]
                if cand[0] == loop[0] or len(loop) > len(bnd):
                    break
                prev = loop[-1]
                loop.append(cand[0])
            loop = np.array(loop)
            # walk the rim against the face's own use of its edges, so that the socket continues the face's winding
            vis = self.model.triangles[~self.hole]
            fwd = set(zip(vis[:, 0].tolist(), vis[:, 1].tolist())) | set(zip(vis[:, 1].tolist(), vis[:, 2].tolist())) \
                | set(zip(vis[:, 2].tolist(), vis[:, 0].tolist()))
            if (int(loop[0]), int(loop[1])) in fwd:
                loop = loop[::-1]
            hole_v = np.unique(tri)
            inner = np.setdiff1d(hole_v, loop)
            # eyeball: centred on the opening, as far forward as the visible skin around it allows
            cxy = np.array([0.5 * (V0[lmk(c_out), 0] + V0[lmk(c_in), 0]),
                            0.25 * sum(V0[lmk(i), 1] for i in (up1, up2, lo1, lo2))])
            rr, cc = np.divmod(np.arange(self.N), NC)
            near = (np.abs(V0[:, 0] - cxy[0]) < R) & (np.abs(V0[:, 1] - cxy[1]) < R) & (rr < _MR)
            near[inner] = False
            d2 = ((V0[near, :2] - cxy) ** 2).sum(1)
            ok = d2 < R * R
            cz = float(np.min(V0[near, 2][ok] - np.sqrt(R * R - d2[ok]))) - 0.8
            centre = np.array([cxy[0], cxy[1], cz])
            th = np.radians([9.0, 12.5, 19.0, 25.5, 30.0, 55.0, 95.0])
            n_seg = 14
            ph = np.linspace(0, 2 * np.pi, n_seg, endpoint=False)
            pts = [centre + [0, 0, R]]
            labs = [_L["pupil"]]
            for k, a in enumerate(th):
                ring = np.stack([R * np.sin(a) * np.cos(ph), R * np.sin(a) * np.sin(ph), np.full(n_seg, R * np.cos(a))], 1)
                pts.append(centre + ring)
                labs += [_L["pupil"] if k < 1 else _L["iris"] if k < 4 else _L["sclera"]] * n_seg
            ball = b.add(np.concatenate([np.atleast_2d(p) for p in pts]), np.array(labs, np.int8))
            tris = [(ball[0], ball[1 + i], ball[1 + (i + 1) % n_seg]) for i in range(n_seg)]
            for k in range(len(th) - 1):
                r1, r2 = ball[1 + n_seg * k:1 + n_seg * (k + 1)], ball[1 + n_seg * (k + 1):1 + n_seg * (k + 2)]
                for i in range(n_seg):
                    j = (i + 1) % n_seg
                    tris += [(r1[i], r2[i], r2[j]), (r1[i], r2[j], r1[j])]
            b.add_tris(tris, lambda c, m=centre: c - m)
            fit = "eye_r" if e == 0 else "eye_l"
            self._def_affine(b, ball, np.repeat(centre[None], len(ball), 0), fit)
            ring_tex = np.concatenate([[1.0], np.repeat([1.0, 1.25, 1.0, 0.55, 1.0, 0.96, 0.9], n_seg)])
            for i, lab, tx in zip(ball, labs, ring_tex):
                self._region[int(i)] = PARTS[lab]
                self._tex[int(i)] = tx
            # socket bag: rim -> ring just behind the eyeball surface -> ring further in -> centre
            rim = V0[loop]
            def behind(xy, back):
                d2 = ((xy - cxy) ** 2).sum(1)
                zs = np.where(d2 < R * R, cz + np.sqrt(np.clip(R * R - d2, 0, None)), -np.inf)
                return zs - back
            xy1 = cxy + 0.95 * (rim[:, :2] - cxy)
            z1 = np.minimum(rim[:, 2] - 2.0, np.where(np.isfinite(behind(xy1, 1.0)), behind(xy1, 1.0), rim[:, 2] - 4.0))
            xy2 = cxy + 0.55 * (rim[:, :2] - cxy)
            z2 = behind(xy2, 2.0)
            s1 = b.add(np.concatenate([xy1, z1[:, None]], 1), "eye_socket")
            s2 = b.add(np.concatenate([xy2, z2[:, None]], 1), "eye_socket")
            sc = b.add(centre[None], "eye_socket")
            for i in s1:
                self._region[int(i)] = "socket"
            for i in np.concatenate([s2, sc]):
                self._region[int(i)] = "socket_deep"
            n = len(loop)
            tris = []
            for i in range(n):
                j = (i + 1) % n
                tris += [(loop[i], loop[j], s1[j]), (loop[i], s1[j], s1[i]), (s1[i], s1[j], s2[j]), (s1[i], s2[j], s2[i]),
                         (s2[i], s2[j], sc[0])]
            b.tris.append(np.array(tris, np.int64))  # wound like the face (see the rim walk above)
            self._def_local(b, s1, loop, np.ones(n))
            self._def_local(b, s2, loop, np.full(n, 0.5))
            P = b.all_points()
            self._def_affine(b, s2, P[s2], fit, 0.5)
            self._def_affine(b, sc, P[sc], fit)
            # rows / columns of the opening for the lid paint and the closure
            self.eye_info.append(dict(loop=loop, hole_v=hole_v, inner=inner, cols=cols, up=up, lo=lo, ball=ball,
                                      centre=centre, lids=(lmk(up1), lmk(up2), lmk(lo1), lmk(lo2), lmk(c_out), lmk(c_in))))

    # ------------------------------------------------------------------ mouth
    def _mouth(self, b, G):
        """A bag behind the mouth slit: inner lips, teeth on a dental arch, palate, cavity, tongue."""
        slit = sorted(_emb._mouth_slit_cols())
        ca, cb = slit[0], slit[-1] + 1                       # corner columns of the opening
        pcols = [ca] + list(range(ca + 1, cb, 2)) + [cb]
        if pcols[-2] == cb:
            pcols = pcols[:-1]
        up, lo = G[_MR], G[_MR + 1]
        xc = 0.5 * (up[:, 0] + lo[:, 0])
        zl = 0.5 * (up[:, 2] + lo[:, 2])
        ym = float(0.5 * (up[NC // 2, 1] + lo[NC // 2, 1]))
        xk = 0.5 * (abs(xc[ca]) + abs(xc[cb]))
        z_front = float(zl[NC // 2]) - 4.5

        def arch(x):
            return z_front - 0.026 * x * x

        # profile: (x factor, dy, dz reference ('lip' or 'arch'), dz, label, region, fit)
        prof = [(1.00, 1.2, "lip", -2.0, "mouth", "lip_inner", "maxilla"),
                (0.97, 6.5, "arch", 0.3, "mouth", "gum", "maxilla"),
                (0.97, 3.0, "arch", 0.0, "teeth", "teeth", "maxilla"),
                (0.97, -2.3, "arch", -0.7, "teeth", "teeth", "maxilla"),
                (0.95, -2.5, "arch", -3.0, "teeth", "teeth", "maxilla"),
                (0.85, 7.0, "arch", -10.0, "mouth", "palate", "maxilla"),
                (0.65, 4.0, "arch", -26.0, "mouth", "cavity", "maxilla"),
                (0.65, -9.0, "arch", -26.0, "mouth", "cavity", "jaw"),
                (0.80, -3.0, "arch", -16.0, "tongue", "tongue", "jaw"),
                (0.85, 0.2, "arch", -8.5, "tongue", "tongue", "jaw"),
                (0.92, 0.9, "arch", -5.6, "teeth", "teeth", "jaw"),
                (0.92, 0.9, "arch", -3.6, "teeth", "teeth", "jaw"),
                (0.93, -5.5, "arch", -2.8, "mouth", "gum", "jaw"),
                (1.00, -1.2, "lip", -2.0, "mouth", "lip_inner", "jaw")]
        n_p = len(prof)
        grid = np.zeros((len(pcols), n_p + 2), np.int64)
        for j, c in enumerate(pcols):
            grid[j, 0], grid[j, -1] = _vid(_MR, c), _vid(_MR + 1, c)
            if c in (ca, cb):
                grid[j, 1:n_p // 2 + 1] = _vid(_MR, c)
                grid[j, n_p // 2 + 1:-1] = _vid(_MR + 1, c)
                continue
            x = xc[c]
            tau = np.sqrt(max(1 - (x / xk) ** 2, 0.05))
            pts, labs = [], []
            for fx, dy, ref, dz, lab, reg, fit in prof:
                z = (zl[c] if ref == "lip" else arch(x)) + dz
                bump = 1.5 * (1 - (x / xk) ** 2) - 0.5 if reg == "tongue" else 0.0
                pts.append((fx * x, ym + dy * tau + bump, z))
                labs.append(_L[lab])
            ids = b.add(pts, np.array(labs, np.int8))
            grid[j, 1:-1] = ids
            for k in range(n_p):  # darker towards the corners and the back
                self._tex[int(ids[k])] = (0.55 + 0.45 * tau) * (1.0 if prof[k][3] > -9 or prof[k][2] == "lip" else 0.8)
            for k, (_, _, _, _, _, reg, fit) in enumerate(prof):
                self._region[int(ids[k])] = reg
                w_lip = 0.6 if reg == "lip_inner" else 0.15 if reg == "gum" else 0.0
                self._def_affine(b, ids[k:k + 1], np.array([pts[k]]), fit, 1 - w_lip)
                if w_lip:
                    self._def_local(b, ids[k:k + 1], [grid[j, 0] if k < n_p // 2 else grid[j, -1]], [w_lip])
        tris = []
        for j in range(len(pcols) - 1):
            A, B = grid[j], grid[j + 1]
            for k in range(1, n_p):
                tris += [(A[k], A[k + 1], B[k + 1]), (A[k], B[k + 1], B[k])]
        t = np.array(tris, np.int64)
        t = t[(t[:, 0] != t[:, 1]) & (t[:, 1] != t[:, 2]) & (t[:, 0] != t[:, 2])]
        b.tris.append(t)
        # rims: every slit vertex to the first / last profile row
        xs = [float(xc[c]) for c in pcols]
        up_rim = [int(_vid(_MR, c)) for c in range(ca, cb + 1)]
        lo_rim = [int(_vid(_MR + 1, c)) for c in range(ca, cb + 1)]
        xr = [float(xc[c]) for c in range(ca, cb + 1)]
        rim = _zip(up_rim, xr, list(grid[:, 1]), xs)
        b.add_tris(rim, lambda c: np.tile([0.0, -1.0, 0.3], (len(c), 1)))
        rim = _zip(lo_rim, xr, list(grid[:, -2]), xs)
        b.add_tris(rim, lambda c: np.tile([0.0, 1.0, 0.3], (len(c), 1)))

    # ------------------------------------------------------------------ hair
    def _hair_styles(self, b, G, shell):
        """Per style: scalp cap offsets and weights, fringe layer, curtain, hairline paint."""
        P = b.all_points()
        Vrest = P.copy()
        tris_all = np.concatenate(b.tris)
        normals = _fan_normals(Vrest, tris_all)
        self._shell_normals = normals[shell]
        loc = {int(g): i for i, g in enumerate(shell)}
        e = np.concatenate([tris_all[:, [0, 1]], tris_all[:, [1, 2]], tris_all[:, [2, 0]]])
        keep = np.isin(e[:, 0], shell) & np.isin(e[:, 1], shell)
        e = e[keep]
        i = np.array([loc[int(a)] for a in e[:, 0]])
        j = np.array([loc[int(a)] for a in e[:, 1]])
        A = sparse.csr_matrix((np.ones(2 * len(i)), (np.concatenate([i, j]), np.concatenate([j, i]))),
                              shape=(len(shell), len(shell)))
        A.data[:] = 1.0
        deg = np.maximum(np.asarray(A.sum(1)).ravel(), 1)
        self._shell_adj = sparse.diags(1 / deg) @ A
        sp = P[shell]
        w = np.arctan2(sp[:, 0], sp[:, 2] - _zax(sp[:, 1]))
        aw = np.degrees(np.abs(w))
        y = sp[:, 1]
        d_seam = self._seam_tree.query(sp)[0]
        # neck thickness variation: horizontal radial offset, zero at the seam and on the skull
        rad = np.stack([sp[:, 0], np.zeros(len(sp)), sp[:, 2] - _zax(y)], 1)
        rad /= np.maximum(np.linalg.norm(rad, axis=1, keepdims=True), 1e-9)
        fade = _sstep((d_seam - 5.0) / 25.0) * _sstep((-40.0 - y) / 30.0) * (1 - _sstep((-165.0 - y) / 40.0))
        self._neck_dir = rad * fade[:, None]
        self._compile_base()
        self.styles = {}
        for name in HAIR_STYLES:
            self.styles[name] = self._style(name, b, G, shell, sp, aw, y, d_seam, normals)

    _STYLE = {
        "bald": dict(hw=0.0, t=(0, 0, 0), sb=40.0, nape=-10.0, paint=0.0),
        "buzz": dict(hw=0.75, t=(1.6, 1.3, 1.2), sb=36.0, nape=-18.0, paint=0.5),
        "short": dict(hw=1.0, t=(6.0, 3.5, 3.5), sb=33.0, nape=-22.0, paint=0.9),
        "medium": dict(hw=1.0, t=(13.0, 9.0, 8.0), sb=36.0, nape=-28.0, paint=0.9),
        "full_fringe": dict(hw=1.0, t=(11.0, 8.0, 8.0), sb=36.0, nape=-28.0, paint=0.9, fringe="full"),
        "side_fringe_r": dict(hw=1.0, t=(11.0, 8.0, 8.0), sb=36.0, nape=-28.0, paint=0.9, fringe="side_r"),
        "side_fringe_l": dict(hw=1.0, t=(11.0, 8.0, 8.0), sb=36.0, nape=-28.0, paint=0.9, fringe="side_l"),
        "bob": dict(hw=1.0, t=(11.0, 9.0, 9.0), sb=36.0, nape=-28.0, paint=0.9, fringe="full",
                    curtain=(80.0, -62.0, 24.0)),
        "long": dict(hw=1.0, t=(10.0, 8.0, 8.0), sb=36.0, nape=-28.0, paint=0.9, curtain=(116.0, -178.0, 0.0)),
    }

    def _style(self, name, b0, G, shell, sp, aw, y, d_seam, normals):
        st = self._STYLE[name]
        hl = np.interp(aw, [0, 88, 93, 112, 140, 180], [st["sb"], st["sb"], 44, 44, st["nape"], st["nape"]])
        hw = (y > hl).astype(float)
        for _ in range(2):  # soften the hairline on the shell's own mesh (no staircase)
            hw = 0.5 * hw + 0.5 * (self._shell_adj @ hw)
        hw[y > 100] = 1.0
        t_top, t_side, t_back = st["t"]
        t_low = np.interp(aw, [0, 110, 150, 180], [t_side, t_side, t_back, t_back])
        thick = np.interp(y, [40, 110], [0, 1]) * (t_top - t_low) + t_low
        ramp = _sstep(1.5 * hw - 0.2)
        top_seam = y > 90
        seam_ramp = np.where(top_seam & ("fringe" in st), 1.0, 0.3 + 0.7 * _sstep(d_seam / 12.0))
        thick = thick * ramp * seam_ramp
        hw = st["hw"] * hw
        b = _Builder(self.V0)
        b.P, b.lab, b.tris, b.q, b.loc, b.n = list(b0.P), list(b0.lab), list(b0.tris), list(b0.q), list(b0.loc), b0.n
        lab = np.concatenate(b.lab).copy()
        M0 = len(lab)
        sidx = shell - self.N
        lab[sidx[hw > 0.5]] = _L["hair"]
        off = np.zeros((M0, 3))
        off[sidx] = self._shell_normals * thick[:, None]
        neck = np.zeros((M0, 3))
        neck[sidx] = self._neck_dir
        hwv = np.zeros(M0)
        hwv[sidx] = hw
        if "fringe" in st:
            self._fringe(b, G, st, t_top)
        if "curtain" in st:
            self._curtain(b, G, st, shell, off)
        v = self._compile(b)
        n_extra = v["M"] - M0
        v["off"] = np.concatenate([off, np.zeros((n_extra, 3))])
        v["neck"] = np.concatenate([neck, np.zeros((n_extra, 3))])
        v["hw"] = np.concatenate([hwv, np.ones(n_extra)])
        v["labels"][:M0] = lab
        v["name"] = name
        self._recipe(v, b)
        v["paint_hair"] = self._hairline_paint(st)
        self._finalize(v)
        return v

    def _finalize(self, v):
        """Per variant: G = [Q | W] (geometry, one sparse product) and C (albedo, one sparse product)."""
        M, N = v["M"], self.N
        v["G"] = sparse.hstack([sparse.csr_matrix(v["Q"]), v["W"]]).tocsr()
        hw, skin = v["hw"], v["region"] == 0
        k_skin = (1 - hw) * v["ao"] * skin
        S = sparse.diags(k_skin) @ v["S"]
        rows = np.arange(M)
        nreg = len(_REGIONS)
        extra = sparse.csr_matrix(
            (np.concatenate([k_skin * v["f_glob"], (1 - hw) * v["tex"] * ~skin, hw * v["htex"]]),
             (np.concatenate([rows, rows, rows]),
              np.concatenate([np.zeros(M, int), 1 + v["region"], np.full(M, 1 + nreg)]))), shape=(M, 2 + nreg))
        C = sparse.hstack([S, extra, sparse.csr_matrix((M, 2))]).tocsr()
        # face paint rows, for a few brow strengths: X = [face albedo; seam skin; palette; hair; brow; lash]
        Pn, nx = len(self.pidx), N + 4 + nreg
        lam0, a_h, a_f, rows = self.p_rim, v["paint_hair"], self.p_fix, np.arange(Pn)
        v["K"] = []
        for bk in _BROW_LEVELS:
            beta = bk * self.p_brow
            keep = (1 - lam0) * (1 - beta)
            k_fa = keep * (1 - a_h)
            Kp = sparse.csr_matrix((np.concatenate([k_fa * (1 - a_f), k_fa * a_f, keep * a_h, (1 - lam0) * beta * self.p_noise,
                                                    lam0]),
                                    (np.tile(rows, 5), np.concatenate([self.pidx, self.p_eref, np.full(Pn, nx - 3),
                                                                       np.full(Pn, nx - 2), np.full(Pn, nx - 1)]))),
                                   shape=(Pn, nx))
            K = sparse.vstack([C, Kp]).tocsr()
            K.sum_duplicates()
            K.eliminate_zeros()
            v["K"].append(K)
        for k in ("S", "W", "Q", "f_glob", "region", "tex", "ao", "htex", "paint_hair"):
            v.pop(k)
        for k in ("H0", "off", "neck", "tris", "labels", "hw"):
            v[k] = np.ascontiguousarray(v[k])
            v[k].flags.writeable = False

    def _fringe(self, b, G, st, t_top):
        """Hair layer over the forehead, from the cap's front ring to an edge above the brows."""
        kind = st["fringe"]
        cols = np.arange(0, NC, 2)
        x = G[0, cols, 0]
        if kind == "full":
            y_edge = np.interp(np.abs(x), [0, 42, 55, 64, 80], [63.0, 62.0, 56.5, 53.5, 52.0])
        else:
            sx = -1.0 if kind == "side_r" else 1.0
            y_edge = np.interp(sx * x, [-80, -60, -30, 0, 25, 50, 80], [52.0, 55.0, 61.0, 68.0, 82.0, 96.0, 99.0])
        y_edge = y_edge + np.where(np.arange(len(cols)) % 2 == 0, 1.2, -1.2)  # strands
        # keep clear of the brows: >= 7 mm above the brow landmarks' polyline (and its ends' height beyond)
        bl = self.V0[self.model.landmarks[17:27]]
        o = np.argsort(bl[:, 0])
        y_edge = np.maximum(y_edge, np.interp(x, bl[o, 0], bl[o, 1]) + 7.0)
        J = 6
        ys_col = G[:, cols, 1]                      # (NR, n) y of each face row per column
        pts, loc = [], []
        for k, c in enumerate(cols):
            rho_end = float(np.interp(-y_edge[k], -ys_col[:, k], np.arange(NR)))
            rho = np.concatenate([np.linspace(0.0, rho_end, J), [rho_end + 0.45]])
            t = np.concatenate([np.linspace(1.0, 0.45, J) * min(t_top, 9.0), [-0.6]])
            t[:J] *= np.interp(min(k, len(cols) - 1 - k), [0, 1, 3], [0.1, 0.5, 1.0])
            r0 = np.minimum(np.floor(rho).astype(int), NR - 2)
            a = rho - r0
            p0, p1 = G[r0, c], G[r0 + 1, c]
            n0 = self._face_normals[_vid(r0, c)]
            n1 = self._face_normals[_vid(r0 + 1, c)]
            nn = (1 - a)[:, None] * n0 + a[:, None] * n1
            nn /= np.linalg.norm(nn, axis=1, keepdims=True)
            pts.append((1 - a)[:, None] * p0 + a[:, None] * p1 + t[:, None] * nn)
            loc.append((_vid(r0, c), _vid(r0 + 1, c), 1 - a, a))
        ids = b.add(np.concatenate(pts), "hair").reshape(len(cols), J + 1)
        for k in range(len(cols)):
            i0, i1, w0, w1 = loc[k]
            self._def_local(b, ids[k], i0, w0)
            self._def_local(b, ids[k], i1, w1)
        tris = []
        for k in range(len(cols) - 1):
            A, B = ids[k], ids[k + 1]
            for j in range(J):
                tris += [(A[j], A[j + 1], B[j + 1]), (A[j], B[j + 1], B[j])]
        # weld the top row to the front of the first cap ring
        ring, rw = self.cap_rings[0]
        P = b.all_points()
        top_w = np.arctan2(P[ids[:, 0], 0], P[ids[:, 0], 2] - _Z_DOME)
        sel = np.flatnonzero(np.abs(rw) < np.abs(top_w).max() + 0.05)
        sel = sel[np.argsort(rw[sel])]
        tris += _zip(list(ids[:, 0]), list(top_w), list(ring[sel]), list(rw[sel]))
        b.add_tris(tris, lambda c: np.stack([c[:, 0], np.clip(c[:, 1] - 40, 0, None), c[:, 2] + 100], 1))

    def _curtain(self, b, G, st, shell, off):
        """Long hair: a sheet around the back from the widest part of the skull downwards."""
        w_front, y_bot, ear_gap = st["curtain"]
        n_w, n_y = 22, 8
        wf = np.radians(w_front)
        w = np.linspace(wf, 2 * np.pi - wf, n_w)
        ww = _wrap(w)
        y_top = 58.0
        jit = np.random.default_rng(1234).uniform(-7, 7, n_w) * (np.abs(np.degrees(ww)) > w_front + 8)
        pts = []
        for k in range(n_y):
            f = k / (n_y - 1)
            yk = y_top + (y_bot + jit - y_top) * f ** 0.9
            za = _zax(yk)
            r_body = _cs_radius(ww, yk)
            r_top = _cs_radius(ww, np.full(n_w, y_top)) + 0.5 * st["t"][1]
            ear = ear_gap * np.exp(-(((np.abs(np.degrees(ww)) - 100) / 16) ** 2)) * np.exp(-(((yk - 10) / 32) ** 2))
            r = np.maximum(r_top + (0.6 * st["t"][1] + 0.05 * (y_top - yk)) * (k > 0), r_body + 8.0 + ear) if k else r_top
            pts.append(np.stack([r * np.sin(ww), yk, za + r * np.cos(ww)], 1))
        outer = np.concatenate(pts)
        radial = np.stack([outer[:, 0], np.zeros(len(outer)), outer[:, 2] - _zax(outer[:, 1])], 1)
        inner = outer - 1.2 * radial / np.linalg.norm(radial, axis=1, keepdims=True)
        ids = b.add(outer, "hair").reshape(n_y, n_w)
        ids_in = b.add(inner, "hair").reshape(n_y, n_w)
        out_fn = lambda c: np.stack([c[:, 0], np.zeros(len(c)), c[:, 2] - _zax(c[:, 1])], 1)  # noqa: E731
        for grid_ids, sign in ((ids, 1.0), (ids_in, -1.0)):
            tris = []
            for k in range(n_y - 1):
                for i in range(n_w - 1):
                    tris += [(grid_ids[k, i], grid_ids[k, i + 1], grid_ids[k + 1, i + 1]),
                             (grid_ids[k, i], grid_ids[k + 1, i + 1], grid_ids[k + 1, i])]
            b.add_tris(tris, lambda c, sg=sign: sg * out_fn(c))
        # close the slab along its sides and bottom, wound against the two sheets
        sheets = np.concatenate(b.tris[-2:])
        border = [(ids[:, 0], ids_in[:, 0]), (ids[:, -1], ids_in[:, -1]), (ids[-1], ids_in[-1])]
        strip = []
        for o, i in border:
            for k in range(len(o) - 1):
                strip += [(o[k], o[k + 1], i[k + 1]), (o[k], i[k + 1], i[k])]
        b.tris.append(_orient_like(np.array(strip, np.int64), sheets))
        P = b.all_points()
        flat = np.concatenate([ids.reshape(-1), ids_in.reshape(-1)])
        upper = self.seam[self.V0[self.seam, 1] > -20]
        self._def_seam(b, flat, P[flat], seam=upper)

    # ------------------------------------------------------------------ compile
    def _compile(self, b):
        H0 = np.concatenate(b.P)
        M = len(H0)
        nf = len(self.fits.names)
        Q = np.zeros((M, 4 * nf))
        for ids, fit, q in b.q:
            k = self.fits.names.index(fit)
            Q[ids - self.N, 4 * k:4 * k + 4] += q
        rows = np.concatenate([r for r, _, _ in b.loc]) - self.N
        cols = np.concatenate([c for _, c, _ in b.loc])
        vals = np.concatenate([v for _, _, v in b.loc])
        W = sparse.csr_matrix((vals, (rows, cols)), shape=(M, self.N))
        W.sum_duplicates()
        return dict(M=M, H0=H0, Q=Q, W=W, tris=np.concatenate(b.tris), labels=np.concatenate(b.lab).copy())

    def _compile_base(self):
        ctrl = np.concatenate(self.fits.ctrl)
        sel = sparse.csr_matrix((np.ones(len(ctrl)), (np.arange(len(ctrl)), ctrl)), shape=(len(ctrl), self.N))
        self.Bfit = (sparse.block_diag(self.fits.B).tocsr() @ sel).tocsr()
        P = self.base.all_points()
        self._face_normals = _fan_normals(P, np.concatenate([np.asarray(self.model.triangles, np.int64)]
                                                             + self.base.tris))[:self.N]

    def _recipe(self, v, b):
        """Per-vertex colour recipe of a variant: region, texture, ambient occlusion, skin gather."""
        M = v["M"]
        reg = np.zeros(M, np.int64)
        tex, ao = np.ones(M), np.ones(M)
        for i, r in self._region.items():
            reg[i - self.N] = _REGIONS.index(r)
        for i, t in self._tex.items():
            tex[i - self.N] = t
        for i, a in self._ao.items():
            ao[i - self.N] = a
        P = np.concatenate(b.P)
        skin = reg == 0
        d, nn = self._skin_tree.query(P, k=6)
        w = np.exp(-(((d - d[:, :1]) / 12.0) ** 2))
        w /= w.sum(1, keepdims=True)
        f = np.exp(-((d[:, 0] / 70.0) ** 2)) * skin
        rows = np.repeat(np.arange(M), 6)
        v["S"] = sparse.csr_matrix(((f[:, None] * w).ravel(), (rows, self._skin_seam[nn].ravel())), shape=(M, self.N))
        v["f_glob"] = (1 - f) * skin
        # neck a little darker under the chin, shoulders a little lighter
        y = P[:, 1]
        ao = ao * np.where(v["labels"] == _L["neck"], 0.9 + 0.1 * _sstep((-y - 100) / 60), 1.0)
        v["region"], v["tex"], v["ao"] = reg, tex, ao
        g = np.random.default_rng(7)
        w = np.arctan2(P[:, 0], P[:, 2] + 100.0)
        ph = g.uniform(0, 2 * np.pi, 3)
        streak = (np.sin(23 * w + ph[0]) + 0.6 * np.sin(41 * w + 0.05 * y + ph[1]) + 0.4 * np.sin(0.11 * P[:, 0] * 7 + ph[2]))
        v["htex"] = 1.0 + 0.05 * streak + 0.04 * (g.random(M) - 0.5)

    def _paint_setup(self, G):
        """Face vertices painted per face: lid margins and eye corners, brows, soft hairline."""
        rr, cc = np.divmod(np.arange(self.N), NC)
        V0, A0 = self.V0, self.model.albedo_mean.astype(np.float64) if self.model.albedo_mean is not None else None
        cand = [np.flatnonzero((rr <= 3) | (((cc <= 4) | (cc >= NC - 5)) & (rr <= 40)))]
        eye_sets = []
        for e, info in enumerate(self.eye_info):
            cols, up, lo = info["cols"], info["up"], info["lo"]
            r0, r1 = int(up.min()) - 5, int(lo.max()) + 3
            c0, c1 = int(cols[0]) - 3, int(cols[-1]) + 3
            ids = np.flatnonzero((rr >= r0) & (rr <= r1) & (cc >= c0) & (cc <= c1))
            eye_sets.append((ids, r0, r1))
            cand.append(ids)
        brow_sets = []
        for lm_ids in (range(17, 22), range(22, 27)):
            L = V0[self.model.landmarks[list(lm_ids)]]
            ids = np.flatnonzero((np.abs(V0[:, 0] - L[:, 0].mean()) < 0.5 * np.ptp(L[:, 0]) + 9)
                                 & (V0[:, 1] > L[:, 1].min() - 7) & (V0[:, 1] < L[:, 1].max() + 6) & (rr < 30))
            brow_sets.append((ids, L))
            cand.append(ids)
        pidx = np.unique(np.concatenate(cand))
        pos = {int(g): i for i, g in enumerate(pidx)}
        Pn = len(pidx)
        a_fix, eref = np.zeros(Pn), pidx.copy()
        a_rim, a_brow = np.zeros(Pn), np.zeros(Pn)
        eye_of, s_v = np.full(Pn, -1), np.zeros(Pn)
        for e, (info, (ids, r0, r1)) in enumerate(zip(self.eye_info, eye_sets)):
            cols, up, lo = info["cols"], info["up"], info["lo"]
            er = int(round(0.5 * (up.max() + lo.min())))
            for g in ids:
                r, c = divmod(int(g), NC)
                ref = _vid(r0, c) if r < er else _vid(r1 - 1, c)
                k = pos[int(g)]
                eref[k] = ref
                if A0 is not None:
                    a_fix[k] = np.clip(np.linalg.norm(A0[g] - A0[ref]) / 0.1, 0, 1)
                u = np.interp(c, cols, up)
                lw = np.interp(c, cols, lo)
                if cols[0] <= c <= cols[-1]:
                    if abs(r - u) < 0.5 and r < lw - 0.5:
                        a_rim[k] = 0.8
                    elif abs(r - (u - 1)) < 0.5:
                        a_rim[k] = max(a_rim[k], 0.3)
                    elif abs(r - lw) < 0.5:
                        a_rim[k] = max(a_rim[k], 0.2)
                if int(g) in set(info["hole_v"].tolist()):
                    eye_of[k] = e
                    s_v[k] = np.clip((r - u) / max(lw - u, 1e-6), 0, 1)
        for ids, L in brow_sets:
            o = np.argsort(np.abs(L[:, 0]))[::-1]       # tail (outer) first
            Lc = L[o].copy()
            Lc[:, 1] -= 0.8
            tail = Lc[0] + 4.0 * (Lc[0] - Lc[1]) / np.linalg.norm(Lc[0] - Lc[1])
            head = Lc[-1] + 2.0 * (Lc[-1] - Lc[-2]) / np.linalg.norm(Lc[-1] - Lc[-2])
            poly = np.concatenate([[tail], Lc, [head]])[:, :2]
            half = np.array([0.8, 1.3, 2.0, 2.5, 2.8, 3.0, 2.6])
            for g in ids:
                p = V0[g, :2]
                best, hb = np.inf, 0.0
                for i in range(len(poly) - 1):
                    a, bq = poly[i], poly[i + 1]
                    t = np.clip(np.dot(p - a, bq - a) / np.dot(bq - a, bq - a), 0, 1)
                    dd = np.linalg.norm(p - (a + t * (bq - a)))
                    if dd < best:
                        best, hb = dd, half[i] + t * (half[i + 1] - half[i])
                k = pos[int(g)]
                a_brow[k] = max(a_brow[k], 0.92 * float(_sstep((hb - best) / 1.8 + 0.5)))
        self.pidx, self.p_fix, self.p_eref, self.p_rim, self.p_brow = pidx, a_fix, eref, a_rim, a_brow
        self.p_eye, self.p_s = eye_of, s_v
        self.p_noise = 0.9 + 0.15 * np.random.default_rng(11).random(Pn)
        self._p_pos = pos

    def _hairline_paint(self, st):
        """Per style: alpha of the hair colour painted on face vertices (forehead top, temples)."""
        a = np.zeros(len(self.pidx))
        k = st.get("paint", 0.0)
        if not k:
            return a
        rr, cc = np.divmod(self.pidx, NC)
        y = self.V0[self.pidx, 1]
        top = np.where(rr == 0, 0.9, np.where(rr == 1, 0.5, np.where(rr == 2, 0.18, 0.0)))
        # temples and sideburns: the outer columns of the grid (which wrap round to the seam), down to the sideburn
        side = np.minimum(cc, NC - 1 - cc)
        temple = np.interp(side, [0, 1, 2, 3], [1.0, 0.8, 0.3, 0.0]) * _sstep((y - st["sb"]) / 8.0 + 0.5)
        j = np.random.default_rng(5).uniform(0.6, 1.0, len(a))
        return k * np.clip(np.maximum(top * j, temple), 0, 1)

    def _eye_closure(self, V):
        """(2,) how far each eye's lids have closed: 0 at rest (or wider), 1 fully closed."""
        out = np.zeros(2)
        for e, info in enumerate(self.eye_info):
            u1, u2, l1, l2, co, ci = info["lids"]
            rho = 0.5 * (V[u1, 1] + V[u2, 1] - V[l1, 1] - V[l2, 1]) / max(np.linalg.norm(V[ci] - V[co]), 1e-6)
            r0, rc = self._rho_open[e], self._rho_closed[e]
            out[e] = np.clip((0.85 * r0 - rho) / max(0.85 * r0 - rc - 0.005, 1e-6), 0, 1)
        return out

    # ------------------------------------------------------------------ per face
    def build(self, face_vertices, face_albedo, rng, style: str | None = None) -> HeadParts:
        """The head of one face.

        Args:
            face_vertices: (N, 3) face vertices in the model frame (``model.vertices(...)``).
            face_albedo: (N, 3) face albedo in [0, 1] (or None for the model's mean albedo).
            rng: a ``numpy.random.Generator``; the style, colours, hair volume and gaze are drawn
                from it (two calls, so the same state gives the same head).
            style: force one of :data:`HAIR_STYLES` (the rng is used exactly as without it).
        Returns:
            :class:`HeadParts`, vertices in the model frame (pose them like the face). Its
            ``triangles``, ``labels`` and ``paint_index`` are read-only arrays shared by all faces.
        """
        V = np.asarray(face_vertices, np.float64)
        if V.shape != (self.N, 3):
            raise ValueError(f"face_vertices must be ({self.N}, 3), got {V.shape}")
        fa = self._mean_albedo if face_albedo is None else np.asarray(face_albedo, np.float64)
        if fa.shape != (self.N, 3):
            raise ValueError(f"face_albedo must be ({self.N}, 3), got {fa.shape}")
        u, g = rng.random(9), rng.standard_normal(9)
        si = min(int(np.searchsorted(self._cum_style, u[0], "right")), len(HAIR_STYLES) - 1)
        if style is not None:
            if style not in HAIR_STYLES:
                raise ValueError(f"style must be one of {HAIR_STYLES}, got {style!r}")
            si = HAIR_STYLES.index(style)
        hi = min(int(np.searchsorted(self._cum_hair, u[1], "right")), len(HAIR_P) - 1)
        ii = min(int(np.searchsorted(self._cum_iris, u[3], "right")), len(IRIS_P) - 1)
        hair = np.minimum(self._hair_rgb[hi] * np.exp(0.12 * g[0] + 0.025 * g[1:4]), 1.0)  # (3,)
        hair = np.minimum.accumulate(hair)  # natural hair has r >= g >= b (no olive blondes, no lilac greys)
        iris = self._iris_rgb[ii] * np.exp(0.12 * g[4:7])
        v = self.styles[HAIR_STYLES[si]]
        # --- geometry: one sparse product of the face displacement
        D = V - self.V0
        H = v["G"] @ np.concatenate([(self.Bfit @ D).reshape(-1, 3), D])
        H += v["H0"]
        H += (0.75 + 0.55 * u[2]) * v["off"]
        H += (-3.0 + 8.0 * u[8]) * v["neck"]
        ya, pa = math.radians(min(max(8 * g[7], -20.0), 20.0)), math.radians(min(max(6 * g[8], -15.0), 15.0))
        cy, sy, cp, sp = math.cos(ya), math.sin(ya), math.cos(pa), math.sin(pa)
        Rg = np.array([[cy, sy * sp, sy * cp], [0, cp, -sp], [-sy, cy * sp, cy * cp]])
        H[self._ball_idx] += np.einsum("nj,ij->ni", self._ball_rel, Rg - np.eye(3))
        # --- eyelids: closure from the lid landmarks, the covered part of the opening is drawn again
        Vl = V[self._lid_idx]
        rho = 0.5 * (Vl[:, 0, 1] + Vl[:, 1, 1] - Vl[:, 2, 1] - Vl[:, 3, 1]) / np.linalg.norm(Vl[:, 5] - Vl[:, 4], axis=1)
        kappa = np.clip((self._rho_a - rho) * self._rho_inv, 0.0, 1.0)
        closing = bool(kappa.max() > 0)
        if closing:
            hide = self.hole & ~(self.hole_s < kappa[self.hole_eye])
        else:
            hide = self.hole.copy()
        # --- albedo of the head and paint of the face: one sparse product
        brow = hair * (0.55 if float(hair.sum()) > 1.05 else 0.9) if si else self._brow_bald
        seam_mean = fa[self._skin_seam].mean(0)
        X = np.concatenate([fa, seam_mean[None], self._palette(seam_mean, iris, u), hair[None], brow[None], _LASH[None]])
        Y = v["K"][min(int(u[7] * len(_BROW_LEVELS)), len(_BROW_LEVELS) - 1)] @ X
        np.clip(Y, 0.0, 1.0, out=Y)
        alb, c = Y[:v["M"]], Y[v["M"]:]
        if closing:  # move the lash line down with the lid margin
            E = self._p_eyes
            k_e = kappa[self.p_eye[E]]
            lam0 = self.p_rim[E, None]
            pre = (c[E] - lam0 * _LASH) / (1 - lam0)
            lam = np.minimum(self.p_rim[E] * (1 - _sstep(k_e / 0.3))
                             + self._p_hole * 0.8 * np.exp(-(((self.p_s[E] - k_e) / 0.2) ** 2)) * _sstep(k_e / 0.3),
                             1.0)[:, None]
            c[E] = (1 - lam) * pre + lam * _LASH
        return HeadParts(H, v["tris"], alb, hide, v["labels"], self.pidx, c, HAIR_STYLES[si])

    def _palette(self, skin, iris, u):
        """(len(_REGIONS), 3) per-face colours of the non-skin regions."""
        pal = self._pal0.copy()
        pal[0] = skin
        pal[1] = 0.0
        pal[2] = self._pal0[2] * (0.9 + 0.15 * u[4]) + [0.04 * u[5], 0, 0]
        pal[3] = iris
        pal[5:8] = skin * self._pal0[5:8]
        pal[9] = self._pal0[9] * (0.8 + 0.22 * u[6])
        return pal


_LASH = np.array([0.05, 0.04, 0.035])
_BROW_LEVELS = (0.65, 0.8, 0.95)
_REGIONS = ("skin", "hair", "sclera", "iris", "pupil", "socket", "socket_deep", "lip_inner", "gum", "teeth", "palate",
            "cavity", "tongue")


def _check_topology(model, full: bool = True) -> None:
    """Raise FaceModelError unless ``model`` has the embedded grid topology (``full``: compare
    every triangle; otherwise only the vertex and triangle counts)."""
    n, tris = int(model.mean.shape[0]), np.asarray(model.triangles)
    n_tris = 2 * (NR - 1) * (NC - 1) - 2 * len(_emb._mouth_slit_cols())
    ok = n == NR * NC and tris.shape == (n_tris, 3)
    if ok and full:
        ok = bool(np.array_equal(tris.astype(np.int64), _emb.grid_topology()[0]))
    if not ok:
        raise FaceModelError(
            f"face model {model.name!r}: procedural heads need the embedded grid topology ({NR} x {NC} = {NR * NC} "
            f"vertices, {n_tris} grid triangles with the mouth slit); this model has {n} vertices and {len(tris)} "
            "triangles of another topology (e.g. a real scanned model): render it without a head, or use the "
            "embedded model")
