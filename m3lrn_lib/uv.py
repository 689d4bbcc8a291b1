"""UV textures: unwrap an image onto a model's UV map and render a UV texture back.

Shared by the face-swap augmentation (:mod:`m3lrn_lib.data.faceswap`) and the texture work
of the supplement (Sec. G). Conventions follow :mod:`m3lrn_lib.render`: meshes are given
in an image frame (x right, y down, pixel centres at +0.5, larger z closer); a texture is
(S, S) texels with texel column ``u * S`` and row ``(1 - v) * S`` (v up).

- :func:`unwrap_texture`: every texel covered by the UV layout is a point on the mesh; its
  colour is the image sampled (bilinearly) where that point projects, and it is *visible*
  when the point passes the z-buffer test (its depth within ``depth_tol`` px of the
  rasterised depth at that pixel) and its triangle faces the camera
  (``cos >= min_facing``).
- :func:`render_uv_texture`: rasterise the mesh (z-buffer), interpolate the vertex UVs per
  pixel and sample the texture there.
- :func:`sample_texture`: per-vertex colours from a texture (bilinear at the vertex UVs), and
  :func:`subdivide_mesh` to sample it more finely (textured Plotly meshes,
  :func:`m3lrn_lib.viz.textured_mesh_figure`).

The batched torch variants run the sampling with ``grid_sample`` on the inputs' device
(CPU or CUDA); rasterisation is done on the CPU by :func:`m3lrn_lib.render.rasterize`.
"""
from __future__ import annotations

import weakref
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from . import render
from .morphable.model import FaceModel


class BatchRaster(NamedTuple):
    """Rasters of a batch of meshes: tri_id (B, H, W) int64 (-1 empty), bary (B, H, W, 3)
    float32, depth (B, H, W) float32 (-inf empty); tensors on the mesh's device."""

    tri_id: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor


def rasterize_batch(verts_img: torch.Tensor, model: FaceModel, height: int, width: int) -> BatchRaster:
    """Z-buffer (B, N, 3) image-frame meshes of ``model`` on the CPU -> :class:`BatchRaster`."""
    v = verts_img.detach().to("cpu", torch.float64).numpy()
    rs = [render.rasterize(x, model.triangles, height, width) for x in v]
    dev = verts_img.device
    return BatchRaster(torch.from_numpy(np.stack([r.tri_id for r in rs]).astype(np.int64)).to(dev),
                       torch.from_numpy(np.stack([r.bary for r in rs])).to(dev),
                       torch.from_numpy(np.stack([r.depth for r in rs])).to(dev))


_UV_TEXELS: weakref.WeakKeyDictionary[FaceModel, dict] = weakref.WeakKeyDictionary()


def uv_texels(model: FaceModel, size: int):
    """Texels covered by the UV layout (cached per model object and size).

    Returns:
        (M,) flat texel indices into (size*size), (M,) triangle ids, (M, 3) barycentrics.
    """
    cache = _UV_TEXELS.setdefault(model, {})
    if size not in cache:
        r = render.rasterize_uv(model.require_uv(), model.triangles, size)
        idx = np.flatnonzero(r.tri_id.reshape(-1) >= 0)
        cache[size] = idx, r.tri_id.reshape(-1)[idx].astype(np.int64), r.bary.reshape(-1, 3)[idx]
    return cache[size]


def uv_is_mirror_symmetric(model: FaceModel, tol: float = 1e-3) -> bool:
    """True when flipping a texture left-right mirrors the face (``uv[vertex_mirror] = (1-u, v)``)."""
    if model.uv is None or model.vertex_mirror is None:
        return False
    uv = model.uv
    return bool(np.abs(uv[model.vertex_mirror] - np.stack([1 - uv[:, 0], uv[:, 1]], 1)).max() < tol)


def _facing(verts_img: torch.Tensor, tris: torch.Tensor) -> torch.Tensor:
    """(B, F) cosine between each triangle's outward normal and the view direction."""
    p = verts_img[:, tris]  # (B, F, 3, 3)
    e1, e2 = p[:, :, 1] - p[:, :, 0], p[:, :, 2] - p[:, :, 0]
    n = torch.linalg.cross(e1, e2, dim=-1)
    # image y is flipped, so the view-frame (y-up) normal's z is -n_z of the image-frame cross
    return -n[..., 2] / n.norm(dim=-1).clamp_min(1e-12)


