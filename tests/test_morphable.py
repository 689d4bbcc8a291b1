"""The embedded model, the model file format, and the real-model readers."""
import pickle

import numpy as np
import pytest
import torch

from m3lrn_lib import geometry as G
from m3lrn_lib import paths
from m3lrn_lib.morphable import IBUG_MIRROR, FaceModel, FaceModelError, face_proportions, load_face_model
from m3lrn_lib.morphable.embedded import build_embedded_model
from m3lrn_lib.morphable.readers import load_bfm_3ddfa

SFM = paths.sfm_dir()
needs_sfm = pytest.mark.skipif(not (SFM / "sfm_shape_3448.bin").is_file(),
                               reason=f"the Surrey Face Model is not at {SFM}")


@pytest.fixture(scope="module")
def model():
    return load_face_model()


@pytest.fixture(scope="module")
def model_v1():
    """The first embedded model: the ten named expressions and the pinned signs of ``embedded``."""
    return load_face_model("embedded-v1")


def test_shipped_model_files_stay_small():
    """Both embedded models fit the 5 MB budget of data/. That they are re-created bit for bit is checked by
    tests/hostile/test_geometry_and_model.py (v1) and tests/test_wheel.py (v2, in an installed package)."""
    for version in ("1", "2"):
        assert paths.shipped_face_model(version).stat().st_size <= 5_000_000


def test_embedded_model_structure(model):
    assert 2000 <= model.n_vertices <= 8000
    assert model.n_shape == 40 and model.n_exp == 10 and model.n_params == 62
    assert model.uv is not None and model.uv.min() >= 0 and model.uv.max() <= 1
    assert model.albedo_mean is not None and model.albedo_basis.shape[0] == 3 * model.n_vertices
    assert len(set(model.landmarks.tolist())) == 68
    # unit-norm, mutually orthogonal bases with decreasing std
    for B, std in ((model.shape_basis, model.shape_std), (model.exp_basis, model.exp_std)):
        gram = B.T.astype(np.float64) @ B
        assert np.allclose(gram, np.eye(B.shape[1]), atol=1e-4)
        assert np.all(np.diff(std) <= 1e-6) and np.all(std > 0)
    # outward (CCW) triangles: frontal triangles face +z
    V = model.mean
    t = model.triangles
    nz = np.cross(V[t[:, 1]] - V[t[:, 0]], V[t[:, 2]] - V[t[:, 0]])[:, 2]
    assert (nz > 0).mean() > 0.95


def test_embedded_model_is_symmetric(model):
    m = model.vertex_mirror
    flipped = model.mean[m] * np.array([-1, 1, 1])
    assert np.abs(flipped - model.mean).max() < 1e-3
    assert np.array_equal(model.landmarks[IBUG_MIRROR], m[model.landmarks])


def test_landmark_proportions_match_surrey_within_15_percent(model):
    ours = face_proportions(model.mean[model.landmarks])
    if (SFM / "sfm_shape_3448.bin").is_file():
        sfm = load_face_model(SFM)
        ref = face_proportions(sfm.mean[sfm.landmarks])
    else:  # the Surrey figures measured once (see README) when the model is absent
        ref = {"interocular": 92.4, "nose_length": 58.0, "face_width": 147.6, "face_height": 121.1}
    for k in ref:
        assert abs(ours[k] / ref[k] - 1) < 0.15, (k, ours[k], ref[k])


def test_landmark_semantics(model):
    L = model.mean[model.landmarks]
    assert L[30, 2] == L[:, 2].max()  # the nose tip is the most forward point
    assert L[8, 1] == L[:, 1].min()  # the chin is the lowest
    assert L[36, 0] < L[39, 0] < 0 < L[42, 0] < L[45, 0]  # eye corners, subject's right is -x
    assert L[48, 1] < L[33, 1] < L[30, 1] < L[27, 1]  # mouth below nose below bridge
    assert np.all(L[17:27, 1] > L[36:48, 1].max())  # brows above the eyes
    assert np.all(np.abs(L[[27, 28, 29, 30, 33, 51, 57, 62, 66, 8], 0]) < 1e-4)  # midline


def test_mirror_operator_is_exact(model):
    """Mirroring coefficients equals mirroring the mesh (reconstruct, mirror, compare)."""
    rng = np.random.default_rng(0)
    a_s = rng.standard_normal(40) * model.shape_std
    a_e = rng.standard_normal(10) * model.exp_std
    V = model.vertices(a_s, a_e)
    mirrored_mesh = V[model.vertex_mirror] * np.array([-1, 1, 1])
    V2 = model.vertices(model.shape_mirror @ a_s, model.exp_mirror @ a_e)
    assert np.abs(V2 - mirrored_mesh).max() < 1e-3


