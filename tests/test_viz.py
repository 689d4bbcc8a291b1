"""Plotly figures and the explorer widget, driven from code."""
import numpy as np
import plotly.graph_objects as go
import pytest

from m3lrn_lib import viz
from m3lrn_lib.morphable import load_face_model


@pytest.fixture(scope="module")
def model():
    return load_face_model()


def test_mesh_figure(model):
    fig = viz.mesh_figure(model.mean, model.triangles, model.albedo_mean,
                          landmarks=model.mean[model.landmarks])
    mesh = fig.data[0]
    assert isinstance(mesh, go.Mesh3d) and len(mesh.x) == model.n_vertices and len(mesh.i) == len(model.triangles)
    assert len(mesh.vertexcolor) == model.n_vertices
    assert len(fig.data[1].x) == 68  # landmark markers
    assert isinstance(viz.mesh_figure(model.mean, model.triangles, widget=True), go.FigureWidget)


def test_landmark_figure_compares_sets(model):
    L = model.mean[model.landmarks]
    fig = viz.landmark_figure(L, L + 1, names=["coarse", "refined"])
    names = [t.name for t in fig.data]
    assert "coarse" in names and "refined" in names
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == 2
    n_edges = len(viz.ibug_edges())
    assert len(lines[0].x) == 3 * n_edges  # each edge: two points and a gap


def test_explorer_sliders_drive_the_figure(model):
    ex = viz.FaceExplorer(model, n_shape=3, n_exp=3)
    assert {"shape0", "exp0", "yaw", "pitch", "roll"} <= set(ex.sliders)
    x0 = np.array(ex.figure.data[0].x)
    y0 = np.array(ex.figure.data[0].y)
    img0 = ex.image.value
    lm0 = np.array(ex.figure.data[1].x)

    ex.sliders["shape0"].value = 2.0
    V = model.vertices(np.eye(model.n_shape)[0] * 2.0 * model.shape_std[0])
    assert np.allclose(ex.figure.data[0].y, V[:, 1], atol=1e-3)  # exactly Eq. 1 with yaw 0
    assert ex.image.value != img0

    ex.sliders["yaw"].value = 45
    x1 = np.array(ex.figure.data[0].x)
    assert not np.allclose(x0, x1)
    assert not np.allclose(lm0, ex.figure.data[1].x)
    # yaw +45 turns the nose tip towards +x
    nose = model.landmarks[30]
    assert x1[nose] > x0[nose] + 5
    ex.sliders["exp0"].value = -2.0
    assert not np.allclose(np.array(ex.figure.data[0].y), y0)
