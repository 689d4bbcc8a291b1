"""A z-buffered CPU rasteriser in numpy, with Gouraud shading and UV rasterisation.

Conventions:

- *Image space* (the input of :func:`rasterize` / :func:`render`): ``verts`` (N, 3) with
  x to the right and y DOWN, in pixels; the centre of pixel (row i, col j) is at
  ``(x, y) = (j + 0.5, i + 0.5)``. This is the image frame of :mod:`m3lrn_lib.geometry`.
- z: LARGER z is CLOSER to the camera. The camera looks along -z of a right-handed view
  frame with y up; the image frame is that frame with y flipped. The z-buffer keeps the
  largest z; exact depth ties go to the lowest triangle index (deterministic).
- A pixel is covered by a triangle when its centre is inside it. Vertex positions are
  snapped to 1/256 px and the edge functions are evaluated exactly in integers, with a
  tie-breaking rule for centres lying exactly on an edge or vertex (as if the centre were
  nudged right by an infinitesimal, then down by a smaller one): two triangles sharing an
  edge never both miss, nor both cover, a centre on it -- a closed surface has no holes.
- Either winding is rasterised. Meshes are CCW seen from outside in the right-handed (y-up)
  frame; flipping y reverses orientation, so in image coordinates a front-facing triangle
  is clockwise: its signed area ``(x1-x0)(y2-y0) - (y1-y0)(x2-x0)`` is NEGATIVE (on screen,
  where y points down, it still looks counter-clockwise). ``cull_backfaces=True`` drops
  triangles with a positive signed area. Zero-area triangles (after snapping) are skipped.
- Projection is orthographic: barycentrics are affine in the image (no perspective divide).
- UV space (:func:`rasterize_uv`): u right, v UP (OBJ); texel column ``u*size``, row
  ``(1-v)*size``.
- Limits: |x|, |y| <= 2**20 px, image sides <= 16384.

Design: fully vectorised, no Python loop over triangles. Every (triangle, pixel centre in
its clipped bbox) pair is a candidate (np.repeat + offsets, so large triangles work too,
in batches of ``_CHUNK``); an exact integer edge test keeps the inside ones; the z-buffer is
resolved order-independently with ``np.maximum.at`` (+ ``np.minimum.at`` on the triangle id
for exact ties). A 120x120 face of 4k vertices / 8k triangles renders in ~3 ms on one core
(``benchmarks/bench_render.py``).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np

_BITS = 8
_SUB = 1 << _BITS            # sub-pixel steps per pixel: vertices snap to 1/256 px
_HALF = _SUB // 2
_MAX_COORD = float(1 << 20)  # |x|, |y| limit (px): snapped coordinates fit in int32
_MAX_SIZE = 1 << 14          # largest image side
_CHUNK = 1 << 22             # (triangle, pixel) candidates per batch
_I32 = np.iinfo(np.int32).max


# ----------------------------------------------------------------------------- checks
def _points(a, name: str, dim: int) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    if a.ndim != 2 or a.shape[1] != dim:
        raise ValueError(f"{name} must have shape (N, {dim}), got {a.shape}")
    a = a.astype(np.float64, copy=False)
    finite = np.isfinite(a)
    if not finite.all():
        row = int(np.flatnonzero(~finite.all(1))[0])
        raise ValueError(f"{name} contains NaN or inf (first bad row {row})")
    return a


def _tris(tris, n_verts: int, name: str = "tris") -> np.ndarray:
    t = np.asarray(tris)
    if t.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array, got dtype {t.dtype}")
    if t.ndim != 2 or t.shape[1] != 3:
        raise ValueError(f"{name} must have shape (F, 3), got {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= n_verts):
        raise ValueError(f"{name} has vertex indices out of range [0, {n_verts}): "
                         f"min {t.min()}, max {t.max()}")
    return t.astype(np.int32, copy=False)


def _size(v, name: str) -> int:
    if isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    try:
        v = operator.index(v)
    except TypeError:
        raise ValueError(f"{name} must be a positive int, got {v!r}") from None
    if not 0 < v <= _MAX_SIZE:
        raise ValueError(f"{name} must be in [1, {_MAX_SIZE}], got {v}")
    return v


# ----------------------------------------------------------------------------- raster
@dataclass(eq=False)
class Raster:
    """Per-pixel rasterisation result of an (H, W) image.

    Attributes:
        tri_id: (H, W) int32, index of the visible triangle, -1 where empty.
        bary: (H, W, 3) float32, barycentric weights of ``tris[tri_id]``'s 3 vertices (in
            that order); zeros where empty.
        depth: (H, W) float32, interpolated z of the visible surface, -inf where empty.
        tris: (F, 3) int32 triangles that ``tri_id`` refers to (used by :func:`interpolate`).
    """
    tri_id: np.ndarray
    bary: np.ndarray
    depth: np.ndarray
    tris: np.ndarray | None = field(default=None, repr=False)

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool, True where a triangle is visible."""
        return self.tri_id >= 0


