"""Synthetic faces from any morphable model: the stand-in for 300W-LP (training, written in
the 3DDFA layout) and AFLW2000-3D (test, written in its layout).

One face = shape, expression and albedo drawn from the model's priors, a pose, lighting,
a background, occluders and image degradations, rendered with :mod:`m3lrn_lib.render`.
Every random number of face ``i`` of a split comes from
``np.random.default_rng([seed, split_code, i])`` and the per-face linear algebra avoids
multi-threaded BLAS, so the files are byte-identical for any number of worker processes.

Distributions (see :class:`SynthConfig`):

- |yaw| bins [0, 30], (30, 60], (60, 89] degrees: training 35/35/30 % (profile-heavy, like
  300W-LP's profiling augmentation); test 65/20/15 % (like AFLW2000-3D). Random sign.
- pitch ~ N(0, 13 deg) clipped to +-40; roll ~ N(0, 9 deg) clipped to +-35.
- Training crops (120x120) are framed by the benchmark crop policy
  (:func:`m3lrn_lib.data.crop.box_from_landmarks`) with log-normal scale jitter (7 %) and
  centre jitter (5 % of the side). Test images are 200-256 px wide/high with the face's
  benchmark box covering 35-80 % of the shorter side at a random place (up to 10 % of the box
  may fall outside the image).
- Albedo: the model's albedo prior (or a constant skin colour when the model has none) times
  a random skin tone; lighting: ambient + directional (azimuth +-75, elevation -25..60 deg)
  + Blinn-Phong specular, with colour casts.
- Backgrounds: procedural tiles (multi-octave noise, stripes, random shapes) and photographs
  shipped with scikit-image (no faces among them), randomly cropped, tinted and blended.
- Degradations: occluders (30 %), Gaussian or motion blur (25 %), Gaussian noise (50 %),
  JPEG re-compression at quality 20-70 (30 %); files are written as JPEG (quality 90).

**Generator versions** (:data:`GENERATOR_VERSIONS`; a data set records its version and sets of
different versions refuse to mix):

- ``"1"``: the face is drawn from the regression basis only (every face lies in the span of the
  62 regressed numbers) and rendered as a mask with the albedo prior and one directional light.
- ``"2"``: the face is drawn from the model's *full* basis (e.g. 150 / 29 components of the
  embedded model v2, 199 / 29 of BFM); its ground-truth mesh and landmarks come from the full
  face, and its training target is the truncation to the regressed components (3DDFA's
  convention) -- so the data has the 3DMM bottleneck of real data. A whole head is rendered
  around the morphable face when the model has the embedded grid (:mod:`m3lrn_lib.data.heads`:
  cranium, ears, neck, hair, eyes, mouth interior), with skin detail outside the albedo span,
  per-region colours and environment lighting (:mod:`m3lrn_lib.data.appearance`).

The default version follows the model (:func:`default_generator`): "2" for a model with a fuller
basis than it regresses, "1" otherwise.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch

from .. import geometry, render
from ..morphable.model import FaceModel, FaceModelError
from .appearance import EnvironmentLight, SkinDetailBank, environment_shade, region_weights
from .crop import CROP_SIZE, box_from_landmarks, params_from_crop, params_to_crop
from .heads import HeadTemplate, assemble

GENERATOR_VERSION = "2"  # of the default model's data (see default_generator)
GENERATOR_VERSIONS = ("1", "2")
SPLIT_CODES = {"train": 0, "test": 1}
SKIN_RGB = np.array([0.80, 0.60, 0.50])
DARK_SKIN = np.array([0.42, 0.30, 0.24])
PHOTOS = ("coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
          "colorwheel", "coins", "brick", "grass", "gravel", "moon", "page", "text")


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the generator (angles in degrees). Part of the manifest: a different config
    is a different data set."""

    train_yaw_mix: tuple = (0.35, 0.35, 0.30)
    test_yaw_mix: tuple = (0.65, 0.20, 0.15)
    max_yaw: float = 89.0
    pitch_std: float = 13.0
    pitch_max: float = 40.0
    roll_std: float = 9.0
    roll_max: float = 35.0
    p_expression: float = 0.8
    crop_scale_jitter: float = 0.07
    crop_shift_jitter: float = 0.05
    test_size: tuple = (200, 256)
    test_face_frac: tuple = (0.35, 0.8)
    p_photo: float = 0.5
    p_occluder: float = 0.3
    p_blur: float = 0.25
    p_noise: float = 0.5
    p_jpeg: float = 0.3
    jpeg_quality: int = 90

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


