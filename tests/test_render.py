"""z-buffered CPU rasteriser: visibility, watertightness, barycentrics, shading, UV, errors."""
import numpy as np
import pytest

from m3lrn_lib import render as R


# ----------------------------------------------------------------------------- meshes
def grid_mesh(n, x0, y0, step, jitter=0.0, seed=0):
    """(n+1)^2 vertices on a planar grid in image space (z = 0), 2 n^2 front-facing
    triangles (negative signed area in image coordinates); interior vertices jittered by
    +-jitter*step."""
    g = np.arange(n + 1, dtype=np.float64)
    xx, yy = np.meshgrid(x0 + g * step, y0 + g * step)
    v = np.stack([xx, yy, np.zeros_like(xx)], -1)
    if jitter:
        rng = np.random.default_rng(seed)
        v[1:-1, 1:-1, :2] += rng.uniform(-jitter, jitter, (n - 1, n - 1, 2)) * step
    idx = np.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]  # c, d one row DOWN
    tris = np.concatenate([np.stack([a, d, b], -1).reshape(-1, 3),
                           np.stack([a, c, d], -1).reshape(-1, 3)])
    return v.reshape(-1, 3), tris


def sphere_mesh(n_lat=40, n_lon=80):
    """Unit UV sphere in a right-handed y-up frame, triangles CCW seen from outside."""
    th = np.linspace(0, np.pi, n_lat + 1)[1:-1]
    ph = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    t, p = np.meshgrid(th, ph, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(p), np.cos(t), np.sin(t) * np.sin(p)], -1).reshape(-1, 3)
    v = np.concatenate([[[0, 1, 0]], ring, [[0, -1, 0]]])
    idx = 1 + np.arange((n_lat - 1) * n_lon).reshape(n_lat - 1, n_lon)
    nxt = np.roll(idx, -1, axis=1)
    f = [np.stack([np.zeros(n_lon, int), idx[0], nxt[0]], -1),
         np.stack([np.full(n_lon, len(v) - 1), idx[-1], nxt[-1]], -1)]
    f += [np.stack([idx[:-1], idx[1:], nxt[1:]], -1).reshape(-1, 3),
          np.stack([idx[:-1], nxt[1:], nxt[:-1]], -1).reshape(-1, 3)]
    f = np.concatenate(f)
    p0, p1, p2 = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    outward = (np.cross(p1 - p0, p2 - p0) * (p0 + p1 + p2)).sum(1) > 0
    f[~outward] = f[~outward][:, [0, 2, 1]]
    return v, f


def to_image(v_view, cx, cy, r):
    """View frame (y up) -> image frame (y down), scaled by r around (cx, cy)."""
    return np.stack([cx + r * v_view[:, 0], cy - r * v_view[:, 1], r * v_view[:, 2]], 1)


def rotation(seed):
    q = np.random.default_rng(seed).normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([[a*a+b*b-c*c-d*d, 2*(b*c-a*d), 2*(b*d+a*c)],
                     [2*(b*c+a*d), a*a-b*b+c*c-d*d, 2*(c*d-a*b)],
                     [2*(b*d-a*c), 2*(c*d+a*b), a*a-b*b-c*c+d*d]])


def centres(h, w):
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    return jj, ii


def coverage_count(verts, tris, h, w):
    """How many triangles cover each pixel centre (each triangle rasterised alone)."""
    return sum(R.rasterize(verts, tris[i:i + 1], h, w).mask.astype(int) for i in range(len(tris)))


# ----------------------------------------------------------------------------- visibility
@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_closer_triangle_wins_regardless_of_order(order):
    v = np.array([[2, 2, 1.0], [30, 2, 1.0], [2, 30, 1.0],          # far (z = 1)
                  [10, 10, 5.0], [38, 10, 5.0], [10, 38, 5.0]])     # near (z = 5)
    tris = np.array([[0, 1, 2], [3, 4, 5]])[list(order)]
    ras = R.rasterize(v, tris, 40, 40)
    near = order.index(1)
    assert ras.tri_id[12, 12] == near and ras.depth[12, 12] == 5.0   # overlap: near wins
    assert ras.tri_id[4, 4] == 1 - near and ras.depth[4, 4] == 1.0   # far only
    assert ras.tri_id[35, 35] == -1 and ras.depth[35, 35] == -np.inf and not ras.mask[35, 35]
    overlap = (ras.depth > 0) & (R.rasterize(v, tris[[near]], 40, 40).mask)
    assert (ras.tri_id[overlap] == near).all() and (ras.depth[overlap] == 5.0).all()