def unwrap_texture_batch(images: torch.Tensor, verts_img: torch.Tensor, model: FaceModel, size: int = 128,
                         rasters: BatchRaster | None = None, depth_tol: float = 3.0,
                         min_facing: float = 0.25):
    """Batched :func:`unwrap_texture`.

    Args:
        images: (B, C, H, W) float tensor (any value range).
        verts_img: (B, N, 3) meshes of ``model`` in the images' frame (same device).
        rasters: precomputed :func:`rasterize_batch` of ``verts_img`` (else computed).
    Returns:
        textures (B, C, S, S) (zeros where not visible) and visible (B, S, S) bool.
    """
    B, C, H, W = images.shape
    dev, dt = images.device, images.dtype
    rasters = rasterize_batch(verts_img, model, H, W) if rasters is None else rasters
    texel, tri, bary = (torch.as_tensor(a, device=dev) for a in uv_texels(model, size))
    tris = model.tensors(dev).triangles
    v = verts_img.to(dt)
    corners = v[:, tris[tri]]  # (B, M, 3 corners, 3)
    pos = (corners * bary.to(dt)[None, :, :, None]).sum(2)  # (B, M, 3)
    grid = torch.stack([pos[..., 0] / W * 2 - 1, pos[..., 1] / H * 2 - 1], -1)[:, None]
    col = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, :, 0]
    j, i = pos[..., 0].floor().long(), pos[..., 1].floor().long()
    inside = (j >= 0) & (j < W) & (i >= 0) & (i < H)
    zbuf = rasters.depth.to(dt).reshape(B, -1).gather(1, (i.clamp(0, H - 1) * W + j.clamp(0, W - 1)))
    vis = inside & (pos[..., 2] >= zbuf - depth_tol) & (_facing(v, tris)[:, tri] >= min_facing)
    tex = torch.zeros(B, C, size * size, dtype=dt, device=dev)
    tex[:, :, texel] = col * vis[:, None].to(dt)
    visible = torch.zeros(B, size * size, dtype=torch.bool, device=dev)
    visible[:, texel] = vis
    return tex.reshape(B, C, size, size), visible.reshape(B, size, size)


