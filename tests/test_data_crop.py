"""Crop policies and the image <-> crop maps of points and 3DMM parameters."""
import numpy as np
import pytest
import torch

from m3lrn_lib import geometry as G
from m3lrn_lib.data import crop as C
from m3lrn_lib.morphable import load_face_model


@pytest.fixture(scope="module")
def model():
    return load_face_model()


def test_box_from_landmarks_is_square_and_centred():
    pts = np.array([[10.0, 20.0], [50.0, 20.0], [30.0, 100.0]])
    box = C.box_from_landmarks(pts, scale=1.5, shift=0.0)
    assert np.isclose(box[2] - box[0], box[3] - box[1])
    assert np.isclose(box[2] - box[0], 1.5 * 80)
    assert np.allclose((box[:2] + box[2:]) / 2, [30, 60])
    up = C.box_from_landmarks(pts, scale=1.5, shift=0.1)
    assert np.isclose(up[1], box[1] - 8.0)  # moved up by shift * max(w, h)


def test_box_from_detector():
    box = C.box_from_detector([10, 10, 50, 70], scale=1.0, shift=0.0)
    assert np.allclose(box, [5, 15, 55, 65])  # side (w + h) / 2 = 50 around the centre
    assert C.box_from_detector([10, 10, 50, 70], scale=1.0, shift=0.1)[1] == pytest.approx(20.0)
    pts = np.random.default_rng(0).uniform(20, 80, (68, 2))
    pts[:2] = [[20, 20], [80, 80]]  # a square landmark box: the default policies agree
    assert np.allclose(C.box_from_detector([20, 20, 80, 80]), C.box_from_landmarks(pts))


def test_points_round_trip():
    box = np.array([13.5, -7.0, 213.5, 193.0])
    p = np.random.default_rng(0).uniform(0, 200, (68, 3))
    q = C.points_to_crop(p, box, 120)
    assert np.allclose(q[:, :2], (p[:, :2] - box[:2]) * 0.6, atol=1e-4)
    assert np.allclose(q[:, 2], p[:, 2] * 0.6, atol=1e-4)
    assert np.allclose(C.points_from_crop(q, box, 120), p, atol=1e-3)


def test_params_to_crop_matches_points_to_crop(model):
    H = 230
    p = torch.zeros(1, 62, dtype=torch.float64)
    p[:, :12] = G.make_pose(0.4, -0.2, 0.1, 0.9, 110, 120, 3).double()
    p[0, 12:15] = torch.tensor([50.0, -30.0, 10.0])
    box = np.array([20.0, 35.0, 200.0, 215.0])
    lm_img = G.project_to_crop(model, p, H, landmarks_only=True)[0].numpy()
    pc = torch.as_tensor(C.params_to_crop(p[0].numpy(), box, H), dtype=torch.float64)[None]
    lm_crop = G.project_to_crop(model, pc, 120, landmarks_only=True)[0].numpy()
    assert np.allclose(lm_crop, C.points_to_crop(lm_img, box), atol=1e-3)
    back = C.params_from_crop(pc[0].numpy(), box, H)
    assert np.allclose(back, p[0].numpy(), atol=1e-3)


def test_crop_image_moves_pixels_with_the_points():
    img = np.zeros((200, 240, 3), np.uint8)
    img[100, 150] = 255  # pixel centre (150.5, 100.5)
    box = np.array([90.0, 40.0, 210.0, 160.0])  # 120 px: scale 1
    crop = C.crop_image(img, box)
    r, c = np.unravel_index(crop[..., 0].argmax(), crop.shape[:2])
    x, y = C.points_to_crop(np.array([[150.5, 100.5]]), box)[0]
    assert (c + 0.5, r + 0.5) == (x, y)
    big = C.crop_image(img, np.array([-100.0, -100.0, 500.0, 500.0]))  # outside -> black padding
    assert big.shape == (120, 120, 3) and big[:10, :10].max() == 0


def test_bad_box():
    with pytest.raises(ValueError, match="positive size"):
        C.points_to_crop(np.zeros((2, 2)), [5, 5, 5, 5])
