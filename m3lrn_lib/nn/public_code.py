"""Replicas of the public code's defects, shown in notebooks 03 and 04 next to the fixed versions.

The authors' released code differs from the paper in places; these functions rebuild those
places exactly so that a notebook can show what goes wrong. Nothing in the library trains with them.

- :func:`public_output_layer` -- M2FA's last layer with ``BatchNorm1d + ReLU``: the residual
  added to L^c can never be negative (notebook 03; the library's :class:`~m3lrn_lib.nn.M2FA`
  ends in a plain convolution).
- :func:`public_loss_geometry` -- the cycle loss L_g of Eq. 6 with mis-aligned slices
  (notebook 04; the library's is :func:`~m3lrn_lib.nn.losses.loss_geometry`).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["public_output_layer", "public_loss_geometry"]


def public_output_layer(channels: int = 128) -> nn.Module:
    """The public code's last M2FA layer: ``Conv1d(128, 3) + BatchNorm1d(3) + ReLU`` -- its
    output (the residual added to L^c) can never be negative. (B, 128, N) -> (B, 3, N)."""
    return nn.Sequential(nn.Conv1d(channels, 3, 1), nn.BatchNorm1d(3), nn.ReLU())


def public_loss_geometry(alpha: torch.Tensor, alpha_hat: torch.Tensor) -> torch.Tensor:
    """The public code's L_g: ``mse(alpha_hat[:, :50], alpha[:, 12:62])`` -- the first 50
    entries of one vector (12 pose + 38 shape) against shape+expression of the other."""
    return nn.functional.mse_loss(alpha_hat[:, :50], alpha[:, 12:62])
