"""Inference: network loading, detection, the Predictor's mapping, exports, the CLI and bad input,
ONNX export against PyTorch. Networks are tiny and untrained: these tests check structure and
correctness of the pipeline, not accuracy."""
import json
import os

import cv2
import numpy as np
import pytest
import torch

from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.nn import M3LRN, M3LRNConfig
from m3lrn_lib.predict import (
    Face,
    InputError,
    NetworkLoadError,
    Predictor,
    load_image,
    load_network,
    obj_bytes,
    parse_box,
    ply_bytes,
    sample_colors,
    save_state_dict,
    to_rgb8,
    variant_of,
)
from m3lrn_lib.predict.__main__ import main as predict_main


def cli(argv):
    """The command line as ``python -m m3lrn_lib.predict`` runs it (user errors -> exit status 2)."""
    from m3lrn_lib.cli import run_main
    return run_main(predict_main, argv)


def tiny(preset="full", seed=0):
    """A small untrained network with random (non-default) BatchNorm statistics, so that the ONNX
    check also covers folded BatchNorm layers."""
    torch.manual_seed(seed)
    net = M3LRN(load_face_model(), M3LRNConfig.preset(preset, width_mult=0.25))
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return net.eval()


@pytest.fixture(scope="module")
def net():
    return tiny()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, net):
    p = tmp_path_factory.mktemp("ck") / "full.pt"
    save_state_dict(net, p)
    return p


@pytest.fixture(scope="module")
def astronaut():
    data = pytest.importorskip("skimage.data")  # a real photo; scikit-image also ships the face detector
    return data.astronaut()


@pytest.fixture(scope="module")
def pred(net):
    pytest.importorskip("skimage")
    return Predictor(net, device="cpu")


# ----------------------------------------------------------------------------- loading
def test_load_network_sources_and_variant(net, ckpt):
    assert load_network(net) is net
    got = load_network(ckpt)
    assert variant_of(got) == "full@w0.25" and not got.training
    x = torch.randn(2, 3, 120, 120)
    with torch.no_grad():
        assert torch.allclose(got(x)["lmk_refined"], net(x)["lmk_refined"], atol=1e-5)
    assert variant_of(M3LRNConfig.preset("baseline_extra_mlp")) == "baseline_extra_mlp"
    assert variant_of("setting2") == "setting2"


def test_load_network_bad_files(tmp_path, net):
    with pytest.raises(NetworkLoadError, match="not found"):
        load_network(tmp_path / "nope.pt")
    (tmp_path / "bad.pt").write_bytes(b"\x00garbage")
    with pytest.raises(NetworkLoadError, match="not a readable"):
        load_network(tmp_path / "bad.pt")
    torch.save({"weights": 1}, tmp_path / "odd.pt")
    with pytest.raises(NetworkLoadError, match="unknown checkpoint layout"):
        load_network(tmp_path / "odd.pt")
    with pytest.raises(NetworkLoadError, match="not the 'baseline' variant"):
        load_network(net, expect_variant="baseline")


def test_trainer_checkpoint_goes_through_load_checkpoint(tmp_path):
    ck = pytest.importorskip("m3lrn_lib.train.checkpoint")
    net = tiny("m2fa")
    fm = net.face_model
    state = {"format": ck.TRAIN_FORMAT, "version": 1, "model": net.state_dict(), "model_config": net.config.to_dict(),
             "face_model": {"name": fm.name, "fingerprint": fm.fingerprint(), "n_params": fm.n_params, "source": ""}}
    ck.export_weights(state, tmp_path / "w.pt")
    assert variant_of(load_network(tmp_path / "w.pt")) == "m2fa@w0.25"
    with pytest.raises(NetworkLoadError, match="not the 'full' variant"):
        load_network(tmp_path / "w.pt", expect_variant="full")


def test_checkpoint_whose_weights_are_another_variant(tmp_path, net):
    obj = {"state_dict": net.state_dict(), "config": M3LRNConfig.preset("baseline", width_mult=0.25).to_dict(),
           "param_mean": net.param_mean, "param_std": net.param_std}
    torch.save(obj, tmp_path / "mixed.pt")
    with pytest.raises(NetworkLoadError, match="another variant.*unexpected"):
        load_network(tmp_path / "mixed.pt")


