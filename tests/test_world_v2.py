"""The synthetic world v2: a morphable model with a full basis richer than the 62 regressed numbers,
the bottleneck measurements, and generator version 2 (faces from the full basis, targets truncated)."""
import json
import zipfile

import numpy as np
import pytest

from m3lrn_lib import paths
from m3lrn_lib.data import DatasetError, FaceSynthesizer, default_generator, generate
from m3lrn_lib.morphable import FaceModel, FaceModelError, load_face_model
from m3lrn_lib.morphable.bottleneck import (
    _landmarks_2d,
    best_fit_62,
    bottleneck_nme,
    landmark_variance_outside_span,
    prior_bottleneck,
)


@pytest.fixture(scope="module")
def v2():
    return load_face_model("embedded-v2")


@pytest.fixture(scope="module")
def v1():
    return load_face_model("embedded-v1")


def test_v2_model_has_a_full_basis_whose_leading_columns_are_regressed(v2):
    assert (v2.n_shape, v2.n_exp, v2.n_params) == (40, 10, 62)
    assert (v2.n_shape_full, v2.n_exp_full) == (150, 29)
    full_s, std_s, full_e, std_e = v2.full_basis()
    assert np.shares_memory(v2.shape_basis, full_s) and np.shares_memory(v2.exp_basis, full_e)
    assert np.array_equal(full_s[:, :40], v2.shape_basis) and np.array_equal(std_e[:10], v2.exp_std)
    gram = full_s.T.astype(np.float64) @ full_s
    assert np.abs(gram - np.eye(150)).max() < 2e-3  # orthonormal up to the storage grid
    assert np.all(np.diff(std_s) <= 0) and std_s[-1] > 0


def test_v1_model_views_are_the_regression_basis(v1):
    assert (v1.n_shape_full, v1.n_exp_full) == (40, 10) and v1.full_shape_basis is None
    assert v1.full_basis()[0] is v1.shape_basis


def test_truncate_and_vertices_take_full_or_regression_coefficients(v2):
    rng = np.random.default_rng(0)
    a_s, a_e = rng.standard_normal(150) * v2.full_shape_std, rng.standard_normal(29) * v2.full_exp_std
    t_s, t_e = v2.truncate(a_s, a_e)
    assert t_s.shape == (40,) and t_e.shape == (10,) and np.array_equal(t_s, a_s[:40])
    full, trunc = v2.vertices(a_s, a_e), v2.vertices(t_s, t_e)
    assert full.shape == trunc.shape == (v2.n_vertices, 3)
    assert 0.3 < np.abs(full - trunc).mean() < 10  # the leftover is real and of millimetres
    with pytest.raises(ValueError, match="regression.*full"):
        v2.vertices(np.zeros(41))
    with pytest.raises(ValueError, match="150"):
        v2.truncate(np.zeros(40), np.zeros(29))


