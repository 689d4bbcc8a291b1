"""The lesson code of notebooks 03/04 (m3lrn_lib.course.lessons), on tiny sizes (< 30 s)."""
import numpy as np
import pytest
import torch

from m3lrn_lib import geometry
from m3lrn_lib.course.lessons import nb03, nb04
from m3lrn_lib.course.lessons.fit import fit_module
from m3lrn_lib.data.prior import sample_prior_params
from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.nn import M3LRN, M3LRNConfig

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def model():
    return load_face_model()


@pytest.fixture(scope="module")
def prior(model):
    raw = sample_prior_params(model, 400, seed=3)
    mean, std = raw.mean(0), raw.std(0).clamp_min(1e-3)
    return raw, mean, std


class TinySet(torch.utils.data.Dataset):
    """A dataset of samples like the readers' (random images), with whitening statistics."""

    def __init__(self, model, raw, mean, std, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.raw, self.param_mean, self.param_std = raw, mean.numpy(), std.numpy()
        self.target = geometry.whiten(raw, mean, std)
        self.lmk = geometry.project_to_crop(model, raw, landmarks_only=True)
        self.pose = geometry.params_to_euler(raw)
        self.images = torch.randn(len(raw), 3, 120, 120, generator=g) * 0.5

    def __len__(self):
        return len(self.raw)

    def __getitem__(self, i):
        return {"image": self.images[i], "target": self.target[i], "params": self.raw[i], "landmarks": self.lmk[i],
                "pose": self.pose[i], "box": torch.tensor([0.0, 0.0, 120.0, 120.0])}


def test_stack_labels_and_perturbation(model, prior):
    raw, mean, std = prior
    ds = TinySet(model, raw[:6], mean, std)
    lab = nb03.stack_labels(ds, images=True)
    assert lab["target"].shape == (6, model.n_params) and lab["landmarks"].shape == (6, 68, 3)
    assert lab["image"].shape == (6, 3, 120, 120) and lab["yaw_deg"].shape == (6,)
    t = lab["target"]
    assert torch.equal(nb03.perturb_params(t, noise=0.0, shrink=1.0), t)
    g = torch.Generator().manual_seed(0)
    frozen = torch.zeros(model.n_params, dtype=torch.bool)
    frozen[11] = True
    p = nb03.perturb_params(t, 0.2, 0.5, g, frozen=frozen)
    assert torch.equal(p[:, 11], t[:, 11]) and not torch.allclose(p, t)
    L = nb03.coarse_from_whitened(model, t, mean, std)
    assert torch.allclose(L, lab["landmarks"], atol=1e-3)


def test_reports(model):
    gt = torch.rand(5, 68, 3) * 100 + 10
    pred = gt.clone()
    pred[:, :17, 0] += 2.0  # move the jaw only
    tab = nb03.nme_table({"same": gt, "moved": pred}, gt, torch.tensor([0.0, 10, 40, 70, 80]))
    assert tab["same"]["All"] == 0 and tab["moved"]["All"] > 0
    assert "moved" in nb03.format_table(tab)
    s = nb03.residual_sign_stats(torch.tensor([[[-1.0, 2.0, 0.5]]]))
    assert s["min"] == -1 and s["max"] == 2 and s["negative_share"] == [1.0, 0.0, 0.0]


def test_refinement_experiment_runs(model, prior):
    raw, mean, std = prior
    t = geometry.whiten(raw, mean, std)
    res = nb03.refinement_experiment(model, t[:64], t[64:72], mean, std, modalities=("points", "all"), steps=3,
                                  batch_size=8)
    assert res["coarse"].shape == (8, 68, 3) and set(res["refined"]) == {"points", "all"}
    for mod, L in res["refined"].items():
        assert L.shape == (8, 68, 3) and torch.isfinite(L).all()
        assert len(res["history"][mod]) == 1 and res["models"][mod].modalities == mod
    # the coarse set is a deterministic function of test_seed
    again = nb03.refinement_experiment(model, t[:64], t[64:72], mean, std, modalities=(), steps=1)
    assert torch.equal(again["coarse"], res["coarse"])
    refined, inter = nb03.refine(res["models"]["all"], res["coarse"], res["coarse_w"], return_intermediates=True)
    assert inter["mmpf"].shape == (8, 68, 2418) and torch.allclose(refined, res["refined"]["all"], atol=1e-5)


def test_lgs_helpers(model, prior):
    raw, mean, std = prior
    lgs, hist = nb04.train_lgs(model, mean, std, source=raw[:100], steps=4, batch_size=8, log_every=2, input_noise=0.5)
    assert [h["step"] for h in hist] == [2, 4]
    t = geometry.whiten(raw[100:110], mean, std)
    lmk = geometry.project_to_crop(model, raw[100:110], landmarks_only=True)
    pose = torch.rad2deg(geometry.params_to_euler(raw[100:110]))
    r = nb04.evaluate_lgs(lgs, model, lmk, t, mean, std, pose)
    assert r["alpha_hat"].shape == t.shape and set(r["part_mse"]) == {"pose", "shape", "expr", "all"}
    assert np.isfinite(r["nme"]["All"]) and np.isfinite(r["pose"]["mean"])
    pose_only, _ = nb04.train_lgs(model, mean, std, source=raw[:100], targets="pose", steps=1, batch_size=8)
    r = nb04.evaluate_lgs(pose_only, model, lmk, t, mean, std, pose)
    assert "nme" not in r and torch.all(r["alpha_hat"][:, 12:] == 0)
    pe = nb04.part_errors(torch.zeros(2, 62), torch.ones(2, 62))
    assert pe == {"pose": 1.0, "shape": 1.0, "expr": 1.0, "all": 1.0}


def test_losses_by_hand_match_total_loss(model, prior):
    raw, mean, std = prior
    ds = TinySet(model, raw[:3], mean, std)
    net = M3LRN(model, M3LRNConfig.preset("full", width_mult=0.35), mean, std).eval()
    batch = nb03.stack_labels(ds, images=True)
    with torch.no_grad():
        out = net(batch["image"], with_lgs=True)
        # make the landmark errors straddle the smooth-L1 threshold
        out["lmk_refined"] = batch["landmarks"] + torch.linspace(-3, 3, 68 * 3).reshape(1, 68, 3)
        ref = net.loss(out, batch)
    mine = nb04.losses_by_hand(out, batch["target"], batch["landmarks"])
    for k in ("loss_3dmm", "loss_lmk", "loss_3dmm_lmk", "loss_g", "total"):
        assert mine[k] == pytest.approx(float(ref[k]), rel=1e-5, abs=1e-7), k


def test_lg_experiment_tiny(model, prior):
    raw, mean, std = prior
    train_set, test_set = TinySet(model, raw[:8], mean, std), TinySet(model, raw[8:12], mean, std, seed=1)
    runs = nb04.lg_experiment(model, train_set, test_set, w_g_values=(0.0, 1.0), seeds=(0,), steps=2, batch_size=4,
                           width_mult=0.35)
    assert [r.w_g for r in runs] == [0.0, 1.0]
    for r in runs:
        assert len(r.history) == 2 and np.isfinite([r.agreement, r.err_alpha, r.err_alpha_hat]).all()
        assert "All" in r.nme and "mean" in r.pose
    # same seed -> identical first step (the weight of L_g changes the total, not the terms)
    assert runs[0].history[0]["loss_3dmm"] == pytest.approx(runs[1].history[0]["loss_3dmm"])


def test_report_alpha_hat_and_names(model, prior):
    raw, mean, std = prior
    t = geometry.whiten(raw[:10], mean, std)
    pose = torch.rad2deg(geometry.params_to_euler(raw[:10]))
    r = nb04.report_alpha_hat(t.clone(), model, t, mean, std, pose)
    assert r["part_mse"]["all"] == 0 and r["nme"]["All"] < 1e-3 and r["pose"]["mean"] < 1e-3
    assert "nme" not in nb04.report_alpha_hat(t, model, t, mean, std, pose, mask=torch.arange(62) < 12)
    assert [nb04.param_name(i) for i in (0, 3, 11, 12, 51, 52, 61)] == [
        "P[0,0]", "P[0,3] (t_x)", "P[2,3] (t_z)", "shape 0", "shape 39", "expr 0", "expr 9"]


def test_lg_gradient_flow(model, prior):
    raw, mean, std = prior
    net = M3LRN(model, M3LRNConfig.preset("full", width_mult=0.35), mean, std).eval()
    images = torch.randn(2, 3, 120, 120)
    both = nb04.lg_gradient_flow(net, images)
    assert set(both) >= {"backbone", "heads", "m2fa", "lgs"} and all(both[k] > 0 for k in ("backbone", "heads", "lgs"))
    # alpha detached: the first stage still learns from L_g, through its landmarks (alpha -> L^c -> L^r -> alpha_hat)
    teacher = nb04.lg_gradient_flow(net, images, detach="alpha")
    assert teacher["lgs"] > 0 and teacher["heads"] > 0 and teacher["heads"] != pytest.approx(both["heads"])
    student = nb04.lg_gradient_flow(net, images, detach="alpha_hat")
    assert student["lgs"] == 0 and student["m2fa"] == 0 and student["heads"] > 0
    assert all(p.grad is None for p in net.parameters())


def test_fit_module_reads_the_batches_lazily_and_logs():
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 1)
    seen = []

    def batches():
        i = 0
        while True:
            i += 1
            seen.append(i)
            yield torch.ones(4, 3) * i, torch.zeros(4, 1)

    net, hist = fit_module(lin, lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(), batches(), steps=5, lr=0.01,
                           log_every=2, loss_name="mse")
    assert seen == [1, 2, 3, 4, 5], "exactly one batch per step"
    assert [h["step"] for h in hist] == [2, 4, 5] and set(hist[0]) == {"step", "mse", "seconds"}
    assert not net.training


