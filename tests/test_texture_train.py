"""Texture-GAN training (supplement Sec. G): presets and overrides, the CLI in a temporary folder,
resume at epoch granularity, the zoo and the evaluation table."""
import json

import pytest
import torch

from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.texture import __main__ as cli
from m3lrn_lib.texture.checkpoint import load_generator, load_texture_file
from m3lrn_lib.texture.config import ConfigError, list_presets, load_texture_config, to_toml
from m3lrn_lib.texture.synth import make_pairs
from m3lrn_lib.texture.train import TextureTrainer, read_log, synth_config


@pytest.fixture(scope="module")
def model():
    return load_face_model()


@pytest.fixture(scope="module")
def data(model):
    cfg = load_texture_config("smoke")
    return (make_pairs(model, cfg.data.n_train, "train", 0, synth_config(cfg)),
            make_pairs(model, cfg.data.n_val, "val", 0, synth_config(cfg)))


def test_presets_and_overrides(tmp_path):
    assert {"cpu", "paper", "smoke"} <= set(list_presets())
    cpu, paper = load_texture_config("cpu"), load_texture_config("paper")
    assert (cpu.optim.lr, paper.optim.lr) == (2e-4, 2e-4)
    assert (paper.optim.epochs, paper.optim.decay_start, paper.loss.mode) == (300, 100, "adversarial")
    assert cpu.optim.decay_start * 3 == cpu.optim.epochs and cpu.loss.mode == "paired"
    c = load_texture_config("cpu", ["model.variant=no_template", "optim.epochs=9", "optim.decay_start=3",
                                    "loss.l1_weight=5", "run.progress=no"])
    assert (c.model.variant, c.optim.epochs, c.loss.l1_weight, c.run.progress) == ("no_template", 9, 5.0, False)
    with pytest.raises(ConfigError, match="did you mean 'optim.epochs'"):
        load_texture_config("cpu", ["optim.epoch=3"])
    with pytest.raises(ConfigError, match=r"data.uv_size=48 is not supported"):
        load_texture_config("cpu", ["data.uv_size=48"])
    with pytest.raises(ConfigError, match="model.variant"):
        load_texture_config("cpu", ["model.variant=fancy"])
    with pytest.raises(ConfigError, match="optim.decay_start"):
        load_texture_config("cpu", ["optim.decay_start=99"])
    with pytest.raises(ConfigError, match="cannot use 'abc' as a int"):
        load_texture_config("cpu", ["optim.epochs=abc"])
    with pytest.raises(ConfigError, match="did you mean 'smoke'"):
        load_texture_config("smok")
    f = tmp_path / "c.toml"
    f.write_text(to_toml(c, derived={"x": 1}))           # the saved configuration loads back
    assert load_texture_config(f) == c


def _weights(path):
    return load_texture_file(path)["generator"]


def test_resume_is_exact(tmp_path, model, data):
    base = ["run.progress=false"]
    full = load_texture_config("smoke", base + [f"run.out_dir={tmp_path / 'full'}"])
    TextureTrainer(full, resume=None, model=model, train_data=data[0], val_data=data[1], log=None).fit()
    cut = load_texture_config("smoke", base + [f"run.out_dir={tmp_path / 'cut'}", "run.max_steps=5"])
    s1 = TextureTrainer(cut, model=model, train_data=data[0], val_data=data[1], log=None).fit()
    assert s1["step"] == 5 and load_texture_file(tmp_path / "cut" / "last.pt")["epoch"] == 1  # saved at the epoch end
    again = load_texture_config("smoke", base + [f"run.out_dir={tmp_path / 'cut'}"])
    tr = TextureTrainer(again, model=model, train_data=data[0], val_data=data[1], log=None)
    assert tr.resumed_from is not None and (tr.epoch, tr.step) == (1, 4)
    s2 = tr.fit()
    assert (s2["epoch"], s2["step"]) == (2, 8)
    a, b = _weights(tmp_path / "full" / "last.pt"), _weights(tmp_path / "cut" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)       # bit-identical to the uninterrupted run
    steps = [r["step"] for r in read_log(tmp_path / "cut" / "log.jsonl") if r["kind"] == "step"]
    assert steps == list(range(1, 9))                    # the log has no repeated steps
    with pytest.raises(ConfigError, match="another configuration"):
        TextureTrainer(load_texture_config("smoke", base + [f"run.out_dir={tmp_path / 'cut'}", "optim.lr=1e-3"]),
                       model=model, train_data=data[0], val_data=data[1], log=None)


