"""Metrics on hand-computed cases."""
import math

import numpy as np
import pytest

from m3lrn_lib import metrics as M


def test_nme_hand_computed():
    gt = np.array([[[0, 0], [4, 0], [4, 9], [0, 9]]], float)  # box 4 x 9 -> sqrt = 6
    pred = gt + np.array([3.0, 4.0])  # every point off by 5
    assert M.nme_2d(pred, gt)[0] == pytest.approx(5 / 6)
    pred2 = gt.copy()
    pred2[0, 0] += [6, 0]  # one of four points off by 6 -> mean 1.5
    assert M.nme_2d(pred2, gt)[0] == pytest.approx(1.5 / 6)


def test_nme_ignores_z_and_checks_shapes():
    gt = np.array([[[0, 0, 5], [2, 2, -5]]], float)
    assert M.nme_2d(gt * np.array([1, 1, 0]), gt)[0] == 0
    with pytest.raises(ValueError, match="both be"):
        M.nme_2d(np.zeros((1, 3, 2)), np.zeros((1, 4, 2)))
    with pytest.raises(ValueError, match="zero area"):
        M.nme_2d(np.zeros((1, 3, 2)), np.zeros((1, 3, 2)))


def test_yaw_bins_and_all_is_mean_of_bin_means():
    yaw = np.array([0, -30, 30.5, 60, -61, 90, 95])
    assert M.yaw_bin(yaw).tolist() == [0, 0, 1, 1, 2, 2, -1]
    nme = np.array([0.01, 0.03, 0.02, 0.02, 0.05, 0.07, 0.9])
    r = M.nme_by_yaw(nme, yaw)
    assert r["[0,30]"] == pytest.approx(2.0) and r["(30,60]"] == pytest.approx(2.0)
    assert r["(60,90]"] == pytest.approx(6.0) and r["All"] == pytest.approx(10 / 3)
    assert r["counts"] == [2, 2, 2]


def test_empty_bin_is_nan_and_left_out():
    r = M.nme_by_yaw(np.array([0.01, 0.03]), np.array([10, 50]))
    assert math.isnan(r["(60,90]"]) and r["All"] == pytest.approx(2.0)


def test_pose_mae_drops_out_of_range():
    gt = np.array([[10, 0, 0], [20, 5, 5], [120, 0, 0]], float)
    pred = np.array([[12, 1, -1], [20, 5, 8], [0, 0, 0]], float)
    r = M.pose_mae(pred, gt)
    assert r["n"] == 2 and r["yaw"] == pytest.approx(1) and r["pitch"] == pytest.approx(0.5)
    assert r["roll"] == pytest.approx(2) and r["mean"] == pytest.approx(3.5 / 3)