def render_uv_texture_batch(verts_img: torch.Tensor, model: FaceModel, textures: torch.Tensor,
                            backgrounds: torch.Tensor, rasters: BatchRaster | None = None):
    """Batched :func:`render_uv_texture`.

    Args:
        verts_img: (B, N, 3) image-frame meshes; textures: (B, C, S, S);
        backgrounds: (B, C, H, W) images the faces are drawn onto.
    Returns:
        images (B, C, H, W) and the face mask (B, H, W) bool.
    """
    B, C, H, W = backgrounds.shape
    dev, dt = backgrounds.device, backgrounds.dtype
    rasters = rasterize_batch(verts_img, model, H, W) if rasters is None else rasters
    t = model.tensors(dev)
    uv = torch.as_tensor(model.require_uv(), dtype=dt, device=dev)
    mask = rasters.tri_id >= 0
    corners = uv[t.triangles[rasters.tri_id.clamp_min(0)]]  # (B, H, W, 3, 2)
    puv = (corners * rasters.bary.to(dt)[..., None]).sum(-2)
    grid = torch.stack([puv[..., 0] * 2 - 1, 1 - 2 * puv[..., 1]], -1)
    img = F.grid_sample(textures.to(dt), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return torch.where(mask[:, None], img, backgrounds), mask


def fill_texture_holes(textures: torch.Tensor, visible: torch.Tensor, mirror: bool = False) -> torch.Tensor:
    """Fill the unseen texels of (B, C, S, S) textures given (B, S, S) ``visible``.

    With ``mirror`` (a left-right symmetric UV layout, :func:`uv_is_mirror_symmetric`) a hidden
    texel first takes its mirror texel when that one was seen -- the hidden half of a profile
    face. The rest is filled by push-pull: masked averages down a 2x pyramid, then upsampled
    back into the holes.
    """
    x, w = textures, visible[:, None].to(textures.dtype)
    if mirror:
        xm, wm = x.flip(-1), w.flip(-1)
        x, w = x * w + xm * wm * (1 - w), torch.maximum(w, wm)
    return _push_pull(x * w, w)


def _push_pull(xw: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """xw: (B, C, h, w) colours premultiplied by the weights w: (B, 1, h, w) in [0, 1]."""
    if min(xw.shape[-2:]) <= 2:
        return (xw.sum((-2, -1), keepdim=True) / w.sum((-2, -1), keepdim=True).clamp_min(1e-8)).expand_as(xw)
    coarse = _push_pull(F.avg_pool2d(xw, 2, ceil_mode=True), F.avg_pool2d(w, 2, ceil_mode=True))
    up = F.interpolate(coarse, size=xw.shape[-2:], mode="bilinear", align_corners=False)
    return xw + (1 - w) * up


# ----------------------------------------------------------------------------- single image
def _to_batch(image) -> torch.Tensor:
    return torch.from_numpy(np.array(image, np.float32)).permute(2, 0, 1)[None]


def unwrap_texture(image, verts_img, model: FaceModel, size: int = 256):
    """One image's texture in UV space.

    Args:
        image: (H, W, 3) uint8 or float image; verts_img: (N, 3) mesh in its image frame.
    Returns:
        texture (size, size, 3) float32 (the image's value range; 0 where unseen) and
        visible (size, size) bool (per-texel visibility from the z-buffer).
    """
    v = torch.as_tensor(np.asarray(verts_img, np.float32))[None]
    tex, vis = unwrap_texture_batch(_to_batch(image), v, model, size)
    return tex[0].permute(1, 2, 0).numpy(), vis[0].numpy()


def render_uv_texture(verts_img, model: FaceModel, texture, height: int, width: int, background=None) -> np.ndarray:
    """Render an (N, 3) image-frame mesh with an (S, S, 3) UV texture -> (H, W, 3) float32.

    ``background``: None (zeros), an rgb triple, or an (H, W, 3) image (same value range as
    the texture).
    """
    bg = np.zeros((height, width, 3), np.float32) if background is None else \
        np.broadcast_to(np.asarray(background, np.float32), (height, width, 3))
    v = torch.as_tensor(np.asarray(verts_img, np.float32))[None]
    img, _ = render_uv_texture_batch(v, model, _to_batch(texture), _to_batch(bg))
    return img[0].permute(1, 2, 0).numpy()


# ----------------------------------------------------------------------------- vertex colours
def sample_texture(texture, uv) -> np.ndarray:
    """Bilinear colours of an (S, S, C) texture at (N, 2) UV coordinates (v up) -> (N, C) float32.

    Texel (row i, col j) has its centre at ``u = (j + 0.5) / S``, ``v = 1 - (i + 0.5) / S``
    (the convention of :func:`render_uv_texture`); UVs outside [0, 1] clamp to the border.
    """
    t = np.asarray(texture)
    if t.ndim != 3:
        raise ValueError(f"texture must be (S, S, C), got shape {t.shape}")
    p = np.asarray(uv, np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"uv must be (N, 2), got shape {p.shape}")
    tt = torch.from_numpy(np.ascontiguousarray(t, np.float32)).permute(2, 0, 1)[None]
    grid = torch.from_numpy(np.stack([p[:, 0] * 2 - 1, 1 - 2 * p[:, 1]], -1).astype(np.float32))[None, None]
    out = F.grid_sample(tt, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, 0].T.numpy()


def subdivide_mesh(vertices, triangles, uv):
    """One midpoint subdivision (each triangle -> 4): (N, 3), (F, 3), (N, 2) -> (N', 3), (4F, 3), (N', 2).

    Finer meshes show more of a texture when colours are sampled per vertex (Plotly meshes have
    no texture maps)."""
    V, T, U = np.asarray(vertices, np.float64), np.asarray(triangles, np.int64), np.asarray(uv, np.float64)
    e = np.concatenate([T[:, [0, 1]], T[:, [1, 2]], T[:, [2, 0]]])
    key = np.sort(e, 1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    mid = len(V) + inv.reshape(3, -1)  # (3, F): midpoint ids of edges ab, bc, ca
    V2 = np.concatenate([V, V[uniq].mean(1)])
    U2 = np.concatenate([U, U[uniq].mean(1)])
    a, b, c = T.T
    ab, bc, ca = mid
    T2 = np.concatenate([np.stack(x, 1) for x in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    return V2, T2, U2