def test_cli_train_evaluate_and_errors(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--config", "smoke", "--out", str(out), "loss.mode=adversarial"]) == 0
    for f in ("config.toml", "log.jsonl", "last.pt", "generator.pt", "summary.json"):
        assert (out / f).is_file(), f
    kinds = {r["kind"] for r in read_log(out / "log.jsonl")}
    assert kinds == {"step", "epoch", "eval"}
    assert "loss_d" in read_log(out / "log.jsonl")[0]
    g = load_generator(out / "generator.pt", uv_size=32)
    assert g.meta["mode"] == "adversarial"
    assert json.loads((out / "summary.json").read_text())["generator_bytes"] < 200_000
    capsys.readouterr()
    assert cli.main(["evaluate", "--generator", f"gan={out / 'generator.pt'}", "--n", "3",
                     "--json", str(tmp_path / "e.json")]) == 0
    table = capsys.readouterr().out
    assert "| pca_fit |" in table and "| gan |" in table and "mode adversarial" in table
    rows = json.loads((tmp_path / "e.json").read_text())["rows"]
    assert {r["method"] for r in rows} == {"template", "pca_fit", "gan", "pca_oracle"}
    assert all(0 <= r["l1_all"] < 0.5 and r["psnr_all"] > 5 for r in rows)
    from m3lrn_lib.cli import run_main
    assert run_main(cli.main, ["train", "--config", "smoke", "optim.lrr=1"]) == 2
    assert "did you mean 'optim.lr'" in capsys.readouterr().err
    assert run_main(cli.main, ["evaluate", "--generator", f"x={tmp_path / 'nope.pt'}"]) == 2
    assert cli.main(["presets"]) == 0 and "smoke" in capsys.readouterr().out


def test_zoo_smoke(tmp_path, capsys):
    from m3lrn_lib.texture.zoo import load_texture_zoo, train_zoo
    ckpt = tmp_path / "ckpt"
    index = train_zoo(ckpt, "smoke", ["run.progress=false"], runs_dir=tmp_path / "runs", n_test=3, log=lambda *a: None)
    assert set(index) == {"uv_gan", "uv_gan_no_template"}
    for name in index:
        for suffix in (".pt", ".toml", ".log.jsonl"):
            assert (ckpt / f"{name}{suffix}").is_file()
        assert index[name]["mode"] == "paired" and index[name]["command"].startswith("python -m m3lrn_lib.texture zoo")
    assert load_texture_zoo("uv_gan_no_template", ckpt).config.variant == "no_template"
    text = (ckpt / "evaluation.md").read_text()
    assert "| uv_gan |" in text and "| uv_gan_no_template |" in text and "| pca_fit |" in text
    assert (ckpt / "comparison.png").stat().st_size > 1000
    with pytest.raises(FileNotFoundError, match="--only uv_gan_adversarial"):
        load_texture_zoo("uv_gan_adversarial", ckpt)
    with pytest.raises(ValueError, match="unknown texture zoo entry"):
        load_texture_zoo("nope", ckpt)


def test_zoo_parallel_jobs(tmp_path):
    from m3lrn_lib.texture.zoo import train_zoo
    ckpt = tmp_path / "ckpt"
    index = train_zoo(ckpt, "smoke", ["data.n_train=8", "data.n_val=2"], runs_dir=tmp_path / "runs", jobs=2,
                      evaluate=False, log=lambda *a: None)
    assert set(index) == {"uv_gan", "uv_gan_no_template"}
    assert all("data.n_train=8 data.n_val=2" in e["command"] for e in index.values())
    assert sum(e["bytes"] for e in index.values()) < 20 * 2**20
