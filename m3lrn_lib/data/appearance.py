"""Appearance of the version-2 synthetic world: skin detail outside the albedo span, per-region
colours, and soft environment lighting.

Version 1 colours a face with the morphable model's albedo prior only, a smooth field inside
the 10-component PCA span. Version 2 adds what photos have and a 3DMM texture cannot hold:

- **Skin detail** (:class:`SkinDetailBank`): the out-of-span detail of the texture generator
  (:meth:`m3lrn_lib.texture.synth.TexturedFaceGenerator.detail`: grain, blotches, freckles,
  moles, brow hair, stubble, lip tint), made once per data set for a bank of faces in UV
  space, sampled at the vertices' UVs and stored as per-vertex colour changes. A face takes
  one of them with a random strength, which costs one multiply-add per vertex.
- **Region colours** (:func:`region_weights`): lips and brows get their own colour per face.
- **Environment lighting** (:func:`environment_shade`): a sky/ground ambient term that varies
  with the normal (light from above brighter than from below) plus one directional key light
  with a Blinn-Phong highlight; all colours are multiplied in linear RGB.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..morphable.model import FaceModel

__all__ = ["SkinDetailBank", "region_weights", "EnvironmentLight", "environment_shade"]


class SkinDetailBank:
    """Per-vertex skin detail of ``n`` textured faces (deterministic for ``seed``).

    Args:
        model: a model with UVs (the embedded ones).
        seed: data-set seed.
        n: faces in the bank; res: UV resolution the detail is drawn at.
    Attributes:
        deltas: (n, N, 3) float32 colour changes per vertex (detail texture minus its base).
    """

    def __init__(self, model: FaceModel, seed: int, n: int = 24, res: int = 128):
        from ..texture.synth import TexturedFaceGenerator, TextureSynthConfig

        gen = TexturedFaceGenerator(model, seed, TextureSynthConfig(uv_size=res))
        rng = np.random.default_rng([seed, 41])
        uvs = model.require_uv()
        col = np.clip(np.rint(uvs[:, 0] * (gen.res - 1)).astype(np.int64), 0, gen.res - 1)
        row = np.clip(np.rint((1 - uvs[:, 1]) * (gen.res - 1)).astype(np.int64), 0, gen.res - 1)
        base = gen.base_texture(gen.albedo_mean, gen.res)
        out = []
        for _ in range(n):
            tex = gen.detail(rng, base)
            out.append((tex - base)[row, col])
        self.deltas = np.stack(out).astype(np.float32)

    def apply(self, rng, albedo: np.ndarray) -> np.ndarray:
        """(N, 3) albedo -> the same with one bank entry's detail at a random strength, in [0, 1]."""
        d = self.deltas[rng.integers(len(self.deltas))]
        return np.clip(albedo + rng.uniform(0.5, 1.2) * d, 0.0, 1.0)


def region_weights(model: FaceModel) -> dict:
    """Soft per-vertex weights (N,) in [0, 1] of the lips and the brows, from the landmarks.

    Lips: inside the outer-lip contour (points 48-59) in the frontal projection of the mean face,
    softened over ~2 mm. Brows: within ~3 mm of the brow polylines (17-21, 22-26).
    """
    V = model.mean[:, :2].astype(np.float64)
    L = V[model.landmarks]
    lip = L[48:60]
    inside = np.zeros(len(V), bool)
    j = len(lip) - 1
    for i in range(len(lip)):  # even-odd rule
        yi, yj = lip[i, 1], lip[j, 1]
        cross = (yi > V[:, 1]) != (yj > V[:, 1])
        x_at = lip[i, 0] + (V[:, 1] - yi) * (lip[j, 0] - lip[i, 0]) / (yj - yi + 1e-12)
        inside ^= cross & (V[:, 0] < x_at)
        j = i
    d_lip = np.min(np.linalg.norm(V[:, None] - lip[None], axis=2), 1)
    lips = np.where(inside, 1.0, np.exp(-0.5 * (d_lip / 2.0) ** 2))
    brows = np.zeros(len(V))
    for seg in (range(17, 22), range(22, 27)):
        pts = L[list(seg)]
        for a, b in zip(pts[:-1], pts[1:]):
            t = np.clip(((V - a) @ (b - a)) / max(float((b - a) @ (b - a)), 1e-9), 0, 1)
            d = np.linalg.norm(V - (a + t[:, None] * (b - a)), axis=1)
            brows = np.maximum(brows, np.exp(-0.5 * (d / 3.0) ** 2))
    return {"lips": lips.astype(np.float32), "brows": brows.astype(np.float32)}


@dataclass
class EnvironmentLight:
    """Sky/ground ambient + one key light (view frame: x right, y up, z to the camera).

    sky, ground: (3,) ambient rgb for normals pointing up / down; key: (3,) rgb of the
    directional light; direction: (3,) unit vector towards it; specular, shininess: highlight.
    """

    sky: np.ndarray
    ground: np.ndarray
    key: np.ndarray
    direction: np.ndarray
    specular: float = 0.0
    shininess: float = 16.0

    @classmethod
    def draw(cls, rng) -> EnvironmentLight:
        """A random soft light: ambient 0.25-0.6, key 0.3-0.8 from +-75 deg azimuth, colour casts."""
        az, el = np.radians(rng.uniform(-75, 75)), np.radians(rng.uniform(-25, 60))
        amb = rng.uniform(0.25, 0.6) * np.exp(rng.normal(0, 0.07, 3))
        up = rng.uniform(1.0, 1.6)
        return cls(sky=amb * up, ground=amb / up * np.exp(rng.normal(0, 0.05, 3)),
                   key=rng.uniform(0.3, 0.8) * np.exp(rng.normal(0, 0.07, 3)),
                   direction=np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)]),
                   specular=rng.uniform(0, 0.3) if rng.random() < 0.6 else 0.0, shininess=rng.uniform(6, 40))


def environment_shade(albedo: np.ndarray, normals: np.ndarray, light: EnvironmentLight) -> np.ndarray:
    """Per-vertex colours (N, 3) float32 in [0, 1] from albedo (N, 3) and view-frame unit normals (N, 3).

    ``albedo * (ground + (sky - ground) * (1 + n_y) / 2 + key * max(0, n.l)) + specular * max(0, n.h)^s``
    """
    n = np.asarray(normals, np.float64)
    t = (1.0 + n[:, 1:2]) / 2
    amb = light.ground[None] + (light.sky - light.ground)[None] * t
    col = albedo * (amb + light.key[None] * np.maximum(n @ light.direction, 0.0)[:, None])
    if light.specular:
        h = light.direction + (0.0, 0.0, 1.0)
        h = h / max(np.linalg.norm(h), 1e-12)
        col = col + light.specular * np.maximum(n @ h, 0.0)[:, None] ** light.shininess
    return np.clip(col, 0.0, 1.0).astype(np.float32)
