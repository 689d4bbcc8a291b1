"""The one small training loop of the lessons: Adam with a cosine schedule on an endless batch stream."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import torch
from torch import nn

__all__ = ["fit_module"]


def fit_module(module: nn.Module, loss_fn: Callable, batches: Iterable, steps: int, lr: float,
               log_every: int = 10, loss_name: str = "loss") -> tuple[nn.Module, list[dict]]:
    """Train ``module`` for ``steps`` steps of Adam (learning rate ``lr``, cosine-annealed to 0).

    Adam rather than the paper's SGD: it converges in the few hundred steps a CPU notebook can
    afford. The module is put in train mode for the loop and returned in eval mode.

    Args:
        loss_fn: ``loss_fn(module, batch) -> scalar tensor``.
        batches: an iterable (typically an endless generator) giving one batch per step; it is
            read lazily, exactly ``steps`` times.
        log_every: record the loss every ``log_every`` steps and at the last one.
        loss_name: the history key of the loss.
    Returns:
        ``(module, history)``; history is a list of dicts ``step``, ``loss_name``, ``seconds``
        (since the loop started).
    """
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    history, t0 = [], time.perf_counter()
    module.train()
    for step, batch in zip(range(1, steps + 1), batches):
        loss = loss_fn(module, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps:
            history.append({"step": step, loss_name: float(loss.detach()), "seconds": time.perf_counter() - t0})
    return module.eval(), history