def test_exact_depth_ties_go_to_the_lowest_triangle_index():
    v = np.array([[2, 2, 3.0], [30, 2, 3.0], [2, 30, 3.0], [30, 30, 3.0]])
    ras = R.rasterize(v, np.array([[0, 1, 2], [1, 3, 2], [0, 1, 2]]), 32, 32)
    assert set(np.unique(ras.tri_id)) == {-1, 0, 1}          # the duplicate (2) never wins
    ras = R.rasterize(v, np.array([[0, 2, 1], [0, 1, 2]]), 32, 32)
    assert set(np.unique(ras.tri_id)) == {-1, 0}


def test_matches_brute_force_on_a_random_triangle_soup():
    rng = np.random.default_rng(0)
    h, w, nt = 24, 32, 40
    v = np.concatenate([rng.uniform(-4, 36, (3 * nt, 2)), rng.uniform(-10, 10, (3 * nt, 1))], 1)
    tris = np.arange(3 * nt).reshape(nt, 3)
    ras = R.rasterize(v, tris, h, w)
    x, y = centres(h, w)
    best_z, best_t = np.full((h, w), -np.inf), np.full((h, w), -1)
    unsure = np.zeros((h, w), bool)          # centres within 5e-3 px of an edge (vertices snap)
    for f, (a, b, c) in enumerate(v[tris]):
        den = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1])
        l0 = ((b[1] - c[1]) * (x - c[0]) + (c[0] - b[0]) * (y - c[1])) / den
        l1 = ((c[1] - a[1]) * (x - c[0]) + (a[0] - c[0]) * (y - c[1])) / den
        lam = np.stack([l0, l1, 1 - l0 - l1])
        dist = lam * np.abs(den) / np.hypot(*np.stack([b - c, c - a, a - b])[:, :2].T)[:, None, None]
        unsure |= (np.abs(dist) < 5e-3).any(0)
        z = lam[0] * a[2] + lam[1] * b[2] + lam[2] * c[2]
        win = (lam > 0).all(0) & (z > best_z)
        best_z[win], best_t[win] = z[win], f
    ok = ~unsure
    assert ok.mean() > 0.9 and (best_t >= 0).sum() > 300
    np.testing.assert_array_equal(ras.tri_id[ok], best_t[ok])
    np.testing.assert_allclose(ras.depth[ok & (best_t >= 0)], best_z[ok & (best_t >= 0)], atol=0.05)


def test_depth_is_the_plane_of_the_triangle():
    v = np.array([[3.3, 4.1, 0.0], [50.2, 7.7, 0.0], [20.9, 45.5, 0.0]])
    v[:, 2] = 0.3 * v[:, 0] - 0.2 * v[:, 1] + 7.0
    ras = R.rasterize(v, np.array([[0, 1, 2]]), 48, 56)
    x, y = centres(48, 56)
    m = ras.mask
    assert m.sum() > 500
    np.testing.assert_allclose(ras.depth[m], (0.3 * x - 0.2 * y + 7.0)[m], atol=2e-3)
    assert ras.depth.dtype == np.float32 and ras.tri_id.dtype == np.int32
    assert ras.bary.dtype == np.float32 and ras.bary.shape == (48, 56, 3)


def test_backface_culling_and_either_winding():
    v = np.array([[2.0, 2, 0], [20, 2, 0], [2, 20, 0]])
    front = np.array([[0, 2, 1]])       # CCW in the y-up frame: negative signed area here
    back = front[:, ::-1]
    assert R.rasterize(v, front, 24, 24).mask.sum() == R.rasterize(v, back, 24, 24).mask.sum() > 100
    assert R.rasterize(v, front, 24, 24, cull_backfaces=True).mask.sum() > 100
    assert R.rasterize(v, back, 24, 24, cull_backfaces=True).mask.sum() == 0
    # a CCW triangle of the view frame, mapped to the image, is front-facing
    view = np.array([[0.0, 0, 0], [10, 0, 0], [0, 10, 0]])
    img = np.stack([5 + view[:, 0], 15 - view[:, 1], view[:, 2]], 1)
    assert R.rasterize(img, np.array([[0, 1, 2]]), 24, 24, cull_backfaces=True).mask.sum() > 30