# ----------------------------------------------------------------------------- backgrounds
def _colorize(f: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """(T, T) field in [0, 1] -> (T, T, 3) float32 by piecewise-linear interpolation of colours."""
    x = f * (len(colors) - 1)
    i = np.clip(x.astype(np.int64), 0, len(colors) - 2)
    w = (x - i)[..., None]
    return (colors[i] * (1 - w) + colors[i + 1] * w).astype(np.float32)


class BackgroundBank:
    """Procedural tiles and offline photographs, built once per worker from ``seed``.

    Args:
        seed: data-set seed (tiles differ between data sets).
        n_tiles: procedural tiles of ``tile`` x ``tile`` px (``tile`` >= the largest image side).
        photos: also load the scikit-image photographs in :data:`PHOTOS` (skipped if absent).
    """

    def __init__(self, seed: int, n_tiles: int = 24, tile: int = 320, photos: bool = True):
        rng = np.random.default_rng([seed, 99])
        self.tile = tile
        self.tiles = [self._make_tile(rng, k % 3) for k in range(n_tiles)]
        self.photos = self._load_photos() if photos else []

    def _make_tile(self, rng, kind) -> np.ndarray:
        T = self.tile
        colors = rng.uniform(0, 255, (rng.integers(2, 5), 3))
        if kind == 0:  # multi-octave value noise
            f = sum(a * cv2.resize(rng.random((n, n)), (T, T), interpolation=cv2.INTER_CUBIC)
                    for n, a in ((3, 1.0), (7, 0.5), (17, 0.25), (47, 0.15)))
        elif kind == 1:  # stripes or checks with noise
            yy, xx = np.mgrid[0:T, 0:T] / T
            th, per = rng.uniform(0, np.pi), rng.uniform(0.03, 0.25)
            f = np.sin(2 * np.pi * (xx * np.cos(th) + yy * np.sin(th)) / per)
            if rng.random() < 0.5:
                f = f * np.sin(2 * np.pi * (-xx * np.sin(th) + yy * np.cos(th)) / per)
            f = f + 0.3 * cv2.resize(rng.random((9, 9)), (T, T), interpolation=cv2.INTER_CUBIC)
        else:  # random shapes, softened
            img = np.full((T, T, 3), colors[0], np.float32)
            for _ in range(rng.integers(15, 60)):
                c = tuple(float(v) for v in rng.uniform(0, 255, 3))
                p = rng.integers(0, T, 2)
                if rng.random() < 0.5:
                    cv2.circle(img, (int(p[0]), int(p[1])), int(rng.integers(4, T // 4)), c, -1)
                else:
                    q = p + rng.integers(-T // 3, T // 3, 2)
                    cv2.rectangle(img, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), c, -1)
            return np.clip(cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 3)), 0, 255).astype(np.uint8)
        f = (f - f.min()) / max(f.max() - f.min(), 1e-9)
        return np.clip(_colorize(f, colors), 0, 255).astype(np.uint8)

    @staticmethod
    def _load_photos() -> list:
        try:
            import skimage.data as skd
        except ImportError:
            return []
        out = []
        for name in PHOTOS:
            try:
                im = np.asarray(getattr(skd, name)())
            except Exception:  # noqa: BLE001 -- a photo missing from this install is skipped
                continue
            im = np.repeat(im[..., None], 3, 2) if im.ndim == 2 else im[..., :3]
            s = 360 / min(im.shape[:2])
            if s < 1:
                im = cv2.resize(im, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            out.append(np.ascontiguousarray(im, np.uint8))
        return out

    def draw(self, rng, h: int, w: int, p_photo: float = 0.5) -> np.ndarray:
        """A random (h, w, 3) uint8 background: a tinted photo crop or tile, maybe blended."""
        img = self._one(rng, h, w, p_photo)
        if rng.random() < 0.3:
            img = cv2.addWeighted(img, 1.0 - (a := rng.uniform(0.2, 0.5)), self._one(rng, h, w, p_photo), a, 0)
        return img

    def _one(self, rng, h, w, p_photo) -> np.ndarray:
        if self.photos and rng.random() < p_photo:
            im = self.photos[rng.integers(len(self.photos))]
            H, W = im.shape[:2]
            s = rng.uniform(0.35, 1.0) * min(H / h, W / w)
            ch, cw = max(int(h * s), 8), max(int(w * s), 8)
            y0, x0 = rng.integers(0, H - ch + 1), rng.integers(0, W - cw + 1)
            img = cv2.resize(im[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            t = self.tiles[rng.integers(len(self.tiles))]
            y0, x0 = rng.integers(0, self.tile - h + 1), rng.integers(0, self.tile - w + 1)
            img = t[y0:y0 + h, x0:x0 + w]
        flip = rng.integers(4)
        img = img[:: 1 if flip & 1 else -1, :: 1 if flip & 2 else -1]
        gain = rng.uniform(0.5, 1.2) * np.exp(rng.normal(0, 0.15, 3))
        return np.clip(img * gain.astype(np.float32), 0, 255).astype(np.uint8)


def default_generator(model: FaceModel) -> str:
    """The generator version for ``model``: "2" when it has a fuller basis than it regresses, else "1"."""
    return "2" if (model.n_shape_full > model.n_shape or model.n_exp_full > model.n_exp) else "1"


def check_generator(version) -> str:
    """``version`` as a known generator version string; a DatasetError-free ValueError otherwise."""
    v = str(version)
    if v not in GENERATOR_VERSIONS:
        raise ValueError(f"unknown generator version {version!r} (known: {', '.join(GENERATOR_VERSIONS)})")
    return v


# ----------------------------------------------------------------------------- one face
@dataclass
class SynthFace:
    """One rendered face.

    image: (H, W, 3) uint8 RGB; params: (D,) float32 in the image's frame; landmarks:
    (68, 3) float32 image frame; pose: (3,) float32 (yaw, pitch, roll) radians; box: (4,)
    float64 benchmark crop box in the image (the whole crop for training faces).
    """

    image: np.ndarray
    params: np.ndarray
    landmarks: np.ndarray
    pose: np.ndarray
    box: np.ndarray


class FaceSynthesizer:
    """Draws and renders faces of one model (holds float64 bases and the background bank)."""

    def __init__(self, model: FaceModel, seed: int, config: SynthConfig | None = None, photos: bool = True,
                 version: str | None = None):
        self.model, self.seed = model, int(seed)
        self.version = default_generator(model) if version is None else check_generator(version)
        self.cfg = config or SynthConfig()
        self.bank = BackgroundBank(seed, photos=photos)
        self.mean = model.mean.reshape(-1).astype(np.float64)
        full_s, self.std_s, full_e, self.std_e = (model.full_basis() if self.version == "2" else
                                                  (model.shape_basis, model.shape_std, model.exp_basis, model.exp_std))
        self.basis = np.concatenate([full_s, full_e], 1).astype(np.float64)
        self.heads = self.detail = None
        if self.version == "2":  # float32 sums: the full basis is 3.6x wider, and 1e-5 mm is plenty
            self.basis = np.ascontiguousarray(self.basis, np.float32)
        if self.version == "2":
            try:
                self.heads = HeadTemplate.for_model(model)
            except FaceModelError:  # heads need the embedded grid topology: other models render as masks
                self.heads = None
            if model.uv is not None:
                self.detail = SkinDetailBank(model, seed)
            self.regions = region_weights(model)
        self.lmk = model.landmarks
        if model.albedo_mean is not None:
            self.albedo_mean = model.albedo_mean.reshape(-1).astype(np.float64)
            self.albedo_basis = (None if model.albedo_basis is None
                                 else model.albedo_basis.astype(np.float64))
        else:
            self.albedo_mean, self.albedo_basis = np.tile(SKIN_RGB, model.n_vertices), None

    # ------------------------------------------------------------------ draws
    def draw_pose(self, rng, split: str) -> np.ndarray:
        """(3,) radians (yaw, pitch, roll) from the split's pose distribution."""
        c = self.cfg
        mix = c.train_yaw_mix if split == "train" else c.test_yaw_mix
        b = rng.choice(3, p=np.asarray(mix) / np.sum(mix))
        lo, hi = (0.0, 30.0, 60.0)[b], (30.0, 60.0, c.max_yaw)[b]
        yaw = rng.uniform(lo, hi) * (1 if rng.random() < 0.5 else -1)
        pitch = np.clip(rng.normal(0, c.pitch_std), -c.pitch_max, c.pitch_max)
        roll = np.clip(rng.normal(0, c.roll_std), -c.roll_max, c.roll_max)
        return np.radians([yaw, pitch, roll])

    def _albedo(self, rng) -> np.ndarray:
        a = self.albedo_mean
        if self.albedo_basis is not None:
            z = np.clip(rng.standard_normal(self.albedo_basis.shape[1]), -2.5, 2.5) * self.model.albedo_std
            a = a + np.einsum("ij,j->i", self.albedo_basis, z)
        t = rng.uniform(0, 1) ** 1.3
        tone = (1 - t) * np.array([1.05, 1.0, 0.98]) + t * DARK_SKIN / SKIN_RGB
        return np.clip(a.reshape(-1, 3) * tone * np.exp(rng.normal(0, 0.04, 3)), 0, 1)

    @staticmethod
    def _lighting(rng) -> render.Lighting:
        az, el = np.radians(rng.uniform(-75, 75)), np.radians(rng.uniform(-25, 60))
        cast = np.exp(rng.normal(0, 0.07, 3))
        return render.Lighting(ambient=rng.uniform(0.25, 0.6) * cast,
                          diffuse=rng.uniform(0.3, 0.8) * np.exp(rng.normal(0, 0.07, 3)),
                          direction=np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)]),
                          specular=rng.uniform(0, 0.3) if rng.random() < 0.6 else 0.0,
                          shininess=rng.uniform(6, 40))

    def _params(self, rng, split, coef, angles, V):
        """Frame the face: (D,) float32 parameters in the output image's frame, and its (H, W)."""
        Rm = geometry.euler_to_matrix(torch.as_tensor(angles)).numpy()
        unit = np.concatenate([np.concatenate([Rm, np.zeros((3, 1))], 1).reshape(-1), coef])
        L = V[self.lmk] @ Rm.T  # view frame at 1 px/mm; image frame of a virtual height-0 image
        box0 = box_from_landmarks(np.stack([L[:, 0], -L[:, 1]], 1))
        side0, c0 = box0[2] - box0[0], (box0[:2] + box0[2:]) / 2
        if split == "train":
            side = side0 * np.exp(rng.normal(0, self.cfg.crop_scale_jitter))
            c = c0 + rng.normal(0, self.cfg.crop_shift_jitter * side0, 2)
            box = np.concatenate([c - side / 2, c + side / 2])
            return params_to_crop(unit, box, 0.0, CROP_SIZE), (CROP_SIZE, CROP_SIZE)
        h, w = (int(v) for v in rng.integers(self.cfg.test_size[0], self.cfg.test_size[1] + 1, 2))
        side = rng.uniform(*self.cfg.test_face_frac) * min(h, w)
        c = np.array([rng.uniform(0.4 * side, w - 0.4 * side), rng.uniform(0.4 * side, h - 0.4 * side)])
        box = np.concatenate([c - side / 2, c + side / 2])
        return params_from_crop(params_to_crop(unit, box0, 0.0, side), box, h, side), (h, w)

    # ------------------------------------------------------------------ render
    def face(self, split: str, index: int) -> SynthFace:
        """Draw and render face ``index`` of ``split`` ("train" or "test")."""
        if self.version == "2":
            return self._face_v2(split, index)
        m, cfg = self.model, self.cfg
        rng = np.random.default_rng([self.seed, SPLIT_CODES[split], int(index)])
        a_s = np.clip(rng.standard_normal(m.n_shape), -3, 3) * m.shape_std
        a_e = np.clip(rng.standard_normal(m.n_exp), -2.5, 2.5) * m.exp_std * (rng.random() < cfg.p_expression)
        coef = np.concatenate([a_s, a_e]).astype(np.float32).astype(np.float64)
        V = (self.mean + np.einsum("ij,j->i", self.basis, coef)).reshape(-1, 3)
        angles = self.draw_pose(rng, split)
        params, (h, w) = self._params(rng, split, coef, angles, V)
        P = params[:12].astype(np.float64).reshape(3, 4)
        verts = np.einsum("nj,ij->ni", V, P[:, :3]) + P[:, 3]
        verts[:, 1] = h - verts[:, 1]
        lmk = verts[self.lmk].astype(np.float32)
        albedo, light = self._albedo(rng), self._lighting(rng)
        bg = self.bank.draw(rng, h, w, cfg.p_photo)
        res = render.render(verts, m.triangles, albedo, h, w, lighting=light, background=bg / np.float32(255))
        img = res.image * np.float32(255)
        box = box_from_landmarks(lmk) if split == "test" else np.array([0, 0, w, h], np.float64)
        img = self._degrade(rng, img, res.mask, lmk, box[2] - box[0])
        pose = geometry.params_to_euler(torch.as_tensor(params[None, :12].astype(np.float64))).numpy()[0]
        return SynthFace(img, params, lmk, pose.astype(np.float32), box)

    def draw_full(self, rng, split: str):
        """Full coefficients of one v2 face: (K_s_full,), (K_e_full,) float64 (float32-exact)."""
        a_s = np.clip(rng.standard_normal(len(self.std_s)), -3, 3) * self.std_s
        a_e = (np.clip(rng.standard_normal(len(self.std_e)), -2.5, 2.5) * self.std_e
               * (rng.random() < self.cfg.p_expression))
        return (a_s.astype(np.float32).astype(np.float64), a_e.astype(np.float32).astype(np.float64))

    def _albedo_v2(self, rng) -> np.ndarray:
        """v1's albedo draw, plus skin detail outside the span and per-face lip and brow colours."""
        a = self._albedo(rng)
        if self.detail is not None:
            a = self.detail.apply(rng, a)
        lip = np.array([rng.uniform(0.55, 0.8), rng.uniform(0.25, 0.4), rng.uniform(0.28, 0.42)])
        brow = np.array([0.05, 0.04, 0.035]) + rng.uniform(0, 0.35) * np.array([1.0, 0.75, 0.5])
        w_l = self.regions["lips"][:, None] * rng.uniform(0.2, 0.6)
        w_b = self.regions["brows"][:, None] * rng.uniform(0.3, 0.8)
        a = a * (1 - w_l) + w_l * lip
        return np.clip(a * (1 - w_b) + w_b * brow, 0, 1)

    def _face_v2(self, split: str, index: int) -> SynthFace:
        """Generator v2: a full-basis face (target: its truncation) with a head, detail and soft light."""
        m = self.model
        rng = np.random.default_rng([self.seed, SPLIT_CODES[split], int(index), 2])
        a_s, a_e = self.draw_full(rng, split)
        t_s, t_e = m.truncate(a_s, a_e)
        coef = np.concatenate([t_s, t_e])  # the training target: the regressed components
        V = (self.mean + np.einsum("ij,j->i", self.basis, np.concatenate([a_s, a_e]).astype(np.float32))).reshape(-1, 3)
        angles = self.draw_pose(rng, split)
        params, (h, w) = self._params(rng, split, coef, angles, V)
        albedo = self._albedo_v2(rng)
        verts3, tris, colors = V, m.triangles, albedo
        P = params[:12].astype(np.float64).reshape(3, 4)
        if self.heads is not None:
            parts = self.heads.build(V, albedo, rng)
            verts3, tris, colors = assemble(V, m.triangles, albedo, parts, view_dir=P[2, :3])
        verts = np.einsum("nj,ij->ni", verts3, P[:, :3]) + P[:, 3]
        lmk_view = verts[m.landmarks]
        normals = render.vertex_normals(verts, tris)
        lit = environment_shade(colors, normals, EnvironmentLight.draw(rng))
        verts[:, 1] = h - verts[:, 1]
        lmk = np.stack([lmk_view[:, 0], h - lmk_view[:, 1], lmk_view[:, 2]], 1).astype(np.float32)
        bg = self.bank.draw(rng, h, w, self.cfg.p_photo)
        res = render.render(verts, tris, lit, h, w, lighting=None, background=bg / np.float32(255))
        img = res.image * np.float32(255)
        box = box_from_landmarks(lmk) if split == "test" else np.array([0, 0, w, h], np.float64)
        img = self._degrade(rng, img, res.mask, lmk, box[2] - box[0])
        # the pose is the drawn one: the crop maps only scale and shift it (equal to params_to_euler of
        # the parameters within 1e-7 rad, at a fraction of the cost)
        return SynthFace(img, params, lmk, angles.astype(np.float32), box)

    def _degrade(self, rng, img, mask, lmk, face_side) -> np.ndarray:
        """Soften the silhouette, then occluders, blur, noise, JPEG artefacts -> uint8."""
        cfg = self.cfg
        m8 = mask.astype(np.uint8)
        k3 = np.ones((3, 3), np.uint8)
        band = cv2.dilate(m8, k3) != cv2.erode(m8, k3)
        img[band] = cv2.GaussianBlur(img, (3, 3), 0.7)[band]
        if rng.random() < cfg.p_occluder:
            for _ in range(rng.integers(1, 3)):
                img = self._occluder(rng, img, lmk, face_side)
        if rng.random() < cfg.p_blur:
            if rng.random() < 0.6:
                img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.6))
            else:
                n = int(rng.integers(3, 8))
                k = np.zeros((n, n), np.float32)
                th = rng.uniform(0, np.pi)
                c = (n - 1) / 2
                cv2.line(k, (round(c - c * np.cos(th)), round(c - c * np.sin(th))),
                         (round(c + c * np.cos(th)), round(c + c * np.sin(th))), 1.0)
                img = cv2.filter2D(img, -1, k / k.sum())
        if rng.random() < cfg.p_noise:
            img = img + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(1, 8))
        out = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        if rng.random() < cfg.p_jpeg:
            q = int(rng.integers(20, 71))
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
            out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        return out

    def _occluder(self, rng, img, lmk, face_side) -> np.ndarray:
        h, w = img.shape[:2]
        c = lmk[rng.integers(68), :2] + rng.normal(0, 0.15 * face_side, 2)
        r = face_side * rng.uniform(0.1, 0.3)
        mask = np.zeros((h, w), np.uint8)
        fx = lambda p: (int(round(p[0] * 16)), int(round(p[1] * 16)))  # noqa: E731 -- 4-bit sub-pixel
        kind = rng.integers(3)
        if kind == 0:
            cv2.ellipse(mask, fx(c), fx((r, r * rng.uniform(0.3, 1))), rng.uniform(0, 180), 0, 360, 255,
                        -1, cv2.LINE_AA, 4)
        elif kind == 1:
            ang = np.sort(rng.uniform(0, 2 * np.pi, rng.integers(3, 8)))
            pts = c + (r * rng.uniform(0.4, 1, len(ang)))[:, None] * np.stack([np.cos(ang), np.sin(ang)], 1)
            cv2.fillPoly(mask, [np.rint(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        else:
            d = r * np.array([np.cos(t := rng.uniform(0, np.pi)), np.sin(t)])
            cv2.line(mask, fx(c - d), fx(c + d), 255, max(1, int(r * rng.uniform(0.2, 0.6))), cv2.LINE_AA, 4)
        fill = (self.bank.draw(rng, h, w, 0.5).astype(np.float32) if rng.random() < 0.5
                else np.broadcast_to(rng.uniform(0, 255, 3).astype(np.float32), (h, w, 3)))
        a = (mask.astype(np.float32) / 255)[..., None]
        return img * (1 - a) + fill * a
