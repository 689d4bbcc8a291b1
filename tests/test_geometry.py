"""Parameter layout, Eq. 1-2, Euler conventions and projection."""
import math

import numpy as np
import pytest
import torch

from m3lrn_lib import geometry as G
from m3lrn_lib.morphable import load_face_model

D = math.pi / 180


@pytest.fixture(scope="module")
def model():
    return load_face_model()


def random_params(model, b=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    yaw = (torch.rand(b, generator=g) - 0.5) * 2.8
    P = G.make_pose(yaw, (torch.rand(b, generator=g) - 0.5), (torch.rand(b, generator=g) - 0.5),
                    0.5, 60.0, 60.0, 10.0)
    s = torch.randn(b, 40, generator=g) * torch.as_tensor(model.shape_std)
    e = torch.randn(b, 10, generator=g) * torch.as_tensor(model.exp_std)
    return torch.cat([P, s, e], 1)


def test_layout_split_join_roundtrip(model):
    p = random_params(model)
    P, a, e = G.split_params(p)
    assert P.shape == (4, 3, 4) and a.shape == (4, 40) and e.shape == (4, 10)
    assert torch.equal(G.join_params(P, a, e), p)
    # row-major: params[:, 3] is t_x
    assert torch.equal(p[:, 3], P[:, 0, 3])


def test_whitening_roundtrip():
    x = torch.randn(5, 62)
    mean, std = torch.randn(62), torch.rand(62) + 0.5
    assert torch.allclose(G.unwhiten(G.whiten(x, mean, std), mean, std), x, atol=1e-6)


def test_reconstruction_matches_numpy_eq1_eq2(model):
    p = random_params(model, 2)
    V = G.reconstruct_vertices(model, p)
    P, a, e = G.split_params(p)
    for i in range(2):
        Rf = model.vertices(a[i].numpy(), e[i].numpy()).astype(np.float64)  # Eq. 1
        Rv = Rf @ P[i, :, :3].numpy().T.astype(np.float64) + P[i, :, 3].numpy()  # Eq. 2
        assert np.abs(V[i].numpy() - Rv).max() < 1e-3


def test_landmark_fast_path_equals_dense(model):
    p = random_params(model)
    assert torch.allclose(G.reconstruct_landmarks(model, p),
                          G.reconstruct_vertices(model, p)[:, model.landmarks], atol=1e-3)


def test_image_y_flip(model):
    pts = torch.tensor([[[10.0, 20.0, 3.0]]])
    img = G.to_image(pts, 120)
    assert img.tolist() == [[[10.0, 100.0, 3.0]]]
    assert torch.equal(G.from_image(img, 120), pts)


def test_euler_hand_made_rotations():
    # yaw +90: the nose (+z) turns to +x (image right)
    R = G.euler_to_matrix(torch.tensor([90 * D, 0.0, 0.0]))
    assert torch.allclose(R @ torch.tensor([0.0, 0, 1]), torch.tensor([1.0, 0, 0]), atol=1e-6)
    # pitch +90: the nose turns down (-y)
    R = G.euler_to_matrix(torch.tensor([0.0, 90 * D, 0.0]))
    assert torch.allclose(R @ torch.tensor([0.0, 0, 1]), torch.tensor([0.0, -1, 0]), atol=1e-6)
    # roll +90: the subject's left (+x) goes up (+y): counter-clockwise for the viewer
    R = G.euler_to_matrix(torch.tensor([0.0, 0.0, 90 * D]))
    assert torch.allclose(R @ torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]), atol=1e-6)


def test_euler_roundtrip_and_orthonormality():
    g = torch.Generator().manual_seed(1)
    ang = torch.stack([(torch.rand(500, generator=g) - 0.5) * 3.1,
                       (torch.rand(500, generator=g) - 0.5) * 6.2,
                       (torch.rand(500, generator=g) - 0.5) * 6.2], 1).double()
    R = G.euler_to_matrix(ang)
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3, dtype=R.dtype).expand(500, 3, 3), atol=1e-12)
    assert torch.allclose(torch.det(R), torch.ones(500, dtype=R.dtype))
    assert torch.allclose(G.matrix_to_euler(R), ang, atol=1e-9)


