"""M^2FA: multi-modal / multi-representation feature aggregation (Sec. 3.2, Fig. 3, Fig. S1).

Shape walk-through for the paper's configuration (N_l = 68 points, z 1280-d, K_s = 40,
K_e = 10; batch dimension omitted; every MLP layer is a shared 1x1 Conv1d + BN + ReLU)::

    L^c                         68 x 3      coarse landmarks (crop image frame, pixels)
    mlp(64, 64)                 68 x 64     low-level point feature  (kept for MMPF)
    mlp(64, 128, 1024)          68 x 1024   high-level point feature
    max-pool over points        1024        global point feature
    FC adaptation of alpha_s    40          (Linear + BN + ReLU, dimension kept)
    FC adaptation of alpha_e    10
    concat [global, z, a_s, a_e] 2354       multi-modal feature vector (1024+1280+40+10)
    repeat 68x, append to 68x64 68 x 2418   MMPF
    mlp(512, 256, 128)          68 x 128
    Conv1d(128, 3)              68 x 3      residual (plain linear layer: no BN, no ReLU)
    L^r = L^c + residual        68 x 3      refined landmarks (skip connection)

Design decisions (each one is a switch or documented here):

* **Input frame.** L^c is fed in the 120x120 crop's image frame in pixels (x right, y down,
  z towards the camera), the frame in which L_lmk is computed; the first BN layer takes
  care of the scale. The residual is therefore in pixels too.
* **Output layer.** The public code ends the decoder in BatchNorm + ReLU, so its residual is
  >= 0 and landmarks can only move towards +x/+y/+z. Ours ends in a plain ``Conv1d(128, 3)``
  initialised small (``out_init_std``), so L^r starts at L^c and can move both ways.
* **FC adaptation.** The paper applies "FC layers to these modalities for adaption" and
  the dimensions add up (1024 + 1280 + 40 + 10 = 2354), so adaptation keeps the sizes. We
  adapt alpha_s and alpha_e (Linear + BN + ReLU, 40->40 and 10->10: 2K parameters); z is
  used as it comes out of the backbone, whose last layer already is a learned 1x1 conv + BN
  (``adapt_image=True`` adds a Linear(1280, 1280) + BN + ReLU: +1.6M parameters, more than
  the paper's whole 0.8M budget for M2FA + LGS, which is why it is off by default).
  alpha_s, alpha_e are the first stage's *whitened* outputs (unit scale) and are not detached:
  L_lmk also trains the first stage through them and through L^c.
* **Modalities** (Table 2 rows 1-3): ``modalities='points'`` uses the global point feature
  only (vector 1024, MMPF 68x1088), ``'points+image'`` adds z (2304, 68x2368), ``'all'``
  adds alpha_s, alpha_e (2354, 68x2418).
* **Factorised first decoder layer** (``factorized=True``, default). A 1x1 conv on
  ``[point_i ; g]`` equals ``W_p point_i + W_g g``: the repeated part ``W_g g`` is computed once
  per face instead of 68 times. Same weights, same outputs (tested), but 3.4M instead of 84M
  multiply-adds per face for that layer. Per face, MobileNet-V2 at 120x120 costs 93M
  multiply-adds, M2FA 25M factorised (105M literal), LGS 10M. ``return_intermediates=True``
  always builds the literal MMPF.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["PointMLP", "point_layer", "M2FA", "MODALITIES", "shape_walkthrough"]

MODALITIES = ("points", "points+image", "all")


def point_layer(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply one layer of a per-point MLP to (B, C, N) or (B, C, N, 1) features.

    The 4-D layout (points along the height of a one-pixel-wide image) runs a ``Conv1d`` as the
    same 1x1 ``conv2d`` and a ``BatchNorm1d`` on the 3-D view, so the numbers are those of the 3-D
    layout; in the exported graph it lets ONNX Runtime use its blocked 2-D convolution kernels,
    about 20 % faster than its 1-D ones for M2FA's layers (docs/benchmarks.md).
    """
    if isinstance(m, nn.Sequential):
        for layer in m:
            x = point_layer(layer, x)
        return x
    if x.ndim == 4 and isinstance(m, nn.Conv1d):
        return F.conv2d(x, m.weight.unsqueeze(-1), m.bias)
    if x.ndim == 4 and isinstance(m, nn.BatchNorm1d):
        return m(x.squeeze(-1)).unsqueeze(-1)
    return m(x)