# ----------------------------------------------------------------------------- watertight
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("cull", [False, True])
def test_sphere_has_no_holes(seed, cull):
    vs, f = sphere_mesh()
    c = 60.0 + 0.37 * seed
    v = to_image(vs @ rotation(seed).T, c, c - 0.21, 40.0)
    ras = R.rasterize(v, f, 120, 120, cull_backfaces=cull)
    x, y = centres(120, 120)
    inner = np.hypot(x - c, y - (c - 0.21)) < 40.0 * np.cos(np.pi / 40) - 1.0
    assert ras.mask[inner].all()
    assert not ras.mask[np.hypot(x - c, y - (c - 0.21)) > 40.5].any()
    # the visible surface is the front hemisphere: depth = sqrt(r^2 - d^2) there
    d2 = (x - c) ** 2 + (y - c + 0.21) ** 2
    np.testing.assert_allclose(ras.depth[inner], np.sqrt(1600 - d2[inner]), atol=1.0)


@pytest.mark.parametrize("diag", [0, 1])
@pytest.mark.parametrize("flip", [False, True])
def test_square_split_along_diagonal_covers_each_pixel_once(diag, flip):
    v = np.array([[4.5, 4.5, 0], [24.5, 4.5, 0], [4.5, 24.5, 0], [24.5, 24.5, 0]])
    tris = np.array([[0, 1, 3], [0, 3, 2]]) if diag == 0 else np.array([[0, 1, 2], [1, 3, 2]])
    if flip:
        tris = tris[:, ::-1]
    count = coverage_count(v, tris, 30, 30)
    x, y = centres(30, 30)
    inner = (x > 4.5) & (x < 24.5) & (y > 4.5) & (y < 24.5)
    assert count.max() == 1
    assert (count[inner] == 1).all()   # including every pixel centre on the diagonal


@pytest.mark.parametrize("step,jitter", [(1.0, 0.0), (0.45, 0.3), (1.7, 0.35)])
def test_grid_of_small_triangles_covers_each_pixel_once(step, jitter):
    n = int(round(14 / step))
    v, tris = grid_mesh(n, 3.5, 3.5, step, jitter, seed=3)   # step 1: every centre is a vertex
    count = coverage_count(v, tris, 24, 24)
    x, y = centres(24, 24)
    end = 3.5 + n * step
    inner = (x > 3.5) & (x < end) & (y > 3.5) & (y < end)
    assert count.max() == 1
    assert (count[inner] == 1).all()
    ras = R.rasterize(v, tris, 24, 24)
    np.testing.assert_array_equal(ras.mask, count == 1)


# ----------------------------------------------------------------------------- barycentrics
def test_barycentrics_reproduce_linear_attributes():
    v, tris = grid_mesh(12, 5.2, 6.9, 3.1, jitter=0.3, seed=1)
    v[:, 2] = np.random.default_rng(0).uniform(-5, 5, len(v))
    ras = R.rasterize(v, tris, 48, 48)
    m = ras.mask
    x, y = centres(48, 48)
    xy = R.interpolate(ras, v[:, :2])
    assert xy.shape == (48, 48, 2) and xy.dtype == np.float32
    np.testing.assert_allclose(xy[..., 0][m], x[m], atol=4e-3)   # vertices snap to 1/256 px
    np.testing.assert_allclose(xy[..., 1][m], y[m], atol=4e-3)
    assert (xy[~m] == 0).all()
    np.testing.assert_allclose(ras.bary.sum(-1)[m], 1.0, atol=1e-5)
    assert (ras.bary[m] >= -1e-6).all()
    np.testing.assert_allclose(R.interpolate(ras, v[:, 2])[..., 0][m], ras.depth[m], atol=1e-4)


