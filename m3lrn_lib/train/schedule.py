"""The learning-rate schedule of Sec. 4 and the linear-scaling rule, as plain functions.

Paper: lr 0.08 at batch 1024, multiplied by 0.1 after epochs 48 and 64 of 80. With the
linear-scaling rule (Goyal et al. 2017) a run at batch ``b`` uses ``0.08 * b / 1024``. The
public code adds a linear warm-up over the first epochs.

    lr(step) = lr_b * gamma^(#milestones <= epoch(step)) * warm(step)
    epoch(step) = step // steps_per_epoch,   warm(step) = min(1, (step + 1) / warmup_steps)
"""
from __future__ import annotations

import math

__all__ = ["scaled_lr", "steps_per_epoch", "lr_at", "lr_curve", "effective_lr"]


def scaled_lr(lr: float, batch_size: int, ref_batch: int = 1024) -> float:
    """Linear-scaling rule: ``lr * batch_size / ref_batch`` (0.08 at 1024 -> 0.0025 at 32)."""
    return float(lr) * int(batch_size) / int(ref_batch)


def effective_lr(optim) -> float:
    """The base rate an :class:`~m3lrn_lib.train.config.OptimConfig` trains with."""
    return scaled_lr(optim.lr, optim.batch_size, optim.ref_batch) if optim.scale_lr else float(optim.lr)


def steps_per_epoch(n_samples: int, batch_size: int, world_size: int = 1) -> int:
    """Optimisation steps per epoch with ``drop_last`` and ``world_size`` processes sharing a
    global ``batch_size`` (each process sees ``n // world_size`` samples, batches of ``batch_size // world_size``)."""
    per_rank = n_samples // world_size
    return per_rank // (batch_size // world_size)


def lr_at(step: int, base_lr: float, spe: int, milestones=(), gamma: float = 0.1,
          warmup_epochs: float = 0.0) -> float:
    """Learning rate of optimisation step ``step`` (0-based) with ``spe`` steps per epoch."""
    epoch = step // max(spe, 1)
    lr = base_lr * gamma ** sum(1 for m in milestones if epoch >= m)
    warm = int(math.ceil(warmup_epochs * spe))
    if warm > 0 and step < warm:
        lr *= (step + 1) / warm
    return lr


def lr_curve(optim, spe: int, total_steps: int | None = None) -> list[float]:
    """Per-step rates of a whole :class:`~m3lrn_lib.train.config.OptimConfig` schedule."""
    n = optim.epochs * spe if total_steps is None else total_steps
    base = effective_lr(optim)
    return [lr_at(s, base, spe, optim.milestones, optim.gamma, optim.warmup_epochs) for s in range(n)]
