"""UV unwrapping with z-buffer visibility, UV-textured rendering, hole filling."""
import dataclasses

import cv2
import numpy as np
import pytest
import torch

from m3lrn_lib import geometry as G
from m3lrn_lib import uv as U
from m3lrn_lib.morphable import load_face_model


@pytest.fixture(scope="module")
def model():
    return load_face_model()


def _verts(model, yaw=0.0, size=240):
    p = torch.zeros(1, model.n_params, dtype=torch.float64)
    p[:, :12] = G.make_pose(yaw, 0.1, 0.0, size / 230, size / 2, size / 2 + 3, 0).double()
    return G.project_to_crop(model, p, size)[0].numpy()


def _texture(size=64, seed=0):
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.random((6, 6, 3)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)


def test_render_then_unwrap_recovers_the_texture(model):
    V, tex = _verts(model), _texture()
    img = U.render_uv_texture(V, model, tex, 240, 240, background=(1.0, 0.0, 1.0))
    assert img.shape == (240, 240, 3) and img.dtype == np.float32
    back, vis = U.unwrap_texture(img, V, model, 64)
    assert back.shape == (64, 64, 3) and vis.dtype == bool and vis.mean() > 0.5
    err = np.abs(back - tex)[vis]
    assert err.mean() < 0.02 and np.abs(back[~vis]).max() == 0


def test_background_is_kept_outside_the_face(model):
    V = _verts(model)
    bg = np.random.default_rng(1).random((240, 240, 3)).astype(np.float32)
    img = U.render_uv_texture(V, model, _texture(), 240, 240, background=bg)
    from m3lrn_lib import render as R
    mask = R.rasterize(V, model.triangles, 240, 240).mask
    assert np.array_equal(img[~mask], bg[~mask]) and not np.allclose(img[mask], bg[mask])


def test_profile_hides_one_half(model):
    V = _verts(model, yaw=np.radians(75))
    _, vis = U.unwrap_texture(np.zeros((240, 240, 3), np.float32), V, model, 64)
    left, right = vis[:, :32].mean(), vis[:, 32:].mean()
    assert max(left, right) > 4 * min(left, right)


def test_occluded_texels_are_invisible(model):
    # a mesh fully behind another copy of itself: nothing of the far copy is visible
    V = _verts(model)
    near = torch.as_tensor(V, dtype=torch.float32)[None]
    far = near.clone()
    far[..., 2] -= 500
    r_near = U.rasterize_batch(near, model, 240, 240)
    _, vis = U.unwrap_texture_batch(torch.zeros(1, 3, 240, 240), far, model, 32, rasters=r_near)
    assert not vis.any()


def test_batched_matches_single_and_runs_in_float64(model):
    Vs = [_verts(model, y) for y in (0.0, 0.6)]
    imgs = [np.random.default_rng(i).random((240, 240, 3)).astype(np.float32) for i in range(2)]
    tex, vis = U.unwrap_texture_batch(torch.as_tensor(np.stack(imgs)).permute(0, 3, 1, 2),
                                      torch.as_tensor(np.stack(Vs), dtype=torch.float32), model, 32)
    t1, v1 = U.unwrap_texture(imgs[1], Vs[1], model, 32)
    assert np.allclose(tex[1].permute(1, 2, 0).numpy(), t1, atol=1e-6) and np.array_equal(vis[1].numpy(), v1)
    t64, v64 = U.unwrap_texture_batch(torch.as_tensor(np.stack(imgs), dtype=torch.float64).permute(0, 3, 1, 2),
                                      torch.as_tensor(np.stack(Vs)), model, 32)
    both = (v64 & vis)[:, None].expand_as(tex)
    assert t64.dtype == torch.float64 and (v64 != vis).float().mean() < 0.01  # edge texels may differ
    assert torch.allclose(t64.float()[both], tex[both], atol=1e-4)


def test_fill_texture_holes(model):
    assert U.uv_is_mirror_symmetric(model)
    assert not U.uv_is_mirror_symmetric(dataclasses.replace(model, vertex_mirror=None))
    tex = torch.rand(2, 3, 32, 32)
    vis = torch.zeros(2, 32, 32, dtype=torch.bool)
    vis[:, :, :16] = True  # only the left half seen
    vis[1, 5:9, 3:7] = False  # and a hole in it
    filled = U.fill_texture_holes(tex * vis[:, None], vis, mirror=True)
    assert torch.isfinite(filled).all()
    assert torch.allclose(filled[:, :, vis[0]][0], tex[0][:, vis[0]])  # seen texels unchanged
    assert torch.allclose(filled[0, :, :, 31], tex[0, :, :, 0])  # right half = mirrored left half
    plain = U.fill_texture_holes(tex * vis[:, None], vis)
    hole = plain[1, :, 5:9, 3:7]
    assert hole.min() >= 0 and hole.max() <= 1 and hole.std() < tex.std()  # smooth fill from around


def test_model_without_uv(model):
    bare = dataclasses.replace(model, uv=None)
    with pytest.raises(ValueError, match="no UV"):
        U.unwrap_texture(np.zeros((120, 120, 3)), _verts(model, size=120), bare, 32)
