"""The notebook-03/04 experiment helpers (m3lrn_lib.experiments), on tiny sizes (< 30 s)."""
import numpy as np
import pytest
import torch

from m3lrn_lib import experiments as X
from m3lrn_lib import geometry as G
from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.nn import M3LRN, M3LRNConfig

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def model():
    return load_face_model()


@pytest.fixture(scope="module")
def prior(model):
    raw = X.sample_prior_params(model, 400, seed=3)
    mean, std = raw.mean(0), raw.std(0).clamp_min(1e-3)
    return raw, mean, std


class TinySet(torch.utils.data.Dataset):
    """A dataset of samples like the readers' (random images), with whitening statistics."""

    def __init__(self, model, raw, mean, std, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.raw, self.param_mean, self.param_std = raw, mean.numpy(), std.numpy()
        self.target = G.whiten(raw, mean, std)
        self.lmk = G.project_to_crop(model, raw, landmarks_only=True)
        self.pose = G.params_to_euler(raw)
        self.images = torch.randn(len(raw), 3, 120, 120, generator=g) * 0.5

    def __len__(self):
        return len(self.raw)

    def __getitem__(self, i):
        return {"image": self.images[i], "target": self.target[i], "params": self.raw[i], "landmarks": self.lmk[i],
                "pose": self.pose[i], "box": torch.tensor([0.0, 0.0, 120.0, 120.0])}


def test_sample_prior_params_look_like_training_crops(model, prior):
    raw, _, _ = prior
    assert raw.shape == (400, model.n_params) and torch.isfinite(raw).all()
    lmk = G.project_to_crop(model, raw, landmarks_only=True)
    centre = (lmk[..., :2].amax(1) + lmk[..., :2].amin(1)) / 2
    assert ((centre > 30) & (centre < 95)).all(), "faces are framed near the middle of the crop"
    width = lmk[..., 0].amax(1) - lmk[..., 0].amin(1)
    assert width.median() > 40
    yaw = torch.rad2deg(G.params_to_euler(raw)[:, 0]).abs()
    assert yaw.max() < 90 and (yaw > 60).any() and (yaw < 30).any()
    assert torch.equal(raw, X.sample_prior_params(model, 400, seed=3)), "seeded"


def test_stack_labels_and_perturbation(model, prior):
    raw, mean, std = prior
    ds = TinySet(model, raw[:6], mean, std)
    lab = X.stack_labels(ds, images=True)
    assert lab["target"].shape == (6, model.n_params) and lab["landmarks"].shape == (6, 68, 3)
    assert lab["image"].shape == (6, 3, 120, 120) and lab["yaw_deg"].shape == (6,)
    t = lab["target"]
    assert torch.equal(X.perturb_params(t, noise=0.0, shrink=1.0), t)
    g = torch.Generator().manual_seed(0)
    frozen = torch.zeros(model.n_params, dtype=torch.bool)
    frozen[11] = True
    p = X.perturb_params(t, 0.2, 0.5, g, frozen=frozen)
    assert torch.equal(p[:, 11], t[:, 11]) and not torch.allclose(p, t)
    L = X.coarse_from_whitened(model, t, mean, std)
    assert torch.allclose(L, lab["landmarks"], atol=1e-3)


def test_reports(model):
    gt = torch.rand(5, 68, 3) * 100 + 10
    pred = gt.clone()
    pred[:, :17, 0] += 2.0  # move the jaw only
    groups = X.group_nme(pred, gt)
    assert set(groups) == set(X.LANDMARK_GROUPS) and groups["jaw"] > 0 and groups["mouth"] == 0
    assert sorted(i for v in X.LANDMARK_GROUPS.values() for i in v) == list(range(68))
    tab = X.nme_table({"same": gt, "moved": pred}, gt, torch.tensor([0.0, 10, 40, 70, 80]))
    assert tab["same"]["All"] == 0 and tab["moved"]["All"] > 0
    assert "moved" in X.format_table(tab)
    s = X.residual_sign_stats(torch.tensor([[[-1.0, 2.0, 0.5]]]))
    assert s["min"] == -1 and s["max"] == 2 and s["negative_share"] == [1.0, 0.0, 0.0]
    layer = X.public_output_layer().train()
    assert (layer(torch.randn(4, 128, 68)) >= 0).all()


def test_refinement_experiment_runs(model, prior):
    raw, mean, std = prior
    t = G.whiten(raw, mean, std)
    res = X.refinement_experiment(model, t[:64], t[64:72], mean, std, modalities=("points", "all"), steps=3,
                                  batch_size=8)
    assert res["coarse"].shape == (8, 68, 3) and set(res["refined"]) == {"points", "all"}
    for mod, L in res["refined"].items():
        assert L.shape == (8, 68, 3) and torch.isfinite(L).all()
        assert len(res["history"][mod]) == 1 and res["models"][mod].modalities == mod
    # the coarse set is a deterministic function of test_seed
    again = X.refinement_experiment(model, t[:64], t[64:72], mean, std, modalities=(), steps=1)
    assert torch.equal(again["coarse"], res["coarse"])
    refined, inter = X.refine(res["models"]["all"], res["coarse"], res["coarse_w"], return_intermediates=True)
    assert inter["mmpf"].shape == (8, 68, 2418) and torch.allclose(refined, res["refined"]["all"], atol=1e-5)


def test_lgs_helpers(model, prior):
    raw, mean, std = prior
    lgs, hist = X.train_lgs(model, mean, std, source=raw[:100], steps=4, batch_size=8, log_every=2, input_noise=0.5)
    assert [h["step"] for h in hist] == [2, 4]
    t = G.whiten(raw[100:110], mean, std)
    lmk = G.project_to_crop(model, raw[100:110], landmarks_only=True)
    pose = torch.rad2deg(G.params_to_euler(raw[100:110]))
    r = X.evaluate_lgs(lgs, model, lmk, t, mean, std, pose)
    assert r["alpha_hat"].shape == t.shape and set(r["part_mse"]) == {"pose", "shape", "expr", "all"}
    assert np.isfinite(r["nme"]["All"]) and np.isfinite(r["pose"]["mean"])
    pose_only, _ = X.train_lgs(model, mean, std, source=raw[:100], targets="pose", steps=1, batch_size=8)
    r = X.evaluate_lgs(pose_only, model, lmk, t, mean, std, pose)
    assert "nme" not in r and torch.all(r["alpha_hat"][:, 12:] == 0)
    pe = X.part_errors(torch.zeros(2, 62), torch.ones(2, 62))
    assert pe == {"pose": 1.0, "shape": 1.0, "expr": 1.0, "all": 1.0}


def test_losses_by_hand_match_total_loss(model, prior):
    raw, mean, std = prior
    ds = TinySet(model, raw[:3], mean, std)
    net = M3LRN(model, M3LRNConfig.preset("full", width_mult=0.35), mean, std).eval()
    batch = X.stack_labels(ds, images=True)
    with torch.no_grad():
        out = net(batch["image"], with_lgs=True)
        # make the landmark errors straddle the smooth-L1 threshold
        out["lmk_refined"] = batch["landmarks"] + torch.linspace(-3, 3, 68 * 3).reshape(1, 68, 3)
        ref = net.loss(out, batch)
    mine = X.losses_by_hand(out, batch["target"], batch["landmarks"])
    for k in ("loss_3dmm", "loss_lmk", "loss_3dmm_lmk", "loss_g", "total"):
        assert mine[k] == pytest.approx(float(ref[k]), rel=1e-5, abs=1e-7), k


def test_public_loss_geometry_is_misindexed():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, 62, generator=g)
    assert float(X.public_loss_geometry(a, a.clone())) > 0.5, "penalises perfect agreement"
    hat = torch.zeros(4, 62)
    hat[:, :50] = a[:, 12:62]
    assert float(X.public_loss_geometry(a, hat)) == 0.0


