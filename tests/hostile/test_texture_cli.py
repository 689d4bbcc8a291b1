"""Hostile command lines of ``python -m m3lrn_lib.texture`` (in-process through cli.run_main): bad
arguments give one line and exit 2; shipped artefacts are never written with default arguments;
the data cache never resolves into the repository."""
import shutil

import pytest

from m3lrn_lib import cli, paths
from m3lrn_lib.texture.__main__ import main
from m3lrn_lib.texture.config import load_texture_config
from m3lrn_lib.texture.train import data_cache_dir

SHIPPED = paths.texture_checkpoints_dir()

ARG_CASES = {
    "unknown subcommand": (["bogus"], "invalid choice: 'bogus'"),
    "no subcommand": ([], "cmd"),
    "misspelt key": (["train", "--config", "smoke", "optim.lrr=1"], "optim.lrr"),
    "bad int": (["zoo", "--jobs", "x"], "--jobs"),
    "zero jobs": (["zoo", "--jobs", "0"], "--jobs"),
    "zero faces": (["evaluate", "--n", "0"], "--n"),
    "generator without =": (["evaluate", "--generator", "x"], "--generator x"),
    "missing generator": (["evaluate", "--generator", "g=nope.pt"], "nope.pt"),
    "missing checkpoints": (["evaluate", "--checkpoints", "nowhere"], "--checkpoints nowhere"),
    "zoo into data/": (["zoo", "--out", str(SHIPPED), "--no-eval"], "--update-shipped"),
    "evaluate into data/": (["evaluate", "--out", str(SHIPPED)], "--update-shipped"),
    "unknown entry": (["zoo", "--only", "gan9"], "--only"),
    "zero weights": (["train", "--config", "smoke", "loss.l1_weight=0", "loss.gan_weight=0"], "loss.gan_weight"),
    "negative steps": (["eta", "--steps", "0"], "--steps"),
}


@pytest.mark.parametrize("case", list(ARG_CASES))
def test_bad_argument_one_line_exit_2(case, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("M3LRN_CACHE", str(tmp_path / "cache"))
    before = sorted(p.name for p in SHIPPED.iterdir())
    argv, needle = ARG_CASES[case]
    rc = cli.run_main(main, argv)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err
    assert sorted(p.name for p in SHIPPED.iterdir()) == before
    assert not (tmp_path / "build").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("cache", ["data/generated/texture", "elsewhere/cache", "../../up", "ABS_REPO"])
def test_data_cache_never_in_the_repository(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("M3LRN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("M3LRN_DATA_DIR", raising=False)
    if cache == "ABS_REPO":
        cache = str(paths.source_root() / "data" / "generated" / "texture")
    cfg = load_texture_config("smoke", [f"data.cache={cache}"])
    folder = data_cache_dir(cfg)
    assert paths.generated_data_dir() in folder.parents
    root = paths.source_root()
    assert root not in folder.resolve().parents
    if cache.endswith("data/generated/texture"):
        assert folder == tmp_path / "cache" / "generated" / "texture"


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    """A tiny generator trained into a zoo-like folder (uv_gan.pt), seconds."""
    from m3lrn_lib.texture.train import TextureTrainer
    tmp = tmp_path_factory.mktemp("texzoo")
    cfg = load_texture_config("smoke", [f"run.out_dir={tmp}/run", "run.max_steps=1", "data.n_train=4", "data.n_val=2"])
    TextureTrainer(cfg, log=None).fit()
    zoo = tmp / "zoo"
    zoo.mkdir()
    shutil.copy(tmp / "run" / "generator.pt", zoo / "uv_gan.pt")
    return zoo


def test_evaluate_defaults_write_outside_the_checkpoints(tiny_zoo, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("M3LRN_CACHE", str(tmp_path / "cache"))
    before = {p.name: p.stat().st_mtime_ns for p in SHIPPED.iterdir()}
    zoo_before = sorted(p.name for p in tiny_zoo.iterdir())
    rc = cli.run_main(main, ["evaluate", "--checkpoints", str(tiny_zoo), "--n", "2"])
    assert rc == 0, capsys.readouterr().err
    out = tmp_path / "build" / "texture-eval"
    assert sorted(p.name for p in out.iterdir()) == ["comparison.png", "evaluation.json", "evaluation.md"]
    assert sorted(p.name for p in tiny_zoo.iterdir()) == zoo_before  # the checkpoints' folder untouched
    assert {p.name: p.stat().st_mtime_ns for p in SHIPPED.iterdir()} == before
