"""UV tools for the texture work (supplement Sec. G): render/unwrap round trip, vertex colours from a
UV map, subdivision, the synthetic textured faces, and models without UV coordinates."""
import dataclasses

import numpy as np
import pytest

from m3lrn_lib import viz
from m3lrn_lib.morphable import FaceModelError, load_face_model
from m3lrn_lib.texture.gan import template_texture
from m3lrn_lib.texture.pca_fit import uv_albedo_basis
from m3lrn_lib.texture.synth import TexturedFaceGenerator, TextureSynthConfig, make_pairs, uv_layout_mask
from m3lrn_lib.uv import render_uv_texture, sample_texture, subdivide_mesh, unwrap_texture

#: bounds of the round trip (UV 64 -> 128 px image -> UV 64): two bilinear resamplings
ROUND_TRIP_SMOOTH = 0.005
ROUND_TRIP_DETAILED = 0.012


@pytest.fixture(scope="module")
def model():
    return load_face_model()


@pytest.mark.parametrize("detail,bound", [(0.0, ROUND_TRIP_SMOOTH), (1.0, ROUND_TRIP_DETAILED)])
def test_render_unwrap_round_trip(model, detail, bound):
    g = TexturedFaceGenerator(model, 3, TextureSynthConfig(uv_size=64, render_size=128, detail=detail))
    for i in range(2):
        f = g.face("test", i)
        img = render_uv_texture(f.verts, model, f.texture, 128, 128, background=(0, 0, 1))
        tex, vis = unwrap_texture(img, f.verts, model, 64)
        assert vis.mean() > 0.6                      # a mostly frontal face shows most of its UV map
        err = np.abs(tex - f.texture)[vis].mean()
        assert err < bound, (i, err)
        # texels of the UV layout that are hidden really are: the back-facing / off-image ones differ
        assert not vis[~uv_layout_mask(model, 64)].any()


def test_sample_texture_texel_centres():
    S = 8
    tex = np.random.default_rng(0).random((S, S, 3)).astype(np.float32)
    i, j = np.mgrid[0:S, 0:S]
    uv = np.stack([(j.ravel() + 0.5) / S, 1 - (i.ravel() + 0.5) / S], 1)
    np.testing.assert_allclose(sample_texture(tex, uv), tex.reshape(-1, 3), atol=1e-6)
    with pytest.raises(ValueError, match="uv must be"):
        sample_texture(tex, np.zeros((3, 3)))


def test_subdivide_mesh(model):
    V, T, U = subdivide_mesh(model.mean, model.triangles, model.uv)
    edges = np.unique(np.sort(np.concatenate([model.triangles[:, [0, 1]], model.triangles[:, [1, 2]],
                                              model.triangles[:, [2, 0]]]), 1), axis=0)
    assert T.shape == (4 * len(model.triangles), 3) and len(V) == model.n_vertices + len(edges) == len(U)
    a, b = edges[0]
    k = model.n_vertices  # the first new vertex is the midpoint of the first sorted edge
    np.testing.assert_allclose(V[k], (model.mean[a] + model.mean[b]) / 2, atol=1e-5)


def test_textured_mesh_figure(model):
    tex = template_texture(model, 32).permute(1, 2, 0).numpy()
    fig = viz.textured_mesh_figure(model.mean, model, tex, subdivide=0)
    assert len(fig.data[0].vertexcolor) == model.n_vertices
    fig = viz.textured_mesh_figure(model.mean, model, (tex * 255).astype(np.uint8), subdivide=1, widget=True)
    assert len(fig.data[0].x) > model.n_vertices
    with pytest.raises(ValueError, match="vertices must be"):
        viz.textured_mesh_figure(model.mean[:10], model, tex)


def test_model_without_uv_is_refused(model):
    bare = dataclasses.replace(model, uv=None)
    for call in (lambda: template_texture(bare, 32), lambda: uv_albedo_basis(bare, 32),
                 lambda: TexturedFaceGenerator(bare, 0),
                 lambda: viz.textured_mesh_figure(bare.mean, bare, np.zeros((8, 8, 3)))):
        with pytest.raises(FaceModelError, match="no UV coordinates"):
            call()


def test_synthetic_faces_deterministic_and_out_of_span(model, tmp_path):
    from m3lrn_lib.texture.evaluate import pca_projection
    cfg = TextureSynthConfig(uv_size=32, render_size=64)
    a = make_pairs(model, 3, "train", 5, cfg, geometry=True)
    b = make_pairs(model, 3, "train", 5, cfg, geometry=True, cache_dir=tmp_path)
    c = make_pairs(model, 3, "train", 5, cfg, geometry=True, cache_dir=tmp_path)  # from the cache
    assert len(list(tmp_path.glob("*.npz"))) == 1
    for x in (b, c):
        assert np.array_equal(a.images, x.images) and np.array_equal(a.textures, x.textures)
    other = make_pairs(model, 3, "test", 5, cfg)
    assert not np.array_equal(a.textures, other.textures)
    lay = uv_layout_mask(model, 32)
    base_err = np.abs(pca_projection(model, a.base) - a.base / 255.0)[:, lay].mean()
    true_err = np.abs(pca_projection(model, a.textures) - a.textures / 255.0)[:, lay].mean()
    assert base_err < 0.004 < 0.01 < true_err   # the base is in the PCA span, the detail is not
    assert a.images.shape == (3, 32, 32, 3) and a.renders.shape == (3, 64, 64, 3) and a.visible.dtype == bool
