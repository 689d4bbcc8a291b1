"""The optimisation budget of each loss term of Eq. 7, and the floor below which a term learns nothing.

With plain SGD a loss weight is a factor on the learning rate of its term: the step that
``lambda_k * L_k`` contributes is ``lambda_k * lr_t * grad L_k``. Summed over a schedule, the
*budget* of term k is

    B_k = lambda_k * sum_t lr_t          (lr_t: the per-step rate, decays and warm-up included)

The paper (supplement B) trains ~680K crops for 80 epochs at batch 1024 (53,125 steps), lr 0.08,
x0.1 after epochs 48 and 64: sum_t lr_t = 2,643, so its budgets are 52.9 (L_3DMM, lambda_1 = 0.02),
79.3 (L_lmk), 52.9 (L_3DMM_lmk) and 2.6 (L_g). Four SGD CPU epochs at batch 32 (lr 0.0025) have
546x less sum_t lr_t and leave every term at 1/546 of that, and the measurements in
``docs/cpu-recipe.md`` show that a term at a few per cent of its paper budget does not move the
network off where it started (the mean face for L_3DMM; L^r = L^c for L_lmk).

:data:`FLOOR_FRACTION` of the paper's budget is the documented floor; :func:`budget_warnings`
names every enabled module whose term is below it. The trainer warns with these lines.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from ..nn.losses import LOSS_NAMES, LossWeights
from .schedule import lr_curve, steps_per_epoch

__all__ = ["BudgetWarning", "TERMS", "PAPER_WEIGHTS", "PAPER_TRAIN_SAMPLES", "FLOOR_FRACTION", "TermBudget", "lr_sum",
           "paper_lr_sum", "term_budgets", "budget_warnings", "gradient_norms"]

#: loss weight -> (the module it trains, the term, the M3LRNConfig switch that enables it (None: always))
TERMS = {
    "w_3dmm": ("first stage", "L_3DMM (Eq. 3)", None),
    "w_lmk": ("M2FA", "L_lmk (Eq. 4)", "refine"),
    "w_3dmm_lmk": ("LGS", "L_3DMM_lmk (Eq. 5)", "lgs"),
    "w_g": ("LGS", "L_g (Eq. 6)", "lgs"),
}
#: lambda_1..4 of the supplement
PAPER_WEIGHTS = LossWeights()
#: 300W-LP as pre-processed by 3DDFA: ~680K crops (the paper's training set)
PAPER_TRAIN_SAMPLES = 680_000
#: a term is warned about below this share of its paper budget (docs/cpu-recipe.md, "The floor")
FLOOR_FRACTION = 0.1


class BudgetWarning(UserWarning):
    """An enabled module's loss term has a budget below :data:`FLOOR_FRACTION` of the paper's."""


@dataclass(frozen=True)
class TermBudget:
    """One term's budget: ``weight`` lambda_k, ``budget`` lambda_k * sum lr, ``paper`` the paper's,
    ``share`` budget / paper, ``floor`` FLOOR_FRACTION * paper."""

    key: str
    module: str
    term: str
    weight: float
    budget: float
    paper: float
    share: float
    floor: float


def lr_sum(optim, n_train: int, world_size: int = 1) -> float:
    """sum_t lr_t of an :class:`~m3lrn_lib.train.config.OptimConfig` schedule on ``n_train`` samples."""
    return float(sum(lr_curve(optim, steps_per_epoch(n_train, optim.batch_size, world_size))))


@functools.lru_cache(maxsize=1)
def paper_lr_sum() -> float:
    """sum_t lr_t of the paper's schedule (the ``paper`` preset on 680K crops): ~2,643."""
    from .config import OptimConfig
    return lr_sum(OptimConfig(), PAPER_TRAIN_SAMPLES)


def term_budgets(weights: LossWeights, total_lr: float) -> list[TermBudget]:
    """The budget ``lambda_k * total_lr`` of every term of Eq. 7 (all four, enabled or not), the
    paper's beside it; ``total_lr``: sum_t lr_t of the schedule (:func:`lr_sum`)."""
    paper = paper_lr_sum()
    out = []
    for key, (module, term, _) in TERMS.items():
        w, wp = float(getattr(weights, key)), float(getattr(PAPER_WEIGHTS, key))
        b, bp = w * float(total_lr), wp * paper
        out.append(TermBudget(key, module, term, w, b, bp, b / bp, FLOOR_FRACTION * bp))
    return out


def budget_warnings(weights: LossWeights, total_lr: float, model_config) -> list[str]:
    """One line per *enabled* module whose term has a weight > 0 but a budget below the floor.

    ``total_lr``: sum_t lr_t of the schedule (:func:`lr_sum`); ``model_config``: the
    :class:`~m3lrn_lib.nn.M3LRNConfig` (decides which terms run). A weight of 0 is a switched-off
    term (Table 1's rows without a module), not a warning.
    """
    lines = []
    for b in term_budgets(weights, total_lr):
        switch = TERMS[b.key][2]
        if switch is not None and not getattr(model_config, switch):
            continue
        if 0 < b.weight and b.budget < b.floor:
            lines.append(f"{b.module}: the budget of {b.term}, loss.{b.key} x sum(lr) = {b.budget:.3g}, is "
                         f"{100 * b.share:.2g}% of the paper's {b.paper:.3g}, below the floor {b.floor:.3g} "
                         f"({100 * FLOOR_FRACTION:.0f}%); this module will barely learn (raise loss.{b.key}, "
                         "optim.lr or optim.epochs; docs/cpu-recipe.md)")
    return lines


def gradient_norms(net, batch: dict, weights: LossWeights) -> dict:
    """The L2 norm of each weighted term's gradient on each module: the probe of docs/cpu-recipe.md.

    Args:
        net: an :class:`~m3lrn_lib.nn.M3LRN` in training mode; batch: ``image`` (B, 3, 120, 120),
            ``target`` (B, D) whitened, ``landmarks`` (B, 68, 3).
        weights: lambda_1..4.
    Returns:
        ``{term key: {module: norm}}`` for the terms with a weight > 0, modules ``first stage``
        (backbone + heads), ``M2FA``, ``LGS`` (those the network has). The gradients are cleared after.
    """
    modules = {"first stage": [*net.backbone.parameters(), *net.heads.parameters()]}
    if net.m2fa is not None:
        modules["M2FA"] = list(net.m2fa.parameters())
    if net.lgs is not None:
        modules["LGS"] = list(net.lgs.parameters())
    net.zero_grad(set_to_none=True)
    losses = net(batch["image"], batch)["losses"]  # one forward; each term back-propagated on its own
    out = {}
    for key, term in zip(TERMS, LOSS_NAMES):
        w = float(getattr(weights, key))
        if w == 0 or not losses[term].requires_grad:
            continue
        net.zero_grad(set_to_none=True)
        (w * losses[term]).backward(retain_graph=True)
        out[key] = {m: sum(float((p.grad.double() ** 2).sum()) for p in ps if p.grad is not None) ** 0.5
                    for m, ps in modules.items()}
    net.zero_grad(set_to_none=True)
    return out
