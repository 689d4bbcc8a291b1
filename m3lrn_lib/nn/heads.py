"""First-stage decoders Dec_m(z), m in {p, s, e} (Sec. 3.1, Fig. 2, supplement B).

The image feature z (B, F) goes through three *separate* heads that predict the whitened
pose (12), shape (K_s) and expression (K_e) parameters; their outputs are concatenated in
the library's layout ``[pose | shape | expression]`` (see :mod:`m3lrn_lib.geometry`).

- :class:`ParamHeads`: one Linear layer per head (the paper's "FC layers").
- :class:`ExtraMLPHeads`: the supplement's Table S2 control, "MLPs with ReLU and BN ...
  after the latent image code z", sized so that the first-stage-only model has about as many
  parameters as the full M^3-LRN (see :func:`hidden_for_budget`).
"""
from __future__ import annotations

import torch
from torch import nn

from ..geometry import POSE_DIM

__all__ = ["ParamHeads", "ExtraMLPHeads", "hidden_for_budget"]


class ParamHeads(nn.Module):
    """Three FC heads: z (B, F) -> whitened params (B, 12 + K_s + K_e).

    Attributes ``pose``, ``shape``, ``exp`` are the Linear layers (F->12, F->K_s, F->K_e).
    """

    def __init__(self, in_dim: int, n_shape: int = 40, n_exp: int = 10):
        super().__init__()
        self.pose = nn.Linear(in_dim, POSE_DIM)
        self.shape = nn.Linear(in_dim, n_shape)
        self.exp = nn.Linear(in_dim, n_exp)
        self.n_params = POSE_DIM + n_shape + n_exp

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.pose(z), self.shape(z), self.exp(z)], dim=1)


def _mlp_head(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, out_dim))


class ExtraMLPHeads(nn.Module):
    """Table S2 control: per head ``Linear(F, h) -> BN -> ReLU -> Linear(h, k)``.

    The last layer of every head is a plain Linear (the outputs are signed whitened
    parameters). Parameters: ``3 * (F h + 2 h) + h * (12 + K_s + K_e) + (12 + K_s + K_e)``.
    """

    def __init__(self, in_dim: int, n_shape: int = 40, n_exp: int = 10, hidden: int = 256):
        super().__init__()
        if hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {hidden}")
        self.pose = _mlp_head(in_dim, hidden, POSE_DIM)
        self.shape = _mlp_head(in_dim, hidden, n_shape)
        self.exp = _mlp_head(in_dim, hidden, n_exp)
        self.n_params = POSE_DIM + n_shape + n_exp
        self.hidden = hidden

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.pose(z), self.shape(z), self.exp(z)], dim=1)


def hidden_for_budget(in_dim: int, n_shape: int, n_exp: int, extra: int) -> int:
    """Hidden width h such that :class:`ExtraMLPHeads` has about ``extra`` more parameters
    than :class:`ParamHeads` (the supplement adds 0.8M; we match our own measured M2FA + LGS)."""
    d = POSE_DIM + n_shape + n_exp
    base = in_dim * d + d
    per_h = 3 * (in_dim + 2) + d  # parameters added per hidden unit
    return max(1, round((extra + base - d) / per_h))