@pytest.mark.parametrize("yaw", [90.0, -90.0])
def test_gimbal_lock(yaw):
    ang = torch.tensor([[yaw * D, 25 * D, 10 * D]], dtype=torch.float64)
    R = G.euler_to_matrix(ang)
    out = G.matrix_to_euler(R)
    assert abs(out[0, 0] - yaw * D) < 1e-6 and out[0, 2] == 0
    assert torch.allclose(G.euler_to_matrix(out), R, atol=1e-6)  # same rotation


def test_3ddfa_v2_convention():
    ang = torch.tensor([[30 * D, -10 * D, 5 * D], [-60 * D, 20 * D, -15 * D]], dtype=torch.float64)
    R = G.euler_to_matrix(ang)
    v2 = G.matrix_to_euler_3ddfa_v2(R)
    assert torch.allclose(v2[:, 0], -ang[:, 0]) and torch.allclose(v2[:, 1:], ang[:, 1:])
    assert torch.allclose(G.euler_from_3ddfa_v2(v2), ang)
    assert torch.allclose(G.euler_to_3ddfa_v2(ang), v2)


def test_pose_decomposition(model):
    p = random_params(model)
    s, R, t = G.pose_to_sRt(p[:, :12].reshape(-1, 3, 4))
    assert torch.allclose(s, torch.full((4,), 0.5), atol=1e-5)
    assert torch.allclose(G.sRt_to_pose(s, R, t).reshape(-1, 12), p[:, :12], atol=1e-5)
    assert torch.allclose(t, torch.tensor([60.0, 60.0, 10.0]).expand(4, 3))


def test_projection_into_the_crop(model):
    p = G.make_pose(0.0, 0.0, 0.0, 0.5, 60.0, 60.0)
    p = torch.cat([p, torch.zeros(1, 50)], 1)
    L = G.project_to_crop(model, p, landmarks_only=True)[0]
    mean_l = torch.as_tensor(model.mean[model.landmarks])
    assert torch.allclose(L[:, 0], 0.5 * mean_l[:, 0] + 60, atol=1e-4)
    assert torch.allclose(L[:, 1], 60 - 0.5 * mean_l[:, 1], atol=1e-4)  # y flipped
    assert L[8, 1] > L[27, 1]  # the chin is lower in the image (larger y)


@pytest.mark.parametrize("bad, err, match", [
    (torch.zeros(2, 61), ValueError, "62 columns"),
    (torch.zeros(62), ValueError, "shape"),
    (torch.zeros(2, 62, dtype=torch.int64), TypeError, "floating"),
    (torch.full((2, 62), float("nan")), ValueError, "NaN"),
    (np.zeros((2, 62)), TypeError, "torch.Tensor"),
])
def test_bad_params(model, bad, err, match):
    with pytest.raises(err, match=match):
        G.reconstruct_vertices(model, bad)


def test_cuda_if_available(model):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    p = random_params(model).cuda()
    assert torch.allclose(G.reconstruct_landmarks(model, p).cpu(),
                          G.reconstruct_landmarks(model, p.cpu()), atol=1e-3)


def test_model_tensors_first_made_in_inference_mode_still_serve_autograd():
    from m3lrn_lib.morphable import FaceModel
    m = load_face_model()
    fresh = FaceModel(name="fresh", mean=m.mean, shape_basis=m.shape_basis, shape_std=m.shape_std,
                      exp_basis=m.exp_basis, exp_std=m.exp_std, triangles=m.triangles, landmarks=m.landmarks)
    p = random_params(m, 2)
    with torch.inference_mode():
        G.reconstruct_landmarks(fresh, p)  # fills the cache inside inference mode
    q = p.clone().requires_grad_(True)
    G.reconstruct_landmarks(fresh, q).sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()
