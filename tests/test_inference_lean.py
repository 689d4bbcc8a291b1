"""The lean inference graph (BatchNorm folding, output selection), int8 export with its gate, the
speed table's peers and interleaved timing, and the predictor's engines and stage timings."""
import collections
import logging

import numpy as np
import pytest
import torch
from torch import nn

from m3lrn_lib import cli, paths
from m3lrn_lib.benchmark import speed as S
from m3lrn_lib.benchmark.peers import MobileNetV1, PlainMobileNetV2, graph_macs, peer_onnx
from m3lrn_lib.errors import UserError
from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.nn import M3LRN, M3LRNConfig
from m3lrn_lib.nn.fold import count_batchnorms, fold_batchnorm, fold_pair
from m3lrn_lib.nn.m2fa import PointMLP
from m3lrn_lib.predict.onnx_export import InferenceGraph, check_onnx, export_onnx, main, onnx_session, run_onnx
from m3lrn_lib.predict.quantize import (
    QuantizationError,
    check_mode,
    output_layers,
    quantize_onnx,
    quantized_nodes,
    synthetic_crops,
)

pytest.importorskip("onnxruntime")
logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization's advice to pre-process


def _randomise_bn(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    net = M3LRN(load_face_model(), M3LRNConfig.preset("m2fa", width_mult=0.25)).eval()
    with torch.no_grad():
        _randomise_bn(net)
        net.m2fa.out.weight.normal_(0, 0.05)  # a residual that matters
    return net


@pytest.fixture(scope="module")
def crops(tiny):
    return synthetic_crops(tiny.face_model, 12, seed=5)


def test_fold_pair_and_fold_batchnorm_keep_the_function(tiny):
    conv, bn = nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4)
    _randomise_bn(bn)
    bn.eval()
    x = torch.randn(2, 3, 8, 8)
    assert torch.allclose(fold_pair(conv, bn)(x), bn(conv(x)), atol=1e-5)
    lin, bn1 = nn.Linear(5, 6), nn.BatchNorm1d(6)
    _randomise_bn(bn1)
    bn1.eval()
    z = torch.randn(3, 5)
    assert torch.allclose(fold_pair(lin, bn1)(z), bn1(lin(z)), atol=1e-5)
    with pytest.raises(TypeError, match="cannot fold"):
        fold_pair(bn, conv)
    g = InferenceGraph(tiny)
    assert count_batchnorms(g) == 0 and count_batchnorms(tiny) > 0, "the original keeps its BatchNorms"
    assert fold_batchnorm(tiny.m2fa).dec1.bias is not None and tiny.m2fa.dec1.bias is None
    x = torch.randn(3, 3, 120, 120)
    with torch.inference_mode():
        ref = tiny(x)
        got = g(x)
    assert torch.allclose(got[0], ref["lmk_refined"], atol=1e-3) and torch.allclose(got[1], ref["pose"], atol=1e-5)


def test_point_mlp_gives_the_same_numbers_in_both_layouts():
    torch.manual_seed(0)
    m = PointMLP([3, 8, 16]).train()
    x = torch.randn(4, 3, 68)
    a = m(x)
    b = m(x.unsqueeze(-1))[..., 0]
    assert b.shape == a.shape and torch.allclose(a, b, atol=1e-6)


def test_export_only_asked_outputs_and_check_against_the_unfolded_network(tiny, tmp_path):
    import onnx

    lean = export_onnx(tiny, outputs=("landmarks",))
    full = export_onnx(tiny)
    ops = lambda b: collections.Counter(n.op_type for n in onnx.load_from_string(b).graph.node)  # noqa: E731
    assert not {"Atan", "Asin", "Atan2", "BatchNormalization"} & set(ops(lean)), "no pose branch, no BN"
    assert sum(ops(lean).values()) < sum(ops(full).values())
    assert [o.name for o in onnx_session(lean).get_outputs()] == ["landmarks"]
    r = check_onnx(tiny, lean, outputs=("landmarks",))
    assert list(r) == ["landmarks"] and r["landmarks"]["ok"]
    r = check_onnx(tiny, dense=True, outputs=("landmarks", "landmarks_coarse"))
    assert list(r) == ["landmarks", "landmarks_coarse", "vertices"] and all(v["ok"] for v in r.values())
    data = export_onnx(tiny, tmp_path / "m.onnx", outputs="pose", opset=13)
    assert (tmp_path / "m.onnx").read_bytes() == data
    assert run_onnx(onnx_session(data), torch.zeros(2, 3, 120, 120))["pose"].shape == (2, 3)


