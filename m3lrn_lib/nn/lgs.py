"""LGS: landmark geometry support, the landmark-to-3DMM regressor (Sec. 3.3, Fig. S2).

Shape walk-through (N_l = 68, batch omitted)::

    L^r                              68 x 3      (crop image frame, pixels)
    mlp(64, 64, 64, 128, 1024)       68 x 1024   shared 1x1 Conv1d + BN + ReLU per layer
    max-pool over points             1024        holistic landmark feature
    converters (separate Linear)     12 / K_s / K_e   -> alpha_hat (whitened), Eq. 5-6

The converters are plain Linear layers: alpha_hat is a signed whitened parameter vector, so
no BN + ReLU at the output (the public code clamps it to >= 0; see the notes).

Options for the paper's studies:

* ``targets`` (Table 2 rows 4-6): ``'pose'`` builds only the 12-d converter,
  ``'shape+exp'`` only the K_s and K_e converters, ``'all'`` the three. :meth:`LGS.forward`
  always returns a full (B, D) vector in the library layout; entries whose converter does
  not exist are **zeros** (the whitened mean) and :attr:`LGS.mask` (D,) bool says which
  entries are predicted. The losses L_3DMM_lmk and L_g use only the masked entries.
* ``setting`` (Table 3): ``'default'`` reads L^r; ``'setting1'`` reads L^c (landmark
  geometry regressed at the refinement step -- the caller passes L^c, see
  :class:`m3lrn_lib.nn.model.M3LRN`); ``'setting2'`` also concatenates z, alpha_s, alpha_e
  to the 1024-d holistic feature (a second multi-modal aggregation: 1024 + 1280 + 40 + 10 =
  2354 -> converters).
"""
from __future__ import annotations

import torch
from torch import nn

from ..geometry import POSE_DIM
from .m2fa import PointMLP, check_points

__all__ = ["LGS", "LGS_TARGETS", "LGS_SETTINGS", "target_mask"]

LGS_TARGETS = ("pose", "shape+exp", "all")
LGS_SETTINGS = ("default", "setting1", "setting2")


def target_mask(targets: str, n_shape: int, n_exp: int) -> torch.Tensor:
    """(12 + K_s + K_e,) bool mask of the parameters an LGS with ``targets`` predicts."""
    if targets not in LGS_TARGETS:
        raise ValueError(f"lgs targets must be one of {LGS_TARGETS}, got {targets!r}")
    m = torch.zeros(POSE_DIM + n_shape + n_exp, dtype=torch.bool)
    if targets in ("pose", "all"):
        m[:POSE_DIM] = True
    if targets in ("shape+exp", "all"):
        m[POSE_DIM:] = True
    return m


class LGS(nn.Module):
    """Landmark-to-3DMM regressor: (B, N, 3) landmarks -> (B, 12 + K_s + K_e) whitened alpha_hat.

    Args:
        n_points, n_shape, n_exp: N_l, K_s, K_e.
        targets: ``'pose'`` | ``'shape+exp'`` | ``'all'``.
        setting: ``'default'`` | ``'setting1'`` | ``'setting2'`` (only setting2 changes this
            module: its converters read ``[holistic 1024, z, alpha_s, alpha_e]``).
        z_dim: image feature size, used by setting2.
    """

    def __init__(self, n_points: int = 68, n_shape: int = 40, n_exp: int = 10, targets: str = "all",
                 setting: str = "default", z_dim: int = 1280):
        super().__init__()
        if setting not in LGS_SETTINGS:
            raise ValueError(f"lgs setting must be one of {LGS_SETTINGS}, got {setting!r}")
        self.register_buffer("mask", target_mask(targets, n_shape, n_exp), persistent=False)
        self.n_points, self.n_shape, self.n_exp, self.z_dim = n_points, n_shape, n_exp, z_dim
        self.targets, self.setting = targets, setting
        self.encoder = PointMLP([3, 64, 64, 64, 128, 1024])
        feat = 1024 + (z_dim + n_shape + n_exp if setting == "setting2" else 0)
        self.pose = nn.Linear(feat, POSE_DIM) if targets in ("pose", "all") else None
        self.shape = nn.Linear(feat, n_shape) if targets in ("shape+exp", "all") else None
        self.exp = nn.Linear(feat, n_exp) if targets in ("shape+exp", "all") else None

    def forward(self, lmk: torch.Tensor, z: torch.Tensor | None = None, alpha_s: torch.Tensor | None = None,
                alpha_e: torch.Tensor | None = None, return_feature: bool = False):
        """(B, N, 3) -> (B, D) whitened alpha_hat (zeros where :attr:`mask` is False).

        ``z, alpha_s, alpha_e`` are used only by setting2. With ``return_feature`` also return
        the (B, 1024) holistic landmark feature (or the (B, 2354) vector for setting2).
        """
        check_points(lmk, self.n_points, "landmarks fed to LGS")
        feat = self.encoder(lmk.transpose(1, 2)).amax(dim=2)  # (B, 1024)
        if self.setting == "setting2":
            if z is None or alpha_s is None or alpha_e is None:
                raise ValueError("LGS setting2 needs z, alpha_s and alpha_e")
            feat = torch.cat([feat, z, alpha_s, alpha_e], dim=1)  # (B, 2354)
        B = lmk.shape[0]
        zeros = lambda k: feat.new_zeros(B, k)  # noqa: E731
        out = torch.cat([self.pose(feat) if self.pose is not None else zeros(POSE_DIM),
                         self.shape(feat) if self.shape is not None else zeros(self.n_shape),
                         self.exp(feat) if self.exp is not None else zeros(self.n_exp)], dim=1)
        return (out, feat) if return_feature else out
