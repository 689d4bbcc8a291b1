"""Baseline of Sec. G: 3DMM texture fitting -- the model's albedo basis and a lighting model fitted
to the visible texels by least squares (the over-smooth result of Fig. S5).

Image formation per visible texel t and colour channel c (the texel's colour as seen in the
image, unwrapped into UV space with the mesh, :func:`m3lrn_lib.uv.unwrap_texture`):

    I_tc  =  A_tc(a) * s_c(n_t)
    A_tc(a) = mu_tc + sum_k B_tck a_k                  (albedo: the 3DMM texture, Eq. 1 style)
    s_c(n)  = sum_j L_jc Y_j(n),   j = 1..9           (2nd-order spherical harmonics lighting)

with n_t the texel's unit normal in the view frame (x right, y up, z towards the camera).
Nine SH terms per channel represent ambient + Lambertian directional light (with its
clamp) to a few per cent (Ramamoorthi & Hanrahan 2001). The fit minimises

    sum_tc (A_tc(a) s_c(n_t) - I_tc)^2 + noise^2 [ sum_k (a_k / sigma_k)^2 + |L - L0|^2 / light_std^2 ]

-- Gaussian (ridge) priors on the albedo coefficients (the model's ``albedo_std``) and on the
lighting (around ``L0``, an ambient + frontal light, :func:`light_prior`). Albedo and light
are only determined up to a common scale (a brighter face under a dimmer light looks the
same); the priors pick one. The problem is bilinear; Gauss-Newton with Levenberg-Marquardt
damping solves it in a few iterations (with a known lighting it is linear: one step).

The result is the albedo ``mu + B a`` over *all* texels of the UV layout: smooth by
construction, because it lies in the span of the K components (10 for the embedded model).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import torch

from .. import render, uv
from ..morphable.model import FaceModel, FaceModelError

__all__ = ["TextureFit", "uv_albedo_basis", "texel_normals", "sh_basis", "light_prior", "fit_texture",
           "fit_texture_to_image"]

_BASIS: weakref.WeakKeyDictionary[FaceModel, dict] = weakref.WeakKeyDictionary()


@dataclass
class TextureFit:
    """Result of :func:`fit_texture` (S = UV size, K = albedo components).

    texture: (S, S, 3) float32 fitted albedo in [0, 1] (holes outside the layout filled);
    coeffs: (K,) albedo coefficients; sh: (9, 3) lighting; shading: (S, S, 3) float32 fitted
    shading; rendered: (S, S, 3) float32 albedo x shading (the fit of the observed colours);
    rms: root-mean-square residual on the visible texels; iterations: alternations done.
    """

    texture: np.ndarray
    coeffs: np.ndarray
    sh: np.ndarray
    shading: np.ndarray
    rendered: np.ndarray
    rms: float
    iterations: int


def _check_size(size, name="uv_size") -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 8 <= int(size) <= 2048:
        raise ValueError(f"{name}={size!r} must be an int in [8, 2048]")
    return int(size)


def uv_albedo_basis(model: FaceModel, size: int):
    """The albedo model sampled at the texels of the UV layout (cached per model and size).

    Returns:
        texel: (M,) flat texel indices into (S*S); mean: (M, 3) float64; basis: (M, 3, K)
        float64 (K = 0 for a model without an albedo basis); std: (K,) float64.
    Raises:
        FaceModelError: the model has no UV coordinates or no albedo mean.
    """
    size = _check_size(size)
    model.require_uv()
    if model.albedo_mean is None:
        raise FaceModelError(f"face model {model.name!r} has no albedo (albedo_mean): nothing to fit")
    cache = _BASIS.setdefault(model, {})
    if size not in cache:
        texel, tri, bary = uv.uv_texels(model, size)
        corners = model.triangles[tri]  # (M, 3)
        w = bary.astype(np.float64)
        mean = np.einsum("mk,mkc->mc", w, model.albedo_mean.astype(np.float64)[corners])
        if model.albedo_basis is not None and model.albedo_basis.shape[1] > 0:
            B = model.albedo_basis.astype(np.float64).reshape(model.n_vertices, 3, -1)
            basis = np.einsum("mk,mkcj->mcj", w, B[corners])
            std = np.asarray(model.albedo_std, np.float64)
        else:
            basis, std = np.zeros((len(texel), 3, 0)), np.zeros(0)
        cache[size] = texel, mean, basis, std
    return cache[size]


def texel_normals(verts_img, model: FaceModel, size: int) -> np.ndarray:
    """Unit normals of a posed mesh at the UV texels.

    Args:
        verts_img: (N, 3) mesh in an image frame (x right, y down, larger z closer).
    Returns:
        (S, S, 3) float32 normals in the view frame (y up, z towards the camera); zeros at
        texels outside the UV layout.
    """
    size = _check_size(size)
    v = np.asarray(verts_img, np.float64)
    if v.shape != (model.n_vertices, 3):
        raise ValueError(f"verts_img must have shape ({model.n_vertices}, 3) for model {model.name!r}, got {v.shape}")
    n = render.vertex_normals(v * (1.0, -1.0, 1.0), model.triangles).astype(np.float64)
    texel, tri, bary = uv.uv_texels(model, size)
    nt = np.einsum("mk,mkc->mc", bary.astype(np.float64), n[model.triangles[tri]])
    nt /= np.maximum(np.linalg.norm(nt, axis=1, keepdims=True), 1e-12)
    out = np.zeros((size * size, 3), np.float32)
    out[texel] = nt
    return out.reshape(size, size, 3)


def sh_basis(normals: np.ndarray) -> np.ndarray:
    """(..., 3) unit normals -> (..., 9) real spherical-harmonics basis up to order 2
    (constants dropped: the lighting coefficients absorb them)."""
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    return np.stack([np.ones_like(x), x, y, z, x * y, x * z, y * z, x * x - y * y, 3 * z * z - 1], -1)


def _as_float_texture(a, name: str, size: int | None = None) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be an (S, S, 3) UV texture, got shape {arr.shape}")
    if size is not None and arr.shape[0] != size:
        raise ValueError(f"{name} is {arr.shape[0]}x{arr.shape[1]} but the UV size is {size}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float64) / 255
    if arr.dtype.kind != "f":
        raise ValueError(f"{name} must be uint8 or float in [0, 1], got dtype {arr.dtype}")
    return arr.astype(np.float64)


def light_prior(ambient: float = 0.6, diffuse: float = 0.4, direction=(0.0, 0.26, 0.97)) -> np.ndarray:
    """(9, 3) SH coefficients of ``ambient + diffuse * max(0, n . l)`` (grey), least-squares projected
    on the normals facing the camera: the prior mean of the lighting in :func:`fit_texture`."""
    g = np.random.default_rng(0).standard_normal((4000, 3))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    g[:, 2] = np.abs(g[:, 2])
    d = np.asarray(direction, np.float64)
    d = d / np.linalg.norm(d)
    y = ambient + diffuse * np.maximum(g @ d, 0)
    Y = sh_basis(g)
    L = np.linalg.lstsq(Y, y, rcond=None)[0]
    return np.repeat(L[:, None], 3, 1)


def fit_texture(observed, visible, normals, model: FaceModel, noise: float = 0.3, light_std: float = 0.1,
                light_mean=None, lighting=None, iters: int = 20, tol: float = 1e-9, min_texels: int = 30) -> TextureFit:
    """Fit the albedo basis and 9-term SH lighting to the visible texels (module docstring).

    Args:
        observed: (S, S, 3) colours unwrapped from the image (uint8 or float in [0, 1]).
        visible: (S, S) bool texels seen in the image.
        normals: (S, S, 3) view-frame texel normals (:func:`texel_normals`).
        model: the morphable model (UVs and albedo).
        noise: expected per-texel residual (colour units); the priors are weighted by ``noise**2``:
            ``a_k ~ N(0, albedo_std_k**2)`` and ``L ~ N(light_mean, light_std**2)``. They only
            decide the albedo/light scale the data leave open; the defaults were chosen on
            synthetic *training* faces (:mod:`m3lrn_lib.texture.synth`).
        light_mean: (9, 3) prior mean of the lighting (default :func:`light_prior`).
        lighting: (9, 3) known lighting: then only the albedo is fitted (a linear problem).
        iters: maximum Gauss-Newton iterations; tol: stop when the objective improves by less
            than this (relative).
        min_texels: fewer visible texels than this raise ValueError.
    Returns:
        a :class:`TextureFit`.
    """
    obs = _as_float_texture(observed, "observed")
    S = obs.shape[0]
    vis = np.asarray(visible)
    if vis.shape != (S, S):
        raise ValueError(f"visible must have shape ({S}, {S}) like observed, got {vis.shape}")
    nrm = np.asarray(normals, np.float64)
    if nrm.shape != (S, S, 3):
        raise ValueError(f"normals must have shape ({S}, {S}, 3) like observed, got {nrm.shape}")
    if not (noise > 0 and light_std > 0):
        raise ValueError(f"noise and light_std must be > 0, got {noise}, {light_std}")
    texel, mean, basis, std = uv_albedo_basis(model, S)
    sel = vis.reshape(-1)[texel].astype(bool)
    if sel.sum() < min_texels:
        raise ValueError(f"only {int(sel.sum())} visible texels (need >= {min_texels}): is the mesh in the image?")
    I = obs.reshape(-1, 3)[texel[sel]]            # (m, 3)
    Y = sh_basis(nrm.reshape(-1, 3)[texel[sel]])  # (m, 9)
    mu, B = mean[sel], basis[sel]                 # (m, 3), (m, 3, K)
    m, K = len(I), B.shape[2]
    L0 = light_prior() if light_mean is None else np.asarray(light_mean, np.float64).reshape(9, 3)
    fixed = lighting is not None
    L = np.asarray(lighting, np.float64).reshape(9, 3).copy() if fixed else L0.copy()
    w = np.sqrt(noise ** 2)
    inv_sa = 1.0 / np.maximum(std, 1e-12)
    a = np.zeros(K)

    def residuals(a, L):
        A = mu + B @ a
        s = Y @ L
        r = [(A * s - I).reshape(-1), w * a * inv_sa]
        if not fixed:
            r.append(w * (L - L0).reshape(-1) / light_std)
        return np.concatenate(r), A, s

    r, A, s = residuals(a, L)
    obj, it, damp = float(r @ r), 0, 1e-4
    for it in range(1, iters + 1):
        # Jacobian: rows (m*3 data, K albedo prior, 27 lighting prior), columns (K, 27 if free)
        cols = [(s[:, :, None] * B).reshape(m * 3, K)]
        if not fixed:
            JL = np.zeros((m, 3, 9, 3))
            for c in range(3):
                JL[:, c, :, c] = A[:, c:c + 1] * Y
            cols.append(JL.reshape(m * 3, 27))
        Jd = np.concatenate(cols, 1)
        n = Jd.shape[1]
        P = np.zeros((n, n))
        P[:K, :K] = np.diag(w * inv_sa)
        if not fixed:
            P[K:, K:] = np.eye(27) * (w / light_std)
        J = np.concatenate([Jd, P[:K], P[K:]], 0) if not fixed else np.concatenate([Jd, P[:K]], 0)
        H, g = J.T @ J, J.T @ r
        while True:  # Levenberg-Marquardt step
            step = np.linalg.solve(H + damp * np.diag(np.diag(H) + 1e-12), -g)
            a_new = a + step[:K]
            L_new = L + (step[K:].reshape(9, 3) if not fixed else 0.0)
            r_new, A_new, s_new = residuals(a_new, L_new)
            o_new = float(r_new @ r_new)
            if o_new <= obj or damp > 1e6:
                break
            damp *= 10
        damp = max(damp / 10, 1e-8)
        done = obj - o_new <= tol * max(obj, 1e-12)
        if o_new <= obj:
            a, L, r, A, s, obj = a_new, L_new, r_new, A_new, s_new, o_new
        if done or fixed:
            break
    # full maps over the layout
    A_all = mean + basis @ a
    s_all = sh_basis(nrm.reshape(-1, 3)[texel]) @ L
    tex = np.zeros((S * S, 3))
    tex[texel] = A_all
    cover = np.zeros(S * S, bool)
    cover[texel] = True
    tex_t = torch.from_numpy(tex.reshape(S, S, 3)).permute(2, 0, 1)[None]
    filled = uv.fill_texture_holes(tex_t, torch.from_numpy(cover.reshape(S, S))[None])[0].permute(1, 2, 0).numpy()
    shading = np.zeros((S * S, 3))
    shading[texel] = s_all
    rendered = np.zeros((S * S, 3))
    rendered[texel] = A_all * s_all
    rms = float(np.sqrt(((A * s - I) ** 2).mean()))
    return TextureFit(np.clip(filled, 0, 1).astype(np.float32), a.astype(np.float32), L.astype(np.float32),
                      shading.reshape(S, S, 3).astype(np.float32),
                      np.clip(rendered, 0, 1).reshape(S, S, 3).astype(np.float32), rms, it)


def fit_texture_to_image(image, verts_img, model: FaceModel, uv_size: int = 64, **kw) -> TextureFit:
    """Unwrap an image with its mesh and fit (:func:`fit_texture`).

    Args:
        image: (H, W, 3) uint8 or float [0, 1] RGB image.
        verts_img: (N, 3) the face's mesh in the image frame (e.g. a :class:`~m3lrn_lib.predict.Face`'s
            ``vertices``, or the ground truth).
        uv_size: side of the UV texture.
    """
    uv_size = _check_size(uv_size)
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be an (H, W, 3) RGB image, got shape {img.shape}")
    img = img.astype(np.float32) / 255 if img.dtype == np.uint8 else img.astype(np.float32)
    v = np.asarray(verts_img, np.float32)
    if v.shape != (model.n_vertices, 3):
        raise ValueError(f"verts_img must have shape ({model.n_vertices}, 3) for model {model.name!r}, got {v.shape}")
    obs, vis = uv.unwrap_texture(img, v, model, uv_size)
    return fit_texture(obs, vis, texel_normals(v, model, uv_size), model, **kw)
