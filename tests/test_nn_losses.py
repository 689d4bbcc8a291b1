"""Loss terms of Eq. 3-7 against hand-computed values."""
import math

import pytest
import torch

from m3lrn_lib.nn import (
    LossWeights,
    loss_3dmm,
    loss_3dmm_lmk,
    loss_geometry,
    loss_lmk,
    smooth_l1,
    target_mask,
    total_loss,
    wing_loss,
)

torch.set_num_threads(2)


def test_loss_weights_default_is_paper():
    w = LossWeights()
    assert (w.w_3dmm, w.w_lmk, w.w_3dmm_lmk, w.w_g) == (0.02, 0.03, 0.02, 0.001) and w.lmk_coarse == 0


def test_loss_3dmm_hand_values():
    pred = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    tgt = torch.zeros(2, 3)
    assert loss_3dmm(pred, tgt).item() == pytest.approx((1 + 4 + 9) / 6)  # mean over elements
    assert loss_3dmm(pred, tgt, reduction="sum").item() == pytest.approx((5 + 9) / 2)  # Eq. 3 per face
    mask = torch.tensor([True, False, True])
    assert loss_3dmm(pred, tgt, mask).item() == pytest.approx((1 + 0 + 0 + 9) / 4)
    with pytest.raises(ValueError, match="shapes differ"):
        loss_3dmm(torch.zeros(2, 62), torch.zeros(2, 58))
    with pytest.raises(ValueError, match="reduction"):
        loss_3dmm(pred, tgt, reduction="none")


def test_smooth_l1_and_wing_hand_values():
    x = torch.tensor([0.5, -2.0, 0.0])
    assert torch.allclose(smooth_l1(x), torch.tensor([0.125, 1.5, 0.0]))
    assert torch.allclose(smooth_l1(x, beta=4.0), torch.tensor([0.03125, 0.5, 0.0]))
    y = torch.tensor([1.0, -12.0, 10.0, 0.0])
    c = 10 - 10 * math.log(1 + 10 / 2)
    want = torch.tensor([10 * math.log(1.5), 12 - c, 10 - c, 0.0])
    assert torch.allclose(wing_loss(y), want, atol=1e-5)
    assert wing_loss(torch.tensor([10.0 - 1e-4])).item() == pytest.approx(10 - c, abs=1e-3)  # continuous at w


def test_loss_lmk_hand_values():
    pred = torch.zeros(2, 2, 3)
    gt = torch.zeros(2, 2, 3)
    gt[0, 0] = torch.tensor([0.5, 0.0, 0.0])  # smooth L1: 0.125
    gt[1, 1] = torch.tensor([0.0, 3.0, 0.0])  # 2.5
    assert loss_lmk(pred, gt).item() == pytest.approx((0.125 + 2.5) / 12)
    assert loss_lmk(pred, gt, reduction="sum").item() == pytest.approx((0.125 + 2.5) / 2)  # Eq. 4 per face
    w = 10 * math.log(1 + 0.5 / 2) + 10 * math.log(1 + 3 / 2)
    assert loss_lmk(pred, gt, kind="wing").item() == pytest.approx(w / 12, rel=1e-5)
    with pytest.raises(ValueError, match="kind"):
        loss_lmk(pred, gt, kind="l2")
    with pytest.raises(ValueError, match="shapes differ"):
        loss_lmk(torch.zeros(2, 68, 3), torch.zeros(2, 21, 3))


def test_loss_3dmm_lmk_uses_the_lgs_targets():
    tgt = torch.zeros(1, 62)
    hat = torch.zeros(1, 62)
    hat[0, 3] = 2.0  # a pose entry
    hat[0, 20] = 1.0  # a shape entry
    assert loss_3dmm_lmk(hat, tgt).item() == pytest.approx(5 / 62)
    assert loss_3dmm_lmk(hat, tgt, target_mask("pose", 40, 10)).item() == pytest.approx(4 / 12)
    assert loss_3dmm_lmk(hat, tgt, target_mask("shape+exp", 40, 10), reduction="sum").item() == pytest.approx(1)


