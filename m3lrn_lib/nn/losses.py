"""Training losses of M^3-LRN (Eq. 3-7), one named function per term.

Conventions:

* **Parameter terms** (L_3DMM, L_3DMM_lmk, L_g) compare *whitened* parameters
  ``(alpha - mean) / std`` (B, D), D = 12 + K_s + K_e. In raw units the translation (tens of
  pixels) and the shape coefficients (hundreds of mm) would swamp the rotation entries (~1);
  whitening gives every parameter unit scale, as the network's outputs have.
* **Landmark term** (L_lmk) compares (B, 68, 3) landmarks in the crop's image frame, in
  pixels (x right, y down, z depth), all three coordinates, per coordinate.
* **Reduction.** ``reduction='mean'`` (default) averages over every compared element
  and the batch -- what ``nn.MSELoss()`` / ``nn.SmoothL1Loss()`` do; we assume (the paper does
  not say) that the weights lambda = (0.02, 0.03, 0.02, 0.001) were tuned at this scale.
  ``reduction='sum'`` is the equations read literally: sum over parameters (Eq. 3, 5, 6) or
  over points and coordinates (Eq. 4), then mean over the batch. The two differ by a constant
  factor per term (D, the number of masked entries, or 68 * 3), i.e. only by a rescaled lambda.
* **Masks.** ``mask`` is a (D,) bool tensor of the entries that take part (the LGS targets of
  Table 2 rows 4-6); L_3DMM_lmk and L_g index *the same* entries on both sides. (The public
  code compares ``pred[:, :50]`` with ``target[:, 12:62]``, i.e. shape/expression predictions
  with the wrong slice of the other vector; the authors confirmed 12:62 on both sides.)
* **L_g gradient** (Eq. 6, the "self-supervision control"): by default both alpha (first stage)
  and alpha_hat (LGS) receive gradients. ``detach='alpha'`` makes it a pure teacher signal
  for LGS; ``detach='alpha_hat'`` makes LGS a teacher for the first stage.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

__all__ = ["LossWeights", "loss_3dmm", "loss_lmk", "wing_loss", "smooth_l1", "loss_3dmm_lmk",
           "loss_geometry", "total_loss", "LOSS_NAMES"]

LOSS_NAMES = ("loss_3dmm", "loss_lmk", "loss_3dmm_lmk", "loss_g")


@dataclass(frozen=True)
class LossWeights:
    """lambda_1..4 of Eq. 7 (supplement B) and one optional extra term.

    ``lmk_coarse`` weights an L_lmk on the *first-stage* landmarks L^c. The paper has no such
    term (0, default); 3DDFA-style baselines use one, hence the switch.
    """

    w_3dmm: float = 0.02
    w_lmk: float = 0.03
    w_3dmm_lmk: float = 0.02
    w_g: float = 0.001
    lmk_coarse: float = 0.0


def _same_shape(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{what}: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)} "
                         "(a model built for another morphable model or landmark set?)")


def _reduce(err: torch.Tensor, reduction: str) -> torch.Tensor:
    """err (B, ...) elementwise -> scalar: mean of everything, or per-sample sum then batch mean."""
    if reduction == "mean":
        return err.mean()
    if reduction == "sum":
        return err.reshape(err.shape[0], -1).sum(1).mean()
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def _select(x: torch.Tensor, mask) -> torch.Tensor:
    if mask is None:
        return x
    mask = torch.as_tensor(mask, device=x.device)
    if mask.dtype != torch.bool or mask.shape != (x.shape[1],):
        raise ValueError(f"mask must be a ({x.shape[1]},) bool tensor, got {tuple(mask.shape)} {mask.dtype}")
    return x[:, mask]


def loss_3dmm(pred: torch.Tensor, target: torch.Tensor, mask=None, reduction: str = "mean") -> torch.Tensor:
    """Eq. 3, ``L_3DMM = sum_m ||alpha_m - alpha*_m||^2`` on whitened (B, D) parameters."""
    _same_shape(pred, target, "loss_3dmm(pred, target)")
    return _reduce((_select(pred, mask) - _select(target, mask)) ** 2, reduction)


def smooth_l1(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Elementwise smooth L1: ``0.5 x^2 / beta`` for ``|x| < beta``, else ``|x| - 0.5 beta``."""
    return F.smooth_l1_loss(x, torch.zeros_like(x), reduction="none", beta=beta)


def wing_loss(x: torch.Tensor, w: float = 10.0, eps: float = 2.0) -> torch.Tensor:
    """Elementwise Wing loss (Feng et al. 2018), the public code's landmark loss (w=10, eps=2):
    ``w ln(1 + |x|/eps)`` for ``|x| < w``, else ``|x| - C`` with ``C = w - w ln(1 + w/eps)``."""
    a = x.abs()
    c = w - w * math.log(1.0 + w / eps)
    return torch.where(a < w, w * torch.log1p(a / eps), a - c)