# ----------------------------------------------------------------------------- inputs
def test_to_rgb8_kinds():
    g = np.full((5, 6), 200, np.uint8)
    assert to_rgb8(g).shape == (5, 6, 3) and (to_rgb8(g) == 200).all()
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 128
    assert to_rgb8(rgba)[0, 0].tolist() == [100, 0, 0]  # composited over black
    assert to_rgb8(np.full((2, 2, 3), 65535, np.uint16))[0, 0].tolist() == [255, 255, 255]
    assert to_rgb8(np.full((2, 2), 0.5, np.float32))[0, 0, 0] == 128
    assert to_rgb8(np.array([[[1, 2, 3]]], np.uint8), bgr=True)[0, 0].tolist() == [3, 2, 1]
    with pytest.raises(InputError, match="unsupported image shape"):
        to_rgb8(np.zeros((2, 2, 5), np.uint8))


def test_load_image_files(tmp_path):
    g16 = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20)
    cv2.imwrite(str(tmp_path / "g16.png"), g16)
    img = load_image(tmp_path / "g16.png")
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    with pytest.raises(InputError, match="cannot be decoded"):
        load_image(tmp_path / "corrupt.jpg")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(InputError, match="not found"):
        load_image(tmp_path / "missing.png")


def test_parse_box():
    assert parse_box("1, 2,30,40").tolist() == [1, 2, 30, 40]
    for bad, msg in (("1,2,3", "four"), ("a,b,c,d", "four numbers"), ("5,5,1,9", "x1 > x0")):
        with pytest.raises(ValueError, match=msg):
            parse_box(bad)


# ----------------------------------------------------------------------------- detection + predictor
def test_detector_finds_the_astronaut_and_nothing_in_flat_images(astronaut):
    from m3lrn_lib.predict import FaceDetector
    det = FaceDetector()  # the best installed backend (m3lrn_lib.predict.detect; tests/test_detect_backends.py)
    boxes = det(astronaut)
    assert len(boxes) == 1 or det.backend == "dlib"  # dlib's HOG also fires weakly on the mission patch
    x0, y0, x1, y1 = boxes[0]
    assert 150 < x0 < 200 and 50 < y0 < 90 and 80 < x1 - x0 < 130
    assert len(det(np.full((200, 300, 3), 128, np.uint8))) == 0
    assert len(det(np.zeros((10, 10, 3), np.uint8))) == 0  # smaller than the smallest face


def test_predictor_outputs_on_a_real_photo(pred, astronaut):
    faces = pred.predict(astronaut)
    assert len(faces) == 1 or pred.detector.backend == "dlib"  # see the detector test above
    f = faces[0]
    assert f.landmarks.shape == (68, 3) and f.landmarks_2d.shape == (68, 2)
    assert f.vertices.shape == (pred.model.n_vertices, 3) and f.pose_deg.shape == (3,)
    assert np.allclose(np.linalg.norm(f.rotation[:2], axis=1), 1.0) and f.source == "detector"
    assert np.linalg.det(f.rotation) > 0
    assert np.allclose(f.vertices[pred.model.landmarks], f.landmarks_coarse, atol=1e-3)
    # landmarks lie in (or near) the crop box, in image pixels
    assert (f.landmarks_2d > f.crop_box[:2] - 40).all() and (f.landmarks_2d < f.crop_box[2:] + 40).all()
    json.dumps(f.to_dict(vertices=True))


def test_no_face_gives_an_empty_result(pred):
    rng = np.random.default_rng(0)
    assert pred.predict(np.full((240, 320, 3), 90, np.uint8)) == []
    assert pred.predict(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) == []
    assert pred.predict_many([np.zeros((50, 50), np.uint8), np.zeros((40, 40, 4), np.uint8)]) == [[], []]


def test_small_gray_rgba_16bit_images_with_a_box(pred):
    small = np.random.default_rng(1).integers(0, 255, (40, 30), dtype=np.uint8)
    for img in (small, np.dstack([small] * 3 + [small]), small.astype(np.uint16) * 257):
        faces = pred.predict(img, boxes=[[2, 2, 28, 38]])
        assert len(faces) == 1 and faces[0].source == "box" and np.isfinite(faces[0].vertices).all()
    with pytest.raises(ValueError, match="outside"):
        pred.predict(small, boxes=[[100, 100, 120, 130]])


