"""Hostile inputs of ``python -m m3lrn_lib.train`` (in-process through :func:`m3lrn_lib.cli.run_main`):
bad arguments and config files, bad test sets (caught before training), ``data.skip_bad``, debris
of a killed checkpoint write, a SIGKILL in the middle of a save and exact resume, and a step whose
update makes the weights non-finite (undone and counted)."""
import math
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from m3lrn_lib import cli
from m3lrn_lib.train import Trainer, checkpoint, load_config, to_toml
from m3lrn_lib.train.__main__ import main

TINY = ["run.threads=1", "data.subset=16", "optim.batch_size=4", "optim.epochs=1", "optim.milestones=",
        "data.test_subset=4", "run.progress=false"]


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    """A generated 3DDFA + AFLW2000 set of 12 + 6 faces (seconds)."""
    from m3lrn_lib.data import generate
    from m3lrn_lib.morphable import load_face_model
    folder = tmp_path_factory.mktemp("tiny") / "set"
    generate(load_face_model(), folder, 12, 6, 0, 1, progress=False)
    return folder


def run_cli(argv, capsys):
    rc = cli.run_main(main, [str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _files(tmp_path, kind):
    if kind == "png":
        path = tmp_path / "picture.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    elif kind == "random.toml":
        path = tmp_path / "random.toml"
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    elif kind == "random.yaml":
        path = tmp_path / "random.yaml"
        path.write_bytes(np.random.default_rng(1).integers(128, 256, 2048, dtype=np.uint8).tobytes())
    elif kind == "scalar.yaml":
        path = tmp_path / "scalar.yaml"
        path.write_text("just a string\n")
    elif kind == "folder":
        path = tmp_path / "conf.toml"
        path.mkdir()
    elif kind == "zero_loss.toml":
        path = tmp_path / "zero_loss.toml"
        path.write_text('extends = "smoke"\n[loss]\nw_3dmm = 0\nw_lmk = 0\nw_3dmm_lmk = 0\nw_g = 0\n')
    return path


# (argv, the text the one error line must hold)
ARG_CASES = {
    "unknown option": (["--bogus"], "unrecognized arguments: --bogus"),
    "unknown preset": (["--config", "nope"], "unknown preset 'nope'"),
    "misspelt key": (["optim.lrr=1"], "optim.lrr"),
    "override without =": (["optim.lr"], "optim.lr"),
    "bad value": (["optim.batch_size=many"], "optim.batch_size"),
    "negative loss weight": (["loss.w_lmk=-1"], "loss.w_lmk"),
    "nan loss weight": (["loss.w_g=nan"], "loss.w_g"),
    "all loss weights zero": (["loss.w_3dmm=0", "loss.w_lmk=0", "loss.w_3dmm_lmk=0", "loss.w_g=0"],
                              "loss weights are all 0"),
    "bad skip_bad": (["data.skip_bad=maybe"], "data.skip_bad"),
    "batch larger than the set": (["--config", "smoke", "optim.batch_size=64", "data.subset=8"], "optim.batch_size"),
}


@pytest.mark.parametrize("case", list(ARG_CASES))
def test_bad_argument_one_line_exit_2(case, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv, needle = ARG_CASES[case]
    rc, _, err = run_cli(argv, capsys)
    assert rc == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err
    assert not (tmp_path / "runs").exists()  # nothing written


FILE_CASES = {"png": "binary data", "random.toml": "binary data", "random.yaml": "binary data",
              "scalar.yaml": "expected a table", "folder": "is a folder", "zero_loss.toml": "loss.w_3dmm"}


@pytest.mark.parametrize("kind", list(FILE_CASES))
def test_bad_config_file_names_it(kind, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _files(tmp_path, kind)
    rc, _, err = run_cli(["--config", path], capsys)
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert FILE_CASES[kind] in err, err
    if kind != "zero_loss.toml":
        assert str(path) in err, err


def test_debug_shows_the_traceback(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_cli(["--debug", "optim.lrr=1"], capsys)
    assert rc == 2 and "Traceback" in err and err.rstrip().splitlines()[-1].startswith("error: ")


def test_missing_train_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_cli(["--config", "smoke", f"data.train={tmp_path / 'nothing'}"], capsys)
    assert rc == 2 and "data.train" in err and str(tmp_path / "nothing") in err and err.count("\n") == 1


def test_resume_from_an_empty_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.pt").write_bytes(b"")
    rc, _, err = run_cli(["--config", "smoke", *TINY, f"run.out_dir={tmp_path}/run", "--resume",
                          tmp_path / "empty.pt"], capsys)
    assert rc == 2 and str(tmp_path / "empty.pt") in err and "empty file" in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


@pytest.fixture()
def bad_test_set(tiny_set, tmp_path):
    """The tiny set's test split with one corrupt image (random bytes)."""
    import shutil
    folder = tmp_path / "bad_test"
    shutil.copytree(tiny_set / "test", folder)
    (folder / "image00001.jpg").write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    return folder


def test_bad_test_set_fails_before_training(bad_test_set, tiny_set, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_cli(["--config", "smoke", *TINY, f"data.train={tiny_set / 'train'}", f"data.test={bad_test_set}",
                          f"run.out_dir={tmp_path}/run"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "data.test" in err and str(bad_test_set) in err and "image00001.jpg" in err
    assert "data.skip_bad=true" in err  # the readers' hint, as the trainer's config key
    assert not (tmp_path / "run").exists()  # no step was trained, no file written


def test_skip_bad_drops_the_bad_test_sample(bad_test_set, tiny_set, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match="skipped 1 bad samples"):
        rc, out, err = run_cli(["--config", "smoke", *TINY, f"data.train={tiny_set / 'train'}",
                                f"data.test={bad_test_set}", "data.skip_bad=true", "run.max_steps=1",
                                "data.subset=8", f"run.out_dir={tmp_path}/run"], capsys)
    assert rc == 0, err
    assert (tmp_path / "run" / "last.pt").is_file()
    assert checkpoint.load_file(tmp_path / "run" / "last.pt")["config"]["data"]["skip_bad"] is True


def test_resume_removes_temp_debris(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--config", "smoke", *TINY, "data.subset=8", f"run.out_dir={tmp_path}/run"]
    rc, _, err = run_cli([*args, "run.max_steps=1"], capsys)
    assert rc == 0, err
    debris = tmp_path / "run" / ".tmp-x.pt"
    debris.write_bytes(b"\x00" * 1000)
    with pytest.warns(UserWarning, match="removed 1 temporary file"):
        rc, out, err = run_cli([*args, "run.max_steps=2", "--resume"], capsys)
    assert rc == 0, err
    assert "resumed at step 1" in out
    assert not debris.exists() and not list((tmp_path / "run").glob(".tmp-*"))


# ----------------------------------------------------------------------------- kill in the middle of a save
KILL = """
import os, signal, sys
import m3lrn_lib.train.checkpoint as ck
from m3lrn_lib.train import Trainer, load_config
writes = [0]
def write(fh, data):
    writes[0] += 1
    if writes[0] == 2:           # the second checkpoint write (best.pt at the first epoch end)
        fh.write(data[: len(data) // 2])
        fh.flush()
        os.kill(os.getpid(), signal.SIGKILL)   # killed mid-write: a .tmp-*.pt is left behind
    fh.write(data)
ck._write = write
Trainer(load_config(sys.argv[1])).fit()
"""


def _kill_cfg(tmp_path, name):
    return load_config("smoke", [f"run.out_dir={tmp_path}/{name}", "run.threads=1", "run.deterministic=true",
                                 "run.save_every=2", "run.log_every=1", "data.subset=16", "optim.batch_size=4",
                                 "optim.epochs=2", "optim.milestones=1", "data.test_subset=4", "data.workers=0",
                                 "run.progress=false"])


def test_sigkill_during_a_save_then_resume_is_exact(tmp_path):
    cfg = _kill_cfg(tmp_path, "run")
    (tmp_path / "run.toml").write_text(to_toml(cfg))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(KILL), str(tmp_path / "run.toml")], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run = tmp_path / "run"
    assert len(list(run.glob(".tmp-*.pt"))) == 1  # the debris of the killed write
    assert checkpoint.load_file(run / "last.pt")["progress"]["step"] == 2  # the first checkpoint survived

    with pytest.warns(UserWarning, match="removed 1 temporary file"):
        resumed = Trainer(load_config(tmp_path / "run.toml"), resume="auto")
        resumed.fit()
    resumed.close()
    assert resumed.resumed_from == run / "last.pt"
    assert not list(run.glob(".tmp-*"))

    ref = Trainer(_kill_cfg(tmp_path, "ref"))
    ref.fit()
    ref.close()
    a, b = checkpoint.load_file(tmp_path / "ref" / "last.pt"), checkpoint.load_file(run / "last.pt")
    assert a["progress"]["step"] == b["progress"]["step"] == 8
    assert a["model"].keys() == b["model"].keys()
    for k, v in a["model"].items():
        if torch.is_tensor(v):
            assert torch.equal(v, b["model"][k]), k  # byte-identical weights
    assert not list((tmp_path / "ref").glob(".tmp-*"))


# ----------------------------------------------------------------------------- non-finite updates
@pytest.mark.parametrize("inject", ["overflowing_update", "inf_gradient"])
def test_nonfinite_step_is_undone_and_counted(inject, tmp_path):
    cfg = load_config("smoke", [*TINY, "run.max_steps=3", f"run.out_dir={tmp_path}/run",
                                "run.eval_every=0"])
    trainer = Trainer(cfg)
    first = next(p for p in trainer.net.parameters() if p.requires_grad)
    plain_lr, plain_fb = trainer.lr_at, trainer.forward_backward
    before = {}

    def lr_at(step):
        return 1e20 if step == 1 and inject == "overflowing_update" else plain_lr(step)

    def forward_backward(batch):
        losses = plain_fb(batch)
        if trainer.state["step"] == 1:
            before["params"] = [p.detach().clone() for p in trainer.net.parameters()]
            before["momentum"] = {i: trainer.optimizer.state[p]["momentum_buffer"].clone()
                                  for i, p in enumerate(trainer.optimizer.param_groups[0]["params"])
                                  if "momentum_buffer" in trainer.optimizer.state.get(p, {})}
            first.grad.fill_(1e19 if inject == "overflowing_update" else math.inf)  # lr 1e20 x 1e19 = inf
        return losses

    trainer.lr_at, trainer.forward_backward = lr_at, forward_backward
    plain_step = trainer.train_step

    def train_step(batch):
        out = plain_step(batch)
        if trainer.state["step"] == 1:  # right after the bad step: everything as it was before it
            for p, q in zip(trainer.net.parameters(), before["params"]):
                assert torch.equal(p.detach(), q)
            params = trainer.optimizer.param_groups[0]["params"]
            for i, m in before["momentum"].items():
                assert torch.equal(trainer.optimizer.state[params[i]]["momentum_buffer"], m)
        return out

    trainer.train_step = train_step
    summary = trainer.fit()
    trainer.close()
    assert summary["step"] == 3 and summary["skipped"] == 1
    assert all(torch.isfinite(p).all() for p in trainer.net.parameters())
    state = checkpoint.load_file(tmp_path / "run" / "last.pt")
    assert state["progress"]["skipped"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if torch.is_tensor(v) and v.is_floating_point())


# ----------------------------------------------------------------------------- python -m m3lrn_lib.train.zoo
def _zoo_cases():
    from m3lrn_lib import paths
    shipped = paths.checkpoints_dir()
    return {
        "unknown entry": (["--only", "fulll"], "--only"),
        "unknown option": (["--bogus"], "unrecognized arguments: --bogus"),
        "into the shipped folder": (["--out", str(shipped), "--only", "full"], "--update-shipped"),
        "inside data/": (["--out", str(shipped / "sub"), "--only", "full"], "--update-shipped"),
        "misspelt key": (["--out", "mine", "--only", "full", "optim.lrr=1"], "optim.lrr"),
    }


@pytest.mark.parametrize("case", list(_zoo_cases()))
def test_zoo_bad_argument_one_line_exit_2(case, capsys, tmp_path, monkeypatch):
    from m3lrn_lib import paths
    from m3lrn_lib.train.zoo import main as zoo_main
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in paths.checkpoints_dir().iterdir())
    argv, needle = _zoo_cases()[case]
    rc = cli.run_main(zoo_main, argv)
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err
    assert sorted(p.name for p in paths.checkpoints_dir().iterdir()) == before
    assert not (tmp_path / "runs").exists()


def test_zoo_default_out_is_outside_data(tmp_path, monkeypatch):
    from m3lrn_lib.fileio import remove_temp_files
    from m3lrn_lib.train.zoofiles import output_folder
    monkeypatch.chdir(tmp_path)
    assert output_folder(None, update_shipped=False, shipped=None, default="build/zoo") == tmp_path / "build" / "zoo" \
        or str(output_folder(None, update_shipped=False, shipped=None, default="build/zoo")) == "build/zoo"
    # a zoo folder's fresh debris (maybe another process's write in flight) stays; old debris goes
    (tmp_path / ".tmp-new.pt").write_bytes(b"x")
    (tmp_path / ".tmp-old.pt").write_bytes(b"x")
    os.utime(tmp_path / ".tmp-old.pt", (1, 1))
    assert remove_temp_files(tmp_path, older_than=300) == 1
    assert (tmp_path / ".tmp-new.pt").exists() and not (tmp_path / ".tmp-old.pt").exists()
