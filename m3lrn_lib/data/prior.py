"""Faces drawn from the model's priors, framed like the training crops -- without rendering.

:func:`sample_prior_params` follows the recipe of :class:`~m3lrn_lib.data.synth.FaceSynthesizer`
for the training split (shape and expression priors, the split's pose distribution, the
benchmark crop with scale/centre jitter) but draws every face at once and renders nothing: an
unlimited supply of (parameters, landmarks) pairs for training the point-only modules (M2FA's
point branch, LGS) on a CPU. Its random stream is its own: face ``i`` is not the generator's
face ``i``.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import geometry
from ..metrics import YAW_BINS
from ..morphable.model import FaceModel
from .crop import CROP_SIZE, box_from_landmarks, params_to_crop
from .synth import SynthConfig

__all__ = ["sample_prior_params"]


def sample_prior_params(model: FaceModel, n: int, seed: int = 0, split: str = "train",
                        size: int = CROP_SIZE) -> torch.Tensor:
    """Draw ``n`` faces from the priors and frame them like the training crops.

    Shape and expression come from the model's priors (clipped at 3 / 2.5 sd, expression
    switched off for 20% of the faces), the angles from the synthetic generator's pose
    distribution for ``split`` (:class:`m3lrn_lib.data.SynthConfig`; |yaw| bins of
    :data:`m3lrn_lib.metrics.YAW_BINS`, the last one ending at ``max_yaw``), and the crop from
    the benchmark policy on the face's own landmarks with the generator's scale/centre jitter --
    the same recipe as the shipped training crops, without rendering any image.

    Returns:
        (n, D) float32 raw crop-frame parameters.
    """
    cfg = SynthConfig()
    rng = np.random.default_rng([seed, 7])
    a_s = np.clip(rng.standard_normal((n, model.n_shape)), -3, 3) * model.shape_std
    a_e = (np.clip(rng.standard_normal((n, model.n_exp)), -2.5, 2.5) * model.exp_std
           * (rng.random((n, 1)) < cfg.p_expression))
    mix = np.asarray(cfg.train_yaw_mix if split == "train" else cfg.test_yaw_mix)
    b = rng.choice(3, size=n, p=mix / mix.sum())
    lo = np.array([low for low, _ in YAW_BINS])[b]
    hi = np.array([high for _, high in YAW_BINS[:-1]] + [cfg.max_yaw])[b]
    yaw = rng.uniform(lo, hi) * np.where(rng.random(n) < 0.5, 1, -1)
    pitch = np.clip(rng.normal(0, cfg.pitch_std, n), -cfg.pitch_max, cfg.pitch_max)
    roll = np.clip(rng.normal(0, cfg.roll_std, n), -cfg.roll_max, cfg.roll_max)
    Rm = geometry.euler_to_matrix(torch.as_tensor(np.radians(np.stack([yaw, pitch, roll], 1)))).numpy()  # (n,3,3)
    coef = np.concatenate([a_s, a_e], 1)
    lmk = (model.mean[model.landmarks].reshape(1, -1).astype(np.float64)
           + coef @ np.concatenate([model.shape_basis, model.exp_basis], 1)[
               (3 * model.landmarks[:, None] + np.arange(3)).reshape(-1)].T).reshape(n, -1, 3)
    out = np.empty((n, model.n_params), np.float32)
    for i in range(n):
        L = lmk[i] @ Rm[i].T  # view frame, 1 px per mm
        box0 = box_from_landmarks(np.stack([L[:, 0], -L[:, 1]], 1))  # image frame of a height-0 image
        side0, c0 = box0[2] - box0[0], (box0[:2] + box0[2:]) / 2
        side = side0 * np.exp(rng.normal(0, cfg.crop_scale_jitter))
        c = c0 + rng.normal(0, cfg.crop_shift_jitter * side0, 2)
        unit = np.concatenate([np.concatenate([Rm[i], np.zeros((3, 1))], 1).reshape(-1), coef[i]])
        out[i] = params_to_crop(unit, np.concatenate([c - side / 2, c + side / 2]), 0.0, size)
    return torch.from_numpy(out)
