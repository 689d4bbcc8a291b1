"""The M^3-LRN network: backbone and heads (Sec. 3.1), M2FA (Sec. 3.2), LGS (Sec. 3.3), losses
(Eq. 3-7), the configurable model with every ablation of the paper, parameter counts, and BatchNorm
folding for inference (:mod:`.fold`).

Quick start::

    from m3lrn_lib.morphable import load_face_model
    from m3lrn_lib.nn import M3LRN, M3LRNConfig
    net = M3LRN(load_face_model(), M3LRNConfig.preset("full"), param_mean, param_std).eval()
    out = net(images)            # images (B, 3, 120, 120) normalised (x - 127.5) / 128
    out["lmk_refined"]           # (B, 68, 3) refined landmarks L^r, crop image frame (px)
"""
from .backbone import MobileNetV2, ResNet50, build_backbone
from .counts import count_parameters, describe, parameter_table
from .fold import fold_batchnorm
from .heads import ExtraMLPHeads, ParamHeads, hidden_for_budget
from .lgs import LGS, target_mask
from .losses import LossWeights, loss_3dmm, loss_3dmm_lmk, loss_geometry, loss_lmk, smooth_l1, total_loss, wing_loss
from .m2fa import M2FA, PointMLP, shape_walkthrough
from .model import M3LRN, PRESETS, M3LRNConfig, default_param_stats

__all__ = ["MobileNetV2", "ResNet50", "build_backbone", "ParamHeads", "ExtraMLPHeads", "hidden_for_budget",
           "M2FA", "PointMLP", "shape_walkthrough", "LGS", "target_mask", "LossWeights", "loss_3dmm",
           "loss_lmk", "wing_loss", "smooth_l1", "loss_3dmm_lmk", "loss_geometry", "total_loss",
           "M3LRNConfig", "M3LRN", "PRESETS", "default_param_stats", "count_parameters",
           "parameter_table", "describe", "fold_batchnorm"]