def test_save_stores_the_basis_once_and_reloads_the_views(v2, tmp_path):
    v2.save(tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as z:
        assert z.getinfo("shape_basis.npy").file_size < 200  # a size, not a second copy
    m = FaceModel.load(tmp_path / "m.npz")
    assert m.fingerprint() == v2.fingerprint() and m.n_shape_full == 150
    assert np.shares_memory(m.shape_basis, m.full_shape_basis)


def test_shipped_v2_file_is_within_its_budget():
    f = paths.shipped_face_model("2")
    assert f.is_file() and f.stat().st_size <= 5 * 2 ** 20


def test_full_basis_smaller_than_the_regression_basis_is_a_clear_error(v1, tmp_path):
    kw = dict(name="tiny", mean=v1.mean, triangles=v1.triangles, landmarks=v1.landmarks)
    with pytest.raises(FaceModelError, match="full shape basis has 30 components, fewer than the 40"):
        FaceModel.from_full_basis(40, 10, v1.shape_basis[:, :30], v1.shape_std[:30], v1.exp_basis, v1.exp_std, **kw)
    # a file that claims 40 regressed components of a 30-column full basis
    ok = FaceModel.from_full_basis(30, 10, v1.shape_basis[:, :30], v1.shape_std[:30], v1.exp_basis, v1.exp_std, **kw)
    ok.save(tmp_path / "ok.npz")
    arrays = dict(np.load(tmp_path / "ok.npz"))
    arrays["shape_basis"] = np.array(40)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(FaceModelError, match=r"bad\.npz.*30 components, fewer than the 40"):
        FaceModel.load(tmp_path / "bad.npz")


def test_bottleneck_of_the_prior(v1, v2):
    b2, b1 = prior_bottleneck(v2, n=500), prior_bottleneck(v1, n=500)
    assert 0.02 < b2["outside_span"] < b2["truncation"] < 0.5 and b2["rms_outside_mm"] > 0.5
    assert b1["outside_span"] < 1e-9 and b1["truncation"] < 1e-9


def test_landmark_variance_outside_span_is_zero_for_faces_in_the_span(v2):
    rng = np.random.default_rng(1)
    a_s = np.concatenate([rng.standard_normal((20, 40)) * v2.shape_std, np.zeros((20, 110))], 1)
    a_e = np.concatenate([rng.standard_normal((20, 10)) * v2.exp_std, np.zeros((20, 19))], 1)
    assert landmark_variance_outside_span(v2, a_s, a_e)["outside_span"] < 1e-9


def test_best_fit_recovers_in_span_landmarks_from_a_perturbed_start(v1):
    synth = FaceSynthesizer(v1, 3, photos=False)
    faces = [synth.face("test", i) for i in range(4)]
    params = np.stack([f.params for f in faces]).astype(np.float64)
    target = _landmarks_2d(v1, params)
    start = params.copy()
    start[:, 12:] *= 0.5
    fit = best_fit_62(v1, target, start, iterations=30)
    err = np.linalg.norm(_landmarks_2d(v1, fit) - target, axis=2).mean()
    assert err < 0.05  # pixels


def test_generator_v2_faces_come_from_the_full_basis(v2):
    assert default_generator(v2) == "2"
    synth = FaceSynthesizer(v2, 5, photos=False)
    faces = [synth.face("test", i) for i in range(6)]
    again = FaceSynthesizer(v2, 5, photos=False).face("test", 2)
    assert np.array_equal(again.image, faces[2].image) and np.array_equal(again.landmarks, faces[2].landmarks)
    params = np.stack([f.params for f in faces])
    assert params.shape == (6, 62)
    lmk = np.stack([f.landmarks for f in faces])
    heights = [f.image.shape[0] for f in faces]
    r = bottleneck_nme(v2, params, lmk, heights)
    # the target (truncation) misses the full-face landmarks; the best 62-d fit misses less, but not nothing
    assert np.all(r["target_nme"] > 1e-3) and np.all(r["best_fit_nme"] <= r["target_nme"] + 1e-9)
    assert r["best_fit_nme"].mean() > 1e-3


def test_v1_generator_still_makes_in_span_faces(v1):
    f = FaceSynthesizer(v1, 5, photos=False).face("test", 0)
    r = bottleneck_nme(v1, f.params[None], f.landmarks[None], [f.image.shape[0]])
    assert r["target_nme"][0] < 1e-4


def test_sets_of_different_generator_versions_refuse_to_mix(v1, tmp_path):
    generate(v1, tmp_path / "a", 4, 2, seed=0, workers=1, progress=False, generator="1")
    with pytest.raises(DatasetError, match="generator_version: '1' vs '2'"):
        generate(v1, tmp_path / "a", 4, 2, seed=0, workers=1, progress=False, generator="2")
    generate(v1, tmp_path / "b", 4, 2, seed=0, workers=1, progress=False, generator="2")
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["generator_version"] == "2"
    from m3lrn_lib.data import AFLW2000Dataset, ThreeDDFADataset
    from m3lrn_lib.train.data import check_same_generator

    train = ThreeDDFADataset(tmp_path / "a" / "train", v1)
    test = AFLW2000Dataset(tmp_path / "b" / "test", v1, whitening=train)
    with pytest.raises(DatasetError, match="version 1 .* version 2"):
        check_same_generator(train, test)
    check_same_generator(train, AFLW2000Dataset(tmp_path / "a" / "test", v1, whitening=train))
    with pytest.raises(DatasetError, match="unknown generator version"):
        generate(v1, tmp_path / "c", 4, 2, seed=0, workers=1, progress=False, generator="3")


def test_v2_training_sets_carry_the_full_face_landmarks(v2, tmp_path):
    from m3lrn_lib.data import ThreeDDFADataset

    generate(v2, tmp_path / "s", 6, 0, seed=1, workers=1, progress=False)
    ds = ThreeDDFADataset(tmp_path / "s" / "train", v2)
    assert ds.stored_landmarks.shape == (6, 68, 3)
    s = ds.raw(2)
    from_params = ds.landmarks_from_params(s["params"])
    assert np.array_equal(s["landmarks"], ds.stored_landmarks[2])
    assert 0.05 < np.abs(s["landmarks"][:, :2] - from_params[:, :2]).mean() < 5  # the leftover, in pixels
    np.save(tmp_path / "s" / "train" / "landmarks.npy", np.zeros((5, 68, 3), np.float32))
    with pytest.raises(DatasetError, match=r"landmarks\.npy: expected finite \(6, 68, 3\)"):
        ThreeDDFADataset(tmp_path / "s" / "train", v2)


def test_the_default_model_is_v2_and_the_setting_names_either(monkeypatch):
    monkeypatch.delenv("M3LRN_FACE_MODEL", raising=False)
    assert load_face_model().name == "m3lrn-embedded-v2" and load_face_model("embedded") is load_face_model()
    monkeypatch.setenv("M3LRN_FACE_MODEL", "embedded-v1")
    assert load_face_model().name == "m3lrn-embedded"
    assert load_face_model().n_shape_full == 40


@pytest.mark.parametrize("argv, subject", [(["--steps-first", "0"], "--steps-first"), (["--seeds", "a,b"], "--seeds"),
                                           (["--n-test", "-1"], "--n-test")])
def test_refinement_probe_bad_arguments_are_one_line(argv, subject, tmp_path, capsys):
    from m3lrn_lib.benchmark.refinement_probe import main

    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {subject}")
    assert not (tmp_path / "out").exists()


def test_floor_command_on_the_sample_and_bad_data(tmp_path, capsys):
    from m3lrn_lib.benchmark.floor import main

    assert main(["--data", str(paths.sample_dir() / "test"), "--max-faces", "12", "--out", str(tmp_path / "f")]) == 0
    r = json.loads((tmp_path / "f" / "floor.json").read_text())
    assert r["n"] == 12 and r["generator_version"] == "2"
    assert 0.2 < r["best_fit"]["mean"] < r["target"]["mean"] < 3.0     # a clear, non-zero floor on v2 data
    assert "best 62-d fit" in capsys.readouterr().out
    assert main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "g")]) == 2
    assert main(["--max-faces", "0", "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("error: --") for e in err)
    assert not (tmp_path / "g").exists()