def test_vertex_lands_within_half_a_pixel():
    v, tris = grid_mesh(12, 0.0, 0.0, 4.0, jitter=0.1, seed=2)
    a = 0.4                                                       # rotate the grid in the image
    v[:, :2] = (v[:, :2] - 24.0) @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) + 32.0
    v[:, 2] = 0.1 * v[:, 0]
    rng = np.random.default_rng(4)
    inner = np.flatnonzero(np.hypot(v[:, 0] - 32, v[:, 1] - 32) < 15)
    for vi in rng.choice(inner, 10, replace=False):
        spike = np.zeros((len(v), 3))
        spike[vi] = 1.0
        res = R.render(v, tris, spike, 64, 64)
        i, j = int(v[vi, 1]), int(v[vi, 0])                    # pixel containing the vertex
        assert res.mask[i, j]
        tri = tris[res.raster.tri_id[i, j]]
        assert vi in tri                                        # a triangle incident to it
        # the colour is the hat function of the vertex: its barycentric weight, near the peak
        assert res.image[i, j, 0] == pytest.approx(res.raster.bary[i, j][list(tri).index(vi)], abs=1e-6)
        assert res.image[i, j, 0] > 0.6                         # altitudes >= 2.2 px, d <= 0.71 px
        pos = R.interpolate(res.raster, v[:, :2])[i, j]
        np.testing.assert_allclose(pos, [j + 0.5, i + 0.5], atol=4e-3)
        assert np.all(np.abs(pos - v[vi, :2]) <= 0.5 + 4e-3)


# ----------------------------------------------------------------------------- shading
def test_shading_and_normals():
    light = R.Lighting(ambient=0.2, diffuse=0.8, direction=(0, 0, 2))
    np.testing.assert_allclose(light.direction, [0, 0, 1])
    n = np.array([[0, 0, 1.0], [0, 0, -1.0], [0, 0.6, 0.8]])
    col = R.shade(np.full((3, 3), 0.5), n, light)
    assert col.dtype == np.float32 and col.shape == (3, 3)
    assert col[0, 0] > col[2, 0] > col[1, 0]
    np.testing.assert_allclose(col[1], 0.5 * 0.2)
    amb = R.Lighting(ambient=(0.3, 0.5, 0.7), diffuse=0.0)
    albedo = np.random.default_rng(0).uniform(0, 1, (5, 3))
    np.testing.assert_allclose(R.shade(albedo, np.tile([0, 0, 1.0], (5, 1)), amb),
                               albedo * [0.3, 0.5, 0.7], rtol=1e-6)
    spec = R.shade(np.zeros((1, 3)), [[0, 0, 1.0]], R.Lighting(diffuse=0, specular=0.5))
    assert 0 < spec[0, 0] <= 0.5
    vs, f = sphere_mesh(12, 24)
    nrm = R.vertex_normals(vs, f)
    assert nrm.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(nrm, axis=1), 1, atol=1e-5)
    assert ((nrm * vs).sum(1) > 0.99).all()                     # outward on a CCW sphere


def test_render_lights_the_top_of_a_sphere_from_above():
    vs, f = sphere_mesh()
    v = to_image(vs, 32, 32, 24)
    light = R.Lighting(ambient=0.1, diffuse=0.9, direction=(0, 1, 1))   # above, y up
    res = R.render(v, f, np.full((len(v), 3), 0.8), 64, 64, lighting=light, background=(0, 0, 1))
    img = res.image
    assert img.dtype == np.float32 and img.shape == (64, 64, 3)
    assert img[14, 32, 0] > img[50, 32, 0] + 0.3                # top row brighter than bottom
    assert (img[~res.mask] == [0, 0, 1]).all() and img.min() >= 0 and img.max() <= 1
    np.testing.assert_array_equal(res.depth, R.render_depth(v, f, 64, 64))
    flat = R.render(v, f, (0.2, 0.4, 0.6), 64, 64)                   # unlit, one colour
    np.testing.assert_allclose(flat.image[res.mask], np.tile([0.2, 0.4, 0.6], (res.mask.sum(), 1)), atol=1e-6)
    bg = np.random.default_rng(0).uniform(0, 1, (64, 64, 3))
    img = R.render(v, f, (1, 1, 1), 64, 64, background=bg).image
    np.testing.assert_array_equal(img[~res.mask], bg[~res.mask].astype(np.float32))


