"""Exact resume: a run killed (SIGKILL) in the middle of an epoch and resumed from its last
checkpoint ends with the same weights as an uninterrupted run (CPU, deterministic mode, one
thread, the full augmentation: colour jitter, flip, face swap)."""
import os
import subprocess
import sys
import textwrap

import torch

from m3lrn_lib.train import Trainer, checkpoint, load_config, read_log, to_toml

KILL_AT = 10  # steps; checkpoints every 3 steps and at epoch ends (6, 12): resume from step 9, mid-epoch 2


def _cfg(tmp_path, name):
    return load_config("smoke", [f"run.out_dir={tmp_path}/{name}", "run.threads=1", "run.deterministic=true",
                                 "run.save_every=3", "run.log_every=1", "data.subset=24", "optim.batch_size=4",
                                 "optim.epochs=2", "optim.milestones=1", "data.test_subset=8",
                                 "augment.face_swap=0.5", "data.workers=0"])


def _python(code, cwd):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    ref = Trainer(_cfg(tmp_path, "ref"))
    ref.fit()

    cfg = _cfg(tmp_path, "run")
    cfg_file = tmp_path / "run.toml"
    cfg_file.write_text(to_toml(cfg))
    killed = _python(f"""
        import os, signal
        from m3lrn_lib.train import Trainer, load_config
        def kill(trainer, record):
            if record["kind"] == "step" and record["step"] == {KILL_AT}:
                os.kill(os.getpid(), signal.SIGKILL)   # no clean-up, like a real kill
        Trainer(load_config({str(cfg_file)!r}), callbacks=[kill]).fit()
        """, tmp_path)
    assert killed.returncode == -9, killed.stderr[-2000:]
    st = checkpoint.load_file(tmp_path / "run" / "last.pt")["progress"]
    assert st["step"] == 9 and st["epoch"] == 1 and st["batch_in_epoch"] == 3
    assert max(r["step"] for r in read_log(tmp_path / "run" / "log.jsonl")) == KILL_AT

    resumed = subprocess.run([sys.executable, "-m", "m3lrn_lib.train", "--config", str(cfg_file), "--resume"],
                             cwd=os.getcwd(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed at step 9" in resumed.stdout

    a = checkpoint.load_file(ref.out_dir / "last.pt")
    b = checkpoint.load_file(tmp_path / "run" / "last.pt")
    assert a["progress"]["step"] == b["progress"]["step"] == 12
    worst = max(float((a["model"][k].double() - b["model"][k].double()).abs().max())
                for k in a["model"] if torch.is_tensor(a["model"][k]) and a["model"][k].is_floating_point())
    assert worst <= 1e-6, worst
    for k, v in a["optimizer"]["state"].items():
        assert torch.allclose(v["momentum_buffer"], b["optimizer"]["state"][k]["momentum_buffer"], atol=1e-6)
    # the log holds every step once, and the same losses as the uninterrupted run
    la = [r for r in read_log(ref.log_path) if r["kind"] == "step"]
    lb = [r for r in read_log(tmp_path / "run" / "log.jsonl") if r["kind"] == "step"]
    assert [r["step"] for r in lb] == list(range(1, 13))
    assert all(abs(x["total"] - y["total"]) < 1e-6 for x, y in zip(la, lb))
    ea = [r["nme_all"] for r in read_log(ref.log_path) if r["kind"] == "eval"]
    eb = [r["nme_all"] for r in read_log(tmp_path / "run" / "log.jsonl") if r["kind"] == "eval"]
    assert len(ea) == len(eb) == 2 and abs(ea[-1] - eb[-1]) < 1e-6