def test_lg_experiment_fine_tunes_a_copy_of_start(model, prior):
    raw, mean, std = prior
    train_set, test_set = TinySet(model, raw[:8], mean, std), TinySet(model, raw[8:12], mean, std, seed=1)
    start = M3LRN(model, M3LRNConfig.preset("full", width_mult=0.35), mean, std)
    before = {k: v.clone() for k, v in start.state_dict().items() if torch.is_tensor(v)}
    runs = nb04.lg_experiment(model, train_set, test_set, w_g_values=(0.0, 1.0), seeds=(0, 1), steps=1,
                              batch_size=4, lr=1e-3, start=start, optimizer="adam")
    assert [(r.seed, r.w_g) for r in runs] == [(0, 0.0), (0, 1.0), (1, 0.0), (1, 1.0)]
    assert all(torch.equal(v, start.state_dict()[k]) for k, v in before.items()), "start must not be trained"
    # every run starts from start's weights: the same seed's first step sees the same terms
    assert runs[0].history[0]["loss_lmk"] == pytest.approx(runs[1].history[0]["loss_lmk"])
    e = nb04.lg_effect(runs, "agreement", on=1.0)
    assert len(e["diffs"]) == 2 and np.isfinite(e["mean"]) and e["spread"] >= 0


def test_lg_effect_arithmetic():
    def run(w, s, nme):
        return nb04.LgRun(w, s, [], 0.0, 0.0, 0.0, {"All": nme}, {"mean": 0.0}, 0.0)
    runs = [run(0.0, 0, 5.0), run(0.1, 0, 4.0), run(0.0, 1, 5.2), run(0.1, 1, 4.4), run(0.0, 2, 5.1), run(0.1, 2, 4.1)]
    e = nb04.lg_effect(runs, "nme", on=0.1)
    assert e["diffs"] == pytest.approx([-1.0, -0.8, -1.0])
    assert e["mean"] == pytest.approx(-14 / 15) and e["spread"] == pytest.approx(0.4)
    assert e["diff_std"] == pytest.approx(np.std([-1.0, -0.8, -1.0], ddof=1)) and e["consistent"]
    mixed = runs[:2] + [run(0.0, 1, 4.0), run(0.1, 1, 4.9)]
    assert not nb04.lg_effect(mixed, "nme", on=0.1)["consistent"]
    with pytest.raises(ValueError, match="valid: agreement"):
        nb04.lg_effect(runs, "accuracy", on=0.1)
    with pytest.raises(ValueError, match="lambda_4 = 0.5"):
        nb04.lg_effect(runs, "nme", on=0.5)


