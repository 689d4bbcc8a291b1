"""Exercises of notebook 06 (benchmarks, Sec. 4). Expected answers are computed from the metrics."""
import numpy as np

from ... import metrics
from ..exercises import exercise


@exercise("06.1", "The NME of one face (Eq. 8) in percent: mean 2D distance between the predicted and the "
          "ground-truth landmarks (`pred`, `gt`: (68, 2) pixels), divided by sqrt(w*h) of the "
          "ground-truth landmarks' bounding box, times 100.",
          "w and h are max - min of the ground-truth x and y; take the Euclidean distance per point, "
          "average over the 68 points, divide by sqrt(w * h), multiply by 100 "
          "(m3lrn_lib.metrics.nme_2d does it for a batch).",
          solution="box_w, box_h = gt.max(0) - gt.min(0)\n"
                   "float(100 * np.linalg.norm(pred - gt, axis=1).mean() / np.sqrt(box_w * box_h))")
def _nme(answer, pred, gt):
    want = float(metrics.nme_2d(np.asarray(pred)[None], np.asarray(gt)[None])[0] * 100)
    got = float(answer)
    ok = abs(got - want) <= 1e-3 * max(1.0, abs(want))
    return ok, f"NME {got:.4f}%" + ("" if ok else " is not this face's NME (did you use the box of the prediction, "
                                                  "or forget the x100?)")


@exercise("06.2", "The AFLW2000-3D 'All' column for the faces with per-face NME `nme` (%) and ground-truth yaw "
          "`yaw` (degrees): bin |yaw| into [0,30], (30,60], (60,90], average each bin, then average the "
          "three bin means.",
          "'All' is the mean of the three bin means, not the mean over all faces: each pose range weighs "
          "the same however many faces it has (m3lrn_lib.metrics.nme_by_yaw).",
          solution="abs_yaw = np.abs(yaw_10)\n"
                   "bins = [abs_yaw <= 30, (abs_yaw > 30) & (abs_yaw <= 60), (abs_yaw > 60) & (abs_yaw <= 90)]\n"
                   "float(np.mean([nme_10[b].mean() for b in bins if b.any()]))")
def _all(answer, nme, yaw):
    want = metrics.nme_by_yaw(np.asarray(nme, np.float64) / 100, yaw)["All"]
    plain = float(np.mean(nme))
    got = float(answer)
    ok = abs(got - want) <= 1e-6 * max(1.0, abs(want))
    msg = f"All = {got:.4f}"
    if not ok and abs(got - plain) <= 1e-6 * max(1.0, abs(plain)):
        msg += " is the plain mean over all faces, not the mean of the bin means"
    elif not ok:
        msg += " is not the mean of the bin means"
    return ok, msg


@exercise("06.3", "Head-pose MAE (Sec. 4.2): the mean absolute *yaw* error in degrees of the predictions "
          "`pred` (B, 3) against the ground truth `gt` (B, 3) (yaw, pitch, roll in degrees), after "
          "dropping every face whose ground truth has any angle outside [-99, 99].",
          "Drop a face if any of its three ground-truth angles has |angle| > 99 (that is how the 31 of "
          "AFLW2000-3D's 2000 faces are removed), then average |pred_yaw - gt_yaw| over the rest "
          "(m3lrn_lib.metrics.pose_mae).",
          solution="keep = (np.abs(pose_gt) <= 99).all(axis=1)\n"
                   "float(np.abs(pose_pred[keep, 0] - pose_gt[keep, 0]).mean())")
def _pose(answer, pred, gt):
    want = metrics.pose_mae(pred, gt)["yaw"]
    keep_all = float(np.mean(np.abs(np.asarray(pred)[:, 0] - np.asarray(gt)[:, 0])))
    got = float(answer)
    ok = abs(got - want) <= 1e-6 * max(1.0, abs(want))
    msg = f"yaw MAE {got:.4f} deg"
    if not ok and abs(got - keep_all) <= 1e-6 * max(1.0, abs(keep_all)):
        msg += " keeps the faces that the protocol drops"
    elif not ok:
        msg += " is not the protocol's yaw MAE"
    return ok, msg