def _resolve(pix, z, tid, n_pix):
    """Indices of the winners: per pixel the largest z, then the lowest tid (order-free)."""
    zbuf = np.full(n_pix, -np.inf)
    np.maximum.at(zbuf, pix, z)
    best = np.flatnonzero(z == zbuf.take(pix))
    if best.size > np.count_nonzero(zbuf > -np.inf):  # exact depth ties
        tbuf = np.full(n_pix, _I32, np.int32)
        np.minimum.at(tbuf, pix.take(best), tid.take(best))
        best = best[tid.take(best) == tbuf.take(pix.take(best))]
    return best


def _take(idx, *arrays):
    return [a.take(idx, axis=-1) for a in arrays]


def _setup(xy, z, tris, height, width, cull):
    """Per-triangle tables of the triangles that can cover a pixel centre (None if none)."""
    q = np.rint(xy * _SUB).astype(np.int32)              # |q| <= 2**28
    tt = np.ascontiguousarray(tris.T)                     # (3, F)
    X, Y = q[:, 0].take(tt), q[:, 1].take(tt)             # (3, F): vertex k of each triangle
    # bbox of candidate pixel centres (j*S + S/2 in [min, max]), clipped to the image
    lox, hix, loy, hiy = X.min(0), X.max(0), Y.min(0), Y.max(0)
    j0, i0 = np.maximum(-((_HALF - lox) >> _BITS), 0), np.maximum(-((_HALF - loy) >> _BITS), 0)
    nx = np.minimum((hix - _HALF) >> _BITS, width - 1) - j0 + 1
    ny = np.minimum((hiy - _HALF) >> _BITS, height - 1) - i0 + 1
    sel = np.flatnonzero((nx > 0) & (ny > 0))
    ext = [hix - lox, hiy - loy]
    if sel.size < nx.size:
        X, Y, tt, j0, i0, nx, ny, *ext = _take(sel, X, Y, tt, j0, i0, nx, ny, *ext)
    if sel.size == 0:
        return None
    # |edge function| at any point of a triangle's bbox is <= 2 * bbox_w * bbox_h (+1), and a
    # per-pixel step is <= S * side: int32 is exact for the usual small triangles
    bw, bh = int(ext[0].max()), int(ext[1].max())
    if 2 * bw * bh + 2 >= _I32 or _SUB * max(bw, bh) >= _I32:
        X, Y = X.astype(np.int64), Y.astype(np.int64)
    area = (X[1] - X[0]) * (Y[2] - Y[0]) - (Y[1] - Y[0]) * (X[2] - X[0])
    keep = (area < 0) if cull else (area != 0)
    if not keep.all():
        kept = np.flatnonzero(keep)
        sel, X, Y, tt, j0, i0, nx, ny, area = _take(kept, sel, X, Y, tt, j0, i0, nx, ny, area)
        if sel.size == 0:
            return None
    # edge functions w_e (edge opposite vertex e), sign-flipped to be positive inside for
    # either winding: value at the bbox origin pixel + per-pixel steps. +1 on "owned" edges
    # (the tie-break) turns the inside test into a strict w > 0
    sgn = np.where(area > 0, 1, -1).astype(X.dtype)
    inv = 1.0 / np.abs(area)
    px0, py0 = (j0 << _BITS) + _HALF, (i0 << _BITS) + _HALF
    w00, sx, sy, own = [], [], [], []
    for a, b in ((1, 2), (2, 0), (0, 1)):
        dx, dy = (X[b] - X[a]) * sgn, (Y[b] - Y[a]) * sgn
        o = (dy < 0) | ((dy == 0) & (dx > 0))
        w00.append(dx * (py0 - Y[a]) - dy * (px0 - X[a]) + o)
        sx.append(dy * -_SUB)
        sy.append(dx * _SUB)
        own.append(o)
    counts = nx.astype(np.int64) * ny
    cum = np.cumsum(counts)
    starts = (cum - counts).astype(np.int32 if cum[-1] < _I32 else np.int64)
    return dict(sel=sel, j0=j0, i0=i0, nx=nx, counts=counts, cum=cum, starts=starts, w00=w00,
                sx=sx, sy=sy, own=own, inv=inv, z0=z.take(tt[0]),
                dz=[(z.take(tt[e]) - z.take(tt[0])) * inv for e in (1, 2)])


