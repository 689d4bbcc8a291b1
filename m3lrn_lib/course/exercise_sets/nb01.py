"""Exercises of notebook 01 (3DMM basics). Expected answers are computed, never stored."""
import math

import numpy as np
import torch

from ... import geometry
from ...morphable import face_proportions, load_face_model
from ..exercises import close, exercise


@exercise("01.1", "Inter-ocular distance (outer eye corners, landmarks 36 and 45) of the "
          "model's mean face, in millimetres.",
          "Index the mean vertices with model.landmarks, then take the norm of point 45 minus point 36.",
          solution="float(np.linalg.norm(model.mean[model.landmarks][45] - model.mean[model.landmarks][36]))")
def _interocular(answer, model=None):
    model = load_face_model(model)
    want = face_proportions(model.mean[model.landmarks])["interocular"]
    ok = abs(float(answer) - want) < 0.5
    return ok, f"{float(answer):.1f} mm" + ("" if ok else " is not the distance between points 36 and 45")


@exercise("01.2", "The yaw, pitch and roll (degrees) of the face with parameters `params` (1, 62).",
          "Split the pose from the parameters, decompose P into s, R, t (geometry.pose_to_sRt) and "
          "convert R with geometry.matrix_to_euler; remember the result is in radians.",
          solution="P_m, _, _ = geometry.split_params(mystery)\n"
                   "s_m, R_m, t_m = geometry.pose_to_sRt(P_m)\n"
                   "np.degrees(geometry.matrix_to_euler(R_m)[0].numpy()).tolist()")
def _euler(answer, params=None):
    want = [math.degrees(v) for v in geometry.params_to_euler(params)[0].tolist()]
    ok = close(np.asarray(answer, dtype=np.float64).reshape(-1), np.array(want), 0.5)
    return ok, "angles match" if ok else f"got {np.round(np.asarray(answer, float), 1).tolist()}"


@exercise("01.3", "After a horizontal flip of the image, which landmark index does the right "
          "mouth corner (48) become, and which does the nose tip (30) become? Answer a pair.",
          "Mirroring swaps left and right: look at model.landmark_mirror (or think of the iBUG chart).",
          solution="(int(model.landmark_mirror[48]), int(model.landmark_mirror[30]))")
def _mirror(answer, model=None):
    model = load_face_model(model)
    want = (int(model.landmark_mirror[48]), int(model.landmark_mirror[30]))
    ok = tuple(int(a) for a in answer) == want
    return ok, "right" if ok else f"{tuple(answer)} is not the mirrored pair"


@exercise("01.4", "Scale s (pixels per millimetre) of the pose P built by "
          "geometry.make_pose(0.3, 0.1, 0.0, scale, 60, 60) when P is given as `pose` (1, 12).",
          "The rows of P[:, :3] are s times unit vectors: take a row norm.",
          solution="float(torch.as_tensor(pose).reshape(3, 4)[0, :3].norm())")
def _scale(answer, pose=None):
    s, _, _ = geometry.pose_to_sRt(torch.as_tensor(pose).reshape(-1, 3, 4))
    ok = abs(float(answer) - float(s[0])) < 1e-3
    return ok, f"s = {float(answer):.4f}"


@exercise("01.5", "Which share of the shape variance of the embedded model version 2 (150 components) do the "
          "40 regressed components hold? A fraction between 0 and 1.",
          "The prior variance of a component is its std squared: take full_shape_std from model_v2.full_basis(), "
          "then sum the squares of the leading model_v2.n_shape entries and divide by the sum of all squares.",
          solution="float((full_shape_std[:model_v2.n_shape] ** 2).sum() / (full_shape_std ** 2).sum())")
def _regressed_share(answer, model=None):
    model = load_face_model("embedded-v2" if model is None else model)
    std = model.full_basis()[1].astype(np.float64)
    k = model.n_shape
    want = float((std[:k] ** 2).sum() / (std ** 2).sum())
    got = float(answer)
    if abs(got - want) < 2e-3:
        msg = f"{got:.3f}: the other {model.n_shape_full - k} components hold {1 - got:.3f} of the model's variance"
        kept, regressed = model.meta.get("shape_variance_kept"), model.meta.get("shape_variance_regressed")
        if kept and regressed:  # the model file also records the shares of its training population
            msg += (f" (of the variance of the faces the model was built from, the {model.n_shape_full} components "
                    f"keep {float(kept):.3f} and the {k} regressed ones {float(regressed):.3f})")
        return True, msg
    if abs(got - 100 * want) < 0.2:
        return False, f"{got:.1f} looks like a percentage: give a fraction between 0 and 1"
    if abs(got - float(std[:k].sum() / std.sum())) < 2e-3:
        return False, f"{got:.3f} is the share of the stds, not of the variances (square them first)"
    return False, f"{got:.3f} is not the share of the variance held by the leading {k} components"
