"""Image encoders for the first stage (Sec. 3.1, supplement B): image (B,3,120,120) -> z (B, F).

- :class:`MobileNetV2` (the paper's backbone, width 1.0): F = 1280 after global average
  pooling. Written from the MobileNet-V2 paper's description (Sandler et al. 2018, Table 2):
  a 3x3 stem, 17 inverted-residual blocks ``(t, c, n, s)``, a 1x1 conv to 1280 channels.
- :class:`ResNet50` (the supplement's backbone study, Table S2): bottleneck blocks
  ``[3, 4, 6, 3]``, F = 2048. With it the image feature z is 2048-d, so the M2FA
  multi-modal vector becomes 1024 + 2048 + K_s + K_e instead of 2354.

At a 120x120 input both end on a 4x4 feature map (total stride 32, rounding up).
The supplement writes "global max-pooling" for z; the main text and MobileNet-V2 use global
*average* pooling, which we follow (``pool='max'`` is available).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["MobileNetV2", "ResNet50", "build_backbone", "BACKBONES"]


def _divisible(v: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor`` without dropping more than 10%."""
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


def _conv_bn(cin, cout, k, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNet-V2 block: 1x1 expand (x t) -> 3x3 depthwise (stride s) -> 1x1 linear projection.

    The projection has no activation (the "linear bottleneck"); the identity shortcut is used
    when the stride is 1 and the channel count is unchanged.
    """

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [_conv_bn(cin, hidden, 1)]
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden), _conv_bn(hidden, cout, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2(nn.Module):
    """MobileNet-V2 feature extractor: (B, 3, H, W) -> (B, out_dim) (1280 for width 1.0).

    Args:
        width_mult: channel multiplier (1.0 in the paper); the final 1280 is only ever
            widened (``max(1, width_mult)``), as in the MobileNet-V2 paper.
        pool: ``'avg'`` (default) or ``'max'`` global pooling.
    """

    #: (expansion t, output channels c, repeats n, first stride s), MobileNet-V2 Table 2.
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, width_mult: float = 1.0, pool: str = "avg"):
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        cin = _divisible(32 * width_mult)
        self.out_dim = _divisible(1280 * max(1.0, width_mult))
        layers = [_conv_bn(3, cin, 3, stride=2)]
        for t, c, n, s in self.SETTINGS:
            cout = _divisible(c * width_mult)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        layers.append(_conv_bn(cin, self.out_dim, 1))
        self.features = nn.Sequential(*layers)
        self.pool = pool
        _init_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)  # (B, 1280, 4, 4) for a 120x120 input
        return f.mean((2, 3)) if self.pool == "avg" else f.amax((2, 3))


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 reduce -> 3x3 (stride here, "v1.5") -> 1x1 expand (x4), + shortcut."""

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = (nn.Identity() if stride == 1 and cin == cout else
                         nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))
        nn.init.zeros_(self.body[-1].weight)  # each block starts as the identity

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet50(nn.Module):
    """ResNet-50 feature extractor (He et al. 2016): (B, 3, H, W) -> (B, 2048)."""

    def __init__(self, layers=(3, 4, 6, 3), pool: str = "avg"):
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        blocks = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                  nn.MaxPool2d(3, 2, 1)]
        cin = 64
        for i, n in enumerate(layers):
            width = 64 * 2 ** i
            for j in range(n):
                blocks.append(Bottleneck(cin, width, 2 if (j == 0 and i > 0) else 1))
                cin = width * 4
        self.features = nn.Sequential(*blocks)
        self.out_dim = cin
        self.pool = pool
        _init_conv_bn(self, keep_zero_bn=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        return f.mean((2, 3)) if self.pool == "avg" else f.amax((2, 3))


def _init_conv_bn(module: nn.Module, keep_zero_bn: bool = False) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d) and not (keep_zero_bn and not m.weight.any()):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


BACKBONES = {"mobilenet_v2": MobileNetV2, "resnet50": ResNet50}


def build_backbone(name: str = "mobilenet_v2", **kwargs) -> nn.Module:
    """Backbone by name (``'mobilenet_v2'`` or ``'resnet50'``); the module has ``out_dim``."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    return BACKBONES[name](**kwargs)