def test_movement_and_group_gain_tables():
    gt = np.zeros((2, 68, 3))
    gt[:, :, 0] = np.linspace(0, 100, 68)            # box 100 x 100 -> Eq. 8's normaliser 100
    gt[:, :, 1] = np.linspace(0, 100, 68)[::-1]
    coarse = gt.copy()
    coarse[..., 0] += 4.0                               # 4 px off everywhere
    refined = coarse.copy()
    refined[:, :17, 0] -= 3.0                           # the jaw (points 0-16) moved 3 px back
    res = {"coarse": coarse, "refined": refined, "gt": gt, "yaw_deg": np.array([10.0, 45.0])}
    mv = nb03.movement_table(res)
    assert mv["jaw"]["[0,30]"] == pytest.approx(3.0) and mv["jaw"]["(30,60]"] == pytest.approx(3.0)
    assert mv["eyes"]["All"] == pytest.approx(0.0) and mv["all 68"]["All"] == pytest.approx(3.0 * 17 / 68)
    g = nb03.group_gain_table(res)
    assert g["jaw"]["coarse"] == pytest.approx(4.0) and g["jaw"]["refined"] == pytest.approx(1.0)
    assert g["jaw"]["gain"] == pytest.approx(3.0) and g["jaw"]["faces_better"] == 1.0
    assert g["mouth"]["gain"] == pytest.approx(0.0) and g["mouth"]["faces_better"] == 0.0


def test_rewhitening_maps_targets_into_the_networks_statistics(model, prior):
    raw, mean, std = prior
    ds = TinySet(model, raw[:4], mean, std)
    same = M3LRN(model, M3LRNConfig.preset("full", width_mult=0.35), mean, std)
    assert nb04.rewhitening(ds, same) is None
    other = M3LRN(model, M3LRNConfig.preset("full", width_mult=0.35), mean + 1.0, 2 * std)
    conv = nb04.rewhitening(ds, other)
    b = conv({"target": ds.target[:2], "image": None})
    assert torch.allclose(b["target"], geometry.whiten(raw[:2], mean + 1.0, 2 * std), atol=1e-5)