def test_mirror_params_flips_landmarks_in_the_crop(model):
    torch.manual_seed(0)
    P = G.make_pose(torch.tensor([0.5, -1.2]), torch.tensor([0.1, -0.2]), torch.tensor([0.05, 0.3]),
                    0.5, 60.0, 62.0)
    shp = torch.randn(2, 40) * torch.as_tensor(model.shape_std)
    exp = torch.randn(2, 10) * torch.as_tensor(model.exp_std)
    p = torch.cat([P, shp, exp], 1)
    L = G.project_to_crop(model, p, landmarks_only=True)
    Lm = G.project_to_crop(model, G.mirror_params(model, p), landmarks_only=True)
    expect = G.mirror_points(L, model.landmark_mirror)
    assert (Lm - expect).abs().max() < 1e-3 * 120
    yaw = G.params_to_euler(p)[:, 0]
    assert torch.allclose(G.params_to_euler(G.mirror_params(model, p))[:, 0], -yaw, atol=1e-5)


def test_expression_basis_spans_named_expressions(model_v1):
    model = model_v1
    from m3lrn_lib.morphable.embedded import EXPRESSION_NAMES, NEUTRAL, expression_fields
    F = expression_fields(model.mean, NEUTRAL).reshape(len(EXPRESSION_NAMES), -1)
    proj = F @ model.exp_basis.astype(np.float64)
    resid = np.linalg.norm(F - proj @ model.exp_basis.T, axis=1) / np.linalg.norm(F, axis=1)
    assert resid.max() < 0.1, dict(zip(EXPRESSION_NAMES, resid.round(3)))
    assert len(EXPRESSION_NAMES) >= 6


def test_small_population_is_refused():
    with pytest.raises(ValueError, match="n_identities"):
        build_embedded_model(n_identities=50)


# ----------------------------------------------------------------------------- file errors
def test_missing_model_file(tmp_path):
    with pytest.raises(FaceModelError, match="does not exist"):
        load_face_model(tmp_path / "nope.npz")


def test_corrupt_model_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(FaceModelError, match="corrupt"):
        FaceModel.load(bad)


def test_model_file_missing_arrays(tmp_path, model):
    f = tmp_path / "partial.npz"
    np.savez(f, mean=model.mean)
    with pytest.raises(FaceModelError, match="lacks arrays"):
        FaceModel.load(f)


def test_landmark_index_out_of_range(model):
    bad = model.landmarks.copy()
    bad[5] = model.n_vertices + 3
    with pytest.raises(FaceModelError, match="landmark vertex index out of range"):
        FaceModel(name="x", mean=model.mean, shape_basis=model.shape_basis, shape_std=model.shape_std,
                  exp_basis=model.exp_basis, exp_std=model.exp_std, triangles=model.triangles,
                  landmarks=bad)


def test_model_without_expression_basis(model):
    with pytest.raises(FaceModelError, match="expression"):
        FaceModel(name="x", mean=model.mean, shape_basis=model.shape_basis, shape_std=model.shape_std,
                  exp_basis=np.zeros((3 * model.n_vertices, 0), np.float32), exp_std=np.zeros(0, np.float32),
                  triangles=model.triangles, landmarks=model.landmarks)


def test_model_without_uv_is_reported(model):
    m = FaceModel(name="no-uv", mean=model.mean, shape_basis=model.shape_basis, shape_std=model.shape_std,
                  exp_basis=model.exp_basis, exp_std=model.exp_std, triangles=model.triangles,
                  landmarks=model.landmarks)
    with pytest.raises(FaceModelError, match="no UV"):
        m.require_uv()


def test_save_is_atomic_and_roundtrips(tmp_path, model):
    f = tmp_path / "m.npz"
    model.save(f)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temp file left
    m2 = FaceModel.load(f)
    assert m2.fingerprint() == model.fingerprint() and m2.exp_names == model.exp_names


def test_env_var_selects_model(tmp_path, model, monkeypatch):
    f = tmp_path / "copy.npz"
    model.save(f)
    monkeypatch.setenv("M3LRN_FACE_MODEL", str(f))
    assert load_face_model().fingerprint() == model.fingerprint()


# ----------------------------------------------------------------------------- BFM layout
def _write_bfm(path, model, **override):
    kp = np.stack([3 * model.landmarks, 3 * model.landmarks + 1, 3 * model.landmarks + 2], 1).reshape(-1)
    d = {"u": model.mean.reshape(-1, 1), "w_shp": model.shape_basis * 1000.0,
         "w_exp": model.exp_basis * 10.0, "keypoints": kp, "tri": (model.triangles + 1).T}
    d.update(override)
    path.write_bytes(pickle.dumps(d, protocol=4))
    return path


