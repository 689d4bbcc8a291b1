"""Hostile numbers for :mod:`m3lrn_lib.geometry` and hostile morphable-model files."""
import hashlib
import math

import numpy as np
import pytest
import torch

from m3lrn_lib import geometry
from m3lrn_lib.morphable import FaceModel, load_face_model
from m3lrn_lib.morphable.loading import embedded_model_path
from m3lrn_lib.morphable.model import FaceModelError


def pose(yaw=0.3, pitch=-0.2, roll=0.1, dtype=torch.float64):
    return geometry.make_pose(yaw, pitch, roll, 0.5, 60.0, 60.0).to(dtype)


# ----------------------------------------------------------------------------- params_to_euler (defect 5)
@pytest.mark.parametrize("entry", [0, 1, 5, 10])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_rotation_gives_nan_for_all_three_angles(entry, value):
    p = torch.cat([pose(), pose(0.5, 0.1, -0.2)])
    p[0, entry] = value
    out = geometry.params_to_euler(p)
    assert torch.isnan(out[0]).all()  # never a made-up roll of 0
    assert torch.allclose(out[1], torch.tensor([0.5, 0.1, -0.2], dtype=torch.float64), atol=1e-9)


def test_matrix_to_euler_of_nan_is_nan():
    R = geometry.euler_to_matrix(torch.tensor([[0.2, 0.1, 0.3]], dtype=torch.float64))
    R[0, 2, 0] = math.nan
    assert torch.isnan(geometry.matrix_to_euler(R)).all()


@pytest.mark.parametrize("which", ["all_zero", "row1_zero", "row2_zero", "rows_parallel"])
def test_degenerate_rotation_is_a_value_error(which):
    p = torch.cat([pose(), pose()])
    A = p[1, :12].reshape(3, 4)
    if which == "all_zero":
        p[1] = 0.0
    elif which == "row1_zero":
        A[0, :3] = 0.0
    elif which == "row2_zero":
        A[1, :3] = 0.0
    else:
        A[1, :3] = 2 * A[0, :3]
    p[1, :12] = A.reshape(-1) if which != "all_zero" else 0.0
    with pytest.raises(ValueError, match=r"degenerate.*rows? \[1\]"):
        geometry.params_to_euler(p)


@pytest.mark.parametrize("shape", [(62,), (2, 11), (2, 3, 4), (0,)])
def test_params_to_euler_wrong_shape_names_the_expected_one(shape):
    with pytest.raises(ValueError, match=r"\(B, 12\+\)|\(B, >= ?12\)"):
        geometry.params_to_euler(torch.zeros(shape))


def test_params_to_euler_accepts_pose_only_and_empty():
    assert geometry.params_to_euler(pose()).shape == (1, 3)
    assert geometry.params_to_euler(torch.zeros(0, 62)).shape == (0, 3)


# ----------------------------------------------------------------------------- empty batches (defect 5)
@pytest.mark.parametrize("fn, per_face", [
    (lambda m, p: geometry.reconstruct_vertices(m, p), lambda m: (m.n_vertices, 3)),
    (lambda m, p: geometry.reconstruct_landmarks(m, p), lambda m: (68, 3)),
    (lambda m, p: geometry.project_to_crop(m, p), lambda m: (m.n_vertices, 3)),
    (lambda m, p: geometry.project_to_crop(m, p, landmarks_only=True), lambda m: (68, 3)),
    (lambda m, p: geometry.reconstruct_shape(m, p[:, 12:52], p[:, 52:]), lambda m: (m.n_vertices, 3)),
])
def test_empty_batch_gives_empty_results(model, fn, per_face):
    out = fn(model, torch.zeros(0, model.n_params))
    assert tuple(out.shape) == (0, *per_face(model))


# ----------------------------------------------------------------------------- model files (defect 6)
def _arrays(version="1"):
    with np.load(embedded_model_path(version), allow_pickle=False) as z:
        return {k: z[k].copy() for k in z.files}