def test_outputs_are_mapped_back_through_the_crop_box(net):
    """With a stub network that returns known crop-frame points, the image-frame outputs are
    exactly ``x / k + x0``, ``y / k + y0``, ``z / k`` for the crop box of the given face box."""
    from m3lrn_lib.data.crop import box_from_detector

    p = Predictor(net, device="cpu", detector=None)
    real = p.net
    lmk = torch.rand(1, 68, 3) * 120
    verts = torch.rand(1, p.model.n_vertices, 3) * 120

    def stub(x, dense=False):
        out = real(x, dense=dense)
        B = x.shape[0]
        out.update(lmk_refined=lmk.expand(B, -1, -1), vertices=verts.expand(B, -1, -1))
        return out

    p.net = stub
    box = np.array([50.0, 40.0, 110.0, 120.0])
    f = p.predict(np.zeros((200, 200, 3), np.uint8), boxes=[box])[0]
    cb = box_from_detector(box)
    k = 120 / (cb[2] - cb[0])
    want = lmk[0].numpy().astype(np.float64) / k + [cb[0], cb[1], 0]
    assert np.allclose(f.landmarks, want, atol=1e-3) and np.allclose(f.crop_box, cb)
    assert np.allclose(f.vertices[:, 2], verts[0, :, 2].numpy() / k, atol=1e-3)


def test_predict_many_batches_across_images(net, astronaut):
    p = Predictor(net, device="cpu", batch_size=2)
    small = cv2.resize(astronaut, (256, 256))
    res = p.predict_many([astronaut, small, astronaut], boxes=[[[170, 60, 280, 170]] * 2, None, None])
    assert [len(r) for r in res] == [2, 1, 1]
    assert np.allclose(res[0][0].landmarks, res[0][1].landmarks, atol=1e-4)
    assert np.allclose(res[1][0].landmarks[:, :2], res[2][0].landmarks[:, :2] / 2, atol=3)


# ----------------------------------------------------------------------------- exports
def test_sample_colors_bilinear():
    img = np.zeros((4, 4, 3), np.uint8)
    img[:, 2:] = 200
    c = sample_colors(img, np.array([[0.5, 0.5], [2.0, 1.0], [3.5, 3.5]]))
    assert c[:, 0].tolist() == [0, 100, 200]


def test_obj_and_ply_round_trip():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0.5]], np.float32)
    t = np.array([[0, 1, 2]])
    c = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    obj = obj_bytes(v, t, c).decode().splitlines()
    assert obj[1].split() == ["v", "0.0000", "0.0000", "0.0000", "1.0000", "0.0000", "0.0000"]
    assert obj[-1] == "f 1 2 3"
    ply = ply_bytes(v, t, c)
    head, body = ply.split(b"end_header\n")
    assert b"element vertex 3" in head and b"element face 1" in head
    vert = np.frombuffer(body[:3 * 15], [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"),
                                         ("b", "u1")])
    assert vert["z"].tolist() == [0, 0, 0.5] and vert["b"].tolist() == [0, 0, 255]
    face = np.frombuffer(body[3 * 15:], [("n", "u1"), ("i", "<i4", (3,))])
    assert face["n"][0] == 3 and face["i"][0].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="indices"):
        obj_bytes(v, np.array([[0, 1, 5]]))


# ----------------------------------------------------------------------------- CLI
def _snapshot(*folders):
    return {str(p) for f in folders for p in f.rglob("*")}