@pytest.mark.parametrize("kw, match", [(dict(opset=12), "opset 12 is not supported"),
                                       (dict(opset="17"), "opset '17' is not supported"),
                                       (dict(outputs=("landmarks", "mesh")), "unknown output"),
                                       (dict(outputs=()), "no output asked for"),
                                       (dict(quantize="int4"), "quantisation mode 'int4' is not supported")])
def test_export_refuses_bad_requests(tiny, tmp_path, kw, match):
    with pytest.raises(UserError, match=match):
        export_onnx(tiny, tmp_path / "x.onnx", **kw)
    assert not (tmp_path / "x.onnx").exists()
    assert check_mode("static") == "static"


def test_int8_keeps_the_output_layers_float_and_passes_its_gate(tiny, crops):
    import onnx

    fp = export_onnx(tiny, outputs=("landmarks",))
    g = onnx.load_from_string(fp).graph
    keep = output_layers(g)
    q_nodes = quantized_nodes(g, ("Conv", "Add"))
    assert keep and not set(q_nodes) & keep and all(n.startswith(("/backbone/", "/m2fa/")) for n in q_nodes)
    assert any(n.op_type == "Conv" and n.name.startswith("/m2fa/") for n in g.node if n.name in keep), \
        "M2FA's last layer (the residual in pixels) stays float32"
    images, gt = crops
    report = {}
    q = export_onnx(tiny, outputs=("landmarks",), quantize="static", calibration=images[:8], check=(images, gt),
                    tol=1.0, log=lambda s: report.setdefault("line", s))
    assert "int8 (static): NME" in report["line"]
    ops = {n.op_type for n in onnx.load_from_string(q).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    out = run_onnx(onnx_session(q), images[:2])["landmarks"]
    assert out.shape == (2, 68, 3) and np.isfinite(out).all()
    assert len(quantize_onnx(fp, "dynamic")) > 0


def test_int8_missing_its_tolerance_is_not_written_and_says_by_how_much(tiny, crops, tmp_path):
    images, gt = crops
    with pytest.raises(QuantizationError, match=r"points over the -50\.0 % tolerance; nothing was written"):
        export_onnx(tiny, tmp_path / "q.onnx", quantize="static", calibration=images[:4], check=(images, gt),
                    tol=-0.5)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="needs calibration"):
        quantize_onnx(export_onnx(tiny), "static", np.zeros((0, 3, 120, 120), np.float32))