def _scan(tab, lo, hi, width, n_pix):
    """Candidates [lo, hi) of the (triangle, pixel-in-bbox) enumeration -> the per-pixel
    winners among them: flat pix, z, triangle (into tab), 3 barycentric weights."""
    counts, cum = tab["counts"], tab["cum"]
    c = counts if hi - lo == cum[-1] else np.clip(cum, lo, hi) - np.clip(cum - counts, lo, hi)
    t = np.repeat(np.arange(counts.size, dtype=np.int32), c)
    k = (np.arange(lo, hi, dtype=tab["starts"].dtype) - tab["starts"].take(t)).astype(np.int32)
    nxt = tab["nx"].take(t)
    di = k // nxt
    dj = k - di * nxt
    ws = [tab["w00"][e].take(t) + tab["sx"][e].take(t) * dj + tab["sy"][e].take(t) * di
          for e in range(3)]
    ins = np.flatnonzero((ws[0] > 0) & (ws[1] > 0) & (ws[2] > 0))
    t = t.take(ins)
    wf = [(ws[e].take(ins) - tab["own"][e].take(t)).astype(np.float64) for e in range(3)]
    zz = tab["z0"].take(t) + wf[1] * tab["dz"][0].take(t) + wf[2] * tab["dz"][1].take(t)
    pix = (tab["i0"].take(t) + di.take(ins)) * width + tab["j0"].take(t) + dj.take(ins)
    best = _resolve(pix, zz, t, n_pix)
    if best.size < pix.size:
        pix, zz, t, *wf = _take(best, pix, zz, t, *wf)
    iv = tab["inv"].take(t)
    return (pix, zz, t, *(w * iv for w in wf))


def _rasterize(xy, z, tris, height, width, cull):
    """Core rasteriser: float64 xy (N, 2), z (N,), int32 tris (F, 3) ->
    flat (H*W,) int32 tri_id, (H*W, 3) float32 bary, (H*W,) float32 depth.

    One candidate per (triangle, pixel centre in its clipped bbox), generated for all
    triangles at once (np.repeat + offsets), batched by _CHUNK candidates; int32 wherever
    exact (the small temporaries also keep page faults down).
    """
    n_pix = height * width
    tri_id = np.full(n_pix, -1, np.int32)
    depth = np.full(n_pix, -np.inf, np.float32)
    bary = np.zeros((n_pix, 3), np.float32)
    tab = _setup(xy, z, tris, height, width, cull)
    if tab is None:
        return tri_id, bary, depth
    total = int(tab["cum"][-1])
    parts = [_scan(tab, lo, min(lo + _CHUNK, total), width, n_pix) for lo in range(0, total, _CHUNK)]
    if len(parts) > 1:
        merged = [np.concatenate(a) for a in zip(*parts)]
        parts = [_take(_resolve(*merged[:3], n_pix), *merged)]
    pix, zz, t, b0, b1, b2 = parts[0]
    sel = tab["sel"]
    tri_id[pix] = t if sel.size == tris.shape[0] else sel.take(t)
    depth[pix] = zz
    bary[pix, 0], bary[pix, 1], bary[pix, 2] = b0, b1, b2
    return tri_id, bary, depth


def _raster(v, t, h, w, cull=False) -> Raster:
    """:func:`rasterize` on validated inputs."""
    if v.size and np.abs(v[:, :2]).max() > _MAX_COORD:
        raise ValueError(f"verts x/y must lie within +-{_MAX_COORD:.0f} px")
    tri_id, bary, depth = _rasterize(v[:, :2], v[:, 2], t, h, w, bool(cull))
    return Raster(tri_id.reshape(h, w), bary.reshape(h, w, 3), depth.reshape(h, w), t)


def rasterize(verts, tris, height, width, cull_backfaces: bool = False) -> Raster:
    """Z-buffered rasterisation of an image-space mesh.

    Args:
        verts: (N, 3) float (any real dtype) image-space vertices: x right, y down (pixels,
            pixel centres at +0.5), z larger = closer. |x|, |y| must be below 2**20.
        tris: (F, 3) integer vertex indices, any winding.
        height, width: image size in pixels (positive ints).
        cull_backfaces: drop the back faces of an outward-CCW mesh (triangles with a positive
            signed area in image coordinates, see the module docstring); False by default.

    Returns:
        :class:`Raster` with (H, W) int32 ``tri_id``, (H, W, 3) float32 ``bary`` and
        (H, W) float32 ``depth``.
    """
    v = _points(verts, "verts", 3)
    t = _tris(tris, len(v))
    h, w = _size(height, "height"), _size(width, "width")
    return _raster(v, t, h, w, cull_backfaces)


