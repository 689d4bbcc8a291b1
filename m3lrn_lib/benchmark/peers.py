"""The speed table's peer networks, and multiply-adds counted on an exported graph.

- :class:`MobileNetV1`: the backbone of 3DDFA_V2, the network users pick instead of ours. Written from
  the MobileNet paper (Howard et al. 2017, Table 1): a 3x3 stride-2 convolution to 32 channels, 13
  depthwise-separable blocks (3x3 depthwise + BN + ReLU, 1x1 pointwise + BN + ReLU) ending at 1024
  channels, global average pooling and one FC layer to the 62 3DMM numbers (12 pose + 40 shape + 10
  expression), on a 120x120 crop. Width 1.0: 3.27M parameters; 0.5: 0.85M.
- :class:`PlainMobileNetV2`: our own backbone (:class:`m3lrn_lib.nn.MobileNetV2`) with a single FC
  layer to 62 numbers and nothing else: the first stage's target (a "first stage" costs what a plain
  network of its kind costs).

Both are timed untrained (speed does not depend on the weights) and exported through the same path as
the network (:func:`m3lrn_lib.predict.onnx_export.trace_to_onnx`, BatchNorm folded).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..nn.backbone import MobileNetV2, _divisible
from ..nn.fold import fold_batchnorm

__all__ = ["MobileNetV1", "PlainMobileNetV2", "graph_macs", "peer_onnx", "V1_BLOCKS"]

#: (output channels, stride) of MobileNet-V1's 13 depthwise-separable blocks (its Table 1)
V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
             (512, 1), (512, 1), (1024, 2), (1024, 1))


def _cbr(cin, cout, k, stride, groups=1):
    return [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


class MobileNetV1(nn.Module):
    """MobileNet-V1 regressor: (B, 3, 120, 120) -> (B, n_out). ``width``: the channel multiplier."""

    def __init__(self, width: float = 1.0, n_out: int = 62):
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        cin = int(32 * width)
        layers = _cbr(3, cin, 3, 2)
        for c, s in V1_BLOCKS:
            cout = int(c * width)
            layers += _cbr(cin, cin, 3, s, groups=cin) + _cbr(cin, cout, 1, 1)
            cin = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


class PlainMobileNetV2(nn.Module):
    """Our MobileNet-V2 backbone + one FC layer: (B, 3, 120, 120) -> (B, n_out)."""

    def __init__(self, width_mult: float = 1.0, n_out: int = 62):
        super().__init__()
        self.backbone = MobileNetV2(width_mult)
        self.fc = nn.Linear(_divisible(1280 * max(1.0, width_mult)), n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x))


def peer_onnx(module: nn.Module, input_size: int = 120, opset: int = 17) -> bytes:
    """ONNX bytes of a peer, BatchNorm folded, output ``params`` (B, n_out)."""
    from ..predict.onnx_export import trace_to_onnx

    return trace_to_onnx(fold_batchnorm(module), ("params",), input_size, opset)


def graph_macs(model: bytes) -> int:
    """Multiply-adds of one face (batch 1) through an ONNX graph: Conv, Gemm and MatMul nodes, from
    ONNX shape inference (a dynamic batch dimension counts as 1). Element-wise ops are not counted."""
    import onnx

    g = onnx.shape_inference.infer_shapes(onnx.load_from_string(bytes(model))).graph
    dims = {}
    for v in list(g.value_info) + list(g.input) + list(g.output):
        dims[v.name] = [d.dim_value if d.HasField("dim_value") else 1 for d in v.type.tensor_type.shape.dim]
    for t in g.initializer:
        dims[t.name] = list(t.dims)
    for n in g.node:  # Constant nodes (folded weights) carry their shape in the attribute
        if n.op_type == "Constant" and n.attribute and n.attribute[0].HasField("t"):
            dims[n.output[0]] = list(n.attribute[0].t.dims)
    total = 0
    for n in g.node:
        if n.op_type == "Conv":
            w, out = dims[n.input[1]], dims[n.output[0]]
            total += int(np.prod(out)) * int(np.prod(w[1:]))
        elif n.op_type in ("Gemm", "MatMul"):
            a, out = dims[n.input[0]], dims[n.output[0]]
            trans_a = any(at.name == "transA" and at.i for at in n.attribute)
            k = a[-2] if trans_a else a[-1]
            total += int(np.prod(out)) * int(k)
    return total
