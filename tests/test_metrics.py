"""Metrics on hand-computed cases."""
import math

import numpy as np
import pytest

from m3lrn_lib import metrics
from m3lrn_lib.morphable import IBUG_GROUPS, IBUG_PARTS


def test_nme_hand_computed():
    gt = np.array([[[0, 0], [4, 0], [4, 9], [0, 9]]], float)  # box 4 x 9 -> sqrt = 6
    pred = gt + np.array([3.0, 4.0])  # every point off by 5
    assert metrics.nme_2d(pred, gt)[0] == pytest.approx(5 / 6)
    pred2 = gt.copy()
    pred2[0, 0] += [6, 0]  # one of four points off by 6 -> mean 1.5
    assert metrics.nme_2d(pred2, gt)[0] == pytest.approx(1.5 / 6)


def test_nme_ignores_z_and_checks_shapes():
    gt = np.array([[[0, 0, 5], [2, 2, -5]]], float)
    assert metrics.nme_2d(gt * np.array([1, 1, 0]), gt)[0] == 0
    with pytest.raises(ValueError, match="both be"):
        metrics.nme_2d(np.zeros((1, 3, 2)), np.zeros((1, 4, 2)))
    with pytest.raises(ValueError, match="zero area"):
        metrics.nme_2d(np.zeros((1, 3, 2)), np.zeros((1, 3, 2)))


def test_yaw_bins_and_all_is_mean_of_bin_means():
    yaw = np.array([0, -30, 30.5, 60, -61, 90, 95])
    assert metrics.yaw_bin(yaw).tolist() == [0, 0, 1, 1, 2, 2, -1]
    nme = np.array([0.01, 0.03, 0.02, 0.02, 0.05, 0.07, 0.9])
    r = metrics.nme_by_yaw(nme, yaw)
    assert r["[0,30]"] == pytest.approx(2.0) and r["(30,60]"] == pytest.approx(2.0)
    assert r["(60,90]"] == pytest.approx(6.0) and r["All"] == pytest.approx(10 / 3)
    assert r["counts"] == [2, 2, 2]


def test_empty_bin_is_nan_and_left_out():
    r = metrics.nme_by_yaw(np.array([0.01, 0.03]), np.array([10, 50]))
    assert math.isnan(r["(60,90]"]) and r["All"] == pytest.approx(2.0)


def test_pose_mae_drops_out_of_range():
    gt = np.array([[10, 0, 0], [20, 5, 5], [120, 0, 0]], float)
    pred = np.array([[12, 1, -1], [20, 5, 8], [0, 0, 0]], float)
    r = metrics.pose_mae(pred, gt)
    assert r["n"] == 2 and r["yaw"] == pytest.approx(1) and r["pitch"] == pytest.approx(0.5)
    assert r["roll"] == pytest.approx(2) and r["mean"] == pytest.approx(3.5 / 3)


# ----------------------------------------------------------------------------- masks, crops, AFLW-21, pose
def test_nme_mask_uses_only_masked_points_for_box_and_mean():
    gt = np.array([[[0, 0], [4, 0], [4, 9], [0, 9], [100, 100]]], float)
    pred = gt.copy()
    pred[0, :4] += [3.0, 4.0]  # the four box corners off by 5
    pred[0, 4] += [50.0, 0.0]  # the masked-out point is far off
    mask = np.array([[1, 1, 1, 1, 0]], bool)
    assert metrics.nme_2d(pred, gt, mask)[0] == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="no point left"):
        metrics.nme_2d(pred, gt, np.zeros((1, 5), bool))


def test_points_to_image_inverts_the_crop_map_with_z():
    from m3lrn_lib.data.crop import points_to_crop
    box = np.array([10.0, 20.0, 70.0, 80.0])  # side 60 -> k = 2 for a 120 crop
    pts = np.array([[[12.0, 30.0, -4.0], [40.0, 50.0, 6.0]]])
    crop = points_to_crop(pts[0], box)
    assert crop[0].tolist() == pytest.approx([4.0, 20.0, -8.0])
    back = metrics.points_to_image(crop[None], box[None])
    assert back == pytest.approx(pts, abs=1e-4)
    with pytest.raises(ValueError, match="positive size"):
        metrics.points_to_image(crop[None], np.array([[0.0, 0, 0, 5]]))


