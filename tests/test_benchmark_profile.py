"""The op-by-op profile of an exported graph (m3lrn_lib.benchmark.profile), on a small network."""
import json

import pytest

from m3lrn_lib import cli, paths
from m3lrn_lib.benchmark.profile import format_profile, main, profile_onnx
from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.nn import M3LRN, M3LRNConfig
from m3lrn_lib.predict.onnx_export import export_onnx


@pytest.fixture(scope="module")
def graph():
    net = M3LRN(load_face_model(), M3LRNConfig.preset("m2fa", width_mult=0.35)).eval()
    return export_onnx(net)


def test_profile_sums_node_time_by_op_and_writes_nothing(graph, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = profile_onnx(graph, batch=2, threads=1, runs=3, warmup=1, top=4)
    assert p["runs"] == 3 and p["run_ms"] > 0 and p["kernel_ms"] > 0
    assert sum(r["share"] for r in p["ops"]) == pytest.approx(1.0)
    assert p["ops"] == sorted(p["ops"], key=lambda r: -r["ms"]) and {"Conv", "MatMul"} & {r["op"] for r in p["ops"]}
    assert len(p["nodes"]) == 4 and all(r["ms"] <= p["kernel_ms"] for r in p["nodes"])
    assert "ms/face" in format_profile(p, "tiny")
    assert list(tmp_path.iterdir()) == [], "the profiler's JSON must not be left behind"
    with pytest.raises(ValueError, match="batch and runs must be >= 1"):
        profile_onnx(graph, batch=0)


def test_cli_writes_only_profile_json_and_refuses_bad_arguments(tmp_path, capsys):
    ckpt = paths.checkpoints_dir() / "baseline.pt"
    if not ckpt.is_file():
        pytest.skip(f"no shipped checkpoint {ckpt}")
    out = tmp_path / "prof"
    assert cli.run_main(main, ["--checkpoint", f"b={ckpt}", "--batch", "1", "--runs", "2", "--warmup", "0",
                               "--top", "3", "--out", str(out)]) == 0
    report = json.loads((out / "profile.json").read_text())
    assert list(report) == ["b/b1/t1"] and [f.name for f in out.iterdir()] == ["profile.json"]
    assert len(report["b/b1/t1"]["nodes"]) == 3
    assert cli.run_main(main, ["--checkpoint", str(ckpt), "--batch", "0"]) == 2
    assert "--batch" in capsys.readouterr().err
    assert cli.run_main(main, ["--checkpoint", str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt is not a file" in capsys.readouterr().err
