"""The M3LRN model: every preset trains (forward + backward), outputs, bad input, other face models."""
import dataclasses
import os

import pytest
import torch

from m3lrn_lib import geometry, paths
from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.nn import M3LRN, PRESETS, M3LRNConfig, count_parameters, default_param_stats, parameter_table

torch.set_num_threads(2)
SFM = str(paths.sfm_dir())


@pytest.fixture(scope="module")
def fm():
    return load_face_model("embedded")


def images(b=2, seed=0):
    return torch.randn(b, 3, 120, 120, generator=torch.Generator().manual_seed(seed)) * 0.5


def gt_batch(model, b=2, seed=0, net=None):
    g = torch.Generator().manual_seed(seed)
    P = geometry.make_pose((torch.rand(b, generator=g) - 0.5) * 2, (torch.rand(b, generator=g) - 0.5) * 0.5, 0.0,
                    0.6, 60.0, 65.0)
    raw = torch.cat([P, torch.randn(b, model.n_shape, generator=g) * torch.as_tensor(model.shape_std),
                     torch.randn(b, model.n_exp, generator=g) * torch.as_tensor(model.exp_std)], 1)
    mean, std = (net.param_mean, net.param_std) if net is not None else default_param_stats(model)
    return {"target": geometry.whiten(raw, mean, std),
            "landmarks": geometry.project_to_crop(model, raw, landmarks_only=True)}


def grad_norm(module):
    return sum(p.grad.abs().sum().item() for p in module.parameters() if p.grad is not None)


@pytest.mark.parametrize("preset", [p for p in PRESETS if p != "resnet50"])
def test_every_preset_trains(fm, preset):
    torch.manual_seed(0)
    cfg = M3LRNConfig.preset(preset)
    net = M3LRN(fm, cfg).train()
    out = net(images(), targets=gt_batch(fm, net=net))
    losses = out["losses"]
    assert torch.isfinite(losses["total"])
    losses["total"].backward()
    assert grad_norm(net.backbone.features[0]) > 0 and grad_norm(net.heads) > 0
    assert (net.m2fa is not None) == cfg.refine and (net.lgs is not None) == cfg.lgs
    if cfg.refine:
        assert grad_norm(net.m2fa) > 0 and losses["loss_lmk"] > 0
        assert grad_norm(net.m2fa.high) > 0  # the global point feature is used
    else:
        assert torch.equal(out["lmk_refined"], out["lmk_coarse"]) and losses["loss_lmk"] == 0
    if cfg.lgs:
        assert grad_norm(net.lgs) > 0 and losses["loss_3dmm_lmk"] > 0 and losses["loss_g"] > 0
        assert out["params_lgs"].shape == (2, 62)
        assert int(out["lgs_mask"].sum()) == {"pose": 12, "shape+exp": 50, "all": 62}[cfg.lgs_targets]
        assert (out["params_lgs"][:, ~out["lgs_mask"]] == 0).all()
    else:
        assert "params_lgs" not in out and losses["loss_g"] == 0


def test_resnet50_preset_trains(fm):
    net = M3LRN(fm, "resnet50").train()
    out = net(images(), targets=gt_batch(fm, net=net))
    out["losses"]["total"].backward()
    assert out["z"].shape == (2, 2048) and net.m2fa.mmpf_dim == 64 + 1024 + 2048 + 50
    assert grad_norm(net.backbone.features[0]) > 0


def test_output_contract(fm):
    net = M3LRN(fm, "full").eval()
    with torch.no_grad():
        out = net(images(3), dense=True)
    assert out["params"].shape == (3, 62) and out["z"].shape == (3, 1280) and out["pose"].shape == (3, 3)
    assert out["lmk_coarse"].shape == out["lmk_refined"].shape == (3, 68, 3)
    assert torch.allclose(out["params_raw"], out["params"] * net.param_std + net.param_mean)
    assert torch.allclose(out["lmk_coarse"], geometry.project_to_crop(fm, out["params_raw"], landmarks_only=True))
    assert torch.allclose(out["pose"], geometry.params_to_euler(out["params_raw"]))
    # dense output = Eq. 1-2 from the unwhitened parameters, in the crop image frame
    want = geometry.to_image(geometry.reconstruct_vertices(fm, out["params_raw"]))
    assert out["vertices"].shape == (3, fm.n_vertices, 3) and torch.allclose(out["vertices"], want, atol=1e-3)
    assert torch.allclose(out["vertices"][:, fm.landmarks], out["lmk_coarse"], atol=1e-2)
    assert not torch.equal(out["lmk_refined"], out["lmk_coarse"])  # refined landmarks are returned


