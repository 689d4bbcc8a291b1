"""Readers of the real layouts: round trips of files written with scipy.io / pickle / cv2,
layout detection, pose conventions, and every bad-input case."""
import math
import pickle
import shutil

import cv2
import numpy as np
import pytest
import scipy.io
import torch

from m3lrn_lib import geometry as G
from m3lrn_lib.data import (
    AFLW2000Dataset,
    DatasetError,
    ThreeDDFADataset,
    W300LPDataset,
    detect_layout,
    euler_from_pose_para,
    open_dataset,
    pose_para_from_params,
    sample_datasets,
)
from m3lrn_lib.data.crop import box_from_landmarks, points_to_crop
from m3lrn_lib.data.layouts import matrix_from_pose_para
from m3lrn_lib.morphable import load_face_model


@pytest.fixture(scope="module")
def model():
    return load_face_model()


def _params(model, n, seed=0, size=120.0):
    rng = np.random.default_rng(seed)
    P = G.make_pose(rng.uniform(-1.2, 1.2, n), rng.uniform(-0.4, 0.4, n), rng.uniform(-0.3, 0.3, n),
                    rng.uniform(0.4, 0.5, n), size / 2 + rng.normal(0, 3, n), size / 2 + rng.normal(0, 3, n))
    coef = rng.standard_normal((n, model.n_params - 12)) * np.concatenate([model.shape_std, model.exp_std]) * 0.5
    return np.concatenate([P.numpy(), coef], 1).astype(np.float32)


