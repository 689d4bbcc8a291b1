"""Lesson code of notebook 01 (3DMM basics): the full face of a fuller model vs what 62 numbers hold.

A model with a full basis (``load_face_model("embedded-v2")``: 150 shape / 29 expression
components, BFM: 199 / 29) regresses only the leading K_s / K_e (40 / 10) of them; a face drawn
from the full prior loses the rest when it is truncated to the 62 parameters (3DDFA's training
target). N is the number of vertices, distances are in millimetres (model frame).

- :func:`spectrum_figure` -- the prior std of every shape and expression component, the regressed
  ones marked.
- :func:`truncation_gap` -- a full face, its truncation and their per-vertex distance.
- :func:`truncation_figure` -- the two rendered side by side and the distance as a heat map (mm).
- :func:`heat_colors` -- per-vertex distances -> RGB colours (for :func:`m3lrn_lib.viz.mesh_figure`).

The numbers behind them live in :mod:`m3lrn_lib.morphable.bottleneck` (share of the landmark
variance outside the regressed span).
"""
from __future__ import annotations

import numpy as np

from ... import render
from ...morphable.model import FaceModel

__all__ = ["spectrum_figure", "truncation_gap", "truncation_figure", "heat_colors"]


def spectrum_figure(model: FaceModel):
    """Bar charts of the prior std (mm, log scale) of every shape and expression component.

    The leading ``model.n_shape`` / ``model.n_exp`` components -- the ones the 62 parameters
    hold -- are blue, the rest grey, with a line after the last regressed one.

    Returns:
        the matplotlib Figure (two axes: shape, expression).
    """
    import matplotlib.pyplot as plt

    _, std_s, _, std_e = model.full_basis()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3), gridspec_kw=dict(width_ratios=[2.4, 1]))
    for ax, std, k, what in ((axes[0], std_s, model.n_shape, "shape"), (axes[1], std_e, model.n_exp, "expression")):
        idx = np.arange(1, len(std) + 1)
        ax.bar(idx[:k], std[:k], width=1.0, color="C0", label=f"regressed (1-{k})")
        if len(std) > k:
            ax.bar(idx[k:], std[k:], width=1.0, color="0.65", label=f"not regressed ({k + 1}-{len(std)})")
        ax.axvline(k + 0.5, color="C3", lw=1)
        ax.set_yscale("log")
        ax.set(title=f"{what}: {k} of {len(std)} regressed", xlabel="component",
               ylabel="prior std (mm)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def truncation_gap(model: FaceModel, alpha_shp_full, alpha_exp_full) -> dict:
    """A full face, its truncation to the regressed components, and the distance between them.

    Args:
        model: a model with a full basis (:meth:`FaceModel.full_basis`).
        alpha_shp_full: (K_s_full,) shape coefficients (mm); alpha_exp_full: (K_e_full,) expression.
    Returns:
        dict ``full`` (N, 3) and ``truncated`` (N, 3) float32 vertices (model frame, mm), and
        ``distance`` (N,) float64, the per-vertex distance in mm (0 everywhere for a face in the span).
    """
    full = model.vertices(alpha_shp_full, alpha_exp_full)
    truncated = model.vertices(*model.truncate(alpha_shp_full, alpha_exp_full))
    return {"full": full, "truncated": truncated,
            "distance": np.linalg.norm(full.astype(np.float64) - truncated, axis=1)}


def heat_colors(distance, vmax: float | None = None, cmap: str = "magma") -> np.ndarray:
    """(N,) distances -> (N, 3) RGB in [0, 1] on a matplotlib colour map (0 .. ``vmax``, default the max)."""
    import matplotlib

    d = np.asarray(distance, np.float64)
    top = float(d.max()) if vmax is None else float(vmax)
    return np.asarray(matplotlib.colormaps[cmap](np.clip(d / top if top > 0 else d * 0, 0, 1)))[:, :3]


def _frontal(vertices: np.ndarray, size: int, yaw_deg: float) -> np.ndarray:
    """Model-frame vertices (y up) -> an image-space view (x right, y down, z closer) filling ``size``."""
    a = np.radians(yaw_deg)
    R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    V = np.asarray(vertices, np.float64) @ R.T
    lo, hi = V[:, :2].min(0), V[:, :2].max(0)
    k = 0.9 * size / float(max(hi - lo))
    c = (lo + hi) / 2
    return np.stack([(V[:, 0] - c[0]) * k + size / 2, size / 2 - (V[:, 1] - c[1]) * k, V[:, 2] * k], 1)


def truncation_figure(model: FaceModel, alpha_shp_full, alpha_exp_full, size: int = 240, yaw_deg: float = 25.0):
    """Three panels: the full face rendered, its truncation rendered, and the per-vertex distance (mm).

    Args:
        model, alpha_shp_full, alpha_exp_full: as :func:`truncation_gap`.
        size: rendered image side (pixels); yaw_deg: view angle, so that depth differences show.
    Returns:
        the matplotlib Figure (three image axes and a colour bar in mm).
    """
    import matplotlib
    import matplotlib.pyplot as plt

    gap = truncation_gap(model, alpha_shp_full, alpha_exp_full)
    d = gap["distance"]
    albedo = model.albedo_mean if model.albedo_mean is not None else np.array([0.8, 0.6, 0.5])
    bg = (0.2, 0.22, 0.25)
    light = render.Lighting()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.9))
    panels = ((gap["full"], albedo, light, f"full face ({model.n_shape_full} + {model.n_exp_full} components)"),
              (gap["truncated"], albedo, light, f"truncated ({model.n_shape} + {model.n_exp}: the 62-d target)"),
              (gap["full"], heat_colors(d), None, "distance full - truncated (mm)"))
    for ax, (V, colors, lighting, title) in zip(axes, panels):
        out = render.render(_frontal(V, size, yaw_deg), model.triangles, colors, size, size, lighting=lighting,
                            background=bg)
        ax.imshow(out.image)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    sm = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, float(d.max())), cmap="magma")
    fig.colorbar(sm, ax=axes[2], fraction=0.046, pad=0.04, label="mm")
    fig.tight_layout()
    return fig