# ----------------------------------------------------------------------------- uv
def test_rasterize_uv_maps_v_up():
    uv = np.array([[0.1, 0.95], [0.6, 0.95], [0.1, 0.7],       # near v = 1 -> top rows
                   [0.5, 0.05], [0.9, 0.05], [0.9, 0.3]])      # near v = 0 -> bottom rows
    ras = R.rasterize_uv(uv, np.array([[0, 1, 2], [3, 4, 5]]), 64)
    assert ras.tri_id.shape == (64, 64)
    rows0 = np.nonzero(ras.tri_id == 0)[0]
    rows1 = np.nonzero(ras.tri_id == 1)[0]
    assert rows0.min() >= int(0.05 * 64) and rows0.max() < 0.3 * 64 + 1
    assert rows1.min() >= int(0.7 * 64) and rows1.max() < 0.95 * 64 + 1
    assert (ras.depth[ras.mask] == 0).all() and (ras.depth[~ras.mask] == -np.inf).all()
    sq = np.array([[0, 0], [1, 0], [0, 1], [1, 1.0]])
    full = R.rasterize_uv(sq, np.array([[0, 1, 3], [0, 3, 2]]), 32)
    assert full.mask.all()
    uvi = R.interpolate(full, sq)
    jj, ii = centres(32, 32)
    np.testing.assert_allclose(uvi[..., 0], jj / 32, atol=1e-4)
    np.testing.assert_allclose(uvi[..., 1], 1 - ii / 32, atol=1e-4)


# ----------------------------------------------------------------------------- robustness
def test_bad_inputs_raise_value_errors_naming_the_argument():
    v = np.array([[1.0, 1, 0], [9, 1, 0], [1, 9, 0]])
    t = np.array([[0, 1, 2]])
    c = np.ones((3, 3))
    with pytest.raises(ValueError, match="verts.*NaN"):
        R.render(np.where(np.arange(9).reshape(3, 3) == 4, np.nan, v), t, c, 10, 10)
    with pytest.raises(ValueError, match="tris.*out of range"):
        R.rasterize(v, np.array([[0, 1, 3]]), 10, 10)
    with pytest.raises(ValueError, match="tris.*out of range"):
        R.render(v, np.array([[0, -1, 2]]), c, 10, 10)
    with pytest.raises(ValueError, match=r"verts.*shape \(N, 3\)"):
        R.rasterize(v[:, :2], t, 10, 10)
    with pytest.raises(ValueError, match=r"tris.*shape \(F, 3\)"):
        R.rasterize(v, t.ravel(), 10, 10)
    with pytest.raises(ValueError, match="tris.*integer"):
        R.rasterize(v, t.astype(float), 10, 10)
    with pytest.raises(ValueError, match="height"):
        R.rasterize(v, t, 0, 10)
    with pytest.raises(ValueError, match="width"):
        R.render(v, t, c, 10, 2.5)
    with pytest.raises(ValueError, match="colors"):
        R.render(v, t, np.ones((4, 3)), 10, 10)
    with pytest.raises(ValueError, match="background"):
        R.render(v, t, c, 10, 10, background=np.zeros((5, 5, 3)))
    with pytest.raises(ValueError, match="uv"):
        R.rasterize_uv(v, t, 16)
    with pytest.raises(ValueError, match="direction"):
        R.Lighting(direction=(0, 0, 0))
    with pytest.raises(ValueError, match="ambient"):
        R.Lighting(ambient=(0.1, 0.2))
    ras = R.rasterize(v, t, 10, 10)
    with pytest.raises(ValueError, match="attrs"):
        R.interpolate(ras, np.ones((2, 3)))
    with pytest.raises(ValueError, match="normals"):
        R.shade(c, np.ones((3, 2)))


def test_empty_and_degenerate_inputs():
    v = np.array([[1.0, 1, 0], [9, 1, 0], [5, 1, 0], [50, 50, 0], [60, 50, 0], [50, 60, 0]])
    ras = R.rasterize(v, np.array([[0, 1, 2], [3, 4, 5]]), 16, 16)   # flat + off-image
    assert not ras.mask.any() and (ras.bary == 0).all()
    assert R.rasterize(v, np.zeros((0, 3), int), 8, 8).tri_id.shape == (8, 8)
    assert (R.render(v, np.zeros((0, 3), int), np.ones((6, 3)), 8, 8).image == 0).all()


