"""Faces drawn from the priors (m3lrn_lib.data.prior) look like the training crops."""
import torch

from m3lrn_lib import geometry
from m3lrn_lib.data import sample_prior_params
from m3lrn_lib.morphable import load_face_model


def test_sample_prior_params_look_like_training_crops():
    model = load_face_model()
    raw = sample_prior_params(model, 400, seed=3)
    assert raw.shape == (400, model.n_params) and torch.isfinite(raw).all()
    lmk = geometry.project_to_crop(model, raw, landmarks_only=True)
    centre = (lmk[..., :2].amax(1) + lmk[..., :2].amin(1)) / 2
    assert ((centre > 30) & (centre < 95)).all(), "faces are framed near the middle of the crop"
    width = lmk[..., 0].amax(1) - lmk[..., 0].amin(1)
    assert width.median() > 40
    yaw = torch.rad2deg(geometry.params_to_euler(raw)[:, 0]).abs()
    assert yaw.max() < 90 and (yaw > 60).any() and (yaw < 30).any()
    assert torch.equal(raw, sample_prior_params(model, 400, seed=3)), "seeded"
