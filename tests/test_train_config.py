"""Training configuration: presets, overrides with type coercion, closest-key errors, TOML round trip,
the lr schedule and the command line's configuration errors."""
import pytest

from m3lrn_lib.cli import run_main as cli_run
from m3lrn_lib.train import ConfigError, list_presets, load_config, to_toml
from m3lrn_lib.train.__main__ import main as cli_main
from m3lrn_lib.train.schedule import effective_lr, lr_at, lr_curve, scaled_lr, steps_per_epoch


def cli(argv):
    return cli_run(cli_main, argv)


def test_paper_preset_is_the_papers_schedule():
    c = load_config("paper")
    o = c.optim
    assert (o.lr, o.batch_size, o.momentum, o.epochs, o.milestones, o.gamma) == (0.08, 1024, 0.9, 80, [48, 64], 0.1)
    assert effective_lr(o) == 0.08
    assert (o.nesterov, o.weight_decay, o.warmup_epochs) == (False, 0.0, 0.0) and o.skip_nonfinite
    a = c.augment
    assert a.color_jitter and a.flip == 0.5 and a.face_swap > 0
    assert (c.loss.w_3dmm, c.loss.w_lmk, c.loss.w_3dmm_lmk, c.loss.w_g) == (0.02, 0.03, 0.02, 0.001)
    assert c.model.preset == "full"
    code = load_config("paper_code").optim
    assert (code.nesterov, code.weight_decay, code.warmup_epochs) == (True, 5e-4, 5.0)
    assert {"paper", "paper_code", "cpu", "smoke"} <= set(list_presets())


def test_cpu_preset_is_adam_with_the_paper_weights():
    c = load_config("cpu")
    assert c.run.device == "cpu" and not c.optim.scale_lr
    # the course schedule: Adam at 1e-3 with the paper's lambda_1..4 (docs/cpu-recipe.md)
    assert c.optim.optimizer == "adam" and effective_lr(c.optim) == pytest.approx(1e-3)
    assert c.loss == load_config("paper").loss
    c = load_config("cpu", ["optim.optimizer=sgd", "optim.scale_lr=true", "optim.lr=0.08"])
    assert effective_lr(c.optim) == pytest.approx(0.08 * c.optim.batch_size / 1024)
    assert c.optim.milestones == [c.optim.epochs - 1]
    c64 = load_config("cpu", ["optim.batch_size=64", "optim.scale_lr=true", "optim.lr=0.08"])
    assert effective_lr(c64.optim) == pytest.approx(0.005)


def test_overrides_are_coerced():
    c = load_config("cpu", ["optim.optimizer=sgd", "optim.lr=1e-3", "optim.milestones=9,12", "optim.nesterov=true",
                            "run.amp=bf16",
                            "optim.epochs=20", "model.options.lmk_kind=wing", "loss.w_g=0", "data.train=/x/y",
                            "optim.warmup_epochs=2"])
    assert c.optim.lr == 0.001 and c.optim.milestones == [9, 12] and c.optim.nesterov is True
    assert c.run.amp == "bf16" and c.optim.epochs == 20 and c.model.options == {"lmk_kind": "wing"}
    assert c.loss.w_g == 0.0 and c.data.train == "/x/y" and c.optim.warmup_epochs == 2.0
    assert load_config("cpu", ["optim.epochs=6", "optim.milestones=[3, 5]"]).optim.milestones == [3, 5]


@pytest.mark.parametrize("item, near", [("optim.lrr=0.1", "optim.lr"), ("optm.lr=0.1", "optim.lr"),
                                        ("run.max_step=3", "run.max_steps"), ("augment.flp=0.1", "augment.flip"),
                                        ("model.options.lmk_knd=wing", "model.options.lmk_kind"),
                                        ("batchsize=3", "optim.batch_size")])
def test_unknown_key_names_the_closest(item, near):
    with pytest.raises(ConfigError, match=f"did you mean '{near}'"):
        load_config("cpu", [item])


def test_bad_values():
    for item, msg in [("optim.epochs=1.5", "cannot use"), ("optim.nesterov=maybe", "cannot use"),
                      ("run.amp=fp8", "run.amp"), ("optim.milestones=70,60", "milestones"),
                      ("optim.batch_size=1", "batch_size"), ("model.preset=fulll", "unknown preset"),
                      ("augment.flip=1.5", "probabilities"), ("optim.lr", "section.key=value"),
                      ("optim.optimizer=rmsprop", "optim.optimizer must be one of sgd, adam"),
                      ("loss.w_lmk=-0.1", "loss.w_lmk must be a finite number >= 0")]:
        with pytest.raises(ConfigError, match=msg):
            load_config("cpu", [item])
    with pytest.raises(ConfigError, match="did you mean 'cpu'"):
        load_config("cpuu")


def test_file_round_trip_toml_and_yaml(tmp_path):
    c = load_config("paper_code", ["model.options.lmk_kind=wing", "optim.milestones=5,7", "optim.epochs=9"])
    p = tmp_path / "resolved.toml"
    p.write_text(to_toml(c, header="test", derived={"effective_lr": 0.08}))
    assert load_config(p) == c
    y = tmp_path / "my.yaml"
    y.write_text("extends: cpu\noptim:\n  batch_size: 64\n  epochs: 3\n  milestones: [2]\n")
    cy = load_config(y)
    assert cy.optim.batch_size == 64 and cy.run.name == "cpu"
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim]\nlearning_rate = 0.1\n")
    with pytest.raises(ConfigError, match="unknown config key 'optim.learning_rate'"):
        load_config(bad)


def test_schedule():
    assert scaled_lr(0.08, 32) == pytest.approx(0.0025)
    assert steps_per_epoch(1000, 32) == 31 and steps_per_epoch(1000, 32, world_size=4) == 31
    spe = 10
    assert lr_at(0, 0.08, spe, [48, 64]) == 0.08
    assert lr_at(479, 0.08, spe, [48, 64]) == 0.08
    assert lr_at(480, 0.08, spe, [48, 64]) == pytest.approx(0.008)
    assert lr_at(640, 0.08, spe, [48, 64]) == pytest.approx(0.0008)
    assert lr_at(0, 0.08, spe, (), warmup_epochs=5) == pytest.approx(0.08 / 50)
    assert lr_at(49, 0.08, spe, (), warmup_epochs=5) == pytest.approx(0.08)
    curve = lr_curve(load_config("paper").optim, spe)
    assert len(curve) == 800 and curve[-1] == pytest.approx(0.0008)


def test_cli_config_errors_and_print(capsys):
    assert cli(["--config", "cpu", "optim.lrr=0.1"]) == 2
    assert "did you mean 'optim.lr'" in capsys.readouterr().err
    assert cli(["--config", "paper", "--print-config", "optim.batch_size=512"]) == 0
    out = capsys.readouterr().out
    assert "batch_size = 512" in out and "milestones = [48, 64]" in out


def test_cli_bad_dataset_path(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli(["--config", "smoke", f"run.out_dir={tmp_path}/run", f"data.train={tmp_path / 'empty'}"]) == 2
    assert "dataset folder is empty" in capsys.readouterr().err
