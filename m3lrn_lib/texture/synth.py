"""Synthetic textured faces with known UV textures: the training and test pairs of the texture GAN.

The landmark data (:mod:`m3lrn_lib.data.synth`) colours faces with the morphable model's
albedo prior, which lies *in* the PCA span: a 3DMM texture fit would reproduce it perfectly
and the comparison of Sec. G would be meaningless. Here the true UV texture of a face is

    texture = clip( PCA albedo (mean + basis . z, interpolated to UV)  x  skin grain
                    + blotches, freckles, moles, eyebrow hair, lip tint, stubble )

where everything after the PCA albedo is procedural high-frequency detail drawn per face
(deterministic for a seed) that the 10-component basis cannot express. This stands in for
the in-the-wild faces of the paper (~2000 frontal images) -- it is *not* real skin; the detail
only plays the role of what a low-rank basis misses.

Rendering: the face (shape and a little expression from the model's priors) is posed mostly
frontally (|yaw| <= 20 deg by default; the paper trains on frontal faces), framed by the
landmark crop policy (:func:`m3lrn_lib.data.crop.box_from_landmarks`, scale
``crop_scale``, with jitter) into a ``render_size`` crop, rasterised with the z-buffer
(:func:`m3lrn_lib.uv.rasterize_batch`), textured through the UV map
(:func:`m3lrn_lib.uv.render_uv_texture_batch`) and lit per vertex (ambient + Lambertian
directional light + a weak specular highlight, with small colour casts and exposure changes), over a smooth random
background; stored as 8-bit. The GAN input is that crop resized (area) to the UV size.

Every random number of face ``i`` comes from ``np.random.default_rng([seed, 7, split, i])``.
"""
from __future__ import annotations

import hashlib
import io
import json
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from .. import geometry, render, uv
from ..data.crop import box_from_landmarks
from ..fileio import atomic_write_bytes
from ..morphable.model import FaceModel

__all__ = ["GENERATOR_VERSION", "TextureSynthConfig", "TexturedFace", "TexturedFaceGenerator", "TexturePairs",
           "make_pairs", "uv_layout_mask"]

GENERATOR_VERSION = "1"
SPLITS = {"train": 0, "test": 1, "val": 2}
_SKIN = np.array([0.80, 0.60, 0.50])
DETAIL_RES = 256  # the detail is drawn at >= this resolution, then area-resized to the UV size


