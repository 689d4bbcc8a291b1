"""3D face-modelling protocols (Table 9, 10): Umeyama, ICP, NMEs and the Florence RMSE on hand cases."""
import numpy as np
import pytest
import torch

from m3lrn_lib import geometry as G
from m3lrn_lib import protocols as P
from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.render import vertex_normals


@pytest.fixture(scope="module")
def model():
    return load_face_model()


def _rot(yaw, pitch, roll):
    return G.euler_to_matrix(torch.tensor(np.radians([yaw, pitch, roll]))).numpy()


def test_umeyama_recovers_a_similarity():
    x = np.random.default_rng(0).normal(size=(50, 3))
    R = _rot(30, -10, 5)
    y = 2.5 * x @ R.T + [1.0, -2.0, 3.0]
    s, R2, t = P.umeyama(x, y)
    assert s == pytest.approx(2.5) and R2 == pytest.approx(R, abs=1e-9) and t == pytest.approx([1, -2, 3])
    s1, _, _ = P.umeyama(x, y, scale=False)
    assert s1 == 1.0
    # a reflection in the data still gives a proper rotation
    _, Rr, _ = P.umeyama(x, x * [-1, 1, 1])
    assert np.linalg.det(Rr) == pytest.approx(1.0)


def test_icp_aligns_a_moved_mesh_without_correspondences(model):
    v = model.mean.astype(np.float64)
    moved = 0.5 * v @ _rot(8, 5, -4).T + [3.0, 1.0, -2.0]
    res = P.icp(moved, v, iters=60)
    assert res.rmse < 0.05 and res.s == pytest.approx(2.0, rel=1e-3)
    assert np.abs(res.aligned - v).max() < 0.2


def test_protocol1_is_zero_after_a_similarity_and_scales_with_iod(model):
    v = model.mean.astype(np.float64)
    pred = 3.0 * v @ _rot(20, 10, 0).T + 5.0
    assert P.protocol1_nme(pred, v, model.landmarks) == pytest.approx(0.0, abs=1e-6)
    noisy = v + np.random.default_rng(1).normal(0, 1.0, v.shape)
    e = P.protocol1_nme(noisy, v, model.landmarks)
    iod = np.linalg.norm(v[model.landmarks[36]] - v[model.landmarks[45]])
    assert 0 < e < 1.7 / iod  # mean |N(0, I3)| = 1.6; ICP can only lower it
    with pytest.raises(ValueError, match="landmarks"):
        P.protocol1_nme(v, v)


def test_protocol2_counts_pose_errors(model):
    v = model.mean.astype(np.float64)
    lm = v[model.landmarks]
    wh = lm[:, :2].max(0) - lm[:, :2].min(0)
    shifted = v + [3.0, 4.0, 0.0]  # a translation error of 5 px in the image
    assert P.protocol2_nme(shifted, v, model.landmarks) == pytest.approx(5 / np.sqrt(wh[0] * wh[1]))
    assert P.protocol2_nme(v + [0, 0, 7.0], v, model.landmarks) == pytest.approx(0.0)  # depth offset removed
    assert P.protocol2_nme(v + [0, 0, 7.0], v, model.landmarks, dims=2) == 0.0
    with pytest.raises(ValueError, match="corresponding"):
        P.protocol2_nme(v[:10], v)


def test_point_to_plane_rmse_hand_case():
    # a flat grid z = 0 with normals +z; points 0.5 above it and slid sideways -> RMSE 0.5
    g = np.stack(np.meshgrid(np.arange(5.0), np.arange(5.0)), -1).reshape(-1, 2)
    dst = np.c_[g, np.zeros(len(g))]
    n = np.tile([0.0, 0.0, 1.0], (len(g), 1))
    src = dst[:5] + [0.2, 0.1, 0.5]
    assert P.point_to_plane_rmse(src, dst, n) == pytest.approx(0.5)
    assert P.crop_sphere(dst, [0, 0, 0], 1.0).sum() == 3


def test_florence_rmse_of_the_truth_is_zero_and_grows_with_shape_error(model):
    v = model.mean.astype(np.float64)
    n = vertex_normals(v, model.triangles)
    lm = v[model.landmarks]
    pred = 4.0 * v @ _rot(-40, 20, 0).T  # "pixels", rotated: the protocol brings it back
    assert P.florence_rmse(pred, v, n, pred[model.landmarks], lm) < 1e-3
    other = v + (model.shape_basis[:, 0] * 2 * model.shape_std[0]).reshape(-1, 3)
    e = P.florence_rmse(other, v, n, other[model.landmarks], lm)
    assert 0.1 < e < 20
    with pytest.raises(ValueError, match="nose tip"):
        P.florence_rmse(v, v, n, lm, lm, radius=1e-9)


def test_florence_views_grid_and_oracle_benchmark(model):
    views = P.florence_views(model, n_subjects=1, size=96)
    assert len(views) == 15
    assert {(v["pitch"], v["yaw"]) for v in views} == {(p, y) for p in P.FLORENCE_PITCH for y in P.FLORENCE_YAW}
    assert views[0]["image"].shape == (96, 96, 3) and views[0]["image"].dtype == np.uint8
    assert views[0]["gt"].shape == (model.n_vertices, 3)

    def oracle(images, boxes):
        assert len(images) == len(boxes) == 15
        return (np.stack([v["gt_image"] for v in views]),
                np.stack([v["gt_image"][model.landmarks] for v in views]))

    r = P.florence_benchmark(oracle, model, views=views)
    assert r["n_views"] == 15 and r["rmse"] < 1e-3
    assert sorted(r["by_yaw"]) == sorted(P.FLORENCE_YAW)
