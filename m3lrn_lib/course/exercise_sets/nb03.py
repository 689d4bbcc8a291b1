"""Exercises of notebook 03 (M2FA, Sec. 3.2). Expected answers are computed, never stored."""
import numpy as np

from ...nn.m2fa import M2FA, shape_walkthrough
from ..exercises import close, exercise


def _shape(answer):
    return tuple(int(a) for a in np.asarray(answer).reshape(-1))


@exercise("03.1", "Shape (points, channels) of the multi-modal point feature MMPF for an M2FA built "
          "with `modalities` (default 'all') -- without the batch dimension.",
          "MMPF = [low-level point feature (64) ; the multi-modal vector repeated over the points]. "
          "The vector holds the 1024-d global point feature, z (1280) and alpha_s, alpha_e (40, 10) "
          "for 'all'; fewer for 'points' / 'points+image'.",
          solution="dict(shape_walkthrough(M2FA(modalities=\"points+image\")))[\"mmpf\"]")
def _mmpf(answer, modalities="all"):
    want = dict(shape_walkthrough(M2FA(modalities=modalities)))["mmpf"]
    ok = _shape(answer) == want
    return ok, f"{_shape(answer)}" + ("" if ok else f" is not the MMPF shape for modalities={modalities!r}")


@exercise("03.2", "Multiply-adds per face of M2FA's first decoder layer (MMPF channels -> 512, a 1x1 "
          "conv over the 68 points) when the MMPF is built literally.",
          "A 1x1 conv costs points x in_channels x out_channels multiply-adds.",
          solution="inter[\"mmpf\"].shape[1] * inter[\"mmpf\"].shape[2] * inter[\"dec512\"].shape[2]")
def _macs(answer):
    m = M2FA()
    want = m.n_points * m.mmpf_dim * 512
    ok = close(float(answer), float(want), 0.5)
    return ok, f"{float(answer):,.0f}" + ("" if ok else " multiply-adds is not right")


@exercise("03.3", "Given the (B, 68, 3) residual `residual` that a decoder output through BatchNorm + "
          "ReLU (the public code) produced, what is the smallest value it can contain?",
          "ReLU(x) = max(x, 0): which side of zero can the output never reach?",
          solution="0.0   # ReLU(x) = max(x, 0) is never negative")
def _relu(answer):
    ok = close(float(answer), 0.0, 1e-9)
    return ok, "right: the refined landmarks can only move towards +x, +y, +z" if ok else \
        f"{answer} is not the lower bound of a ReLU output"
