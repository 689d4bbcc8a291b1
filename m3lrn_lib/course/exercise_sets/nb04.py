"""Exercises of notebook 04 (LGS and the losses, Sec. 3.3, Eq. 3-7). Answers are computed."""
import torch

from ...morphable import load_face_model
from ...nn.lgs import target_mask
from ...nn.losses import LossWeights, loss_geometry
from ..exercises import close, exercise


@exercise("04.1", "L_g (Eq. 6, reduction 'mean') between the first-stage `alpha` and the landmark "
          "geometry `alpha_hat` (both (B, D) whitened) when LGS regresses only shape and expression.",
          "Take the *same* columns 12: from both vectors (the public code compared alpha_hat[:, :50] "
          "with alpha[:, 12:62]); then the mean of the squared differences.",
          solution="float(((alpha_ex[:, 12:] - alpha_hat_ex[:, 12:]) ** 2).mean())")
def _lg(answer, alpha=None, alpha_hat=None, n_shape=40, n_exp=10):
    want = float(loss_geometry(alpha, alpha_hat, target_mask("shape+exp", n_shape, n_exp)))
    ok = close(float(answer), want, 1e-4 * max(1.0, abs(want)))
    return ok, f"{float(answer):.5f}" + ("" if ok else " does not compare matching slices")


@exercise("04.2", "The total loss of Eq. 7 for the terms `terms` (a dict with loss_3dmm, loss_lmk, "
          "loss_3dmm_lmk, loss_g) with the paper's weights.",
          "lambda_1..4 = 0.02, 0.03, 0.02, 0.001 (supplement B), in the order of Eq. 7.",
          solution="lw = LossWeights()\n"
                   "(lw.w_3dmm * terms[\"loss_3dmm\"] + lw.w_lmk * terms[\"loss_lmk\"] "
                   "+ lw.w_3dmm_lmk * terms[\"loss_3dmm_lmk\"] + lw.w_g * terms[\"loss_g\"])")
def _total(answer, terms=None):
    w = LossWeights()
    want = (w.w_3dmm * terms["loss_3dmm"] + w.w_lmk * terms["loss_lmk"] + w.w_3dmm_lmk * terms["loss_3dmm_lmk"]
            + w.w_g * terms["loss_g"])
    ok = close(float(answer), float(want), 1e-6 * max(1.0, abs(float(want))))
    return ok, f"{float(answer):.5f}"


@exercise("04.3", "How many of the model's parameters does an LGS with targets 'shape+exp' predict for "
          "the face model `model` (default: the embedded one)?",
          "Shape and expression: K_s + K_e (model.n_shape + model.n_exp); not always 50.",
          solution="model.n_shape + model.n_exp")
def _count(answer, model=None):
    model = load_face_model(model)
    want = int(target_mask("shape+exp", model.n_shape, model.n_exp).sum())
    ok = int(answer) == want
    return ok, f"{int(answer)}" + ("" if ok else f" is not K_s + K_e for {model.name}")


def example_alphas(seed: int = 0, d: int = 62):
    """(alpha, alpha_hat) pair for 04.1: alpha_hat equals alpha on the shape/expression block
    plus a little noise, and differs on the pose block."""
    g = torch.Generator().manual_seed(seed)
    alpha = torch.randn(4, d, generator=g)
    hat = alpha + 0.1 * torch.randn(4, d, generator=g)
    hat[:, :12] += 1.0
    return alpha, hat