def loss_lmk(pred: torch.Tensor, target: torch.Tensor, kind: str = "smooth_l1", reduction: str = "mean",
             beta: float = 1.0, w: float = 10.0, eps: float = 2.0) -> torch.Tensor:
    """Eq. 4, ``L_lmk = sum_n L_smL1(L^r_n - L*_n)`` on (B, N, 3) landmarks (pixels).

    ``kind='smooth_l1'`` (the paper, threshold ``beta`` px) or ``'wing'`` (the code, ``w``, ``eps``),
    applied to each coordinate of each point.
    """
    _same_shape(pred, target, "loss_lmk(pred, target)")
    d = pred - target
    if kind == "smooth_l1":
        err = smooth_l1(d, beta)
    elif kind == "wing":
        err = wing_loss(d, w, eps)
    else:
        raise ValueError(f"kind must be 'smooth_l1' or 'wing', got {kind!r}")
    return _reduce(err, reduction)


def loss_3dmm_lmk(alpha_hat: torch.Tensor, target: torch.Tensor, mask=None, reduction: str = "mean") -> torch.Tensor:
    """Eq. 5, ``L_3DMM_lmk = sum_m ||alpha_hat_m - alpha*_m||^2``: landmark geometry vs ground truth
    (whitened, (B, D); only the entries in ``mask`` -- the LGS targets)."""
    _same_shape(alpha_hat, target, "loss_3dmm_lmk(alpha_hat, target)")
    return _reduce((_select(alpha_hat, mask) - _select(target, mask)) ** 2, reduction)


def loss_geometry(alpha: torch.Tensor, alpha_hat: torch.Tensor, mask=None, detach: str | None = None,
                  reduction: str = "mean") -> torch.Tensor:
    """Eq. 6, ``L_g = sum_m ||alpha_m - alpha_hat_m||^2``: first stage vs landmark geometry.

    The same entries (``mask``) are taken from both (B, D) whitened vectors. ``detach``:
    None (both sides learn), ``'alpha'`` or ``'alpha_hat'`` (that side is a fixed target).
    """
    _same_shape(alpha, alpha_hat, "loss_geometry(alpha, alpha_hat)")
    if detach not in (None, "alpha", "alpha_hat"):
        raise ValueError(f"detach must be None, 'alpha' or 'alpha_hat', got {detach!r}")
    a = alpha.detach() if detach == "alpha" else alpha
    h = alpha_hat.detach() if detach == "alpha_hat" else alpha_hat
    return _reduce((_select(a, mask) - _select(h, mask)) ** 2, reduction)


def total_loss(outputs: dict, target: torch.Tensor, landmarks: torch.Tensor, weights: LossWeights | None = None,
               lmk_kind: str = "smooth_l1", g_detach: str | None = None, reduction: str = "mean") -> dict:
    """Eq. 7, ``L = l1 L_3DMM + l2 L_lmk + l3 L_3DMM_lmk + l4 L_g``, from a model's outputs.

    Args:
        outputs: dict from :meth:`M3LRN.forward` -- uses ``params`` (B, D) whitened alpha,
            ``lmk_refined`` / ``lmk_coarse`` (B, 68, 3), ``has_refinement`` (bool, default
            True), and, when LGS ran, ``params_lgs`` (B, D) and ``lgs_mask`` (D,).
        target: (B, D) whitened ground-truth parameters; landmarks: (B, 68, 3) ground truth
            in the crop image frame (pixels).
    Returns:
        dict with every term (``loss_3dmm``, ``loss_lmk``, ``loss_3dmm_lmk``, ``loss_g``,
        ``loss_lmk_coarse``; a term whose module did not run is a 0 tensor, as in Table 1,
        "the corresponding loss terms are not introduced") and the weighted ``total``.
    """
    w = weights or LossWeights()
    alpha = outputs["params"]
    zero = alpha.new_zeros(())
    terms = {"loss_3dmm": loss_3dmm(alpha, target, reduction=reduction)}
    if outputs.get("has_refinement", True):
        terms["loss_lmk"] = loss_lmk(outputs["lmk_refined"], landmarks, lmk_kind, reduction)
    else:
        terms["loss_lmk"] = zero
    if w.lmk_coarse:
        terms["loss_lmk_coarse"] = loss_lmk(outputs["lmk_coarse"], landmarks, lmk_kind, reduction)
    else:
        terms["loss_lmk_coarse"] = zero
    if outputs.get("params_lgs") is not None:
        mask = outputs.get("lgs_mask")
        terms["loss_3dmm_lmk"] = loss_3dmm_lmk(outputs["params_lgs"], target, mask, reduction)
        terms["loss_g"] = loss_geometry(alpha, outputs["params_lgs"], mask, g_detach, reduction)
    else:
        terms["loss_3dmm_lmk"] = terms["loss_g"] = zero
    terms["total"] = (w.w_3dmm * terms["loss_3dmm"] + w.w_lmk * terms["loss_lmk"]
                      + w.w_3dmm_lmk * terms["loss_3dmm_lmk"] + w.w_g * terms["loss_g"]
                      + w.lmk_coarse * terms["loss_lmk_coarse"])
    return terms
