"""BatchNorm folding for inference: a BN after a linear layer becomes part of that layer's weights.

In eval mode a BatchNorm is the per-channel affine map ``y = (x - mu) / sqrt(var + eps) * gamma + beta``.
After a convolution or Linear layer ``x = W u + b`` it folds into it::

    W' = W * k[:, None, ...],   b' = (b - mu) * k + beta,   k = gamma / sqrt(var + eps)

so the inference graph (:class:`m3lrn_lib.predict.onnx_export.InferenceGraph`) runs one node instead of
two. The folded network computes the same function up to float32 rounding (tested against the
unfolded one); it is a copy for inference only (the BN layers are gone, so it cannot train).

Pairs are found in two places: consecutive ``(Conv/Linear, BatchNorm)`` items of an ``nn.Sequential``
(the backbones, the per-point MLPs, the FC adaptations), and the ``(layer, bn)`` attribute names a
module lists in its ``BN_PAIRS`` class attribute (M2FA's factorised first decoder layer).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["fold_batchnorm", "fold_pair", "count_batchnorms"]

_LINEAR = (nn.Conv1d, nn.Conv2d, nn.Linear)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d)


@torch.no_grad()
def fold_pair(layer: nn.Module, bn: nn.Module) -> nn.Module:
    """A new layer of ``layer``'s kind with ``bn`` (eval statistics) folded in; always has a bias.

    Args:
        layer: ``Conv1d`` / ``Conv2d`` (weight (C_out, C_in/groups, k...)) or ``Linear`` (C_out, C_in).
        bn: ``BatchNorm1d`` / ``BatchNorm2d`` over C_out channels, with running statistics.
    """
    if not isinstance(layer, _LINEAR) or not isinstance(bn, _BN):
        raise TypeError(f"cannot fold {type(bn).__name__} into {type(layer).__name__}")
    if bn.running_mean is None or bn.num_features != layer.weight.shape[0]:
        raise ValueError(f"{bn} has no running statistics or does not match {layer}")
    k = (bn.weight if bn.affine else torch.ones_like(bn.running_var)) / torch.sqrt(bn.running_var + bn.eps)
    beta = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
    b = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
    new = copy.deepcopy(layer)
    if new.bias is None:
        new.bias = nn.Parameter(torch.zeros_like(bn.running_mean))
    shape = (-1,) + (1,) * (layer.weight.ndim - 1)
    new.weight.copy_(layer.weight * k.reshape(shape))
    new.bias.copy_((b - bn.running_mean) * k + beta)
    return new


def _fold_inplace(module: nn.Module) -> None:
    for child in module.children():
        _fold_inplace(child)
    if isinstance(module, nn.Sequential):
        for i in range(len(module) - 1):
            if isinstance(module[i], _LINEAR) and isinstance(module[i + 1], _BN):
                module[i] = fold_pair(module[i], module[i + 1])
                module[i + 1] = nn.Identity()
    for layer_name, bn_name in getattr(module, "BN_PAIRS", ()):
        layer, bn = getattr(module, layer_name), getattr(module, bn_name)
        if isinstance(bn, _BN):
            setattr(module, layer_name, fold_pair(layer, bn))
            setattr(module, bn_name, nn.Identity())


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """An eval-mode copy of ``module`` with every BatchNorm that follows a Conv/Linear folded into it
    (replaced by ``nn.Identity``); the original is untouched. BNs with nothing to fold into stay."""
    folded = copy.deepcopy(module).eval()
    _fold_inplace(folded)
    return folded


def count_batchnorms(module: nn.Module) -> int:
    """Number of BatchNorm layers left in ``module`` (0 after :func:`fold_batchnorm` of an M3LRN)."""
    return sum(isinstance(m, _BN) for m in module.modules())
