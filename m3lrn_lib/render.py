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

Design: fully vectorised, no Python loop over triangles. Per-triangle tables (bbox of the
candidate pixel centres, the three edge functions at its origin centre and their per-pixel
steps, in int32 wherever exact) are built for all triangles at once. Small triangles (< 64 px,
i.e. all of a face mesh) test their candidate centres in lock-step blocks with no per-candidate
gathers: the many tiny ones (<= 2 x 2 centres in their bbox, most covering 0-2 centres) the 4
centres from the bbox origin, the others 3 x 3 tiles covering their bbox (a centre off the
bbox is off the triangle and fails; centres off the image are masked). Larger triangles get,
per row of their bbox, the exact span of the centres inside (from the same integer edge
functions) and enumerate only those, in batches of about ``_CHUNK``. The z-buffer is resolved
order-independently with ``np.maximum.at`` (+ ``np.minimum.at`` on the triangle id for exact
ties); depth and barycentrics are computed for the inside candidates only. A 120x120 face of
~5k vertices / ~9.5k triangles renders (lit) in ~2 ms on one core (``benchmarks/bench_render.py``).
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
_SMALL_EXT = 64 << _BITS     # bbox side below which a triangle takes the lock-step blocks (int32)
_BLOCK = 3                   # the side of the tiles of the larger ones (the smallest take 2 x 2)
_EA, _EB = np.array([1, 2, 0]), np.array([2, 0, 1])   # edge e runs from vertex _EA[e] to _EB[e]
_OFFSETS = {s: (np.arange(s * s) % s, np.arange(s * s) // s) for s in (2, 3)}  # (dj, di) of a block
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


def _tables(P, sgn, c0, n, width):
    """Per-triangle int (17, F) table of F triangles from their snapped vertices P (2, 3, F),
    area signs sgn, clipped-bbox origin pixels c0 (2, F) (col, row) and sizes n (2, F): rows
    0-2 the edge functions (edge e opposite vertex e, sign-flipped to be positive inside) at
    the origin pixel's centre, 3-5 and 6-8 their steps per pixel along x and y, 9-11 -1 on the
    "owned" edges (the tie-break: a centre is inside when e > that on all three), 12 the flat
    origin pixel, 13-14 c0, 15-16 n."""
    tab = np.empty((17, P.shape[2]), P.dtype)
    Pa = P.take(_EA, 1)                                       # (2, 3, F): edge e from vertex _EA[e]
    d = (P.take(_EB, 1) - Pa) * sgn                           # to _EB[e]: (dx, dy), sign-flipped
    r = ((c0 << _BITS) + _HALF)[:, None] - Pa                 # origin centre - vertex _EA[e]
    np.subtract(d[0] * r[1], d[1] * r[0], out=tab[0:3])
    np.multiply(d[1], -_SUB, out=tab[3:6])
    np.multiply(d[0], _SUB, out=tab[6:9])
    # owned (dy < 0, or dy == 0 and dx > 0) <=> 2 dy - (dx > 0) < 0: its sign bit, -1 or 0
    np.right_shift((d[1] << 1) - (d[0] > 0), 8 * P.itemsize - 1, out=tab[9:12])
    np.add(c0[1] * width, c0[0], out=tab[12])
    tab[13:15], tab[15:17] = c0, n
    return tab


def _block(T, thr, width, height, side):
    """Lock-step test of the side x side pixel centres from the bbox (or tile) origin of
    small triangles, all at once, with no per-candidate gathers. T: their :func:`_tables`
    (exact in int32 for the centres up to side - 1 px off their bbox), thr: their rows 9-11 (or
    _I32 for triangles to skip); a centre off the bbox is off the triangle and fails, ones off
    the image are masked -> (k,) triangle (into T), (k,) flat pixel, (3, k) edge values."""
    n, kk = T.shape[1], side * side
    W = np.empty((3, kk, n), T.dtype)                 # centre (dj, di) at side * di + dj
    W[:, 0] = T[0:3]
    sx, sy = T[3:6], T[6:9]
    for k in range(1, kk):
        np.add(W[:, k - 1], sx, out=W[:, k]) if k % side else np.add(W[:, k - side], sy, out=W[:, k])
    inside = (W > thr[:, None]).all(0)
    dj, di = _OFFSETS[side]
    if int(T[13].max()) > width - side:
        inside &= T[13] < (width - dj)[:, None]
    if int(T[14].max()) > height - side:
        inside &= T[14] < (height - di)[:, None]
    idx = inside.ravel().nonzero()[0]
    off = idx // n
    t = idx - off * n
    return t, T[12].take(t) + (di * width + dj).take(off), W.reshape(3, -1).take(idx, 1)


def _tiles(tab, ib, width, side):
    """Split the clipped bboxes of triangles ib (tab: :func:`_tables`) into side x side tiles
    -> the tiles' tables (the edge values, flat pixel and c0 of the tile origin) and (tiles,)
    their triangle."""
    nx, ny = tab[15].take(ib), tab[16].take(ib)
    tx = (nx + (side - 1)) // side
    cnt = (tx * ((ny + (side - 1)) // side)).astype(np.intp)
    if int(cnt.max()) == 1:
        return tab[:15].take(ib, 1), ib
    rep = np.repeat(ib, cnt)
    k = (np.arange(rep.size, dtype=np.intp) - np.repeat(cnt.cumsum() - cnt, cnt)).astype(tab.dtype)
    txr = np.repeat(tx, cnt)
    b = k // txr
    a = (k - b * txr) * side
    b *= side
    Tt = tab[:15].take(rep, 1)
    Tt[0:3] += a * Tt[3:6] + b * Tt[6:9]
    Tt[12] += b * width + a
    Tt[13] += a
    Tt[14] += b
    return Tt, rep


def _spans(T, width):
    """Rows of any triangles (T: their :func:`_tables`): per (triangle, row of its clipped bbox)
    the exact span of the pixel centres inside, from the integer edge functions (a + s * dj > 0
    <=> dj > or < -a / s; floor(-a / s) is exact in float64 for |a| < 2**53, and in integer
    division for the int64 tables of huge triangles) -> (rows,) counts, (6, rows) edge values
    at dj = 0 and steps along x, (3, rows) triangle, lo and flat pixel of dj = 0 (minus the
    row's first index in the enumeration of all the pixels)."""
    ny = T[16].astype(np.intp)
    rows = np.repeat(np.arange(ny.size, dtype=np.intp), ny)
    di = (np.arange(rows.size, dtype=np.intp) - (ny.cumsum() - ny).take(rows)).astype(T.dtype)
    R = T.take(rows, 1)
    AS = np.empty((6, rows.size), T.dtype)
    A, S = AS[:3], AS[3:]
    np.add(R[0:3], R[6:9] * di, out=A)
    S[:] = R[3:6]
    a = A - R[9:12]                                            # inside: a + S * dj > 0
    step = np.maximum(np.abs(S), 1)
    g = (np.floor(-a / step) if a.dtype == np.int32 else -a // step) + 1
    lo = np.where(S > 0, g, np.where(a > 0, 0, _MAX_SIZE)).max(0)  # a <= 0, S <= 0: no centre
    hi = np.minimum(np.where(S < 0, -g, _MAX_SIZE).min(0), R[15] - 1)
    cnt = np.maximum(hi - lo + 1, 0).astype(np.intp)
    start = cnt.cumsum() - cnt
    lo = lo.astype(np.intp) - start
    base = (R[14] + di).astype(np.intp) * width + R[13] + lo
    return cnt, AS, np.stack([rows, lo, base])


def _generic(T, P, sgn, ext, width):
    """Candidates of any triangles (T: their int32 :func:`_tables`, P, sgn: to redo them in
    int64 if they are huge), by exact row spans (:func:`_spans`) in batches of about _CHUNK
    pixels -> yields (k,) triangle (into T), (k,) flat pixel, (3, k) edge values."""
    # |edge function| in a bbox is <= 2 * bbox_w * bbox_h (+1), a per-pixel step <= S * side
    bw, bh = (int(m) for m in ext.max(1))
    if 2 * bw * bh + 2 >= _I32 or _SUB * max(bw, bh) >= _I32:
        T = T.astype(np.int64)
        T[:12] = _tables(P.astype(np.int64), sgn.astype(np.int64), T[13:15], T[15:17], width)[:12]
    cnt, AS, rt = _spans(T, width)
    cum = cnt.cumsum()
    r0, k0 = 0, 0
    while r0 < cnt.size:   # rows [r0, r1) hold about _CHUNK pixels (or one row)
        r1 = max(int(cum.searchsorted(k0 + _CHUNK, "right")), r0 + 1)
        r = np.repeat(np.arange(r0, r1, dtype=np.intp), cnt[r0:r1])
        if r.size:
            k = np.arange(k0, k0 + r.size, dtype=np.intp)
            tri, dj, pix = rt.take(r, 1)
            dj += k
            pix += k
            e = AS.take(r, 1)
            yield tri, pix, np.add(e[:3], e[3:] * dj.astype(T.dtype), out=e[:3])
        r0, k0 = r1, k0 + r.size


def _winners(xy, z, tt, height, width, cull):
    """Core rasteriser: float64 xy (2, N), z (N,), intp tt (3, F) (vertex k of each triangle)
    -> the covered pixels (flat, intp), their triangle (intp), z (float64) and (3, k) float64
    barycentrics; None if nothing is covered.

    Per-triangle int32 tables (:func:`_tables`) for all the triangles at once. Those < _SMALL_EXT
    test pixel centres in lock-step blocks (:func:`_block`): the many with <= 2 x 2 centres in
    their bbox the 4 from its origin, all F triangles at once (the others masked off: cheaper
    than gathering), the larger ones 3 x 3 tiles covering their bbox (:func:`_tiles`). Huge
    ones get exact row spans (:func:`_spans`, int64 if need be), enumerating only the centres
    inside. The z-buffer is resolved order-independently (:func:`_resolve`).
    """
    n_pix = height * width
    q = np.rint(xy * _SUB).astype(np.int32)                  # |q| <= 2**28
    P = q.take(tt, 1)                                         # (2, 3, F): x, y of vertex k
    lo, hi = P.min(1), P.max(1)
    # bbox of candidate pixel centres (j*S + S/2 in [min, max]), clipped to the image
    c0 = np.maximum((lo + (_HALF - 1)) >> _BITS, 0)           # (2, F): first col, row
    lim = np.array([[width - 1], [height - 1]], np.int32)
    n = np.minimum((hi - _HALF) >> _BITS, lim) - c0 + 1       # (2, F): nx, ny
    ext = hi - lo
    D = P[:, 1:] - P[:, :1]                                   # (2, 2, F): edges from vertex 0
    # |area| <= 2 * bbox_w * bbox_h: int32 is exact for the usual small triangles
    if ext.size and 2 * int(ext[0].max()) * int(ext[1].max()) + 2 >= _I32:
        D = D.astype(np.int64)
    area = D[0, 0] * D[1, 1] - D[1, 0] * D[0, 1]
    keep = (n > 0).all(0) & ((area < 0) if cull else (area != 0))
    # triangles < _SMALL_EXT: lock-step blocks of 2 x 2 centres, or of 3 x 3 tiling their bbox
    small = keep & (ext.max(0) < _SMALL_EXT)
    two = n.max(0) <= 2
    if not keep.any():
        return None
    ia, ib, ig = small & two, (small > two).nonzero()[0], (keep > small).nonzero()[0]
    sgn = (area > 0).astype(np.int32) * 2 - 1
    tab = _tables(P, sgn, c0, n, width)                       # int32: exact for the blocks
    parts = []
    if ia.any():  # all the triangles at once (cheaper than gathering those): skip the others
        t, pix, e = _block(tab, np.where(ia, tab[9:12], _I32), width, height, 2)
        parts.append((pix, t, e))
    if ib.size:
        T, rep = _tiles(tab, ib, width, _BLOCK)
        t, pix, e = _block(T, T[9:12], width, height, _BLOCK)
        parts.append((pix, rep.take(t), e))
    if ig.size:
        for t, pix, e in _generic(tab.take(ig, 1), P.take(ig, 2), sgn.take(ig), ext.take(ig, 1), width):
            parts.append((pix, ig.take(t), e))
    if not parts:
        return None
    inv = 1.0 / np.maximum(np.abs(area), 1)
    zk = z.take(tt)
    zt = np.empty(zk.shape)                                   # z0, dz1, dz2
    zt[0] = zk[0]
    np.multiply(np.subtract(zk[1:], zk[0], out=zt[1:]), inv, out=zt[1:])

    def depth(p):
        zz = zt.take(p[1], 1)
        return p[0], zz[0] + p[2][1] * zz[1] + p[2][2] * zz[2], p[1], p[2]

    if len(parts) > 1 and sum(p[0].size for p in parts) <= _CHUNK:
        parts = [[np.concatenate(a, axis=-1) for a in zip(*parts)]]
    parts = [depth(p) for p in parts]
    if len(parts) > 1:
        parts = [_take(_resolve(*p[:3], n_pix), *p) for p in parts]
        parts = [[np.concatenate(a, axis=-1) for a in zip(*parts)]]
    pix, zz, t, e = parts[0]
    best = _resolve(pix, zz, t, n_pix)
    if best.size < pix.size:
        pix, zz, t, e = _take(best, pix, zz, t, e)
    return pix, t, zz, e * inv.take(t)


def _raster(v, t, h, w, cull=False):
    """:func:`rasterize` on validated inputs -> (Raster, winners of :func:`_winners` with float32
    barycentrics, (3, N) float64 vertex rows, (3, F) intp triangle rows)."""
    vt = np.array(v.T, order="C")                           # a copy (render flips its y)
    if v.size and (vt[:2].max() > _MAX_COORD or vt[:2].min() < -_MAX_COORD):
        raise ValueError(f"verts x/y must lie within +-{_MAX_COORD:.0f} px")
    tt = np.ascontiguousarray(t.T, dtype=np.intp)
    win = _winners(vt[:2], vt[2], tt, h, w, bool(cull))
    tri_id = np.full(h * w, -1, np.int32)
    depth = np.full(h * w, -np.inf, np.float32)
    bary = np.zeros((h, w, 3), np.float32)
    if win is not None:
        pix, tid, zz, b = win
        win = pix, tid, zz, b.astype(np.float32)
        tri_id[pix] = tid
        depth[pix] = zz
        _scatter3(bary, pix, win[3])
    return Raster(tri_id.reshape(h, w), bary, depth.reshape(h, w), t), win, vt, tt


def _scatter3(out, pix, val):
    """out (H, W, 3)[flat pix] = (3, k) val, as three 1-D scatters (faster than one of rows)."""
    flat, p3 = out.reshape(-1), pix * 3
    flat[p3], flat[p3 + 1], flat[p3 + 2] = val


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
    return _raster(v, t, h, w, cull_backfaces)[0]


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


def _normals(vt, tt) -> np.ndarray:
    """Unit vertex normals of (3, N) float64 vertex rows (x, y, z) and (3, F) intp triangle rows
    -> (N, 3) float32: the arithmetic of :func:`vertex_normals`, element by element."""
    n_v, n_t = vt.shape[1], tt.shape[1]
    # the mean of the (N, 3) vertices (numpy sums its rows in order: the running sum is that)
    mean = np.cumsum(vt, 1)[:, -1] / n_v if n_v else np.zeros(3)
    v32 = np.zeros((n_v, 4), np.float32)                     # padded to 16-byte rows: a fast gather
    v32[:, :3] = (vt - mean[:, None]).T                       # centred: float32 is plenty for directions
    p = v32.take(tt, 0)                                       # (3, F, 4): corner k of each triangle
    e1, e2 = p[1] - p[0], p[2] - p[0]
    fn = np.empty((3, n_t))                                   # cross product (float32), |fn| = 2 area
    for c in range(3):
        a, b = (c + 1) % 3, (c + 2) % 3
        np.subtract(e1[:, a] * e2[:, b], e1[:, b] * e2[:, a], out=fn[c])
    n = np.empty((3, n_v))
    for c in range(3):  # per vertex, the sums over its triangles in order, corner by corner
        n[c] = (np.bincount(tt[0], fn[c], n_v) + np.bincount(tt[1], fn[c], n_v)) + np.bincount(tt[2], fn[c], n_v)
    norm = np.sqrt((n[0] * n[0] + n[1] * n[1]) + n[2] * n[2])  # = (n * n).sum(1) of the (N, 3) rows
    return np.ascontiguousarray((n / np.maximum(norm, 1e-30)).astype(np.float32).T)


def vertex_normals(verts, tris) -> np.ndarray:
    """Area-weighted unit vertex normals, (N, 3) float -> (N, 3) float32.

    Computed in the frame of ``verts`` (right-handed expected: outward for CCW triangles).
    Vertices used by no (non-degenerate) triangle get a zero normal.
    """
    v = _points(verts, "verts", 3)
    t = _tris(tris, len(v))
    return _normals(np.ascontiguousarray(v.T), np.ascontiguousarray(t.T, dtype=np.intp))


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
    return np.ascontiguousarray(_shade(np.ascontiguousarray(a.T), n, lt).T)


def _shade(at, n, lt: Lighting) -> np.ndarray:
    """:func:`shade` of (3, N) albedo rows and C-contiguous (N, 3) float64 normals -> (3, N) float32
    (element by element the same arithmetic; ``n @ direction`` is the same matrix-vector product)."""
    col = at * (lt.ambient[:, None] + lt.diffuse[:, None] * np.maximum(n @ lt.direction, 0.0))
    if lt.specular:
        h = lt.direction + (0.0, 0.0, 1.0)
        h = h / max(np.linalg.norm(h), 1e-12)
        col += lt.specular * np.maximum(n @ h, 0.0) ** lt.shininess
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
        img = np.zeros((h, w, 3), np.float32)
    else:
        bg = np.asarray(background)
        if bg.shape not in ((3,), (h, w, 3)) or bg.dtype.kind not in "iuf":
            raise ValueError(f"background must be an rgb triple or ({h}, {w}, 3), got {bg.shape}")
        img = np.empty((h, w, 3), np.float32)
        img[...] = bg
    ras, win, vt, tt = _raster(v, t, h, w)
    if lighting is not None:
        np.negative(vt[1], out=vt[1])                             # the y-up view frame
        n = _normals(vt, tt).astype(np.float64)
        ct = _shade(np.ascontiguousarray(c.T), n, lighting)
    else:
        ct = np.ascontiguousarray(c.T, np.float32)
    if win is not None:  # Gouraud: the covered pixels' barycentric mix of vertex colours
        pix, tid, _, b = win
        vid = tt.take(tid, 1)
        val = ct.take(vid[0], 1) * b[0]
        val += ct.take(vid[1], 1) * b[1]
        val += ct.take(vid[2], 1) * b[2]
        _scatter3(img, pix, val)
    img = np.clip(img, 0.0, 1.0, out=img)
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
