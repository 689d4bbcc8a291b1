"""Backbones, heads, M2FA and LGS: shapes from the paper (Fig. S1/S2), behaviour of the output layers."""
import pytest
import torch
from torch import nn

from m3lrn_lib.nn import (
    LGS,
    M2FA,
    ExtraMLPHeads,
    MobileNetV2,
    ParamHeads,
    build_backbone,
    hidden_for_budget,
    shape_walkthrough,
    target_mask,
)

torch.set_num_threads(2)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def m2fa_inputs(b=3, n=68, zd=1280, ks=40, ke=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, n, 3, generator=g) * 120, torch.rand(b, zd, generator=g),
            torch.randn(b, ks, generator=g), torch.randn(b, ke, generator=g))


# ----------------------------------------------------------------------------- backbone / heads
def test_mobilenet_v2_feature_and_size():
    net = MobileNetV2(1.0).eval()
    with torch.no_grad():
        z = net(torch.randn(2, 3, 120, 120))
        fmap = net.features(torch.randn(1, 3, 120, 120))
    assert z.shape == (2, 1280) and net.out_dim == 1280
    assert fmap.shape == (1, 1280, 4, 4)  # total stride 32 on a 120 crop
    assert n_params(net) == 2_223_872  # MobileNet-V2 1.0 without its ImageNet classifier
    assert (z >= 0).all()  # after ReLU6 and average pooling
    assert MobileNetV2(0.5).out_dim == 1280 and MobileNetV2(1.4).out_dim == 1792


def test_resnet50_backbone():
    net = build_backbone("resnet50").eval()
    with torch.no_grad():
        z = net(torch.randn(1, 3, 120, 120))
    assert z.shape == (1, 2048) and 23.4e6 < n_params(net) < 23.6e6
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("vgg")


def test_heads_layout_and_extra_mlp_budget():
    h = ParamHeads(1280, 40, 10)
    out = h(torch.randn(4, 1280))
    assert out.shape == (4, 62)
    z = torch.randn(4, 1280)
    assert torch.allclose(h(z)[:, :12], h.pose(z)) and torch.allclose(h(z)[:, 52:], h.exp(z))
    hid = hidden_for_budget(1280, 40, 10, 800_000)
    extra = n_params(ExtraMLPHeads(1280, 40, 10, hid)) - n_params(h)
    assert abs(extra - 800_000) < 4000
    e = ExtraMLPHeads(1280, 40, 6, 32)
    assert e(torch.randn(3, 1280)).shape == (3, 58)
    assert isinstance(e.pose[-1], nn.Linear)  # signed outputs: no ReLU at the end


# ----------------------------------------------------------------------------- M2FA
PAPER_SHAPES = {"coarse": (68, 3), "low": (68, 64), "high": (68, 1024), "global": (1024,), "z": (1280,),
                "alpha_s": (40,), "alpha_e": (10,), "multimodal": (2354,), "mmpf": (68, 2418),
                "dec512": (68, 512), "dec256": (68, 256), "dec128": (68, 128), "residual": (68, 3),
                "refined": (68, 3)}


def test_m2fa_shape_walkthrough_matches_paper():
    walk = shape_walkthrough()
    assert dict(walk) == PAPER_SHAPES
    assert [k for k, _ in walk] == list(PAPER_SHAPES)  # data-flow order


@pytest.mark.parametrize("mod, vec", [("points", 1024), ("points+image", 2304), ("all", 2354)])
def test_m2fa_modalities(mod, vec):
    m = M2FA(modalities=mod).eval()
    d = dict(shape_walkthrough(m))
    assert d["multimodal"] == (vec,) and d["mmpf"] == (68, 64 + vec)
    assert ("z" in d) == (mod != "points") and ("alpha_s" in d) == (mod == "all")


def test_m2fa_factorized_equals_literal_mmpf():
    torch.manual_seed(0)
    m = M2FA()
    nn.init.normal_(m.out.weight, std=0.5)
    for bn in m.modules():  # non-trivial running statistics for the eval-mode comparison
        if isinstance(bn, nn.BatchNorm1d):
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2)
    x = m2fa_inputs()
    for train in (True, False):
        m.train(train)
        m.factorized = True
        a = m(*x)
        m.factorized = False
        b = m(*x)
        _, inter = m(*x, return_intermediates=True)
        assert torch.allclose(a, b, atol=1e-4) and torch.allclose(a, inter["refined"], atol=1e-4)
        assert (a - x[0]).abs().max() > 0.1  # not trivially equal to the input