class PointMLP(nn.Sequential):
    """Shared per-point MLP: (B, C_in, N) -> (B, C_out, N) (or (B, C, N, 1), see :func:`point_layer`);
    each layer 1x1 Conv1d + BN + ReLU."""

    def __init__(self, channels):
        layers = []
        for cin, cout in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv1d(cin, cout, 1, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]
        super().__init__(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return point_layer(self, x)  # layer by layer, in either layout


def _fc_bn_relu(d_in: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_out, bias=False), nn.BatchNorm1d(d_out), nn.ReLU(inplace=True))


def check_points(points: torch.Tensor, n_points: int, name: str = "landmarks") -> None:
    """Raise ValueError unless ``points`` is a finite (B, n_points, 3) float tensor."""
    if not isinstance(points, torch.Tensor) or not points.is_floating_point():
        raise TypeError(f"{name} must be a floating torch.Tensor")
    if points.ndim != 3 or points.shape[2] != 3:
        raise ValueError(f"{name} must have shape (B, {n_points}, 3), got {tuple(points.shape)}")
    if points.shape[1] != n_points:
        raise ValueError(f"{name} has {points.shape[1]} points but this module was built for "
                         f"{n_points} landmarks (a model built for another landmark set?)")


class M2FA(nn.Module):
    """Landmark refinement L^c -> L^r from multi-modal point features (Eq. 4 trains it).

    Args:
        n_points: N_l, number of landmarks (68).
        z_dim: image feature size (1280 for MobileNet-V2, 2048 for ResNet-50).
        n_shape, n_exp: K_s, K_e of the morphable model.
        modalities: ``'points'`` | ``'points+image'`` | ``'all'`` (Table 2 rows 1-3).
        adapt_image: add an FC adaptation layer for z (see module docstring).
        factorized: compute the first decoder layer without materialising the MMPF.
        out_init_std: std of the last layer's initial weights (bias 0): L^r ~= L^c at start.

    Shapes: ``forward(lmk (B,N,3), z (B,F), alpha_s (B,K_s), alpha_e (B,K_e)) -> (B,N,3)``.
    """

    #: (layer, BatchNorm) attribute pairs outside an nn.Sequential, for :func:`m3lrn_lib.nn.fold.fold_batchnorm`.
    BN_PAIRS = (("dec1", "bn1"),)

    def __init__(self, n_points: int = 68, z_dim: int = 1280, n_shape: int = 40, n_exp: int = 10,
                 modalities: str = "all", adapt_image: bool = False, factorized: bool = True,
                 out_init_std: float = 1e-3):
        super().__init__()
        if modalities not in MODALITIES:
            raise ValueError(f"modalities must be one of {MODALITIES}, got {modalities!r}")
        self.n_points, self.z_dim, self.n_shape, self.n_exp = n_points, z_dim, n_shape, n_exp
        self.modalities, self.factorized = modalities, factorized
        self.low = PointMLP([3, 64, 64])  # low-level point feature 68x64
        self.high = PointMLP([64, 64, 128, 1024])  # 68x1024, max-pooled to 1024
        self.adapt_z = _fc_bn_relu(z_dim, z_dim) if (adapt_image and modalities != "points") else None
        use_params = modalities == "all"
        self.adapt_shape = _fc_bn_relu(n_shape, n_shape) if use_params else None
        self.adapt_exp = _fc_bn_relu(n_exp, n_exp) if use_params else None
        self.global_dim = 1024 + (z_dim if modalities != "points" else 0) + (n_shape + n_exp if use_params else 0)
        self.mmpf_dim = 64 + self.global_dim
        # decoder: 2418 -> 512 -> 256 -> 128 -> 3 (last layer plain, see docstring)
        self.dec1 = nn.Conv1d(self.mmpf_dim, 512, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(512)
        self.dec2 = PointMLP([512, 256])
        self.dec3 = PointMLP([256, 128])
        self.out = nn.Conv1d(128, 3, 1)
        nn.init.normal_(self.out.weight, std=out_init_std)
        nn.init.zeros_(self.out.bias)

    # ------------------------------------------------------------------ pieces
    def multimodal_vector(self, g: torch.Tensor, z=None, alpha_s=None, alpha_e=None) -> torch.Tensor:
        """Concatenate the global modalities: (B, 1024) [+ (B, F) + (B, K_s) + (B, K_e)]."""
        parts = [g]
        if self.modalities != "points":
            parts.append(self.adapt_z(z) if self.adapt_z is not None else z)
        if self.modalities == "all":
            parts += [self.adapt_shape(alpha_s), self.adapt_exp(alpha_e)]
        return torch.cat(parts, dim=1)

    def _check(self, lmk, z, alpha_s, alpha_e):
        check_points(lmk, self.n_points, "coarse landmarks")
        if self.modalities != "points" and (z is None or z.ndim != 2 or z.shape[1] != self.z_dim):
            raise ValueError(f"z must have shape (B, {self.z_dim}), got "
                             f"{None if z is None else tuple(z.shape)}")
        if self.modalities == "all":
            for a, k, nm in ((alpha_s, self.n_shape, "alpha_s"), (alpha_e, self.n_exp, "alpha_e")):
                if a is None or a.ndim != 2 or a.shape[1] != k:
                    raise ValueError(f"{nm} must have shape (B, {k}), got {None if a is None else tuple(a.shape)}")

    def forward(self, lmk: torch.Tensor, z: torch.Tensor | None = None, alpha_s: torch.Tensor | None = None,
                alpha_e: torch.Tensor | None = None, return_intermediates: bool = False):
        """Refine (B, N, 3) landmarks; with ``return_intermediates`` also return a dict of every
        intermediate tensor, channels last (``'low'`` (B,N,64), ``'mmpf'`` (B,N,2418), ...)."""
        self._check(lmk, z, alpha_s, alpha_e)
        x = lmk.transpose(1, 2).unsqueeze(-1)  # (B, 3, N, 1): see point_layer
        low = self.low(x)  # (B, 64, N, 1)
        high = self.high(low)  # (B, 1024, N, 1)
        g = high.amax(dim=(2, 3))  # (B, 1024) global point feature (max-pool over points)
        vec = self.multimodal_vector(g, z, alpha_s, alpha_e)  # (B, 2354)
        if return_intermediates or not self.factorized:
            mmpf = torch.cat([low, vec[:, :, None, None].expand(-1, -1, low.shape[2], 1)], dim=1)  # (B, 2418, N, 1)
            h = point_layer(self.dec1, mmpf)
        else:  # same linear map, without repeating the global vector N times
            w = self.dec1.weight[:, :, 0]  # (512, 2418)
            h = F.conv2d(low, w[:, :64, None, None], self.dec1.bias) + (vec @ w[:, 64:].T)[:, :, None, None]
        h1 = F.relu(point_layer(self.bn1, h))  # (B, 512, N, 1)
        h2 = self.dec2(h1)  # (B, 256, N, 1)
        h3 = self.dec3(h2)  # (B, 128, N, 1)
        residual = point_layer(self.out, h3)[..., 0].transpose(1, 2)  # (B, N, 3)
        refined = lmk + residual  # skip connection from the coarse landmarks
        if not return_intermediates:
            return refined
        t = lambda a: a[..., 0].transpose(1, 2)  # noqa: E731  channels last, as the paper writes 68 x C
        inter = {"coarse": lmk, "low": t(low), "high": t(high), "global": g}
        if self.modalities != "points":
            inter["z"] = vec[:, 1024:1024 + self.z_dim]
        if self.modalities == "all":
            inter["alpha_s"] = vec[:, -self.n_shape - self.n_exp:-self.n_exp]
            inter["alpha_e"] = vec[:, -self.n_exp:]
        inter.update(multimodal=vec, mmpf=t(mmpf), dec512=t(h1), dec256=t(h2), dec128=t(h3),
                     residual=residual, refined=refined)
        return refined, inter


def shape_walkthrough(m2fa: M2FA | None = None, batch: int = 2, seed: int = 0) -> list[tuple[str, tuple]]:
    """Run an M2FA on random inputs and list ``(name, shape without batch)`` in data-flow order.

    With the default M2FA this prints the paper's sizes: 68x64, 68x1024, 1024, 2354, 68x2418,
    68x512, 68x256, 68x128, 68x3. Runs in eval mode on a copy of the BN state (no side effects).
    """
    m2fa = m2fa or M2FA()
    g = torch.Generator().manual_seed(seed)
    lmk = torch.rand(batch, m2fa.n_points, 3, generator=g) * 120
    z = torch.rand(batch, m2fa.z_dim, generator=g)
    a_s = torch.randn(batch, m2fa.n_shape, generator=g)
    a_e = torch.randn(batch, m2fa.n_exp, generator=g)
    was_training = m2fa.training
    m2fa.eval()
    try:
        with torch.no_grad():
            _, inter = m2fa(lmk, z, a_s, a_e, return_intermediates=True)
    finally:
        m2fa.train(was_training)
    return [(k, tuple(v.shape[1:])) for k, v in inter.items()]
