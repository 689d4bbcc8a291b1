"""Exercises of notebook 02 (backbone regression). Expected answers are computed, never stored."""
import math

import torch

from ... import geometry
from ...nn.heads import ParamHeads
from ..exercises import exercise


@exercise("02.1", "How many trainable parameters do the three FC heads (pose 12, shape 40, "
          "expression 10) have on top of the 1280-d image feature z?",
          "Each head is one Linear layer: in_features x out_features weights plus out_features biases.",
          solution="sum(p.numel() for p in net.heads.parameters() if p.requires_grad)")
def _heads(answer, z_dim=1280, n_shape=40, n_exp=10):
    want = sum(p.numel() for p in ParamHeads(z_dim, n_shape, n_exp).parameters())
    ok = int(answer) == want
    return ok, f"{int(answer):,} parameters" + ("" if ok else " is not the count of the three heads")


@exercise("02.2", "The network output `z` (62,) is whitened. With the dataset statistics `mean`, "
          "`std`, what is the yaw of that face in degrees?",
          "Un-whiten first: alpha = z * std + mean (geometry.unwhiten), then geometry.params_to_euler "
          "on a batch of one; the angles come out in radians.",
          solution="raw0 = geometry.unwhiten(z0, torch.as_tensor(train_set.param_mean), "
                   "torch.as_tensor(train_set.param_std))\n"
                   "math.degrees(float(geometry.params_to_euler(raw0[None])[0, 0]))")
def _yaw(answer, z=None, mean=None, std=None):
    raw = geometry.unwhiten(torch.as_tensor(z), torch.as_tensor(mean), torch.as_tensor(std))
    want = math.degrees(float(geometry.params_to_euler(raw.reshape(1, -1))[0, 0]))
    ok = abs(float(answer) - want) < 0.5
    return ok, f"{float(answer):.1f} degrees" + ("" if ok else " does not match the un-whitened pose")


@exercise("02.3", "A training crop of a face with yaw +35 degrees is flipped horizontally by the "
          "augmentation. What is the yaw (degrees) of the flipped face's parameters?",
          "A mirror image turns the head the other way; try geometry.mirror_params on a pose made "
          "with geometry.make_pose.",
          solution="p35 = torch.cat([geometry.make_pose(math.radians(35), 0.0, 0.0, 0.5, 60, 60), "
                   "torch.zeros(1, model.n_params - 12)], 1)\n"
                   "math.degrees(float(geometry.params_to_euler(geometry.mirror_params(model, p35))[0, 0]))")
def _flip(answer, model=None):
    from ...morphable import load_face_model
    model = load_face_model(model)
    p = torch.cat([geometry.make_pose(math.radians(35), 0.0, 0.0, 0.5, 60, 60), torch.zeros(1, model.n_params - 12)], 1)
    want = math.degrees(float(geometry.params_to_euler(geometry.mirror_params(model, p))[0, 0]))
    ok = abs(float(answer) - want) < 0.5
    return ok, f"{float(answer):.1f} degrees"
