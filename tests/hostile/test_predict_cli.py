"""Hostile command lines of ``python -m m3lrn_lib.predict``: bad arguments, bad output folders,
oversized images in a folder, truncated and interrupted videos, non-finite outputs.

Argument errors are batched: one subprocess runs every case through :func:`m3lrn_lib.cli.run_main`
around the CLI's ``main`` (exactly what ``python -m`` does), each in its own folder; a few cases
also run as real ``python -m`` processes."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from cli_batch import ENV, run_batch  # tests/hostile/cli_batch.py
from PIL import Image

from m3lrn_lib import paths
from m3lrn_lib.fileio import TMP_PREFIX

BASELINE = str(paths.checkpoints_dir() / "baseline.pt")
FAST = ["--no-dense", "--no-overlay", "--mesh", "none"]

def files(folder) -> set:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def strict_json(path):
    def refuse(name):
        raise AssertionError(f"{path} holds {name}: not valid JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


def small_image(path, size=(64, 64)):
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8))


def huge_jpeg(path, width=60000, height=60000):
    ok, buf = cv2.imencode(".jpg", np.full((16, 16, 3), 100, np.uint8))
    data = bytearray(buf.tobytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 7], data[sof + 7:sof + 9] = height.to_bytes(2, "big"), width.to_bytes(2, "big")
    path.write_bytes(bytes(data))


# ----------------------------------------------------------------------------- bad arguments (defects 4, 8)
# id -> (extra argv, the names the error line must contain); the input is ``in.png`` in the case folder.
ARG_CASES = {
    "max_faces_negative": (["--max-faces", "-1"], ["--max-faces", "-1"]),
    "max_faces_zero": (["--max-faces", "0"], ["--max-faces"]),
    "box_tiny": (["--box", "10,10,10.000001,10.000001"], ["--box", "at least 8"]),
    "box_huge": (["--box", "0,0,1e300,1e300"], ["--box"]),
    "box_nan": (["--box", "nan,0,30,30"], ["--box", "finite"]),
    "box_three_numbers": (["--box", "1,2,3"], ["--box"]),
    "box_outside_image": (["--box", "100,100,140,140"], ["--box", "outside"]),
    "device_tpu": (["--device", "tpu"], ["--device", "tpu"]),
    "out_under_a_file": (["--out", "afile/sub"], ["--out", "afile"]),
    "out_is_a_file": (["--out", "afile"], ["--out", "afile"]),
    "every_zero": (["--every", "0"], ["--every"]),
    "batch_size_zero": (["--batch-size", "0"], ["--batch-size"]),
    "max_frames_zero": (["--max-frames", "0"], ["--max-frames"]),
    "mesh_unknown": (["--mesh", "stl"], ["--mesh", "stl"]),
    "min_face_frac_two": (["--min-face-frac", "2"], ["--min-face-frac"]),
    "checkpoint_missing": (["--checkpoint", "missing.pt"], ["--checkpoint", "missing.pt"]),
    "checkpoint_empty": (["--checkpoint", "empty.pt"], ["--checkpoint", "empty.pt"]),
    "variant_unknown": (["--variant", "nonsense"], ["--variant", "nonsense"]),
    "unknown_option": (["--frobnicate"], ["--frobnicate"]),
    "input_missing": (["@missing"], ["missing.png"]),
}


@pytest.fixture(scope="module")
def arg_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("args")
    cases, before = [], {}
    for cid, (extra, _) in ARG_CASES.items():
        d = tmp / cid
        d.mkdir()
        small_image(d / "in.png")
        (d / "afile").write_text("a file, not a folder")
        (d / "empty.pt").write_bytes(b"")
        argv = ["in.png", "--checkpoint", BASELINE, "--out", "out", *FAST]
        if extra == ["@missing"]:
            argv[0], extra = "missing.png", []
        for i in range(0, len(extra), 2):  # a later value of the same option wins; replace it to be clear
            if extra[i] in argv and extra[i] != "--box":
                argv[argv.index(extra[i]) + 1] = extra[i + 1]
            else:
                argv += extra[i:i + 2]
        before[cid] = files(d)
        cases.append({"id": cid, "module": "m3lrn_lib.predict", "argv": argv, "cwd": str(d)})
    res = run_batch(cases, tmp)
    for cid in res:
        res[cid]["after"] = files(tmp / cid)
        res[cid]["before"] = before[cid]
    return res


@pytest.mark.parametrize("cid", list(ARG_CASES))
def test_bad_argument_is_one_line_exit_2_nothing_written(arg_results, cid):
    r = arg_results[cid]
    assert r["rc"] == 2, r["stderr"]
    assert "Traceback" not in r["stderr"]
    last = r["stderr"].strip().splitlines()[-1]
    assert last.startswith("error: ")
    for name in ARG_CASES[cid][1]:
        assert name in last, last
    assert r["after"] == r["before"]  # no --out folder, no summary, nothing else


def test_real_process_device_tpu_and_debug(tmp_path):
    small_image(tmp_path / "in.png")
    base = [sys.executable, "-m", "m3lrn_lib.predict", "in.png", "--checkpoint", BASELINE, "--out", "out",
            "--device", "tpu", *FAST]
    r = subprocess.run(base, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: --device: ")
    r = subprocess.run(base + ["--debug"], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" in r.stderr  # --debug shows it
    assert files(tmp_path) == {"in.png"}


@pytest.mark.parametrize("target", ["ro", "ro/sub"])
def test_read_only_out_is_refused_before_the_network_loads(tmp_path, monkeypatch, capsys, target):
    from m3lrn_lib.cli import run_main
    from m3lrn_lib.predict import __main__ as predict_main
    from m3lrn_lib.predict import predictor

    small_image(tmp_path / "in.png")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the folder read-only for the check
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **k: False if os.path.abspath(p) == str(ro)
                            else real_access(p, mode, **k))

    def no_network(*a, **k):
        raise AssertionError("the network was loaded before --out was checked")

    monkeypatch.setattr(predictor, "load_network", no_network)
    rc = run_main(predict_main.main, [str(tmp_path / "in.png"), "--checkpoint", BASELINE, "--out", str(tmp_path / target),
                                 *FAST])
    err = capsys.readouterr().err
    ro.chmod(0o755)
    assert rc == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: --out: ") and "not writable" in last and str(ro) in last
    assert files(tmp_path) == {"in.png", "ro"}


# ----------------------------------------------------------------------------- folder with a bomb (defects 1, 2, 7)
def test_folder_with_an_oversized_image_processes_the_others(tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    out.mkdir()
    (out / f"{TMP_PREFIX}stale_overlay.avi").write_bytes(b"debris of a killed run")
    small_image(inp / "good.png")
    huge_jpeg(inp / "huge.jpg")
    im = Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 64, 3), dtype=np.uint8))
    exif = im.getexif()
    exif[0x0112] = 6  # phone photo: rotate 90 degrees clockwise to display
    im.save(inp / "phone.jpg", exif=exif.tobytes())
    (inp / "notes.txt").write_text("not an image")
    r = subprocess.run([sys.executable, "-m", "m3lrn_lib.predict", "in", "--checkpoint", BASELINE, "--out", "out",
                        "--box", "4,4,36,36", *FAST], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 1, r.stderr  # documented: some inputs failed
    assert "Traceback" not in r.stderr and "huge.jpg" in r.stderr
    assert files(out) == {"good.json", "phone.json", "summary.json"}  # stale temp file cleaned
    assert files(tmp_path) - {"out/" + f for f in files(out)} == {"in", "out", "in/good.png", "in/huge.jpg",
                                                                   "in/phone.jpg", "in/notes.txt"}
    s = strict_json(out / "summary.json")
    assert [x["input"] for x in s["processed"]] == ["good.png", "phone.jpg"]
    assert [x["input"] for x in s["failed"]] == ["huge.jpg"]
    assert "60000x60000" in s["failed"][0]["error"] and "megapixel" in s["failed"][0]["error"]
    assert [x["input"] for x in s["skipped"]] == ["notes.txt"]
    phone = strict_json(out / "phone.json")
    assert (phone["width"], phone["height"]) == (40, 64)  # EXIF orientation applied
    assert len(phone["faces"]) == 1


# ----------------------------------------------------------------------------- videos (defect 7)
def _video(path, n=10, size=64):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (size, size))
    for k in range(n):
        w.write(np.random.default_rng(k).integers(0, 256, (size, size, 3), dtype=np.uint8))
    w.release()


def test_truncated_video_is_failed_partial_exit_1(tmp_path):
    _video(tmp_path / "full.avi")
    data = (tmp_path / "full.avi").read_bytes()
    (tmp_path / "clip.avi").write_bytes(data[:len(data) // 2])
    (tmp_path / "full.avi").unlink()
    r = subprocess.run([sys.executable, "-m", "m3lrn_lib.predict", "clip.avi", "--checkpoint", BASELINE,
                        "--out", "out", "--box", "4,4,60,60", "--no-dense", "--mesh", "none"], cwd=tmp_path,
                       env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith("warning: ")]
    assert len(warn) == 1 and "clip.avi" in warn[0] and "truncated" in warn[0] and "of 10" in warn[0]
    out = tmp_path / "out"
    assert files(out) == {"clip.jsonl", "clip_overlay.avi", "summary.json"}  # no temp files left
    s = strict_json(out / "summary.json")
    assert s["processed"] == [] and len(s["failed"]) == 1
    bad = s["failed"][0]
    n = bad["frames"]
    assert bad["input"] == "clip.avi" and bad["partial"] is True and bad["frame_count"] == 10 and 0 < n < 10
    lines = (out / "clip.jsonl").read_text().splitlines()
    assert [json.loads(x)["frame"] for x in lines] == list(range(n))


def test_interrupted_video_keeps_the_frames_done(tmp_path, monkeypatch, capsys):
    from m3lrn_lib.cli import EXIT_INTERRUPTED, run_main
    from m3lrn_lib.predict import __main__ as predict_main
    from m3lrn_lib.predict.predictor import Predictor

    _video(tmp_path / "clip.avi", n=6)
    real, calls = Predictor.predict_many, []

    def interrupt_third(self, images, boxes=None):
        calls.append(len(images))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, images, boxes)

    monkeypatch.setattr(Predictor, "predict_many", interrupt_third)
    out = tmp_path / "out"
    rc = run_main(predict_main.main, [str(tmp_path / "clip.avi"), "--checkpoint", BASELINE, "--out", str(out),
                                 "--box", "4,4,60,60", "--batch-size", "1", "--no-dense", "--mesh", "none"])
    assert rc == EXIT_INTERRUPTED
    assert "Traceback" not in capsys.readouterr().err
    assert files(out) == {"clip.jsonl", "clip_overlay.avi", "summary.json"}
    lines = (out / "clip.jsonl").read_text().splitlines()
    assert [json.loads(x)["frame"] for x in lines] == [0, 1]
    s = strict_json(out / "summary.json")
    assert s["interrupted"] is True and s["failed"][0]["partial"] is True and s["failed"][0]["frames"] == 2
    cap = cv2.VideoCapture(str(out / "clip_overlay.avi"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
    cap.release()


def test_non_finite_prediction_never_writes_invalid_json(tmp_path, monkeypatch, capsys):
    from m3lrn_lib.cli import run_main
    from m3lrn_lib.predict import __main__ as predict_main
    from m3lrn_lib.predict.predictor import Predictor

    real = Predictor.predict_many

    def nan_pose(self, images, boxes=None):
        res = real(self, images, boxes)
        for faces in res:
            for f in faces:
                f.pose_deg = np.full(3, np.nan)
        return res

    monkeypatch.setattr(Predictor, "predict_many", nan_pose)
    small_image(tmp_path / "a.png")
    out = tmp_path / "out"
    rc = run_main(predict_main.main, [str(tmp_path / "a.png"), "--checkpoint", BASELINE, "--out", str(out),
                                 "--box", "4,4,36,36", *FAST])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err and "a.png" in err
    assert files(out) == {"summary.json"}
    s = strict_json(out / "summary.json")
    assert s["failed"][0]["input"] == "a.png" and "not finite" in s["failed"][0]["error"]
