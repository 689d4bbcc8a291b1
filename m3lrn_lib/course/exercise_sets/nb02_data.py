"""Exercises of notebook 02 on the data (keys 02.D1-02.D4, beside the backbone's 02.1-02.3).

Expected answers are computed, never stored."""
import numpy as np

from ...data import crop
from ..exercises import close, exercise


@exercise("02.D1", "Crop coordinates: map the image point `point` (x, y) into the 120x120 crop whose box "
          "in the image is `box` = [x0, y0, x1, y1].",
          "Subtract the box's top-left corner, then scale by 120 / (x1 - x0).",
          solution="(np.asarray(point, float) - np.asarray(box, float)[:2]) * 120 / (box[2] - box[0])")
def _to_crop(answer, point=None, box=None):
    want = crop.points_to_crop(np.asarray(point, np.float64)[None], np.asarray(box, np.float64))[0]
    ok = close(np.asarray(answer, np.float64).reshape(-1), want.astype(np.float64), 1e-2)
    return ok, "right" if ok else f"got {np.round(np.asarray(answer, float), 2).tolist()}"


@exercise("02.D2", "A face has pose `pose` = (yaw, pitch, roll) in degrees. What is its pose after a "
          "horizontal flip of the crop?",
          "Mirroring is F R F with F = diag(-1, 1, 1): which rotations change direction?",
          solution="[-pose[0], pose[1], -pose[2]]")
def _flip_pose(answer, pose=None):
    want = np.asarray(pose, np.float64) * [-1, 1, -1]
    ok = close(np.asarray(answer, np.float64).reshape(-1), want, 1e-3)
    return ok, "right" if ok else f"{np.asarray(answer, float).tolist()} is not the mirrored pose"


@exercise("02.D3", "Whiten the raw parameters `params` (62,) with the training set's `mean` and `std`, "
          "as the network's regression target.",
          "target = (params - mean) / std, element-wise.",
          solution="(np.asarray(params) - mean) / std")
def _whiten(answer, params=None, mean=None, std=None):
    want = (np.asarray(params, np.float64) - mean) / std
    ok = close(np.asarray(answer, np.float64).reshape(-1), want, 1e-3)
    return ok, "right" if ok else "not the whitened vector (check the order: subtract, then divide)"


@exercise("02.D4", "Which fraction of the test set `dataset` has |yaw| in the large-pose bin (60, 90] "
          "degrees?",
          "dataset.poses is (N, 3) radians (yaw, pitch, roll): convert yaw to degrees, take abs.",
          solution="abs_yaw = np.abs(np.degrees(dataset.poses[:, 0]))\n"
                   "float(((abs_yaw > 60) & (abs_yaw <= 90)).mean())")
def _large_pose(answer, dataset=None):
    yaw = np.abs(np.degrees(dataset.poses[:, 0]))
    want = float(((yaw > 60) & (yaw <= 90)).mean())
    ok = abs(float(answer) - want) < 1e-3
    return ok, f"{float(answer):.3f}" + ("" if ok else " is not the fraction of |yaw| in (60, 90]")