def test_lgs_runs_in_training_and_on_request(fm):
    net = M3LRN(fm, "full")
    x = images()
    assert "params_lgs" in net.train()(x)
    assert "params_lgs" not in net.train()(x, with_lgs=False)
    assert "params_lgs" not in net.eval()(x)
    assert net.eval()(x, with_lgs=True)["params_lgs"].shape == (2, 62)
    with pytest.raises(ValueError, match="no LGS branch"):
        M3LRN(fm, "m2fa").eval()(x, with_lgs=True)


def test_lgs_input_follows_the_setting(fm):
    for preset, key in (("full", "lmk_refined"), ("lgs", "lmk_coarse"), ("setting1", "lmk_coarse")):
        net = M3LRN(fm, preset).eval()
        seen = {}
        net.lgs.register_forward_pre_hook(lambda mod, args: seen.update(lmk=args[0]))
        out = net(images(), with_lgs=True)
        assert seen["lmk"] is out[key]


def test_lgs_detach_input_keeps_eq5_out_of_the_first_stage(fm):
    """docs/cpu-recipe.md, the lgs row: with the option, L_3DMM_lmk trains LGS but not the heads."""
    def heads_grad(detach):
        torch.manual_seed(0)
        cfg = dataclasses.replace(M3LRNConfig.preset("lgs", width_mult=0.35), lgs_detach_input=detach)
        net = M3LRN(fm, cfg).train()
        out = net(images(), with_lgs=True)
        ((out["params_lgs"] - gt_batch(fm, net=net)["target"]) ** 2).mean().backward()   # Eq. 5 alone
        return grad_norm(net.heads), grad_norm(net.lgs)
    (h_off, l_off), (h_on, l_on) = heads_grad(False), heads_grad(True)
    assert h_off > 0 and h_on == 0 and l_on > 0 and l_off > 0
    with pytest.raises(ValueError, match="lgs_detach_input need lgs=True"):
        dataclasses.replace(M3LRNConfig.preset("m2fa"), lgs_detach_input=True)


def test_landmark_loss_reaches_first_stage_through_coarse_landmarks(fm):
    net = M3LRN(fm, "m2fa").train()
    out = net(images())
    out["lmk_refined"].sum().backward()
    assert grad_norm(net.heads.pose) > 0 and grad_norm(net.heads.shape) > 0


def test_loss_reconstructs_missing_landmarks(fm):
    net = M3LRN(fm, "full").train()
    b = gt_batch(fm, net=net)
    torch.manual_seed(0)
    out = net(images())
    a = net.loss(out, b)
    c = net.loss(out, {"target": b["target"]})
    d = net.loss(out, b["target"])
    assert torch.allclose(a["loss_lmk"], c["loss_lmk"], atol=1e-4) and torch.allclose(c["total"], d["total"])


def test_extra_mlp_baseline_matches_full_model_size(fm):
    full = count_parameters(M3LRN(fm, "full"))["total"]
    extra = count_parameters(M3LRN(fm, "baseline_extra_mlp"))["total"]
    base = count_parameters(M3LRN(fm, "baseline"))["total"]
    assert abs(extra - full) / full < 0.01 and extra - base > 1.5e6
    assert M3LRN(fm, M3LRNConfig.preset("baseline_extra_mlp", extra_mlp_hidden=64)).heads.hidden == 64


def test_parameter_counts_and_table(fm):
    net = M3LRN(fm, "full")
    c = count_parameters(net)
    assert c["backbone"] == 2_223_872 and c["heads"] == 1280 * 62 + 62
    assert c["total"] == c["backbone"] + c["heads"] + c["m2fa"] + c["lgs"]
    assert 1.4e6 < c["m2fa"] < 1.7e6 and 0.2e6 < c["lgs"] < 0.25e6
    table = parameter_table(net)
    assert "m2fa" in table and "3.8M" in table and "inference network" in table
    assert "m2fa.dec1" in count_parameters(net, depth=2)


def test_state_dict_round_trip_and_buffers(fm):
    torch.manual_seed(0)
    a = M3LRN(fm, "full").eval()
    sd = a.state_dict()
    assert "param_mean" in sd and "param_std" in sd and sd["_extra_state"]["fingerprint"] == fm.fingerprint()
    b = M3LRN(fm, "full").eval()
    b.load_state_dict(sd)
    x = images()
    with torch.no_grad():
        assert torch.allclose(a(x)["lmk_refined"], b(x)["lmk_refined"])


