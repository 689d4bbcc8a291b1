"""Measuring one network on an AFLW2000-3D-layout test set (real or our synthetic one).

:func:`evaluate_network` runs the benchmark protocol once per network and returns every number
the tables need:

- crops from the ground-truth landmarks (:func:`m3lrn_lib.data.crop.box_from_landmarks`),
  predictions mapped back to the original image through the crop box, then
- ``nme68``: Eq. 8 NME by |yaw| bin (Tables 1-4, S2), refined landmarks L^r (and
  ``nme68_coarse`` for L^c);
- ``nme21``: the 21-point AFLW variant computed from the same images (ground truth mapped from
  68 to AFLW's points; the synthetic / subset counterpart of Table 5 and the backbone study);
- ``pose``: yaw/pitch/roll MAE, dropping samples whose ``Pose_Para`` angles leave [-99, 99] deg
  (Tables 6-8, S2). The ground-truth rotation is converted to our Euler convention
  (:func:`m3lrn_lib.data.layouts.euler_from_pose_para`) so both sides use one convention;
  the |yaw| bins use the annotation's own ``Pose_Para`` yaw, as the public protocol does;
- ``protocol1`` / ``protocol2``: Table 9 on the ground-truth meshes rebuilt from the stored
  parameters (only sets that have them: our synthetic ones);
- ``florence``: Table 10 on synthetic renders (:func:`m3lrn_lib.protocols.florence_benchmark`).
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from .. import geometry, metrics
from ..protocols import florence_benchmark, protocol1_nme, protocol2_nme

__all__ = ["data_kind", "evaluate_network", "gt_vertices"]


def data_kind(dataset) -> str:
    """``'synthetic'`` for sets made by :mod:`m3lrn_lib.data` (they store ``m3lrn_params`` and a
    manifest), ``'real'`` otherwise."""
    if getattr(dataset, "manifest", None) and dataset.manifest.get("generator_version") is not None:
        return "synthetic"
    if any(p is not None for p in getattr(dataset, "params_img", [])):
        return "synthetic"
    return "real"


def gt_vertices(model, params_img, height: float) -> np.ndarray:
    """Ground-truth dense mesh (N, 3) in the image frame from image-frame parameters (D,)."""
    p = torch.as_tensor(np.asarray(params_img, np.float64)[None])
    return geometry.to_image(geometry.reconstruct_vertices(model, p), float(height))[0].numpy()


def _bins(nme, yaw) -> dict:
    r = metrics.nme_by_yaw(nme, yaw)
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}


def paper_protocol_pose(pred_deg, pose_para) -> dict:
    """Head pose as the paper's code measures it (Tables 6-8): its reading of the predicted rotation
    (:func:`m3lrn_lib.geometry.matrix_to_angles`, ``"paper_code"``) against the annotation's ``Pose_Para``
    taken as stored, (pitch, yaw, roll) reordered to (yaw, pitch, roll).

    Args:
        pred_deg: (n, 3) predicted (yaw, pitch, roll) in our convention, degrees.
        pose_para: (n, >=3) ``Pose_Para`` rows (radians).
    Returns:
        dict of (n, 3) degrees, (yaw, pitch, roll) order: ``pred`` (the paper's reading of the prediction),
        ``gt`` (``Pose_Para`` as the paper's code reads it) and ``perfect`` (the paper's reading of the
        annotated rotation itself: what a perfect prediction scores in that protocol).
    """
    R_pred = geometry.euler_to_matrix(torch.as_tensor(np.radians(np.asarray(pred_deg, np.float64))))
    pp = torch.as_tensor(np.asarray(pose_para, np.float64)[:, :3])
    R_gt = geometry.angles_to_matrix(pp, "pose_para")
    as_deg = lambda t: np.degrees(t.numpy())  # noqa: E731
    return {"pred": as_deg(geometry.matrix_to_angles(R_pred, "paper_code")),
            "gt": np.degrees(pp.numpy()[:, [1, 0, 2]]),
            "perfect": as_deg(geometry.matrix_to_angles(R_gt, "paper_code"))}


def evaluate_network(predictor, dataset, max_faces: int | None = None, protocols: bool = True,
                     florence_subjects: int = 4, batch_images: int = 32, log=None, keep_arrays: bool = False) -> dict:
    """All measurements of one network (see the module docstring).

    Args:
        predictor: a dense :class:`m3lrn_lib.predict.Predictor` around the network.
        dataset: an :class:`m3lrn_lib.data.AFLW2000Dataset` (real AFLW2000-3D or synthetic).
        max_faces: use only the first N images; protocols: compute Table 9 where the data allow;
        florence_subjects: synthetic Florence subjects (x15 renders; 0 to skip Table 10).
        log: optional ``log(str)`` for progress lines.
        keep_arrays: also return the per-face arrays under ``arrays`` (numpy, not JSON): ``landmarks``
            (n, 68, 2) refined and ``landmarks_coarse`` (n, 68, 2) first-stage predictions in image
            pixels, ``gt`` (n, 68, 2), ``nme`` / ``nme_coarse`` (n,) per-face NME (Eq. 8, fraction of
            sqrt(w*h)), ``yaw`` (n,) ground-truth yaw in degrees, ``pose`` / ``gt_pose`` (n, 3) degrees.
    Returns:
        dict with ``nme68``, ``nme68_coarse``, ``nme21``, ``pose`` (head-pose MAE in our convention, +
        ``n``, ``dropped``), ``pose_paper`` (the same in the paper's protocol, :func:`paper_protocol_pose`,
        with ``perfect``: the MAE of a perfect prediction in it),
        ``protocol1``/``protocol2``/``florence`` (None when not computed), ``n``, ``seconds``, and
        ``throughput``: faces/s of the NME pass (decoding, cropping, the network, the outputs and, with
        ``protocols``, the per-face protocol work), its seconds and the seconds per stage (``read``: the
        image files, then the predictor's :attr:`~m3lrn_lib.predict.Predictor.timings`).
    """
    from ..predict.inputs import load_image

    t0 = time.perf_counter()
    n = len(dataset) if max_faces is None else min(max_faces, len(dataset))
    if n == 0:
        raise ValueError("the test set is empty")
    model = predictor.model
    lmk, lmk_c, pose, p1, p2 = [], [], [], [], []
    with_params = protocols and data_kind(dataset) == "synthetic"
    if hasattr(predictor, "reset_timings"):
        predictor.reset_timings()
    t_loop, read_s = time.perf_counter(), 0.0
    for lo in range(0, n, batch_images):
        idx = range(lo, min(n, lo + batch_images))
        t_read = time.perf_counter()
        imgs = [load_image(dataset.paths[i]) for i in idx]
        read_s += time.perf_counter() - t_read
        boxes = dataset.boxes[lo:lo + len(imgs)].astype(np.float64)
        r = predictor.predict_crops(imgs, boxes)
        lmk.append(r["landmarks"])
        lmk_c.append(metrics.points_to_image(r["lmk_coarse"], boxes))
        pose.append(np.degrees(r["pose"]))
        if with_params:
            for j, i in enumerate(idx):
                if dataset.params_img[i] is None:
                    continue
                gv = gt_vertices(model, dataset.params_img[i], imgs[j].shape[0])
                p1.append(protocol1_nme(r["vertices_image"][j], gv, model.landmarks))
                p2.append(protocol2_nme(r["vertices_image"][j], gv, model.landmarks))
        if log:
            log(f"  {min(n, lo + batch_images)}/{n} images")
    loop_s = time.perf_counter() - t_loop
    stages = {"read": round(read_s, 3), **{k: round(v, 3) for k, v in getattr(predictor, "timings", {}).items()}}
    lmk, lmk_c, pose = np.concatenate(lmk), np.concatenate(lmk_c), np.concatenate(pose)
    gt = dataset.landmarks_img[:n]
    yaw = np.degrees(dataset.pose_para[:n, 1])  # bins by the annotation's own yaw (Pose_Para)
    gt_pose = np.degrees(dataset.poses[:n])
    keep = metrics.pose_keep_mask(np.degrees(dataset.pose_para[:n, :3]))
    dropped = int((~keep).sum())
    paper = paper_protocol_pose(pose, dataset.pose_para[:n])
    nme, nme_c = metrics.nme_2d(lmk, gt), metrics.nme_2d(lmk_c, gt)
    out = {
        "n": int(n),
        "nme68": _bins(nme, yaw),
        "nme68_coarse": _bins(nme_c, yaw),
        "nme21": _bins(metrics.nme_aflw21(lmk, metrics.aflw21_from_68(gt)), yaw),
        "pose": {**metrics.pose_mae(pose[keep], gt_pose[keep], limit=math.inf), "dropped": dropped,
                 "convention": "ours"},
        "pose_paper": {**metrics.pose_mae(paper["pred"][keep], paper["gt"][keep], limit=math.inf),
                       "dropped": dropped, "convention": "paper_code vs Pose_Para",
                       "perfect": metrics.pose_mae(paper["perfect"][keep], paper["gt"][keep], limit=math.inf)},
        "protocol1": {"nme": float(np.mean(p1) * 100), "n": len(p1)} if p1 else None,
        "protocol2": {"nme": float(np.mean(p2) * 100), "n": len(p2)} if p2 else None,
        "florence": None,
        "throughput": {"faces_per_s": round(n / loop_s, 1), "seconds": round(loop_s, 2), "stages": stages,
                       "engine": getattr(predictor, "engine", None)},
    }
    if florence_subjects and predictor.dense:
        if log:
            log(f"  synthetic Florence: {florence_subjects} subjects x 15 views")
        fl = florence_benchmark(predictor.predict_boxes, model, florence_subjects)
        out["florence"] = {k: fl[k] for k in ("rmse", "by_yaw", "by_pitch", "n_views")}
    out["seconds"] = round(time.perf_counter() - t0, 2)
    if keep_arrays:
        out["arrays"] = {"landmarks": lmk[..., :2], "landmarks_coarse": lmk_c[..., :2],
                         "gt": np.asarray(gt)[..., :2], "nme": nme, "nme_coarse": nme_c, "yaw": yaw,
                         "pose": pose, "gt_pose": gt_pose, "pose_paper": paper["pred"], "gt_pose_paper": paper["gt"]}
    return out
