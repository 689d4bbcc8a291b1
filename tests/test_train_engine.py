"""Trainer details: the NaN guard skips and counts, augmentation does not depend on the number of
DataLoader workers, CSV logs and the plot helper, autocast around the forward pass, a constructor that writes nothing."""
import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402
from smoke_training import smoke_config as tiny  # noqa: E402

from m3lrn_lib.train import Trainer, plot_log, read_log  # noqa: E402


def test_nan_guard_skips_and_counts(tmp_path):
    tr = Trainer(tiny(tmp_path, "run.max_steps=3", "data.test=none", "run.log_format=csv", "augment.face_swap=0"))
    calls = {"n": 0}

    def poison(grad):
        calls["n"] += 1
        return grad * float("nan") if calls["n"] == 2 else grad
    next(tr.net.heads.parameters()).register_hook(poison)
    before = [p.detach().clone() for p in tr.net.parameters()]
    s = tr.fit()
    assert s["skipped"] == 1 and s["step"] == 3
    assert all(torch.isfinite(p).all() for p in tr.net.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, tr.net.parameters()))
    log = read_log(tmp_path / "run" / "log.csv")
    assert [r["skipped"] for r in log if r["kind"] == "step"] == [0, 1, 1]
    fig = plot_log(log)
    assert len(fig.axes) == 4


def test_batches_do_not_depend_on_workers(tmp_path):
    def batches(workers):
        tr = Trainer(tiny(tmp_path, f"data.workers={workers}", "data.test=none", "augment.face_swap=1.0"))
        tr.sampler.set_epoch(1, start=4)  # a resumed epoch: skip this process's first 4 samples
        return [b for b in tr.loader]
    a, b = batches(0), batches(2)
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        assert torch.equal(x["index"], y["index"]) and torch.equal(x["image"], y["image"])
        assert torch.equal(x["target"], y["target"])


def test_close_stops_the_loader_workers(tmp_path):
    tr = Trainer(tiny(tmp_path, "data.workers=1", "data.test=none"))
    next(iter(tr.loader))
    workers = tr.loader._iterator._workers
    assert workers and all(w.is_alive() for w in workers)
    tr.close()
    assert tr.loader._iterator is None and not any(w.is_alive() for w in workers)
    tr.close()  # idempotent
    assert len(next(iter(tr.loader))["image"]) > 0  # a new iteration starts new workers


def test_autocast_runs_only_the_backbone_in_reduced_precision():
    """Under torch.autocast (the trainer's context around its forward pass) the backbone runs in
    bf16, its features come back as float32 and everything after it stays float32; the network's
    forward is not patched (state dict and forward unchanged)."""
    from m3lrn_lib.morphable import load_face_model
    from m3lrn_lib.nn import M3LRN, M3LRNConfig
    net = M3LRN(load_face_model(), M3LRNConfig(width_mult=0.25)).eval()
    keys, forward = list(net.state_dict()), net.forward
    x = torch.randn(2, 3, 120, 120)
    with torch.no_grad():
        ref = net(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = net(x)
            z_bf16 = net.backbone(x)
    assert list(net.state_dict()) == keys and net.forward == forward and "forward" not in vars(net)
    assert z_bf16.dtype == torch.bfloat16
    assert all(y[k].dtype == torch.float32 for k in ("z", "params", "params_raw", "lmk_coarse", "lmk_refined", "pose"))
    assert torch.allclose(y["z"], ref["z"], atol=0.1, rtol=0.1) and not torch.equal(y["z"], ref["z"])


def test_constructor_writes_nothing(tmp_path):
    tr = Trainer(tiny(tmp_path, "data.workers=0"))
    assert not tr.out_dir.exists() and tr.log is None
    tr.save()
    assert sorted(p.name for p in tr.out_dir.iterdir()) == ["config.toml", "last.pt", f"log.{tr.cfg.run.log_format}"]


def test_loader_targets_are_consistent_with_the_landmarks(tmp_path):
    """A training batch (colour jitter, flip and face swap on): the whitened targets un-whiten to
    the batch's parameters with the network's own statistics, and those parameters project close to the
    batch's landmarks (Eq. 1-2) -- so L_3DMM and L_lmk supervise the same face: L_3DMM its 62-d truncation,
    L_lmk the full face's landmarks (generator v2), apart by the leftover only (~1 px, never a mirror image)."""
    from m3lrn_lib import geometry
    tr = Trainer(tiny(tmp_path, "data.workers=0", "augment.face_swap=1.0", "augment.flip=0.5"))
    tr.sampler.set_epoch(0)
    b = next(iter(tr.loader))
    mean, std = tr.net.param_mean.cpu().float(), tr.net.param_std.cpu().float()
    assert torch.equal(mean, torch.as_tensor(tr.samples.param_mean, dtype=torch.float32))
    assert torch.equal(std, torch.as_tensor(tr.samples.param_std, dtype=torch.float32))
    assert (geometry.unwhiten(b["target"], mean, std) - b["params"]).abs().max() < 1e-4
    lm = geometry.project_to_crop(tr.net.face_model, b["params"].double(), landmarks_only=True)
    gap = (lm[..., :2].float() - b["landmarks"][..., :2]).norm(dim=-1)
    assert gap.mean() < 3.0 and gap.max() < 12.0, (float(gap.mean()), float(gap.max()))