def _break(arrays, how):
    """Break one array of a model file; a v2 file stores its regression view inside the full basis, so the
    full arrays are broken there (same component index)."""
    if arrays["shape_std"].shape == ():  # a v2 file: shape_std etc. are sizes, the arrays are full_*
        full = {k: arrays["full_" + k] for k in ("shape_std", "exp_std", "shape_basis", "exp_basis")}
        name, index = _break(full, how)
        return "full_" + name, index
    if how == "negative_shape_std":
        arrays["shape_std"][3] = -arrays["shape_std"][3]
        return "shape_std", "3"
    if how == "zero_shape_std":
        arrays["shape_std"][0] = 0.0
        return "shape_std", "0"
    if how == "negative_exp_std":
        arrays["exp_std"][2] = -1.0
        return "exp_std", "2"
    if how == "zero_exp_std":
        arrays["exp_std"][:] = 0.0
        return "exp_std", "0"
    if how == "zero_shape_column":
        arrays["shape_basis"][:, 7] = 0.0
        return "shape_basis", "7"
    if how == "zero_exp_column":
        arrays["exp_basis"][:, 9] = 0.0
        return "exp_basis", "9"
    raise AssertionError(how)


BREAKS = ["negative_shape_std", "zero_shape_std", "negative_exp_std", "zero_exp_std", "zero_shape_column",
          "zero_exp_column"]


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("how", BREAKS)
def test_model_file_with_bad_std_or_basis_is_refused(tmp_path, how, version):
    arrays = _arrays(version)
    name, index = _break(arrays, how)
    f = tmp_path / "bad_model.npz"
    np.savez(f, **arrays)
    for load in (FaceModel.load, load_face_model):
        with pytest.raises(FaceModelError) as exc:
            load(f)
        msg = str(exc.value)
        assert str(f) in msg and name in msg and index in msg, msg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad_model.npz"]


@pytest.mark.parametrize("how", BREAKS[:2] + BREAKS[4:5])
def test_constructing_a_bad_model_is_refused(model, how):
    arrays = {k: getattr(model, k).copy() for k in ("mean", "shape_basis", "shape_std", "exp_basis", "exp_std",
                                                    "triangles", "landmarks")}
    name, _ = _break(arrays, how)
    with pytest.raises(FaceModelError, match=name):
        FaceModel(name="x", **arrays)


def test_fingerprint_is_unchanged(model):
    h = hashlib.sha1()
    for a in (model.mean, model.shape_basis, model.exp_basis, model.landmarks):
        h.update(np.ascontiguousarray(a).tobytes())
    assert model.fingerprint() == h.hexdigest()[:16]


def test_morphable_info_on_a_bad_model_file_is_one_line(tmp_path, capsys):
    from m3lrn_lib.cli import run_main
    from m3lrn_lib.morphable.__main__ import main

    arrays = _arrays()
    _break(arrays, "negative_exp_std")
    f = tmp_path / "bad.npz"
    np.savez(f, **arrays)
    assert run_main(main, ["info", str(f)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(f) in last and "exp_std" in last


def test_morphable_build_never_overwrites_the_shipped_model_by_default(tmp_path):
    """``build`` without flags writes the user cache's copy; only --update-shipped writes data/."""
    import subprocess
    import sys

    from m3lrn_lib import paths
    shipped = paths.shipped_face_model("1")  # v1: 20 s to build (v2 takes 1-2 min; the wheel test rebuilds it)
    before = shipped.stat().st_mtime_ns
    env = {**__import__("os").environ, "M3LRN_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-m", "m3lrn_lib.morphable", "build", "--version", "1"], capture_output=True,
                       text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "identical to the shipped" in r.stdout
    assert (tmp_path / "cache" / "face_model-v1.npz").read_bytes() == shipped.read_bytes()
    assert shipped.stat().st_mtime_ns == before
    r = subprocess.run([sys.executable, "-m", "m3lrn_lib.morphable", "build", "--update-shipped", "--out", "x.npz"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("error: --update-shipped: ")
    assert not (tmp_path / "x.npz").exists() and shipped.stat().st_mtime_ns == before