def test_bfm_3ddfa_layout_reader(tmp_path, model):
    m = load_bfm_3ddfa(_write_bfm(tmp_path / "bfm_noneck_v3.pkl", model))
    assert m.n_vertices == model.n_vertices and np.array_equal(m.landmarks, model.landmarks)
    assert np.array_equal(m.triangles, model.triangles)  # 1-based (3, F) was converted
    assert np.allclose(m.shape_std, 1000.0, rtol=1e-4)
    a = np.zeros(40, np.float32)
    a[0] = 2000.0
    assert np.allclose(m.vertices(a), model.vertices(a), atol=1e-2)
    assert load_face_model(tmp_path / "bfm_noneck_v3.pkl").n_vertices == model.n_vertices


def test_bfm_reader_refuses_code_in_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    f = tmp_path / "evil.pkl"
    f.write_bytes(pickle.dumps({"u": Evil()}))
    with pytest.raises(FaceModelError, match="only numpy arrays"):
        load_bfm_3ddfa(f)


def test_bfm_reader_missing_keys(tmp_path, model):
    f = tmp_path / "b.pkl"
    f.write_bytes(pickle.dumps({"u": model.mean.reshape(-1, 1)}))
    with pytest.raises(FaceModelError, match="missing keys"):
        load_bfm_3ddfa(f)


# ----------------------------------------------------------------------------- Surrey model
@needs_sfm
def test_surrey_face_model():
    m = load_face_model(SFM)
    assert m.n_vertices == 3448 and m.n_shape == 40 and m.n_exp == 6 and m.n_params == 58
    assert m.uv is not None and m.albedo_mean is None
    assert "happiness" in m.exp_names
    L = m.mean[m.landmarks]
    assert L[30, 2] > L[36, 2] and L[8, 1] < L[57, 1] < L[33, 1]
    assert L[0, 0] < 0 < L[16, 0]  # jaw: subject's right first
    p = torch.zeros(1, 58)
    p[0, :12] = G.make_pose(0.3, 0.0, 0.0, 0.5, 60, 60)[0]
    assert G.reconstruct_vertices(m, p).shape == (1, 3448, 3)


@needs_sfm
def test_surrey_without_blendshapes(tmp_path):
    (tmp_path / "sfm_shape_3448.bin").symlink_to(SFM / "sfm_shape_3448.bin")
    for f in ("ibug_to_sfm.txt", "sfm_model_contours.json"):
        (tmp_path / f).symlink_to(SFM / f)
    with pytest.raises(FaceModelError, match="blendshape"):
        load_face_model(tmp_path)


# ----------------------------------------------------------------------------- same bytes on any CPU
def test_stable_float32_rounds_to_a_grid_that_survives_noise():
    from m3lrn_lib.morphable.embedded import stable_float32
    rng = np.random.default_rng(3)
    x = rng.standard_normal(10000) * 0.02
    noisy = x * (1 + 1e-14 * rng.standard_normal(x.size))  # ~BLAS-kernel noise
    a, b = stable_float32(x, ("abs", 22)), stable_float32(noisy, ("abs", 22))
    assert a.dtype == np.float32 and a.tobytes() == b.tobytes()
    assert np.abs(a - x).max() <= 2.0 ** -23
    s = np.abs(x) * 1e3 + 1.0
    assert stable_float32(s, ("rel", 16)).tobytes() == stable_float32(s * (1 + 1e-14), ("rel", 16)).tobytes()
    # odd symmetric (mirror symmetry survives) and every zero is +0.0
    assert np.array_equal(stable_float32(-x, ("abs", 22)), -a)
    z = stable_float32(np.array([-1e-17, 0.0, 1e-17]), ("abs", 22))
    assert z.tobytes() == np.zeros(3, np.float32).tobytes()
    with pytest.raises(ValueError, match="finer than float32"):
        stable_float32(np.array([1000.0 + 2.0 ** -20]), ("abs", 22))


def test_orientation_pins_component_signs(model_v1):
    model = model_v1
    from m3lrn_lib.morphable.embedded import DEFAULT_SEED, ORIENTATION, orient
    B = model.shape_basis.astype(np.float64)
    assert np.array_equal(orient(-B, ORIENTATION["shape"], DEFAULT_SEED), B)
    with pytest.raises(ValueError, match="orientation signs"):
        orient(B[:, :3], ORIENTATION["shape"], DEFAULT_SEED)


def test_face_model_setting_that_points_at_nothing(monkeypatch, tmp_path):
    from m3lrn_lib.paths import PathSettingError
    missing = tmp_path / "nothing.npz"
    monkeypatch.setenv("M3LRN_FACE_MODEL", str(missing))
    with pytest.raises(PathSettingError, match=f"M3LRN_FACE_MODEL={missing}: no such file"):
        load_face_model()