def test_lg_experiment_tiny(model, prior):
    raw, mean, std = prior
    train_set, test_set = TinySet(model, raw[:8], mean, std), TinySet(model, raw[8:12], mean, std, seed=1)
    runs = X.lg_experiment(model, train_set, test_set, w_g_values=(0.0, 1.0), seeds=(0,), steps=2, batch_size=4,
                           width_mult=0.35)
    assert [r.w_g for r in runs] == [0.0, 1.0]
    for r in runs:
        assert len(r.history) == 2 and np.isfinite([r.agreement, r.err_alpha, r.err_alpha_hat]).all()
        assert "All" in r.nme and "mean" in r.pose
    # same seed -> identical first step (the weight of L_g changes the total, not the terms)
    assert runs[0].history[0]["loss_3dmm"] == pytest.approx(runs[1].history[0]["loss_3dmm"])


def test_report_alpha_hat_and_names(model, prior):
    raw, mean, std = prior
    t = G.whiten(raw[:10], mean, std)
    pose = torch.rad2deg(G.params_to_euler(raw[:10]))
    r = X.report_alpha_hat(t.clone(), model, t, mean, std, pose)
    assert r["part_mse"]["all"] == 0 and r["nme"]["All"] < 1e-3 and r["pose"]["mean"] < 1e-3
    assert "nme" not in X.report_alpha_hat(t, model, t, mean, std, pose, mask=torch.arange(62) < 12)
    assert [X.param_name(i) for i in (0, 3, 11, 12, 51, 52, 61)] == [
        "P[0,0]", "P[0,3] (t_x)", "P[2,3] (t_z)", "shape 0", "shape 39", "expr 0", "expr 9"]


def test_lg_gradient_flow(model, prior):
    raw, mean, std = prior
    net = M3LRN(model, M3LRNConfig.preset("full", width_mult=0.35), mean, std).eval()
    images = torch.randn(2, 3, 120, 120)
    both = X.lg_gradient_flow(net, images)
    assert set(both) >= {"backbone", "heads", "m2fa", "lgs"} and all(both[k] > 0 for k in ("backbone", "heads", "lgs"))
    # alpha detached: the first stage still learns from L_g, through its landmarks (alpha -> L^c -> L^r -> alpha_hat)
    teacher = X.lg_gradient_flow(net, images, detach="alpha")
    assert teacher["lgs"] > 0 and teacher["heads"] > 0 and teacher["heads"] != pytest.approx(both["heads"])
    student = X.lg_gradient_flow(net, images, detach="alpha_hat")
    assert student["lgs"] == 0 and student["m2fa"] == 0 and student["heads"] > 0
    assert all(p.grad is None for p in net.parameters())