def test_cli_folder_with_bad_files(tmp_path, ckpt, astronaut, monkeypatch):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    cv2.imwrite(str(inp / "astro.jpg"), astronaut[..., ::-1])
    cv2.imwrite(str(inp / "blank.png"), np.full((100, 120), 128, np.uint8))
    (inp / "notes.txt").write_text("not an image")
    (inp / "broken.png").write_bytes(b"\x89PNG broken")
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path) - _snapshot(out) if out.exists() else _snapshot(tmp_path)
    rc = cli([str(inp), "--checkpoint", str(ckpt), "--out", str(out)])
    assert rc == 1  # one input failed, the others were processed
    assert _snapshot(tmp_path) - _snapshot(out) - {str(out)} == before  # nothing outside --out
    names = sorted(p.name for p in out.iterdir())
    assert names == ["astro.json", "astro_face0.obj", "astro_face0.ply", "astro_overlay.jpg", "blank.json",
                     "summary.json"]
    s = json.loads((out / "summary.json").read_text())
    assert [x["input"] for x in s["skipped"]] == ["notes.txt"]
    assert s["failed"][0]["input"] == "broken.png" and "cannot be decoded" in s["failed"][0]["error"]
    blank = json.loads((out / "blank.json").read_text())
    assert blank["faces"] == [] and "no face" in blank["message"]
    face = json.loads((out / "astro.json").read_text())["faces"][0]
    assert len(face["landmarks_2d"]) == 68 and len(face["yaw_pitch_roll_deg"]) == 3


def test_cli_video_box_and_errors(tmp_path, ckpt, astronaut, capsys):
    vid = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(vid), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 128))
    for k in range(3):
        w.write(np.ascontiguousarray(cv2.resize(astronaut, (128, 128))[..., ::-1]))
    w.release()
    out = tmp_path / "out"
    rc = cli([str(vid), "--checkpoint", str(ckpt), "--out", str(out), "--box", "40,15,72,47", "--mesh", "none"])
    assert rc == 0
    lines = (out / "clip.jsonl").read_text().splitlines()
    assert len(lines) == 3 and len(json.loads(lines[0])["faces"]) == 1
    cap = cv2.VideoCapture(str(out / "clip_overlay.avi"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-") or p.name.startswith("tmp-")]

    (tmp_path / "bad.avi").write_bytes(b"RIFF nothing here")
    assert cli([str(tmp_path / "bad.avi"), "--checkpoint", str(ckpt), "--out", str(out)]) == 1
    assert "video" in capsys.readouterr().err
    assert cli([str(tmp_path / "nope.jpg"), "--checkpoint", str(ckpt), "--out", str(out)]) == 2
    assert cli([str(vid), "--checkpoint", str(ckpt), "--out", str(out), "--box", "1,2,3"]) == 2
    assert cli([str(vid), "--checkpoint", str(ckpt), "--out", str(out), "--variant", "baseline"]) == 2
    assert "not the 'baseline' variant" in capsys.readouterr().err


def test_out_dir_sanitises_names(tmp_path):
    from m3lrn_lib.predict.__main__ import OutDir
    o = OutDir(tmp_path / "o")
    assert o.path("../../evil.json").parent == o.root
    assert o.stem_for(tmp_path / "a.jpg") == "a" and o.stem_for(tmp_path / "a.png") == "a_png"
    assert o.clean("..hidden/../x y") == "hidden_.._x_y"
    with pytest.raises(ValueError, match="not a folder"):
        (tmp_path / "file").write_text("x")
        OutDir(tmp_path / "file")


# ----------------------------------------------------------------------------- ONNX
@pytest.mark.parametrize("dense", [False, True])
def test_onnx_matches_pytorch(net, dense, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from m3lrn_lib.predict.onnx_export import check_onnx, export_onnx, onnx_session, run_onnx
    data = export_onnx(net, tmp_path / "m.onnx", dense=dense)
    assert os.path.getsize(tmp_path / "m.onnx") == len(data)
    r = check_onnx(net, data, dense=dense, batch=3)
    assert all(v["ok"] and v["max_abs"] < 1e-4 * v["scale"] for v in r.values())
    assert ("vertices" in r) == dense
    out = run_onnx(onnx_session(data, threads=1), torch.zeros(5, 3, 120, 120))  # dynamic batch
    assert out["landmarks"].shape == (5, 68, 3)


def test_face_dataclass_to_dict_roundtrip():
    f = Face(box=np.zeros(4), crop_box=np.ones(4), landmarks=np.zeros((68, 3)), landmarks_coarse=np.zeros((68, 3)),
             vertices=None, pose_deg=np.array([1.0, 2, 3]), rotation=np.eye(3), params=np.zeros(62), source="box")
    d = f.to_dict(vertices=True)
    assert "vertices" not in d and d["yaw_pitch_roll_deg"] == [1, 2, 3]
