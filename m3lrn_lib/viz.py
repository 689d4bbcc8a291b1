"""Plotly figures and the interactive 3DMM explorer widget.

- :func:`mesh_figure` -- a ``go.Mesh3d`` of a face (optional per-vertex colours, landmarks).
- :func:`landmark_figure` -- 68 3D landmarks with the iBUG connectivity lines, optionally a
  second (third ...) set to compare (e.g. coarse vs refined vs ground truth).
- :func:`textured_mesh_figure` -- a mesh coloured from a UV texture (colours sampled at the
  vertex UVs, optionally after midpoint subdivision; supplement Sec. G).
- :class:`FaceExplorer` -- ipywidgets sliders for the leading shape/expression components
  and yaw/pitch/roll driving a ``FigureWidget`` (mesh + landmarks) and the rendered 2D crop.

Figures use the model frame (x right, y up, z towards the viewer); the camera looks along
-z with y up, so a frontal face appears as in a photo.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from .morphable.model import FaceModel, ibug_edges


def setup_notebook() -> None:
    """Plotly output for notebooks: the JupyterLab mime type plus embedded plotly.js, so the
    figures stay interactive in exported HTML with no internet connection."""
    import plotly.io as pio
    pio.renderers.default = "plotly_mimetype+notebook"


CAMERA = dict(up=dict(x=0, y=1, z=0), eye=dict(x=0.0, y=0.0, z=2.0), center=dict(x=0, y=0, z=0))
COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e")


def _scene(fig, title=None, height=480):
    fig.update_layout(title=title, height=height, margin=dict(l=0, r=0, t=30 if title else 0, b=0),
                      scene=dict(aspectmode="data", camera=CAMERA, xaxis_visible=False,
                                 yaxis_visible=False, zaxis_visible=False),
                      legend=dict(x=0.01, y=0.99))
    return fig


def _vertex_colors(colors):
    c = np.clip(np.asarray(colors, dtype=np.float64), 0, 1)
    return [f"rgb({r:.0f},{g:.0f},{b:.0f})" for r, g, b in (c * 255)]


def mesh_trace(vertices, triangles, colors=None, name="mesh", opacity=1.0) -> go.Mesh3d:
    """A ``go.Mesh3d`` of (N, 3) vertices and (F, 3) triangles; colours (N, 3) in [0, 1]."""
    V = np.asarray(vertices, dtype=np.float64)
    T = np.asarray(triangles)
    kw = dict(vertexcolor=_vertex_colors(colors)) if colors is not None else dict(color="#e0b8a0")
    return go.Mesh3d(x=V[:, 0], y=V[:, 1], z=V[:, 2], i=T[:, 0], j=T[:, 1], k=T[:, 2], name=name,
                     opacity=opacity, flatshading=False, showlegend=True,
                     lighting=dict(ambient=0.45, diffuse=0.7, specular=0.15, roughness=0.6),
                     lightposition=dict(x=0, y=200, z=1000), **kw)


def landmark_traces(points, name="landmarks", color=COLORS[0], lines=True) -> list:
    """Marker + connectivity-line ``go.Scatter3d`` traces for (68, 3) landmarks."""
    P = np.asarray(points, dtype=np.float64)
    traces = [go.Scatter3d(x=P[:, 0], y=P[:, 1], z=P[:, 2], mode="markers", name=name,
                           marker=dict(size=3, color=color), text=[str(i) for i in range(len(P))])]
    if lines and len(P) == 68:
        seg = np.full((len(ibug_edges()) * 3, 3), np.nan)
        seg[0::3], seg[1::3] = P[ibug_edges()[:, 0]], P[ibug_edges()[:, 1]]
        traces.append(go.Scatter3d(x=seg[:, 0], y=seg[:, 1], z=seg[:, 2], mode="lines",
                                   line=dict(color=color, width=3), name=f"{name} lines",
                                   showlegend=False, hoverinfo="skip"))
    return traces


def mesh_figure(vertices, triangles, colors=None, landmarks=None, title=None, widget=False):
    """A 3D figure of a face mesh (N, 3) with optional colours (N, 3) and landmarks (68, 3).

    Returns a ``go.Figure`` (or a ``go.FigureWidget`` when ``widget=True``).
    """
    data = [mesh_trace(vertices, triangles, colors)]
    if landmarks is not None:
        lm = np.asarray(landmarks, dtype=np.float64).copy()
        lm[:, 2] += 0.5  # lift the markers off the skin so they stay visible
        data += landmark_traces(lm)
    fig = (go.FigureWidget if widget else go.Figure)(data=data)
    return _scene(fig, title)


def textured_mesh_figure(vertices, model: FaceModel, texture, subdivide: int = 1, title=None, widget=False,
                         name="textured"):
    """A 3D figure of an (N, 3) model-frame mesh of ``model`` coloured by an (S, S, 3) UV texture in [0, 1].

    Plotly meshes carry per-vertex colours only, so the texture is sampled (bilinearly) at the
    vertex UVs; ``subdivide`` midpoint subdivisions (each x4 triangles) show finer detail.
    Returns a ``go.Figure`` (``go.FigureWidget`` with ``widget=True``). Raises FaceModelError for a
    model without UV coordinates.
    """
    from .uv import sample_texture, subdivide_mesh
    uv = model.require_uv()
    V, T, U = np.asarray(vertices, np.float64), np.asarray(model.triangles), uv
    if V.shape != (model.n_vertices, 3):
        raise ValueError(f"vertices must be ({model.n_vertices}, 3) for model {model.name!r}, got {V.shape}")
    for _ in range(int(subdivide)):
        V, T, U = subdivide_mesh(V, T, U)
    tex = np.asarray(texture, np.float32)
    tex = tex / 255 if np.asarray(texture).dtype == np.uint8 else tex
    fig = (go.FigureWidget if widget else go.Figure)(data=[mesh_trace(V, T, sample_texture(tex, U), name=name)])
    return _scene(fig, title)


def landmark_figure(*point_sets, names=None, title=None, lines=True) -> go.Figure:
    """Compare one or more (68, 3) landmark sets in 3D, each with its connectivity lines."""
    names = names or [f"set {i}" for i in range(len(point_sets))]
    data = []
    for i, (P, n) in enumerate(zip(point_sets, names)):
        data += landmark_traces(P, n, COLORS[i % len(COLORS)], lines)
    return _scene(go.Figure(data=data), title)


def image_with_landmarks(ax, image, *point_sets, names=None, size=4):
    """Draw an (H, W, 3) image and one or more (68, >=2) image-frame landmark sets on ``ax``."""
    ax.imshow(np.clip(image, 0, 1) if image.dtype != np.uint8 else image,
              extent=(0, image.shape[1], image.shape[0], 0))
    for i, P in enumerate(point_sets):
        P = np.asarray(P)
        ax.scatter(P[:, 0], P[:, 1], s=size, c=COLORS[i % len(COLORS)],
                   label=None if names is None else names[i])
    ax.set_axis_off()
    if names:
        ax.legend(loc="lower right", fontsize=7)
    return ax


# ----------------------------------------------------------------------------- explorer
class FaceExplorer:
    """Sliders for shape/expression components and head pose driving a 3D view and a 2D crop.

    Args:
        model: the :class:`FaceModel` to explore.
        n_shape, n_exp: how many leading components get a slider (in units of their std).
        size: side of the rendered crop in pixels.

    Attributes:
        sliders: dict name -> ``ipywidgets.FloatSlider`` (``shape0``.., ``exp0``..,
            ``yaw``, ``pitch``, ``roll`` in degrees).
        figure: the ``go.FigureWidget`` (trace 0 the mesh, then landmark traces).
        image: ``ipywidgets.Image`` holding the PNG of the rendered crop.
        widget: the assembled widget to display.
    """

    def __init__(self, model: FaceModel, n_shape: int = 4, n_exp: int = 4, size: int = 120):
        import ipywidgets as widgets

        self.model, self.size = model, size
        self.sliders = {}
        for i in range(min(n_shape, model.n_shape)):
            self.sliders[f"shape{i}"] = widgets.FloatSlider(0.0, min=-3, max=3, step=0.1, description=f"shape {i}")
        for i in range(min(n_exp, model.n_exp)):
            self.sliders[f"exp{i}"] = widgets.FloatSlider(0.0, min=-3, max=3, step=0.1, description=f"exp {i}")
        for k, lim in (("yaw", 90), ("pitch", 60), ("roll", 60)):
            self.sliders[k] = widgets.FloatSlider(0.0, min=-lim, max=lim, step=1, description=f"{k} (deg)")
        V, L = self._geometry()
        self.figure = mesh_figure(V, model.triangles, self._colors(), landmarks=L, widget=True)
        self.figure.update_layout(height=420, width=460)
        self.image = widgets.Image(format="png", width=240, height=240)
        self._update_image()
        for s in self.sliders.values():
            s.observe(self._on_change, names="value")
        self.widget = widgets.HBox([widgets.VBox(list(self.sliders.values())), self.figure, self.image])

    def coefficients(self):
        """(K_s,), (K_e,) coefficients (mm) of the current slider state."""
        a_s = np.zeros(self.model.n_shape)
        a_e = np.zeros(self.model.n_exp)
        for k, s in self.sliders.items():
            if k.startswith("shape"):
                i = int(k[5:])
                a_s[i] = s.value * self.model.shape_std[i]
            elif k.startswith("exp"):
                i = int(k[3:])
                a_e[i] = s.value * self.model.exp_std[i]
        return a_s, a_e

    def angles(self):
        """(yaw, pitch, roll) in radians of the current slider state."""
        return tuple(math.radians(self.sliders[k].value) for k in ("yaw", "pitch", "roll"))

    def _colors(self):
        m = self.model
        return m.albedo_mean if m.albedo_mean is not None else np.full((m.n_vertices, 3), (0.8, 0.6, 0.5))

    def _geometry(self):
        import torch

        from . import geometry
        a_s, a_e = self.coefficients()
        V = self.model.vertices(a_s, a_e)
        R = geometry.euler_to_matrix(torch.tensor(self.angles(), dtype=torch.float64)).numpy()
        V = (V.astype(np.float64) @ R.T).astype(np.float32)
        return V, V[self.model.landmarks]

    def render(self) -> np.ndarray:
        """The current face rendered into a (size, size, 3) float crop in [0, 1]."""
        from . import render
        V, _ = self._geometry()
        scale = 0.75 * self.size / float(np.ptp(self.model.mean[:, 1]))
        img_v = np.stack([V[:, 0] * scale + self.size / 2, self.size / 2 - (V[:, 1] - 5) * scale,
                          V[:, 2] * scale], 1)
        return render.render(img_v, self.model.triangles, self._colors(), self.size, self.size,
                        lighting=render.Lighting(), background=(0.15, 0.15, 0.2)).image

    def _update_image(self):
        import cv2
        img = (np.clip(self.render(), 0, 1) * 255).astype(np.uint8)
        ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        self.image.value = buf.tobytes()

    def _on_change(self, change=None):
        V, L = self._geometry()
        with self.figure.batch_update():
            m = self.figure.data[0]
            m.x, m.y, m.z = V[:, 0], V[:, 1], V[:, 2]
            new = landmark_traces(L + np.array([0, 0, 0.5]))
            for tr, nt in zip(self.figure.data[1:], new):
                tr.x, tr.y, tr.z = nt.x, nt.y, nt.z
        self._update_image()

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