def test_loss_geometry_compares_matching_slices():
    """The public code compares pred[:, :50] with target[:, 12:62]; ours the same entries."""
    g = torch.Generator().manual_seed(0)
    alpha = torch.randn(3, 62, generator=g)
    hat = alpha.clone()
    hat[:, :12] += 1.0  # LGS (shape+exp targets) gets shape and expression exactly right
    m = target_mask("shape+exp", 40, 10)
    assert loss_geometry(alpha, hat, m).item() == 0.0
    buggy = ((hat[:, :50] - alpha[:, 12:62]) ** 2).mean()
    assert buggy > 0.5  # the defect would penalise a perfect prediction
    # with every target, only the 12 pose entries differ, by 1 each
    assert loss_geometry(alpha, hat).item() == pytest.approx(12 / 62)
    assert loss_geometry(alpha, hat, reduction="sum").item() == pytest.approx(12)
    # a swapped shape/expression block is caught
    hat2 = alpha.clone()
    hat2[:, 12:62] = torch.roll(alpha[:, 12:62], 12, dims=1)
    assert loss_geometry(alpha, hat2, m).item() > 0.5


def test_loss_geometry_gradient_control():
    alpha = torch.randn(2, 62, requires_grad=True)
    hat = torch.randn(2, 62, requires_grad=True)
    loss_geometry(alpha, hat).backward()
    assert alpha.grad.abs().sum() > 0 and hat.grad.abs().sum() > 0  # both sides learn by default
    assert torch.allclose(alpha.grad, -hat.grad)
    for side in ("alpha", "alpha_hat"):
        a = alpha.detach().clone().requires_grad_()
        h = hat.detach().clone().requires_grad_()
        loss_geometry(a, h, detach=side).backward()
        frozen, free = (a, h) if side == "alpha" else (h, a)
        assert frozen.grad is None and free.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="detach"):
        loss_geometry(alpha, hat, detach="both")


def test_total_loss_weighted_sum():
    g = torch.Generator().manual_seed(1)
    out = {"params": torch.randn(2, 62, generator=g), "lmk_refined": torch.randn(2, 68, 3, generator=g),
           "lmk_coarse": torch.randn(2, 68, 3, generator=g), "params_lgs": torch.randn(2, 62, generator=g),
           "lgs_mask": target_mask("all", 40, 10), "has_refinement": True}
    tgt, lmk = torch.randn(2, 62, generator=g), torch.randn(2, 68, 3, generator=g)
    t = total_loss(out, tgt, lmk)
    want = {"loss_3dmm": loss_3dmm(out["params"], tgt), "loss_lmk": loss_lmk(out["lmk_refined"], lmk),
            "loss_3dmm_lmk": loss_3dmm_lmk(out["params_lgs"], tgt), "loss_g": loss_geometry(out["params"],
                                                                                           out["params_lgs"])}
    for k, v in want.items():
        assert torch.allclose(t[k], v)
    tot = 0.02 * want["loss_3dmm"] + 0.03 * want["loss_lmk"] + 0.02 * want["loss_3dmm_lmk"] + 0.001 * want["loss_g"]
    assert torch.allclose(t["total"], tot)
    # terms of modules that did not run are not introduced (Table 1)
    base = total_loss({"params": out["params"], "lmk_refined": out["lmk_coarse"], "lmk_coarse": out["lmk_coarse"],
                       "has_refinement": False}, tgt, lmk)
    assert base["loss_lmk"] == 0 and base["loss_g"] == 0 and torch.allclose(base["total"], 0.02 * want["loss_3dmm"])
    extra = total_loss({**out, "has_refinement": False}, tgt, lmk, LossWeights(lmk_coarse=0.5), lmk_kind="wing")
    assert torch.allclose(extra["loss_lmk_coarse"], loss_lmk(out["lmk_coarse"], lmk, "wing"))