def test_nme_from_crop_is_measured_in_the_image():
    # a 2-px error in a 120 crop of a 60-px box is 1 px in the image; GT box 4 x 9 -> /6
    gt = np.array([[[0, 0], [4, 0], [4, 9], [0, 9]]], float)
    box = np.array([[-28.0, -25.5, 32.0, 34.5]])
    crop = (gt - box[:, None, :2]) * 2 + np.array([2.0, 0.0])
    assert metrics.nme_2d_from_crop(crop, box, gt)[0] == pytest.approx(1 / 6)


def test_aflw21_mapping_and_nme():
    lm = np.zeros((1, 68, 2))
    lm[0, :, 0] = np.arange(68)
    a = metrics.aflw21_from_68(lm)
    assert a.shape == (1, 21, 2) and len(metrics.AFLW21_NAMES) == 21
    assert np.isnan(a[0, 12]).all() and np.isnan(a[0, 16]).all()  # the ears
    assert a[0, 20, 0] == 8 and a[0, 14, 0] == 30  # chin, nose tip
    assert a[0, 7, 0] == pytest.approx(np.mean(range(42, 48)))  # left eye centre
    assert a[0, 18, 0] == pytest.approx(64)  # mouth centre = mean(62, 66)
    # hand case: 19 usable points of a GT spanning a 8 x 2 box, every prediction 1 px off in x
    g = np.random.default_rng(0).uniform(0, 1, (1, 68, 2)) * [8, 2]
    gt21 = metrics.aflw21_from_68(g)
    wh = np.nanmax(gt21, 1) - np.nanmin(gt21, 1)
    r = metrics.nme_aflw21(g + [1.0, 0.0], gt21)
    assert r[0] == pytest.approx(1 / np.sqrt(wh[0, 0] * wh[0, 1]))
    vis = np.ones((1, 21))
    vis[0, :6] = 0
    assert np.isfinite(metrics.nme_aflw21(g, gt21, vis)).all()
    with pytest.raises(ValueError, match="68"):
        metrics.aflw21_from_68(np.zeros((1, 21, 2)))


def test_pose_keep_mask_and_shape_check():
    gt = np.array([[98.9, 0, 0], [-99.5, 0, 0], [0, 0, 99.0]])
    assert metrics.pose_keep_mask(gt).tolist() == [True, False, True]
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        metrics.pose_mae(np.zeros((2, 2)), np.zeros((2, 2)))


# ----------------------------------------------------------------------------- bins, normaliser, face parts
def test_yaw_bins_have_one_definition():
    assert metrics.BIN_NAMES == ("[0,30]", "(30,60]", "(60,90]")
    assert [metrics.yaw_bin(hi).item() for _, hi in metrics.YAW_BINS] == [0, 1, 2]
    assert list(metrics.nme_by_yaw(np.array([0.01]), np.array([10.0])))[:3] == list(metrics.BIN_NAMES)


def test_box_norm_is_eq8_normaliser():
    gt = np.array([[[0, 0], [4, 0], [4, 9], [0, 9], [100, 100]]], float)
    assert metrics.box_norm(gt[:, :4])[0] == pytest.approx(6.0)
    assert metrics.box_norm(gt, np.array([[1, 1, 1, 1, 0]], bool))[0] == pytest.approx(6.0)


def test_group_nme_by_face_part():
    gt = np.random.default_rng(0).random((5, 68, 3)) * 100 + 10
    pred = gt.copy()
    pred[:, :17, 0] += 2.0  # move the jaw only
    groups = metrics.group_nme(pred, gt)
    assert set(groups) == set(IBUG_PARTS) and groups["jaw"] > 0 and groups["mouth"] == 0
    assert sorted(i for v in IBUG_PARTS.values() for i in v) == list(range(68))
    assert sorted(i for v in IBUG_GROUPS.values() for i in v) == list(range(68))
    # the jaw's share, with Eq. 8's normaliser
    assert groups["jaw"] == pytest.approx(float((2.0 / metrics.box_norm(gt)).mean() * 100))
    assert metrics.group_nme(pred, gt, {"all": list(range(68))})["all"] == pytest.approx(
        float(metrics.nme_2d(pred, gt).mean() * 100))


def test_point_errors_divide_by_the_reference_or_the_given_box():
    import numpy as np

    from m3lrn_lib import metrics
    gt = np.array([[[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]])                     # box 10 x 10
    pred = gt + np.array([3.0, 4.0])                                             # 5 px off everywhere
    assert np.allclose(metrics.point_errors(pred, gt), 0.5)
    other = gt * 2                                                               # box 20 x 20
    assert np.allclose(metrics.point_errors(pred, other, box_of=gt), np.linalg.norm(pred - other, axis=2) / 10)