def _img(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _write_3ddfa(root, model, n=6, image_dir="train_aug_120x120"):
    """A tiny set in 3DDFA's own naming: list, whitened param pickle, whitening pickle."""
    (root / image_dir).mkdir(parents=True)
    params = _params(model, n)
    mean, std = params.mean(0), params.std(0) + 1e-3
    names = [f"face_{i}.jpg" for i in range(n)]
    for nm in names:
        cv2.imwrite(str(root / image_dir / nm), _img(120, 120))
    (root / "train_aug_120x120.list.train").write_text("\n".join(names) + "\n")
    with open(root / "param_all_norm.pkl", "wb") as fh:
        pickle.dump(((params - mean) / std).astype(np.float32), fh, protocol=4)
    with open(root / "param_whitening.pkl", "wb") as fh:
        pickle.dump({"param_mean": mean, "param_std": std}, fh, protocol=4)
    return params


def _write_aflw(root, n=3, sizes=(230, 250)):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        h, w = sizes
        pts = np.stack([rng.uniform(60, 160, 68), rng.uniform(70, 180, 68), rng.normal(0, 20, 68)])
        pose = np.array([[0.1, -0.5, 0.05, 100, 110, 0, 0.001]])
        cv2.imwrite(str(root / f"image{i:05d}.jpg"), _img(h, w, i))
        scipy.io.savemat(root / f"image{i:05d}.mat", {"pt3d_68": pts, "Pose_Para": pose, "roi": [[0, 0, w, h]],
                                                       "Shape_Para": np.zeros((199, 1))})
        out.append(pts)
    return out


def test_3ddfa_round_trip(tmp_path, model):
    params = _write_3ddfa(tmp_path, model)
    ds = ThreeDDFADataset(tmp_path, model, image_root=tmp_path / "train_aug_120x120")
    assert detect_layout(tmp_path) == "3ddfa" and len(ds) == 6
    s = ds[2]
    assert s["image"].shape == (3, 120, 120) and s["has_target"]
    assert torch.allclose(s["params"], torch.as_tensor(params[2]), atol=1e-3)
    lm = G.project_to_crop(model, torch.as_tensor(params[2:3], dtype=torch.float64), landmarks_only=True)[0]
    assert torch.allclose(s["landmarks"].double(), lm, atol=1e-3)
    assert torch.allclose(s["pose"].double(), G.params_to_euler(torch.as_tensor(params[2:3]).double())[0], atol=1e-4)
    assert ds.param_mean.dtype == np.float32 and ds.param_std.shape == (62,)


def test_aflw_round_trip(tmp_path, model):
    pts = _write_aflw(tmp_path)
    ds = open_dataset(tmp_path, model=model)
    assert isinstance(ds, AFLW2000Dataset) and len(ds) == 3
    s = ds[1]
    box = box_from_landmarks(pts[1].T)
    assert np.allclose(s["box"].numpy(), box, atol=1e-3)
    assert np.allclose(s["landmarks"].numpy(), points_to_crop(pts[1].T, box), atol=1e-3)
    assert not s["has_target"] and torch.count_nonzero(s["target"]) == 0
    assert np.allclose(s["pose"].numpy(), euler_from_pose_para([0.1, -0.5, 0.05]), atol=1e-6)
    assert ds.pose_para.shape == (3, 7)


def test_300wlp_round_trip(tmp_path, model):
    rng = np.random.default_rng(2)
    for sub in ("AFW", "AFW_Flip"):
        (tmp_path / sub).mkdir()
        for name in ("AFW_1_0", "AFW_1_1"):
            cv2.imwrite(str(tmp_path / sub / f"{name}.jpg"), _img(450, 450))
            scipy.io.savemat(tmp_path / sub / f"{name}.mat",
                             {"pt2d": rng.uniform(150, 300, (2, 68)), "Pose_Para": [[0.1, 0.2, 0.0, 0, 0, 0, 1]],
                              "roi": [[0, 0, 450, 450]]})
    (tmp_path / "landmarks" / "AFW").mkdir(parents=True)
    pts3d = rng.uniform(140, 310, (68, 2))
    scipy.io.savemat(tmp_path / "landmarks" / "AFW" / "AFW_1_0_pts.mat", {"pts_2d": pts3d, "pts_3d": pts3d})
    assert detect_layout(tmp_path) == "300wlp"
    ds = W300LPDataset(tmp_path, model)
    assert len(ds) == 4 and ds.names[0] == "AFW/AFW_1_0"
    assert np.allclose(ds.landmarks_img[0, :, :2], pts3d, atol=1e-4)  # pts_3d preferred ("auto")
    flip = scipy.io.loadmat(tmp_path / "AFW_Flip" / "AFW_1_0.mat")["pt2d"].T
    assert np.allclose(ds.landmarks_img[2, :, :2], flip, atol=1e-4)  # no pts file -> pt2d
    s = ds[0]
    assert s["image"].shape == (3, 120, 120) and not s["has_target"]
    assert len(W300LPDataset(tmp_path, model, subsets=["AFW"])) == 2
    with pytest.raises(DatasetError, match="pts_3d|_pts.mat"):
        W300LPDataset(tmp_path, model, landmarks="3d")


def test_pose_para_convention_on_hand_made_rotations():
    # Zhu et al.'s Pose_Para uses transposed elementary rotations: each single angle flips sign
    a = 0.3
    assert np.allclose(euler_from_pose_para([0, a, 0]), [-a, 0, 0], atol=1e-6)  # yaw
    assert np.allclose(euler_from_pose_para([a, 0, 0]), [0, -a, 0], atol=1e-6)  # pitch
    assert np.allclose(euler_from_pose_para([0, 0, a]), [0, 0, -a], atol=1e-6)  # roll
    Rx = np.array([[1, 0, 0], [0, math.cos(a), math.sin(a)], [0, -math.sin(a), math.cos(a)]])
    assert np.allclose(matrix_from_pose_para([a, 0, 0]), Rx)
    ang = torch.tensor([0.7, -0.3, 0.25], dtype=torch.float64)
    P = G.sRt_to_pose(torch.tensor([0.5], dtype=torch.float64), G.euler_to_matrix(ang)[None],
                      torch.tensor([[60.0, 50.0, 0.0]], dtype=torch.float64))
    pp = pose_para_from_params(np.concatenate([P.reshape(-1).numpy(), np.zeros(50)]))
    assert np.allclose(pp[3:], [60, 50, 0, 0.5])
    assert np.allclose(euler_from_pose_para(pp), ang.numpy(), atol=1e-6)
    assert np.allclose(matrix_from_pose_para(pp), G.euler_to_matrix(ang).numpy())


# ----------------------------------------------------------------------------- bad input
def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        AFLW2000Dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty"):
        ThreeDDFADataset(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "readme.txt").write_text("hi")
    with pytest.raises(DatasetError, match="no known dataset layout"):
        open_dataset(tmp_path / "junk")


def test_mixed_layouts(tmp_path, model):
    _write_3ddfa(tmp_path, model)
    _write_aflw(tmp_path, n=1)
    with pytest.raises(DatasetError, match="mixes dataset layouts.*3ddfa.*aflw2000"):
        ThreeDDFADataset(tmp_path, model)


def test_wrong_reader_for_layout(tmp_path, model):
    _write_aflw(tmp_path, n=1)
    with pytest.raises(DatasetError, match="holds the aflw2000 layout, not 3ddfa"):
        ThreeDDFADataset(tmp_path, model)


def test_mat_without_keys(tmp_path, model):
    _write_aflw(tmp_path, n=2)
    scipy.io.savemat(tmp_path / "image00001.mat", {"Pose_Para": [[0, 0, 0, 0, 0, 0, 1]]})
    with pytest.raises(DatasetError, match=r"image00001\.mat: missing key\(s\) \['pt3d_68'\]"):
        AFLW2000Dataset(tmp_path, model)
    with pytest.warns(UserWarning, match="skipped 1 bad samples of 2"):
        assert len(AFLW2000Dataset(tmp_path, model, skip_bad=True)) == 1


def test_image_without_mat(tmp_path, model):
    _write_aflw(tmp_path, n=2)
    (tmp_path / "image00000.mat").unlink()
    with pytest.raises(DatasetError, match=r"image00000\.jpg: no image00000\.mat"):
        AFLW2000Dataset(tmp_path, model)


def test_unreadable_and_grayscale_images(tmp_path, model):
    _write_aflw(tmp_path, n=3)
    (tmp_path / "image00000.jpg").write_bytes(b"not a jpeg at all")
    cv2.imwrite(str(tmp_path / "image00002.jpg"), _img(230, 250)[..., 0])
    ds = AFLW2000Dataset(tmp_path, model)
    with pytest.raises(DatasetError, match=r"image00000\.jpg: cannot be decoded"):
        ds[0]
    with pytest.raises(DatasetError, match=r"image00002\.jpg: grayscale"):
        ds[2]
    with pytest.warns(UserWarning, match="skipped 2 bad samples of 3"):
        ok = AFLW2000Dataset(tmp_path, model, skip_bad=True)
    assert len(ok) == 1 and ok[0]["image"].shape == (3, 120, 120)


def test_param_file_length_mismatch(tmp_path, model):
    _write_3ddfa(tmp_path, model, n=6)
    lst = tmp_path / "train_aug_120x120.list.train"
    lst.write_text("\n".join(lst.read_text().split()[:5]) + "\n")
    with pytest.raises(DatasetError, match=r"param_all_norm\.pkl has 6 parameter rows but .*list\.train lists 5"):
        ThreeDDFADataset(tmp_path, model, image_root=tmp_path / "train_aug_120x120")


def test_param_file_wrong_width_and_missing_image(tmp_path, model):
    _write_3ddfa(tmp_path, model, n=4)
    with pytest.raises(DatasetError, match=r"face_0\.jpg: listed in .* but the file does not exist"):
        ThreeDDFADataset(tmp_path, model)  # images live in train_aug_120x120/, not root
    with open(tmp_path / "param_all_norm.pkl", "wb") as fh:
        pickle.dump(np.zeros((4, 58), np.float32), fh, protocol=4)
    with pytest.raises(DatasetError, match=r"expected an \(N, 62\) array"):
        ThreeDDFADataset(tmp_path, model, image_root=tmp_path / "train_aug_120x120")


def test_untrusted_pickle_is_refused(tmp_path, model):
    _write_3ddfa(tmp_path, model, n=2)
    with open(tmp_path / "param_all_norm.pkl", "wb") as fh:
        pickle.dump(shutil.rmtree, fh)  # would be a callable: must not be unpickled
    with pytest.raises(DatasetError, match="refusing to load"):
        ThreeDDFADataset(tmp_path, model, image_root=tmp_path / "train_aug_120x120")


def test_wrong_model_for_generated_set():
    import dataclasses
    other = dataclasses.replace(load_face_model(), mean=load_face_model().mean * 1.01, name="other")
    with pytest.raises(DatasetError, match=f"generated with face model '{load_face_model().name}'"):
        sample_datasets(other, split="train")