def test_m2fa_skip_connection_starts_at_coarse():
    m = M2FA().eval()
    x = m2fa_inputs()
    with torch.no_grad():
        r = m(*x)
    assert (r - x[0]).abs().max() < 0.5  # small init of the last layer: L^r ~= L^c


def test_m2fa_moves_landmarks_both_ways():
    """Fit M2FA to a refinement that needs both signs on every axis: shrink each face towards
    its centroid (points left of it move right, points right of it move left, ...)."""
    torch.manual_seed(0)
    m = M2FA()
    lmk, z, a_s, a_e = m2fa_inputs(b=4)
    c = lmk.mean(1, keepdim=True)
    want = -0.2 * (lmk - c)  # target residual, within about +-12 px
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = (m(lmk, z, a_s, a_e) - (lmk + want)).abs().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        res = m(lmk, z, a_s, a_e) - lmk
    assert losses[-1] < 0.5 * losses[0]
    assert res.min() < -5 and res.max() > 5
    big = want.abs() > 2
    for axis in range(3):  # both directions on each of x, y, z
        r, w = res[..., axis][big[..., axis]], want[..., axis][big[..., axis]]
        assert (torch.sign(r) == torch.sign(w)).float().mean() > 0.95
        assert (r < 0).any() and (r > 0).any()
    # the public code's output (BN + ReLU) cannot do this: its residual is never negative
    clamped = nn.Sequential(nn.Conv1d(128, 3, 1), nn.BatchNorm1d(3), nn.ReLU())
    m.out = clamped
    m.train()
    assert (m(lmk, z, a_s, a_e) - lmk).min() >= -1e-5


def test_m2fa_last_layer_is_plain_linear():
    m = M2FA()
    assert type(m.out) is nn.Conv1d and m.out.kernel_size == (1,) and m.out.out_channels == 3


def test_m2fa_rejects_wrong_inputs():
    m = M2FA()
    lmk, z, a_s, a_e = m2fa_inputs()
    with pytest.raises(ValueError, match="built for 68 landmarks"):
        m(lmk[:, :21], z, a_s, a_e)
    with pytest.raises(ValueError, match="alpha_e must have shape"):
        m(lmk, z, a_s, torch.randn(3, 6))
    with pytest.raises(ValueError, match="z must have shape"):
        m(lmk, torch.randn(3, 2048), a_s, a_e)
    with pytest.raises(ValueError, match="modalities"):
        M2FA(modalities="image")


# ----------------------------------------------------------------------------- LGS
def test_lgs_shapes_and_signed_outputs():
    lgs = LGS().eval()
    lmk = m2fa_inputs()[0]
    with torch.no_grad():
        out, feat = lgs(lmk, return_feature=True)
    assert out.shape == (3, 62) and feat.shape == (3, 1024)
    assert out.min() < 0 < out.max()  # converters are plain Linear (no ReLU clamping)
    assert all(type(c) is nn.Linear for c in (lgs.pose, lgs.shape, lgs.exp))
    enc = [m.out_channels for m in lgs.encoder if isinstance(m, nn.Conv1d)]
    assert enc == [64, 64, 64, 128, 1024]


@pytest.mark.parametrize("targets, n_true", [("pose", 12), ("shape+exp", 50), ("all", 62)])
def test_lgs_targets_mask(targets, n_true):
    lgs = LGS(targets=targets)
    out = lgs(m2fa_inputs()[0])
    assert int(lgs.mask.sum()) == n_true and torch.equal(lgs.mask, target_mask(targets, 40, 10))
    assert (out[:, ~lgs.mask] == 0).all() and (out[:, lgs.mask] != 0).all()


def test_lgs_setting2_aggregates_modalities():
    lgs = LGS(setting="setting2")
    lmk, z, a_s, a_e = m2fa_inputs()
    out, feat = lgs(lmk, z, a_s, a_e, return_feature=True)
    assert feat.shape == (3, 2354) and out.shape == (3, 62)
    with pytest.raises(ValueError, match="setting2 needs"):
        lgs(lmk)


def test_lgs_other_model_sizes():
    lgs = LGS(n_shape=40, n_exp=6)
    assert lgs(m2fa_inputs()[0]).shape == (3, 58)
    with pytest.raises(ValueError, match="built for 68"):
        lgs(torch.rand(3, 21, 3))