def test_large_triangles_and_batching(monkeypatch):
    big = np.array([[-9e4, -9e4, 1.0], [9e4, -9e4, 1.0], [0, 9e4, 1.0]])  # int64 path
    assert R.rasterize(big, np.array([[0, 1, 2]]), 20, 30).mask.all()
    vs, f = sphere_mesh(20, 40)
    v = to_image(vs @ rotation(3).T, 30, 30, 25)
    ref = R.rasterize(v, f, 64, 64)
    monkeypatch.setattr(R, "_CHUNK", 257)                                 # many batches
    got = R.rasterize(v, f, 64, 64)
    for name in ("tri_id", "bary", "depth"):
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name))


def test_deterministic_and_independent_of_triangle_order():
    vs, f = sphere_mesh(24, 48)
    v = to_image(vs @ rotation(7).T, 32, 32, 28)
    col = np.random.default_rng(0).uniform(0, 1, (len(v), 3))
    a = R.render(v, f, col, 64, 64, lighting=R.Lighting())
    b = R.render(v, f, col, 64, 64, lighting=R.Lighting())
    for x, y in ((a.image, b.image), (a.depth, b.depth), (a.raster.tri_id, b.raster.tri_id)):
        np.testing.assert_array_equal(x, y)
    perm = np.random.default_rng(1).permutation(len(f))
    c = R.render(v, f[perm], col, 64, 64, lighting=R.Lighting())
    np.testing.assert_array_equal(perm[c.raster.tri_id[c.mask]], a.raster.tri_id[a.mask])
    np.testing.assert_allclose(c.image, a.image, atol=1e-6)


# ----------------------------------------------------------------------------- code paths
def _soup(rng, nt, h, w, scale):
    """Random triangles of about ``scale`` px around the image (many crossing its borders),
    half their vertices on the 1/2-px lattice (centres exactly on edges and vertices) and
    quantised z (exact depth ties)."""
    cen = rng.uniform(-3, max(h, w) + 3, (nt, 1, 2))
    xy = (cen + rng.normal(0, scale, (nt, 3, 2))).reshape(-1, 2)
    xy[: len(xy) // 2] = np.round(xy[: len(xy) // 2] * 2) / 2
    return np.concatenate([xy, rng.integers(0, 4, (3 * nt, 1))], 1), np.arange(3 * nt).reshape(nt, 3)


@pytest.mark.parametrize("h,w", [(1, 17), (13, 1), (2, 2), (24, 31), (57, 40)])
def test_block_paths_match_the_row_span_path(monkeypatch, h, w):
    """The lock-step blocks (<= 2 x 2 centres; 3 x 3 tiles) give exactly what the generic
    row spans give: same tie-breaks at shared edges and image borders, same float bits."""
    rng = np.random.default_rng(h * 100 + w)
    for scale in (0.4, 1.0, 2.5, 6.0):
        v, tris = _soup(rng, 300, h, w, scale)
        for cull in (False, True):
            fast = R.rasterize(v, tris, h, w, cull)
            with monkeypatch.context() as m:
                m.setattr(R, "_SMALL_EXT", 0)                       # every triangle: row spans
                slow = R.rasterize(v, tris, h, w, cull)
                m.setattr(R, "_CHUNK", 7)                           # ... in many batches
                batched = R.rasterize(v, tris, h, w, cull)
            for name in ("tri_id", "bary", "depth"):
                np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
                np.testing.assert_array_equal(getattr(fast, name), getattr(batched, name))


def test_grid_on_pixel_centres_matches_the_row_span_path(monkeypatch):
    v, tris = grid_mesh(20, 0.5, 0.5, 1.0)                        # every centre is a vertex
    v[:, 2] = np.arange(len(v)) % 3
    fast = R.rasterize(v, tris, 16, 16)
    monkeypatch.setattr(R, "_SMALL_EXT", 0)
    slow = R.rasterize(v, tris, 16, 16)
    for name in ("tri_id", "bary", "depth"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
    assert fast.mask.all()


def test_render_leaves_its_inputs_alone():
    for v, tris in ((np.array([[3.0, 4.0, 1.0]]), np.zeros((0, 3), int)), grid_mesh(4, 2.0, 2.0, 3.0)):
        v0, col = v.copy(), np.full((len(v), 3), 0.5)
        R.render(v, tris, col, 16, 16, lighting=R.Lighting(specular=0.3), background=(0.1, 0.2, 0.3))
        np.testing.assert_array_equal(v, v0)
        assert (col == 0.5).all()