def test_config_validation():
    with pytest.raises(ValueError, match="unknown preset"):
        M3LRNConfig.preset("nope")
    with pytest.raises(ValueError, match="mmpf"):
        M3LRNConfig(mmpf="image")
    with pytest.raises(ValueError, match="needs refine=True"):
        M3LRNConfig(refine=False, mmpf="points")
    with pytest.raises(ValueError, match="need lgs=True"):
        M3LRNConfig(lgs=False, lgs_setting="setting2")
    with pytest.raises(ValueError, match="backbone"):
        M3LRNConfig(backbone="vgg16")
    assert set(M3LRNConfig.presets()) >= {"baseline", "m2fa", "lgs", "full", "baseline_extra_mlp", "points_only",
                                          "points_image", "lgs_pose", "lgs_shape_exp", "setting1", "setting2"}


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("shape, match", [((2, 3, 112, 112), "120x120"), ((2, 1, 120, 120), "3 \\(RGB\\) channels"),
                                          ((2, 120, 120, 3), "3 \\(RGB\\) channels"),
                                          ((3, 120, 120), "shape \\(B, 3, 120, 120\\)")])
def test_bad_image_shapes(fm, shape, match):
    net = M3LRN(fm, "baseline").eval()
    with pytest.raises(ValueError, match=match):
        net(torch.zeros(shape))


def test_bad_image_values_and_batch_of_one(fm):
    net = M3LRN(fm, "full")
    x = images()
    x[1, 0, 5, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        net.eval()(x)
    with pytest.raises(ValueError, match="batch of one in training mode"):
        net.train()(images(1))
    with pytest.raises(ValueError, match="floating point"):
        net.eval()(torch.zeros(2, 3, 120, 120, dtype=torch.uint8))
    with torch.no_grad():
        assert net.eval()(images(1))["lmk_refined"].shape == (1, 68, 3)  # fine in eval mode


def test_wrong_parameter_lengths(fm):
    mean, std = default_param_stats(fm)
    with pytest.raises(ValueError, match="has 58 entries but the face model has 62"):
        M3LRN(fm, "baseline", mean[:58], std[:58])
    with pytest.raises(ValueError, match="both"):
        M3LRN(fm, "baseline", mean, None)
    net = M3LRN(fm, "full").train()
    out = net(images())
    with pytest.raises(ValueError, match="62 columns"):
        net.loss(out, {"target": torch.zeros(2, 58)})
    with pytest.raises(ValueError, match="built for 68 landmarks"):
        net.loss(out, {"target": torch.zeros(2, 62), "landmarks": torch.zeros(2, 21, 3)})


def test_weights_of_another_face_model_with_the_same_sizes_are_refused(fm):
    other = dataclasses.replace(fm, name="other", mean=fm.mean * 1.05)
    assert other.n_params == fm.n_params and other.fingerprint() != fm.fingerprint()
    sd = M3LRN(fm, "baseline").state_dict()
    with pytest.raises(ValueError, match="trained for face model"):
        M3LRN(other, "baseline").load_state_dict(sd)


# ----------------------------------------------------------------------------- another face model
@pytest.mark.skipif(not os.path.isdir(SFM), reason=f"Surrey Face Model not found at {SFM}")
def test_surrey_model_end_to_end(fm):
    sfm = load_face_model(SFM)
    assert sfm.n_params == 58
    net = M3LRN(sfm, "full").train()
    out = net(images(), targets=gt_batch(sfm, net=net), dense=True)
    out["losses"]["total"].backward()
    assert out["params"].shape == (2, 58) and out["params_lgs"].shape == (2, 58)
    assert out["vertices"].shape == (2, sfm.n_vertices, 3) and net.m2fa.mmpf_dim == 64 + 1024 + 1280 + 46
    assert grad_norm(net.lgs) > 0 and grad_norm(net.m2fa) > 0
    # 62-d parameters (the embedded model's) are refused
    mean62, std62 = default_param_stats(fm)
    with pytest.raises(ValueError, match="has 62 entries but the face model has 58"):
        M3LRN(sfm, "full", mean62, std62)
    with pytest.raises(ValueError, match="58 columns"):
        net.loss(out, {"target": torch.zeros(2, 62)})
    # weights of the embedded-model network do not load into the Surrey network, and back
    with pytest.raises((ValueError, RuntimeError)):
        net.load_state_dict(M3LRN(fm, "full").state_dict())
    with pytest.raises(ValueError, match="trained for face model"):
        M3LRN(fm, "full").load_state_dict(net.state_dict(), strict=False)
    with pytest.raises(ValueError, match="is not the one this network was built for"):
        net.check_face_model(fm)
    net.check_face_model(sfm)