def _interp_flat(raster: Raster, attrs: np.ndarray, tris: np.ndarray):
    """(M,) flat indices of the covered pixels and (M, C) float32 interpolated values."""
    tid = raster.tri_id.reshape(-1)
    pix = np.flatnonzero(tid >= 0)
    vid = tris.take(tid.take(pix), axis=0)
    b = raster.bary.reshape(-1, 3).take(pix, axis=0)
    a = attrs.astype(np.float32, copy=False)
    val = a.take(vid[:, 0], axis=0) * b[:, 0:1]
    val += a.take(vid[:, 1], axis=0) * b[:, 1:2]
    val += a.take(vid[:, 2], axis=0) * b[:, 2:3]
    return pix, val


def interpolate(raster: Raster, attrs, tris=None) -> np.ndarray:
    """Interpolate per-vertex attributes with the raster's barycentrics.

    Args:
        raster: a :class:`Raster` of an (H, W) image.
        attrs: (N, C) real per-vertex attributes ((N,) is treated as (N, 1)).
        tris: (F, 3) triangles; defaults to ``raster.tris``.

    Returns:
        (H, W, C) float32, zeros where the raster is empty.
    """
    tris = raster.tris if tris is None else _tris(tris, np.iinfo(np.int64).max)
    if tris is None:
        raise ValueError("tris must be given: raster.tris is None")
    a = np.asarray(attrs)
    a = a[:, None] if a.ndim == 1 else a
    a = _points(a, "attrs", a.shape[1] if a.ndim == 2 else 1)
    if tris.size and tris.max() >= len(a):
        raise ValueError(f"attrs has {len(a)} rows but tris refers to vertex {tris.max()}")
    h, w = raster.tri_id.shape
    out = np.zeros((h * w, a.shape[1]), np.float32)
    pix, val = _interp_flat(raster, a, tris)
    out[pix] = val
    return out.reshape(h, w, -1)


def vertex_normals(verts, tris) -> np.ndarray:
    """Area-weighted unit vertex normals, (N, 3) float -> (N, 3) float32.

    Computed in the frame of ``verts`` (right-handed expected: outward for CCW triangles).
    Vertices used by no (non-degenerate) triangle get a zero normal.
    """
    v = _points(verts, "verts", 3)
    t = _tris(tris, len(v))
    tt = np.ascontiguousarray(t.T)
    v32 = (v - (v.mean(0) if len(v) else 0.0)).astype(np.float32)  # centred: float32 is plenty for directions
    p = [[v32[:, c].take(tt[k]) for c in range(3)] for k in range(3)]  # p[k][c]: (F,)
    e1 = [p[1][c] - p[0][c] for c in range(3)]
    e2 = [p[2][c] - p[0][c] for c in range(3)]
    fn = [e1[(c + 1) % 3] * e2[(c + 2) % 3] - e1[(c + 2) % 3] * e2[(c + 1) % 3]
          for c in range(3)]  # cross product, |fn| = 2 * area
    n = np.empty((len(v), 3))
    for c in range(3):
        n[:, c] = sum(np.bincount(tt[k], fn[c], len(v)) for k in range(3))
    norm = np.sqrt((n * n).sum(1, keepdims=True))
    return (n / np.maximum(norm, 1e-30)).astype(np.float32)


# ----------------------------------------------------------------------------- shading
def _rgb(x, name):
    a = np.asarray(x, np.float64)
    if a.shape not in ((), (3,)) or not np.isfinite(a).all():
        raise ValueError(f"{name} must be a finite rgb triple or scalar, got {x!r}")
    return np.broadcast_to(a, (3,)).copy()


@dataclass
class Lighting:
    """Directional light (Blinn-Phong, viewer along +z of the right-handed view frame).

    ambient, diffuse: (3,) rgb (a scalar is broadcast); direction: (3,) vector from the
    surface TOWARDS the light in the view frame (x right, y up, z towards the camera),
    normalised on construction; specular: strength (0 = none); shininess: exponent.
    The default is a mostly frontal light from slightly above.
    """
    ambient: np.ndarray = field(default_factory=lambda: np.full(3, 0.35))
    diffuse: np.ndarray = field(default_factory=lambda: np.full(3, 0.65))
    direction: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.3, 1.0]))
    specular: float = 0.0
    shininess: float = 16.0

    def __post_init__(self):
        self.ambient, self.diffuse = _rgb(self.ambient, "ambient"), _rgb(self.diffuse, "diffuse")
        d = np.asarray(self.direction, np.float64)
        if d.shape != (3,) or not np.isfinite(d).all() or not np.linalg.norm(d) > 0:
            raise ValueError(f"direction must be a finite non-zero (3,) vector, got {d}")
        self.direction = d / np.linalg.norm(d)
        self.specular, self.shininess = float(self.specular), float(self.shininess)