@dataclass(frozen=True)
class TextureSynthConfig:
    """Knobs of the generator (angles in degrees). Part of a data set's identity (cache key).

    Attributes:
        uv_size: side S of the UV textures (and of the GAN input).
        render_size: side of the rendered face crop (resized to ``uv_size`` for the GAN).
        crop_scale: crop side / landmark extent (the benchmark policy uses 1.45).
        max_yaw, pitch_max, roll_max: uniform pose ranges (mostly frontal).
        p_expression: probability of a non-neutral expression (at half the prior's std).
        detail: strength of the out-of-span detail (0: the texture lies in the PCA span).
        ambient: range of the ambient share of the light (the directional light gets the rest,
            so a surface facing the light is lit with strength ~1: an "exposure-normalised" photo);
        exposure: log-normal std of the overall light strength; color_cast: log-normal std per
            channel; light_azimuth: |azimuth| range; light_elevation: elevation range;
        specular: max strength of the highlight.

    Albedo and light strength trade off exactly in an image (a darker face under a brighter light
    looks the same), so no method can recover a texture's absolute brightness better than the
    light's strength varies: ``exposure`` keeps that ambiguity small (5 %) so the comparison is about
    detail, not about guessing the exposure.
    """

    uv_size: int = 64
    render_size: int = 128
    crop_scale: float = 1.3
    max_yaw: float = 20.0
    pitch_max: float = 12.0
    roll_max: float = 8.0
    p_expression: float = 0.5
    detail: float = 1.0
    ambient: tuple = (0.45, 0.7)
    exposure: float = 0.05
    color_cast: float = 0.03
    light_azimuth: float = 50.0
    light_elevation: tuple = (-15.0, 45.0)
    specular: float = 0.08

    def __post_init__(self):
        if not (isinstance(self.uv_size, int) and 8 <= self.uv_size <= 1024):
            raise ValueError(f"uv_size={self.uv_size!r} must be an int in [8, 1024]")
        if not (isinstance(self.render_size, int) and 16 <= self.render_size <= 2048):
            raise ValueError(f"render_size={self.render_size!r} must be an int in [16, 2048]")
        if self.detail < 0:
            raise ValueError(f"detail must be >= 0, got {self.detail}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class TexturedFace:
    """One synthetic face (S = uv_size, H = render_size).

    image: (H, H, 3) uint8 rendered crop; image_uv: (S, S, 3) uint8, the crop resized to the UV
    size (the GAN input); texture: (S, S, 3) float32 true UV texture in [0, 1]; base: (S, S, 3)
    float32, its in-span part (the PCA albedo); visible: (S, S) bool texels seen in the image
    (z-buffer + facing test of :func:`m3lrn_lib.uv.unwrap_texture`); observed: (S, S, 3) float32
    the image unwrapped into UV (lit colours, 0 where unseen); verts: (N, 3) float32 mesh in the
    crop's image frame; albedo_coef: (K_a,) the PCA coefficients of ``base``; light: dict of
    the lighting.
    """

    image: np.ndarray
    image_uv: np.ndarray
    texture: np.ndarray
    base: np.ndarray
    visible: np.ndarray
    observed: np.ndarray
    verts: np.ndarray
    albedo_coef: np.ndarray
    light: dict = field(default_factory=dict)


_LAYOUT: weakref.WeakKeyDictionary[FaceModel, dict] = weakref.WeakKeyDictionary()


def uv_layout_mask(model: FaceModel, size: int) -> np.ndarray:
    """(S, S) bool: texels covered by the model's UV layout (the "all texels" of the metrics)."""
    idx, _, _ = uv.uv_texels(model, size)
    m = np.zeros(size * size, bool)
    m[idx] = True
    return m.reshape(size, size)


def _uv_raster(model: FaceModel, size: int) -> render.Raster:
    cache = _LAYOUT.setdefault(model, {})
    if size not in cache:
        cache[size] = render.rasterize_uv(model.require_uv(), model.triangles, size)
    return cache[size]


def _noise(rng, cells: int, res: int) -> np.ndarray:
    """(res, res) smooth value noise in [-1, 1] with ``cells`` cells across the UV square."""
    g = rng.uniform(-1, 1, (cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(g, (res, res), interpolation=cv2.INTER_CUBIC)


class TexturedFaceGenerator:
    """Draws and renders textured faces of one morphable model (see the module docstring).

    Args:
        model: a :class:`~m3lrn_lib.morphable.FaceModel` with UV coordinates.
        seed: data-set seed.
        config: a :class:`TextureSynthConfig`.
    Raises:
        FaceModelError: the model has no UV coordinates.
    """

    def __init__(self, model: FaceModel, seed: int = 0, config: TextureSynthConfig | None = None):
        model.require_uv()
        self.model, self.seed = model, int(seed)
        self.cfg = config or TextureSynthConfig()
        self.res = max(DETAIL_RES, self.cfg.uv_size)
        self.mean = model.mean.reshape(-1).astype(np.float64)
        self.basis = np.concatenate([model.shape_basis, model.exp_basis], 1).astype(np.float64)
        self.albedo_mean = (model.albedo_mean.astype(np.float64) if model.albedo_mean is not None
                            else np.tile(_SKIN, (model.n_vertices, 1)))
        self.albedo_basis = None if model.albedo_basis is None else model.albedo_basis.astype(np.float64)
        self.lmk_uv = model.uv[model.landmarks].astype(np.float64) * [1, -1] + [0, 1]  # (68, 2) in [0,1], y down

    # ------------------------------------------------------------------ texture
    def albedo(self, rng) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) per-vertex albedo in the PCA span (clipped to [0, 1]) and its (K_a,) coefficients."""
        if self.albedo_basis is None:
            return self.albedo_mean.copy(), np.zeros(0)
        z = np.clip(rng.standard_normal(self.albedo_basis.shape[1]), -2.5, 2.5) * self.model.albedo_std
        a = self.albedo_mean.reshape(-1) + np.einsum("ij,j->i", self.albedo_basis, z)
        return np.clip(a.reshape(-1, 3), 0, 1), z

    def base_texture(self, albedo: np.ndarray, size: int) -> np.ndarray:
        """Per-vertex (N, 3) albedo -> (size, size, 3) float32 UV texture (holes push-pull filled)."""
        ras = _uv_raster(self.model, size)
        t = torch.from_numpy(render.interpolate(ras, albedo)).permute(2, 0, 1)[None]
        filled = uv.fill_texture_holes(t, torch.from_numpy(ras.tri_id >= 0)[None])
        return filled[0].permute(1, 2, 0).numpy()

    def detail(self, rng, base: np.ndarray) -> np.ndarray:
        """Add the out-of-span detail to a (D, D, 3) base texture (D = detail resolution)."""
        D, k = base.shape[0], self.cfg.detail
        if k == 0:
            return base
        px = lambda i: self.lmk_uv[i] * D  # noqa: E731 -- landmark i in detail pixels
        ext = float(np.ptp(self.lmk_uv[:, 0]) * D)
        tex = base.astype(np.float32).copy()
        # skin grain (multiplicative luminance + a little chroma) and blotches (redness)
        grain = sum(a * _noise(rng, c, D) for c, a in ((48, 0.5), (96, 0.35), (160, 0.25)))
        tex *= (1 + k * rng.uniform(0.04, 0.09) * grain)[..., None] * (1 + k * 0.015 * np.stack(
            [_noise(rng, 64, D) for _ in range(3)], -1))
        blot = np.clip(_noise(rng, int(rng.integers(6, 12)), D), 0, 1) ** 1.5 * k * rng.uniform(0.05, 0.14)
        tex += blot[..., None] * np.array([0.35, -0.35, -0.25], np.float32)
        dark = np.zeros((D, D), np.float32)         # darkening weight (freckles, moles, hair)
        col = np.zeros((D, D, 3), np.float32)       # pigment colours for ``dark``
        # freckles around nose and cheeks
        if rng.random() < 0.6:
            n = int(rng.integers(25, 140))
            c = px(29)
            pts = c + rng.normal(0, 1, (n, 2)) * np.array([0.22, 0.10]) * ext
            m = np.zeros((D, D), np.float32)
            for p, r, a in zip(pts, rng.uniform(0.6, 1.6, n) * D / 256, rng.uniform(0.3, 0.8, n)):
                cv2.circle(m, (int(p[0] * 16), int(p[1] * 16)), max(int(r * 16), 8), float(a), -1, cv2.LINE_AA, 4)
            m *= rng.uniform(0.3, 0.6)
            dark, col = np.maximum(dark, m), np.where(m[..., None] > 0, np.array([0.45, 0.28, 0.18], np.float32), col)
        # moles
        for _ in range(int(rng.integers(0, 4))):
            p = px(rng.integers(0, 68)) + rng.normal(0, 0.12 * ext, 2)
            m = np.zeros((D, D), np.float32)
            cv2.circle(m, (int(p[0] * 16), int(p[1] * 16)), int(rng.uniform(1.5, 3.5) * D / 256 * 16), 0.8, -1,
                       cv2.LINE_AA, 4)
            dark, col = np.maximum(dark, m), np.where(m[..., None] > 0, np.array([0.25, 0.15, 0.1], np.float32), col)
        # eyebrow hair: thick strokes along the brow landmarks plus short hairs
        hair = np.array([[0.12, 0.08, 0.06], [0.25, 0.16, 0.1], [0.45, 0.33, 0.2], [0.05, 0.04, 0.04]],
                        np.float32)[rng.integers(4)]
        if rng.random() < 0.9:
            m = np.zeros((D, D), np.float32)
            lift = rng.uniform(0.0, 0.04) * ext
            thick = rng.uniform(0.025, 0.06) * ext
            for brow in (range(17, 22), range(22, 27)):
                pts = np.array([px(i) - [0, lift] for i in brow])
                cv2.polylines(m, [np.rint(pts * 16).astype(np.int32)], False, 1.0, max(int(thick), 1) * 1,
                              cv2.LINE_AA, 4)
                for _ in range(int(rng.integers(20, 50))):
                    t = rng.uniform(0, len(pts) - 1)
                    i = min(int(t), len(pts) - 2)
                    p = pts[i] + (t - i) * (pts[i + 1] - pts[i]) + rng.normal(0, 0.4 * thick, 2)
                    d = rng.normal(0, 1, 2) * 0.35 + np.array([1.0 if brow.start == 22 else -1.0, -0.5])
                    q = p + d / np.linalg.norm(d) * rng.uniform(0.6, 1.4) * thick
                    cv2.line(m, (int(p[0] * 16), int(p[1] * 16)), (int(q[0] * 16), int(q[1] * 16)), 1.0, 1,
                             cv2.LINE_AA, 4)
            m = cv2.GaussianBlur(m, (0, 0), 0.6 * D / 256) * rng.uniform(0.35, 0.75)
            dark, col = np.maximum(dark, m), np.where(m[..., None] > dark[..., None] - 1e-6, hair, col)
        # stubble below the mouth and along the jaw
        if rng.random() < 0.25:
            m = np.zeros((D, D), np.float32)
            poly = np.array([px(i) for i in (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)] + [px(54), px(57), px(48)])
            cv2.fillPoly(m, [np.rint(poly * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
            speck = (rng.random((D, D)) < rng.uniform(0.15, 0.4)).astype(np.float32)
            m = cv2.GaussianBlur(m, (0, 0), 3 * D / 256) * cv2.GaussianBlur(speck, (0, 0), 0.5) * rng.uniform(0.2, 0.5)
            dark, col = np.maximum(dark, m), np.where(m[..., None] > 0.01, hair, col)
        tex = tex * (1 - k * dark[..., None]) + k * dark[..., None] * col
        # lip tint
        m = np.zeros((D, D), np.float32)
        cv2.fillPoly(m, [np.rint(np.array([px(i) for i in range(48, 60)]) * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
        m = cv2.GaussianBlur(m, (0, 0), 1.2 * D / 256) * rng.uniform(0.1, 0.45) * k
        lip = np.array([rng.uniform(0.55, 0.85), rng.uniform(0.15, 0.35), rng.uniform(0.2, 0.35)], np.float32)
        tex = tex * (1 - m[..., None]) + m[..., None] * lip
        return np.clip(tex, 0, 1)

    # ------------------------------------------------------------------ rendering
    def _pose(self, rng, V):
        c = self.cfg
        ang = np.radians([rng.uniform(-c.max_yaw, c.max_yaw), rng.uniform(-c.pitch_max, c.pitch_max),
                          rng.uniform(-c.roll_max, c.roll_max)])
        Rm = geometry.euler_to_matrix(torch.as_tensor(ang)).numpy()
        P = V @ Rm.T  # view frame (y up), mm
        L = P[self.model.landmarks]
        box = box_from_landmarks(np.stack([L[:, 0], -L[:, 1]], 1), scale=c.crop_scale)
        side = (box[2] - box[0]) * np.exp(rng.normal(0, 0.03))
        ctr = (box[:2] + box[2:]) / 2 + rng.normal(0, 0.02 * side, 2)
        k = c.render_size / side
        x0, y0 = ctr - side / 2
        verts = np.stack([(P[:, 0] - x0) * k, (-P[:, 1] - y0) * k, P[:, 2] * k], 1)
        return verts, np.degrees(ang)

    def _light(self, rng) -> dict:
        c = self.cfg
        az = np.radians(rng.uniform(-c.light_azimuth, c.light_azimuth))
        el = np.radians(rng.uniform(*c.light_elevation))
        amb, gain = rng.uniform(*c.ambient), np.exp(rng.normal(0, c.exposure))
        return {"ambient": (amb * gain * np.exp(rng.normal(0, c.color_cast, 3))).tolist(),
                "diffuse": ((1 - amb) * gain * np.exp(rng.normal(0, c.color_cast, 3))).tolist(),
                "direction": [float(np.sin(az) * np.cos(el)), float(np.sin(el)), float(np.cos(az) * np.cos(el))],
                "specular": float(rng.uniform(0, c.specular)), "shininess": float(rng.uniform(8, 30))}

    @staticmethod
    def _background(rng, H) -> np.ndarray:
        c0, c1 = rng.uniform(0.05, 0.95, 3), rng.uniform(0.05, 0.95, 3)
        th = rng.uniform(0, 2 * np.pi)
        yy, xx = (np.mgrid[0:H, 0:H] + 0.5) / H - 0.5
        t = np.clip(0.5 + xx * np.cos(th) + yy * np.sin(th), 0, 1)[..., None]
        img = c0 * (1 - t) + c1 * t + 0.08 * _noise(rng, 5, H)[..., None]
        return np.clip(img, 0, 1).astype(np.float32)

    def render(self, verts: np.ndarray, texture: np.ndarray, light: dict, background: np.ndarray):
        """Render an (N, 3) image-frame mesh with an (S, S, 3) texture and a lighting dict over an
        (H, H, 3) background -> (H, H, 3) float32 image in [0, 1] and the (1, H, H) rasters."""
        H = background.shape[0]
        v = torch.from_numpy(verts.astype(np.float32))[None]
        ras = uv.rasterize_batch(v, self.model, H, H)
        alb, mask = uv.render_uv_texture_batch(v, self.model, torch.from_numpy(texture).permute(2, 0, 1)[None].float(),
                                              torch.zeros(1, 3, H, H), ras)
        n = render.vertex_normals(verts * (1.0, -1.0, 1.0), self.model.triangles)
        d = np.asarray(light["direction"])
        lam = np.maximum(n @ d, 0)[:, None]
        shade = np.asarray(light["ambient"]) + np.asarray(light["diffuse"]) * lam
        h = d + (0, 0, 1.0)
        spec = light["specular"] * np.maximum(n @ (h / np.linalg.norm(h)), 0) ** light["shininess"]
        attrs = np.concatenate([shade, spec[:, None]], 1)
        raster = render.Raster(ras.tri_id[0].numpy().astype(np.int32), ras.bary[0].numpy(), ras.depth[0].numpy(),
                          self.model.triangles.astype(np.int32))
        sh = render.interpolate(raster, attrs)
        face = alb[0].permute(1, 2, 0).numpy() * sh[..., :3] + sh[..., 3:]
        m = mask[0].numpy()[..., None]
        return np.clip(np.where(m, face, background), 0, 1).astype(np.float32), ras

    def face(self, split: str, index: int) -> TexturedFace:
        """Draw and render face ``index`` of ``split`` (``train``, ``val`` or ``test``)."""
        if split not in SPLITS:
            raise ValueError(f"split={split!r} must be one of {list(SPLITS)}")
        m, c = self.model, self.cfg
        S, H = c.uv_size, c.render_size
        rng = np.random.default_rng([self.seed, 7, SPLITS[split], int(index)])
        a_s = np.clip(rng.standard_normal(m.n_shape), -3, 3) * m.shape_std
        a_e = np.clip(rng.standard_normal(m.n_exp), -2, 2) * m.exp_std * 0.5 * (rng.random() < c.p_expression)
        V = (self.mean + np.einsum("ij,j->i", self.basis, np.concatenate([a_s, a_e]))).reshape(-1, 3)
        verts, _ = self._pose(rng, V)
        albedo, z = self.albedo(rng)
        base_hi = self.base_texture(albedo, self.res)
        tex_hi = self.detail(rng, base_hi)
        area = lambda t: cv2.resize(t, (S, S), interpolation=cv2.INTER_AREA) if t.shape[0] != S else t  # noqa: E731
        texture, base = area(tex_hi).astype(np.float32), area(base_hi).astype(np.float32)
        light = self._light(rng)
        img, ras = self.render(verts, texture, light, self._background(rng, H))
        img8 = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
        obs, vis = uv.unwrap_texture_batch(torch.from_numpy(img8).permute(2, 0, 1)[None].float() / 255,
                                          torch.from_numpy(verts.astype(np.float32))[None], m, S, ras)
        img_uv = cv2.resize(img8, (S, S), interpolation=cv2.INTER_AREA) if H != S else img8
        return TexturedFace(img8, img_uv, texture, base, vis[0].numpy(), obs[0].permute(1, 2, 0).numpy(),
                            verts.astype(np.float32), z.astype(np.float32), light)


# ----------------------------------------------------------------------------- data sets
@dataclass
class TexturePairs:
    """A set of n faces as arrays (S = uv_size, H = render_size).

    images: (n, S, S, 3) uint8 GAN inputs; textures: (n, S, S, 3) uint8 true UV textures;
    visible: (n, S, S) bool. With geometry: renders (n, H, H, 3) uint8, verts (n, N, 3)
    float32, observed (n, S, S, 3) uint8 unwrapped lit colours (what a texture fit sees),
    base (n, S, S, 3) uint8 in-span parts. ``info``: the generator settings.
    """

    images: np.ndarray
    textures: np.ndarray
    visible: np.ndarray
    renders: np.ndarray | None = None
    verts: np.ndarray | None = None
    observed: np.ndarray | None = None
    base: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def tensors(self, idx=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 3, S, S) float images, (B, 3, S, S) float textures in [0, 1], (B, S, S) bool visible."""
        sl = slice(None) if idx is None else idx
        f = lambda a: torch.from_numpy(np.ascontiguousarray(a[sl])).permute(0, 3, 1, 2).float() / 255  # noqa: E731
        return f(self.images), f(self.textures), torch.from_numpy(np.ascontiguousarray(self.visible[sl]))

    def subset(self, n: int) -> TexturePairs:
        """The first ``n`` faces."""
        cut = lambda a: None if a is None else a[:n]  # noqa: E731
        return TexturePairs(self.images[:n], self.textures[:n], self.visible[:n], cut(self.renders), cut(self.verts),
                            cut(self.observed), cut(self.base), dict(self.info))


def _u8(x):
    return np.clip(np.rint(np.asarray(x) * 255), 0, 255).astype(np.uint8)


def _cache_key(model: FaceModel, config: TextureSynthConfig, split: str, n: int, seed: int, geometry: bool) -> str:
    h = hashlib.sha1(json.dumps([GENERATOR_VERSION, model.fingerprint(), config.to_dict(), split, n, seed, geometry],
                                sort_keys=True).encode())
    if model.albedo_mean is not None:
        h.update(np.ascontiguousarray(model.albedo_mean).tobytes())
    if model.uv is not None:
        h.update(np.ascontiguousarray(model.uv).tobytes())
    return f"{model.name}-{split}-{n}-s{seed}-uv{config.uv_size}-{h.hexdigest()[:10]}"


def make_pairs(model: FaceModel, n: int, split: str = "train", seed: int = 0, config: TextureSynthConfig | None = None,
               geometry: bool = False, cache_dir=None, progress=None) -> TexturePairs:
    """Generate (or load from ``cache_dir``) ``n`` faces of ``split`` as :class:`TexturePairs`.

    Args:
        model: the morphable model (needs UV coordinates).
        n: number of faces; split: ``train``, ``val`` or ``test`` (disjoint random streams).
        geometry: also keep renders, meshes, unwrapped colours and the in-span base (for the PCA
            fit and figures; ~0.1 MB per face for the embedded model).
        cache_dir: folder for an ``.npz`` cache (atomic write), or None.
        progress: optional callable ``(done, total)``.
    """
    config = config or TextureSynthConfig()
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / (_cache_key(model, config, split, n, seed, geometry) + ".npz")
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    d = {k: z[k] for k in z.files}
                info = json.loads(str(d.pop("info")))
                return TexturePairs(**d, info=info)
            except Exception:  # noqa: BLE001 -- a damaged cache is simply re-generated
                pass
    gen = TexturedFaceGenerator(model, seed, config)
    out: dict = {k: [] for k in ("images", "textures", "visible") + (("renders", "verts", "observed", "base")
                                                                     if geometry else ())}
    for i in range(n):
        f = gen.face(split, i)
        out["images"].append(f.image_uv)
        out["textures"].append(_u8(f.texture))
        out["visible"].append(f.visible)
        if geometry:
            out["renders"].append(f.image)
            out["verts"].append(f.verts)
            out["observed"].append(_u8(f.observed))
            out["base"].append(_u8(f.base))
        if progress is not None:
            progress(i + 1, n)
    arrays = {k: np.stack(v) for k, v in out.items()}
    info = {"generator": GENERATOR_VERSION, "model": model.name, "split": split, "n": n, "seed": seed,
            "config": config.to_dict()}
    if path is not None:
        buf = io.BytesIO()
        np.savez(buf, info=np.array(json.dumps(info)), **arrays)
        atomic_write_bytes(path, buf.getvalue())
    return TexturePairs(**arrays, info=info)