def test_cli_writes_the_model_and_refuses_bad_arguments(tmp_path, capsys):
    ckpt = paths.checkpoints_dir() / "baseline.pt"
    if not ckpt.is_file():
        pytest.skip(f"no shipped checkpoint {ckpt}")
    out = tmp_path / "b.onnx"
    assert cli.run_main(main, ["--checkpoint", str(ckpt), "--out", str(out), "--outputs", "landmarks"]) == 0
    assert out.is_file() and [p.name for p in tmp_path.iterdir()] == ["b.onnx"]
    for bad, where in ((["--opset", "99"], "opset"), (["--quantize", "fp8"], "quantize"),
                       (["--outputs", "mesh"], "outputs")):
        assert cli.run_main(main, ["--checkpoint", str(ckpt), "--out", str(tmp_path / "c.onnx"), *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and where in err and len(err.splitlines()) == 1
    assert cli.run_main(main, ["--checkpoint", str(ckpt), "--out", str(tmp_path / "no" / "c.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "c.onnx").exists()


def test_peers_are_the_sizes_of_the_papers():
    v1 = MobileNetV1(1.0)
    assert sum(p.numel() for p in v1.parameters()) == pytest.approx(3.27e6, rel=0.005)
    assert sum(p.numel() for p in MobileNetV1(0.5).parameters()) == pytest.approx(0.85e6, rel=0.01)
    assert graph_macs(peer_onnx(v1)) == pytest.approx(177.4e6, rel=0.005)  # Conv + FC at 120x120
    with torch.no_grad():
        assert PlainMobileNetV2().eval()(torch.zeros(2, 3, 120, 120)).shape == (2, 62)
    with pytest.raises(ValueError, match="width must be positive"):
        MobileNetV1(0)


def test_graph_macs_counts_m2fa(tiny):
    base = graph_macs(export_onnx(M3LRN(tiny.face_model, M3LRNConfig.preset("baseline", width_mult=0.25)).eval(),
                                  outputs=("landmarks",)))
    with_m2fa = graph_macs(export_onnx(tiny, outputs=("landmarks",)))
    assert with_m2fa - base == pytest.approx(24.6e6, rel=0.02)  # M2FA's multiply-adds, factorised


def test_speed_table_interleaves_and_gives_ratios_and_targets():
    entries = {"MobileNet-V1 1.0": peer_onnx(MobileNetV1(0.25)), "small": peer_onnx(MobileNetV1(0.125))}
    rows = S.speed_table(entries, threads=(1,), batches=(1, 2), runs=2, warmup=0, rounds=2)
    assert [(r["name"], r["batch"]) for r in rows] == [("MobileNet-V1 1.0", 1), ("small", 1),
                                                       ("MobileNet-V1 1.0", 2), ("small", 2)]
    assert all(r["faces_per_s"] > 0 for r in rows) and rows[0]["ratio"] == 1.0
    md = S.format_speed_table(rows)
    assert "| small |" in md and "batch 2, 1 thread" in md and "×)" in md
    assert "faces/s" in S.format_row(rows[1])
    with pytest.raises(ValueError, match="runs and rounds must be >= 1"):
        S.speed_table(entries, runs=0)
    fake = [S.speed_row(n, "cpu", 1, 1, t) for n, t in (("first stage", 1.0), ("MobileNet-V2 (plain)", 0.97),
                                                         ("+ M2FA", 1.3), ("full", 1.3), (S.REFERENCE, 2.0))]
    t = {x["target"]: x for x in S.speed_targets(fake)}
    assert t["first stage <= 1.05 x plain MobileNet-V2"]["met"]
    assert not t["M2FA overhead <= 10 % at batch 1"]["met"]
    assert t["M2FA overhead <= 10 % at batch 1"]["ratio"] == pytest.approx(1.3)
    assert t["full, landmarks, fp32 <= 0.75 x MobileNet-V1 1.0 (batch 1, 1 thread)"]["ratio"] == pytest.approx(0.65)
    assert "MISSED" in S.format_targets(list(t.values()))
    calls = []
    assert S.median_time(lambda: calls.append(1), runs=3, warmup=2) >= 0 and len(calls) == 5
    if not torch.cuda.is_available():
        assert S.gpu_speed_rows(None) == []


def test_predictor_engines_agree_and_time_their_stages(tiny, crops):
    from m3lrn_lib.predict import Predictor

    images = ((crops[0][:3].transpose(0, 2, 3, 1) * 128 + 127.5).round().clip(0, 255)).astype(np.uint8)
    boxes = np.tile([0.0, 0.0, 120.0, 120.0], (3, 1))
    got = {}
    for engine in ("torch", "onnx"):
        p = Predictor(tiny, detector=None, dense=True, engine=engine, threads=1)
        got[engine] = p.predict_crops(list(images), boxes)
        assert set(p.timings) == {"decode", "crop", "network", "outputs"} and p.timings["network"] > 0
        p.reset_timings()
        assert dict(p.timings) == {}
        assert engine in repr(p)
    for k in ("landmarks", "lmk_coarse", "pose", "vertices_image"):
        assert np.abs(got["torch"][k] - got["onnx"][k]).max() < 1e-2, k
    faces = Predictor(tiny, detector=None, engine="onnx").predict(images[0], boxes=[[20, 20, 100, 100]])
    assert len(faces) == 1 and faces[0].landmarks.shape == (68, 3)
    with pytest.raises(UserError, match="unknown engine"):
        Predictor(tiny, detector=None, engine="tensorrt")
    with pytest.raises(UserError, match="runs on the CPU"):
        Predictor(tiny, detector=None, engine="onnx", device="cuda")