def shade(albedo, normals, lighting: Lighting | None = None) -> np.ndarray:
    """Gouraud per-vertex colours, (N, 3) albedo in [0, 1] + (N, 3) view-frame unit normals
    -> (N, 3) float32 in [0, 1]:
    ``albedo * (ambient + diffuse * max(0, n.l)) + specular * max(0, n.h)**shininess``
    with ``h = normalize(l + (0, 0, 1))``. ``lighting`` defaults to ``Lighting()``."""
    lt = Lighting() if lighting is None else lighting
    a, n = _points(albedo, "albedo", 3), _points(normals, "normals", 3)
    if len(a) != len(n):
        raise ValueError(f"albedo has {len(a)} rows but normals has {len(n)}")
    col = a * (lt.ambient + lt.diffuse * np.maximum(n @ lt.direction, 0.0)[:, None])
    if lt.specular:
        h = lt.direction + (0.0, 0.0, 1.0)
        h = h / max(np.linalg.norm(h), 1e-12)
        col += lt.specular * np.maximum(n @ h, 0.0)[:, None] ** lt.shininess
    return np.clip(col, 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------- render
@dataclass(eq=False)
class RenderResult:
    """image (H, W, 3) float32 in [0, 1]; depth (H, W) float32 (-inf where empty);
    mask (H, W) bool; raster: the :class:`Raster`."""
    image: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    raster: Raster


def render(verts, tris, colors, height, width, lighting: Lighting | None = None,
           background=None) -> RenderResult:
    """Render an image-space mesh with per-vertex colours (Gouraud).

    Args:
        verts: (N, 3) float image-space vertices (x right, y down, z larger = closer).
        tris: (F, 3) int triangles, CCW from outside in the y-up frame.
        colors: (N, 3) rgb in [0, 1] per vertex (albedo when lit), or one (3,) rgb.
        height, width: image size.
        lighting: a :class:`Lighting` to shade per vertex (normals computed in the y-up
            view frame, i.e. with y flipped), or None for unshaded ``colors``.
        background: None (black), an rgb triple, or an (H, W, 3) array.

    Returns:
        :class:`RenderResult`.
    """
    v = _points(verts, "verts", 3)
    t = _tris(tris, len(v))
    h, w = _size(height, "height"), _size(width, "width")
    c = np.asarray(colors)
    c = _points(np.broadcast_to(c, (len(v), 3)) if c.shape == (3,) else c, "colors", 3)
    if len(c) != len(v):
        raise ValueError(f"colors must have shape ({len(v)}, 3), got {c.shape}")
    if background is None:
        img = np.zeros((h * w, 3), np.float32)
    else:
        bg = np.asarray(background)
        if bg.shape not in ((3,), (h, w, 3)) or bg.dtype.kind not in "iuf":
            raise ValueError(f"background must be an rgb triple or ({h}, {w}, 3), got {bg.shape}")
        img = np.array(np.broadcast_to(bg, (h, w, 3)), np.float32).reshape(-1, 3)
    ras = _raster(v, t, h, w)
    if lighting is not None:
        c = shade(c, vertex_normals(v * (1.0, -1.0, 1.0), t), lighting)
    pix, val = _interp_flat(ras, c, t)
    img[pix] = val
    img = np.clip(img, 0.0, 1.0, out=img).reshape(h, w, 3)
    return RenderResult(img, ras.depth, ras.mask, ras)


def rasterize_uv(uv, tris, size) -> Raster:
    """Rasterise a mesh in texture space: (N, 2) uv in [0, 1] (v UP) -> (size, size) Raster.

    Texel column = ``u * size``, row = ``(1 - v) * size``; depth is 0 where covered (-inf
    elsewhere); overlapping uv triangles go to the lowest triangle index.
    """
    p = _points(uv, "uv", 2)
    s = _size(size, "size")
    v = np.stack([p[:, 0] * s, (1.0 - p[:, 1]) * s, np.zeros(len(p))], 1)
    return rasterize(v, tris, s, s)


def render_depth(verts, tris, height, width) -> np.ndarray:
    """(H, W) float32 z-buffer of an image-space mesh (-inf where empty)."""
    return rasterize(verts, tris, height, width).depth
