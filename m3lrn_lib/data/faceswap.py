"""The paper's face-swap augmentation (Sec. 4, training on 300W-LP).

The 3DMM fits index the same semantic point with the same vertex, so a face's texture in
UV space can be moved onto another face: within a minibatch, unwrap each face's texture
from its image and ground-truth mesh (:mod:`m3lrn_lib.uv`), shuffle the textures across
the batch and render every face back onto its own image with a borrowed texture. Geometry
labels (parameters, landmarks, pose) are untouched -- texture is decoupled from geometry.

Hidden texels (the far side of a profile, out-of-crop parts) are filled from the mirrored
side when the model's UV layout is symmetric, then by push-pull. The face border is
feathered over one pixel. Batched; the sampling runs on the batch's device (CPU or CUDA),
the rasterisation on the CPU.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import geometry, uv
from ..morphable.model import FaceModel


def face_swap(images: torch.Tensor, verts_img: torch.Tensor, model: FaceModel, perm: torch.Tensor,
              texture_size: int = 128) -> torch.Tensor:
    """Render face ``i`` of the batch with the texture of face ``perm[i]``.

    Args:
        images: (B, C, H, W) float images (any value range, e.g. normalised crops).
        verts_img: (B, N, 3) ground-truth meshes in the images' frame (same device).
        perm: (B,) long permutation.
        texture_size: side of the intermediate UV textures.
    Returns:
        (B, C, H, W) images; pixels outside the faces are unchanged.
    """
    B, C, H, W = images.shape
    rasters = uv.rasterize_batch(verts_img, model, H, W)
    tex, vis = uv.unwrap_texture_batch(images, verts_img, model, texture_size, rasters)
    tex = uv.fill_texture_holes(tex, vis, mirror=uv.uv_is_mirror_symmetric(model))
    out, mask = uv.render_uv_texture_batch(verts_img, model, tex[perm.to(images.device)], images, rasters)
    m = mask[:, None].to(images.dtype)
    inner = 1 - F.max_pool2d(1 - m, 3, stride=1, padding=1)  # mask eroded by one pixel
    alpha = F.avg_pool2d(inner, 3, stride=1, padding=1, count_include_pad=False) * m
    return images + alpha * (out - images)


class FaceSwap:
    """Batch transform: shuffle face textures within a collated minibatch.

    Args:
        model: the face model the batch's parameters belong to (needs UVs).
        p: probability that a face takes part (those that do are permuted among themselves).
        texture_size: UV texture side.
        generator: optional ``torch.Generator`` (CPU) for reproducible draws.

    Call it on a batch dict from a ``DataLoader`` (``image`` (B, 3, H, W), ``params``
    (B, D) raw crop-frame parameters, ``has_target`` (B,)); returns a new dict with only
    ``image`` replaced. Faces without a target are left as they are.
    """

    def __init__(self, model: FaceModel, p: float = 0.5, texture_size: int = 128, generator=None):
        model.require_uv()
        self.model, self.p, self.texture_size, self.generator = model, p, texture_size, generator

    def __call__(self, batch: dict) -> dict:
        images = batch["image"]
        B, _, H, _ = images.shape
        has = torch.as_tensor(batch["has_target"], dtype=torch.bool).reshape(B).cpu()
        take = has & (torch.rand(B, generator=self.generator) < self.p)
        idx = take.nonzero().flatten()
        if len(idx) < 2:
            return dict(batch)
        perm = torch.randperm(len(idx), generator=self.generator)
        dev_idx = idx.to(images.device)
        params = batch["params"].to(images.device, torch.float32)[dev_idx]
        verts = geometry.project_to_crop(self.model, params, H)
        out = images.clone()
        out[dev_idx] = face_swap(images[dev_idx], verts, self.model, perm, self.texture_size)
        return {**batch, "image": out}

    def __repr__(self):
        return f"FaceSwap(model={self.model.name!r}, p={self.p}, texture_size={self.texture_size})"
