"""The zoo command end to end with a tiny override (a few steps per ablation row) into a temp dir:
fp16 checkpoints <= 8 MB with resolved config, log and wall time, loadable with load_checkpoint;
loading one into another variant fails loudly."""
import json

import pytest

from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.nn import M3LRN
from m3lrn_lib.train import CheckpointError, checkpoint, load_checkpoint, load_config
from m3lrn_lib.train.zoo import MAX_BYTES, ZOO, load_zoo_model, main


def test_zoo_command_tiny(tmp_path, capsys):
    out, runs = tmp_path / "ckpt", tmp_path / "runs"
    rc = main(["--out", str(out), "--runs", str(runs), "--config", "smoke", "run.threads=1", "run.max_steps=2",
               "data.subset=8", "optim.batch_size=4", "optim.epochs=1", "optim.milestones=", "data.test_subset=4"])
    assert rc == 0, capsys.readouterr().err
    index = json.loads((out / "zoo.json").read_text())
    assert list(index) == list(ZOO)
    for name, (preset, _) in ZOO.items():
        f = out / f"{name}.pt"
        assert f.stat().st_size == index[name]["bytes"] <= MAX_BYTES
        obj = checkpoint.load_file(f)
        assert obj["format"] == checkpoint.WEIGHTS_FORMAT and obj["dtype"] == "float16" and obj["wall_time_s"] > 0
        assert obj["config"]["model"]["preset"] == preset and obj["zoo_name"] == name
        assert obj["config"]["run"]["seed"] == (1 if name.endswith("_seed1") else 0)
        assert any(r["kind"] == "eval" for r in obj["log"]) and obj["metrics"]["nme_all"] > 0
        assert load_config(out / f"{name}.toml").model.preset == preset
        assert (out / f"{name}.log.jsonl").is_file()
        net = load_zoo_model(name, out)
        assert net.config.to_dict() == obj["model_config"] and not net.training
    with pytest.raises(CheckpointError, match="another model variant"):
        load_checkpoint(out / "baseline.pt", M3LRN(load_face_model(), "full"))
    with pytest.raises(FileNotFoundError, match="python -m m3lrn_lib.train.zoo --only full"):
        load_zoo_model("full", tmp_path / "nothing")
    from m3lrn_lib import cli
    assert cli.run_main(main, ["--out", str(out), "--only", "fulll"]) == 2
    assert "unknown zoo entries" in capsys.readouterr().err
