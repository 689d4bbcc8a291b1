"""Readers (torch ``Dataset``\\ s) and writers for the real on-disk layouts.

**3DDFA pre-processed training set** (:class:`ThreeDDFADataset`)::

    root/<name>.list*          one image path per line, relative to ``image_root`` (= root)
    root/param_all_norm*.pkl   (N, D) float32 *whitened* parameters, in list order
    root/param_whitening*.pkl  {"param_mean": (D,), "param_std": (D,)}
    images (120x120 crops)     the 68 landmarks are reconstructed from the parameters

**AFLW2000-3D** (:class:`AFLW2000Dataset`): ``NAME.jpg`` + ``NAME.mat`` side by side, with
``pt3d_68`` (3, 68: image x, y down, relative z), ``Pose_Para`` (1, 7) and ``roi``. Our
synthetic test set adds ``m3lrn_params`` (1, D: parameters in the original image frame),
``m3lrn_pose`` (1, 3: our yaw, pitch, roll) and a ``param_whitening.pkl``.

**300W-LP** (:class:`W300LPDataset`): subset folders (AFW, HELEN, IBUG, LFPW and the
``*_Flip`` twins) of ``NAME.jpg`` + ``NAME.mat`` (``pt2d`` (2, 68), ``Pose_Para``, ``roi``)
and ``landmarks/SUBSET/NAME_pts.mat`` (``pts_3d`` (68, 2): the 3D-consistent landmarks).

``Pose_Para`` angles (pitch, yaw, roll in radians, then tx, ty, tz, scale) follow Zhu et
al.'s definition ``R = Rx'(pitch) Ry'(yaw) Rz'(roll)`` built from *transposed* elementary
rotations, i.e. ``R = (Rz(roll) Ry(yaw) Rx(pitch))^T`` in our elementary matrices. Ours is
``R = Rz(roll) Ry(yaw) Rx(pitch)`` (:mod:`m3lrn_lib.geometry`), so the conversion is exact
through the matrix: AFLW angles = ``matrix_to_euler(R.T)`` (reordered), ours =
``matrix_to_euler(matrix_from_pose_para(...))``. For small angles both signs flip. Our
writer stores tx, ty, tz of ``[sR | t]`` in the image's y-up view frame and s.

Every reader returns samples as in :mod:`m3lrn_lib.data.transforms` (``dataset[i]``) and
exposes :meth:`FaceDataset.raw` (before the ``ToTensor`` step), ``param_mean`` /
``param_std`` (float32 (D,)). Bad input raises :class:`DatasetError` naming the file;
``skip_bad=True`` instead drops bad samples (images are then decoded up front) with a
warning giving the count. Bad samples are: missing or undecodable images, non-finite
parameters, landmarks that are NaN/inf or degenerate (spanning under
:data:`MIN_LANDMARK_EXTENT` px), and image-list entries that point outside the image root
(``../../etc/passwd``, absolute paths).
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import geometry
from ..morphable import load_face_model
from ..morphable.model import FaceModel
from .crop import (
    CROP_SIZE,
    LANDMARK_SCALE,
    LANDMARK_SHIFT,
    box_from_landmarks,
    crop_image,
    params_to_crop,
    points_to_crop,
)
from .io import DatasetError, load_array_pickle, load_mat, pickle_bytes, read_rgb
from .transforms import to_sample

IMAGE_EXTS = (".jpg", ".jpeg", ".png")
PARTS_DIR = ".parts"


# ----------------------------------------------------------------------------- poses
def matrix_from_pose_para(pose_para) -> np.ndarray:
    """(..., >=3) ``Pose_Para`` (pitch, yaw, roll, ...) -> (..., 3, 3) rotation matrices
    (:func:`m3lrn_lib.geometry.angles_to_matrix`, convention ``"pose_para"``)."""
    a = torch.as_tensor(np.asarray(pose_para, np.float64)[..., :3])
    return geometry.angles_to_matrix(a, "pose_para").numpy()


def pose_para_angles(R) -> np.ndarray:
    """(..., 3, 3) rotations -> (..., 3) ``Pose_Para`` angles (pitch, yaw, roll)
    (:func:`m3lrn_lib.geometry.matrix_to_angles`, convention ``"pose_para"``)."""
    return geometry.matrix_to_angles(torch.as_tensor(np.asarray(R, np.float64)), "pose_para").numpy()


def euler_from_pose_para(pose_para) -> np.ndarray:
    """(..., >=3) ``Pose_Para`` -> (..., 3) float32 radians (yaw, pitch, roll), our convention."""
    a = torch.as_tensor(np.asarray(pose_para, np.float64)[..., :3])
    return geometry.convert_angles(a, "pose_para", "ours").numpy().astype(np.float32)


def pose_para_from_params(params) -> np.ndarray:
    """(D,) image-frame parameters -> (7,) ``Pose_Para`` (pitch, yaw, roll, tx, ty, tz, s)."""
    P = torch.as_tensor(np.asarray(params, np.float64)[:12].reshape(1, 3, 4))
    s, R, t = geometry.pose_to_sRt(P)
    return np.concatenate([pose_para_angles(R[0].numpy()), t[0].numpy(), s.numpy()])


# ----------------------------------------------------------------------------- writers
def whitening_stats(params) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) raw parameters -> float32 (D,) mean and std; a constant column gets std 1."""
    p = np.asarray(params, np.float64)
    mean, std = p.mean(0), p.std(0)
    std[std < 1e-6] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def whitening_bytes(mean, std) -> bytes:
    """``param_whitening.pkl`` content: {"param_mean", "param_std"} float32 arrays."""
    return pickle_bytes({"param_mean": np.asarray(mean, np.float32), "param_std": np.asarray(std, np.float32)})


def aflw_mat_arrays(landmarks, params, box) -> dict:
    """Arrays of one AFLW2000-3D ``.mat``: (68, 3) image-frame landmarks, (D,) image-frame
    parameters and (4,) crop box -> ``pt3d_68``, ``Pose_Para``, ``roi``, ``m3lrn_params``,
    ``m3lrn_pose``."""
    p = np.asarray(params, np.float64)
    P = torch.as_tensor(p[:12].reshape(1, 3, 4))
    return {
        "pt3d_68": np.asarray(landmarks, np.float64).T.copy(),
        "Pose_Para": pose_para_from_params(p)[None],
        "roi": np.asarray(box, np.float64)[None],
        "m3lrn_params": p[None],
        "m3lrn_pose": geometry.params_to_euler(P.reshape(1, 12)).numpy(),
    }


# ----------------------------------------------------------------------------- detection
def _markers(root: Path) -> dict:
    found = {}
    tddfa = sorted(root.glob("*.list*")) + sorted(root.glob("param_all_norm*.pkl"))
    if tddfa:
        found["3ddfa"] = tddfa[0].name
    mats = sorted(root.glob("*.mat"))
    if mats:
        found["aflw2000"] = mats[0].name
    subsets = sorted(d.name for d in root.iterdir()
                     if d.is_dir() and d.name != "landmarks" and next(d.glob("*.mat"), None))
    if subsets:
        found["300wlp"] = subsets[0] + "/"
    return found


def detect_layout(root) -> str:
    """``"3ddfa"``, ``"aflw2000"`` or ``"300wlp"`` for a dataset folder; DatasetError when it
    does not exist, is empty, has no known layout or mixes layouts."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset folder does not exist: {root}")
    if not root.is_dir():
        raise DatasetError(f"{root} is a file, not a dataset folder")
    if not any(p for p in root.iterdir() if not p.name.startswith(".")):
        raise DatasetError(f"dataset folder is empty: {root}")
    found = _markers(root)
    if len(found) > 1:
        raise DatasetError(f"{root} mixes dataset layouts: "
                           + ", ".join(f"{k} (e.g. {v})" for k, v in found.items()))
    if not found:
        raise DatasetError(f"{root}: no known dataset layout (expected a *.list file with "
                           "param_all_norm*.pkl (3DDFA), image + .mat pairs (AFLW2000-3D), or "
                           "subset folders of image + .mat pairs (300W-LP))")
    return next(iter(found))


def open_dataset(root, **kwargs) -> FaceDataset:
    """Open ``root`` with the reader of its detected layout (``kwargs`` go to the reader)."""
    cls = {"3ddfa": ThreeDDFADataset, "aflw2000": AFLW2000Dataset, "300wlp": W300LPDataset}
    return cls[detect_layout(root)](root, **kwargs)


# ----------------------------------------------------------------------------- readers
class FaceDataset(Dataset):
    """Common part of the readers: layout check, manifest check, bad-sample policy, and
    ``__getitem__`` = ``to_sample(transform(raw(i)))``."""

    layout = ""

    def __init__(self, root, model: FaceModel | None, transform, skip_bad: bool):
        self.root = Path(root)
        if (self.root / PARTS_DIR).is_dir():
            raise DatasetError(f"{self.root}: incomplete synthetic set (generation was interrupted); "
                               "run m3lrn_lib.data.generate on its parent folder again to finish it")
        found = detect_layout(self.root)
        if found != self.layout:
            raise DatasetError(f"{self.root} holds the {found} layout, not {self.layout}")
        self.model = load_face_model() if model is None else model
        self.transform, self.skip_bad = transform, skip_bad
        self.manifest = {}
        if (self.root / "manifest.json").is_file():
            self.manifest = json.loads((self.root / "manifest.json").read_text())
            fp = self.manifest.get("model_fingerprint")
            if fp and fp != self.model.fingerprint():
                raise DatasetError(
                    f"{self.root / 'manifest.json'}: this set was generated with face model "
                    f"{self.manifest.get('model_name')!r} (fingerprint {fp}) but model "
                    f"{self.model.name!r} ({self.model.fingerprint()}) was given")
        self.param_mean = np.zeros(self.model.n_params, np.float32)
        self.param_std = np.ones(self.model.n_params, np.float32)

    # ------------------------------------------------------------------ helpers
    def _load_whitening(self, path):
        w = load_array_pickle(path)
        d = self.model.n_params
        try:
            mean = np.asarray(w["param_mean"], np.float32).reshape(-1)
            std = np.asarray(w["param_std"], np.float32).reshape(-1)
        except (TypeError, KeyError, IndexError):
            raise DatasetError(f"{path}: expected a dict with 'param_mean' and 'param_std'") from None
        if mean.shape != (d,) or std.shape != (d,):
            raise DatasetError(f"{path}: param_mean/param_std must have {d} entries "
                               f"(model {self.model.name!r}), got {mean.shape} and {std.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise DatasetError(f"{path}: param_mean/param_std must be finite with std > 0")
        self.param_mean, self.param_std = mean, std

    def _bad_policy(self, n: int, bad: dict) -> np.ndarray:
        """Indices to keep given ``bad`` {index: message}: raise, or warn with a count."""
        if bad and not self.skip_bad:
            first = bad[min(bad)]
            more = f" (and {len(bad) - 1} more bad samples)" if len(bad) > 1 else ""
            raise DatasetError(first + more + "; pass skip_bad=True to drop bad samples with a warning")
        if bad:
            warnings.warn(f"{self.root}: skipped {len(bad)} bad samples of {n} "
                          f"(first: {bad[min(bad)]})", stacklevel=3)
        return np.array([i for i in range(n) if i not in bad], np.int64)

    def _decode_errors(self, paths) -> dict:
        bad = {}
        for i, p in enumerate(paths):
            try:
                read_rgb(p)
            except DatasetError as exc:
                bad[i] = str(exc)
        return bad

    # ------------------------------------------------------------------ Dataset
    def __len__(self) -> int:
        return len(self.paths)

    def raw(self, i: int) -> dict:
        raise NotImplementedError

    def __getitem__(self, i: int) -> dict:
        raw = self.raw(i)
        if self.transform is not None:
            raw = self.transform(raw)
        return to_sample(raw, self.param_mean, self.param_std)

    def __repr__(self):
        return f"{type(self).__name__}({str(self.root)!r}, n={len(self)}, model={self.model.name!r})"


class ThreeDDFADataset(FaceDataset):
    """The 3DDFA pre-processed layout: 120x120 crops, whitened (N, D) parameters.

    Args:
        root: dataset folder; ``list_file``, ``params_file``, ``whitening_file`` default to
            the single ``*.list*``, ``param_all_norm*.pkl``, ``param_whitening*.pkl`` in it.
        model: the face model the parameters belong to (landmarks are reconstructed).
        image_root: folder the listed paths are relative to (default ``root``).
    """

    layout = "3ddfa"

    def __init__(self, root, model=None, transform=None, list_file=None, params_file=None,
                 whitening_file=None, image_root=None, skip_bad=False):
        super().__init__(root, model, transform, skip_bad)
        self.list_file = self._one(list_file, "*.list*", "image list")
        self.params_file = self._one(params_file, "param_all_norm*.pkl", "parameter file")
        self._load_whitening(self._one(whitening_file, "param_whitening*.pkl", "whitening file"))
        names = [s.strip() for s in self.list_file.read_text().splitlines() if s.strip()]
        if not names:
            raise DatasetError(f"{self.list_file}: the image list is empty")
        z = np.asarray(load_array_pickle(self.params_file))
        d = self.model.n_params
        if z.ndim != 2 or z.shape[1] != d:
            raise DatasetError(f"{self.params_file}: expected an (N, {d}) array for model "
                               f"{self.model.name!r}, got shape {z.shape}")
        if len(z) != len(names):
            raise DatasetError(f"{self.params_file} has {len(z)} parameter rows but {self.list_file} "
                               f"lists {len(names)} images: the two must match line for line")
        image_root = Path(image_root) if image_root is not None else self.root
        paths = [image_root / n for n in names]
        base = os.path.normpath(image_root)
        bad = {i: f"{self.list_file}: line {i + 1} names {names[i]!r}, which lies outside {image_root}"
               for i, p in enumerate(paths) if os.path.commonpath([base, os.path.normpath(p)]) != base}
        bad.update({i: f"{p}: listed in {self.list_file.name} but the file does not exist"
                    for i, p in enumerate(paths) if i not in bad and not p.is_file()})
        bad.update({int(i): f"{self.params_file}: row {i} holds NaN or inf"
                    for i in np.flatnonzero(~np.isfinite(z).all(1))})
        if skip_bad:
            bad.update({i: m for i, m in self._decode_errors(paths).items() if i not in bad})
        stored = self._stored_landmarks(len(names))
        keep = self._bad_policy(len(names), bad)
        self.paths = [paths[i] for i in keep]
        self.whitened = np.ascontiguousarray(z[keep], np.float32)
        self.stored_landmarks = None if stored is None else np.ascontiguousarray(stored[keep])
        params = torch.as_tensor(self.params_all(), dtype=torch.float64)
        self.poses = geometry.params_to_euler(params).numpy().astype(np.float32) if len(params) else \
            np.zeros((0, 3), np.float32)
        rows = (3 * self.model.landmarks[:, None] + np.arange(3)).reshape(-1)
        self._lmk_mean = self.model.mean.reshape(-1)[rows].astype(np.float64)
        self._lmk_basis = np.concatenate([self.model.shape_basis[rows], self.model.exp_basis[rows]], 1
                                         ).astype(np.float64)

    def _one(self, given, pattern, what) -> Path:
        if given is not None:
            p = Path(given) if Path(given).is_absolute() else self.root / given
            if not p.is_file():
                raise DatasetError(f"{what} not found: {p}")
            return p
        hits = sorted(self.root.glob(pattern))
        if not hits:
            raise DatasetError(f"{self.root}: no {what} ({pattern}) -- the 3DDFA layout needs an image "
                               "list, param_all_norm*.pkl and param_whitening*.pkl")
        if len(hits) > 1:
            raise DatasetError(f"{self.root}: several {what}s {[h.name for h in hits]}; choose one "
                               f"with the {what.split()[-1]}_file argument")
        return hits[0]

    def _stored_landmarks(self, n: int):
        """The optional ``landmarks.npy`` beside the list: (n, 68, 3) crop-frame ground truth, or None.

        Generator v2 writes it: its faces come from a fuller basis than the parameters, so their
        landmarks are not those the parameters reconstruct (the 3DMM bottleneck). Real 3DDFA
        folders have none; the landmarks are then reconstructed from the parameters.
        """
        f = self.root / LANDMARKS_FILE
        if not f.is_file():
            return None
        try:
            a = np.load(f, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{f}: unreadable ({exc}); re-generate the set or delete the file") from None
        k = len(self.model.landmarks)
        if a.shape != (n, k, 3) or not np.isfinite(a).all():
            raise DatasetError(f"{f}: expected finite ({n}, {k}, 3) landmarks (one row per listed image), got "
                               f"shape {a.shape}; re-generate the set or delete the file")
        return a.astype(np.float32)

    def params_all(self) -> np.ndarray:
        """(N, D) float32 raw parameters (crop frame): ``whitened * std + mean``."""
        return (self.whitened.astype(np.float64) * self.param_std + self.param_mean).astype(np.float32)

    def landmarks_from_params(self, params, size: int = CROP_SIZE) -> np.ndarray:
        """(D,) crop-frame parameters -> (68, 3) float32 landmarks in the crop's image frame."""
        p = np.asarray(params, np.float64)
        V = (self._lmk_mean + self._lmk_basis @ p[12:]).reshape(-1, 3)
        P = p[:12].reshape(3, 4)
        pts = V @ P[:, :3].T + P[:, 3]
        pts[:, 1] = size - pts[:, 1]
        return pts.astype(np.float32)

    def raw(self, i: int) -> dict:
        path = self.paths[i]
        img = read_rgb(path)
        if img.shape[:2] != (CROP_SIZE, CROP_SIZE):
            raise DatasetError(f"{path}: 3DDFA-layout crops must be {CROP_SIZE}x{CROP_SIZE}, "
                               f"got {img.shape[1]}x{img.shape[0]}")
        params = (self.whitened[i].astype(np.float64) * self.param_std + self.param_mean).astype(np.float32)
        lmk = self.landmarks_from_params(params) if self.stored_landmarks is None else self.stored_landmarks[i].copy()
        return {"image": img, "landmarks": lmk, "params": params,
                "has_target": True, "pose": self.poses[i].copy(),
                "box": np.array([0, 0, CROP_SIZE, CROP_SIZE], np.float32), "index": i}


#: Optional ground-truth landmarks of a 3DDFA-layout folder (see ThreeDDFADataset._stored_landmarks).
LANDMARKS_FILE = "landmarks.npy"

#: Landmarks must span at least this many pixels in x and in y (a face box needs a size).
MIN_LANDMARK_EXTENT = 1.0


def _points(a, n, path, key):
    """Reshape a landmark array stored as (k, n) or (n, k) into (n, k), checked to be usable:
    finite, and spanning at least :data:`MIN_LANDMARK_EXTENT` pixels in x and y."""
    a = np.asarray(a, np.float64)
    if a.ndim == 2 and a.shape[1] == n and a.shape[0] in (2, 3):
        a = a.T
    elif not (a.ndim == 2 and a.shape[0] == n and a.shape[1] in (2, 3)):
        raise DatasetError(f"{path}: key {key!r} must be 2x{n}/3x{n} (or transposed), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise DatasetError(f"{path}: key {key!r} holds NaN or inf landmark coordinates")
    extent = a[:, :2].max(0) - a[:, :2].min(0)
    if (extent < MIN_LANDMARK_EXTENT).any():
        raise DatasetError(f"{path}: key {key!r} is degenerate: its landmarks span {extent[0]:.3g} x "
                           f"{extent[1]:.3g} px (all points equal or on a line)")
    return a


class _CroppedDataset(FaceDataset):
    """Readers whose images are cropped at load time by the benchmark policy."""

    def _finish(self, n, stems, bad, paths, landmarks, pose_para, params_img, box_scale, box_shift):
        keep = self._bad_policy(n, bad)
        self.names = [stems[i] for i in keep]
        self.paths = [paths[i] for i in keep]
        self.landmarks_img = np.array([landmarks[i] for i in keep], np.float32).reshape(-1, 68, 3)
        self.pose_para = np.array([pose_para[i] for i in keep], np.float64).reshape(-1, 7)
        self.poses = euler_from_pose_para(self.pose_para).reshape(-1, 3)
        self.params_img = [params_img[i] for i in keep]
        self.boxes = np.array([box_from_landmarks(p, box_scale, box_shift) for p in self.landmarks_img],
                              np.float32).reshape(-1, 4)

    def raw(self, i: int) -> dict:
        img = read_rgb(self.paths[i])
        box = self.boxes[i].astype(np.float64)
        p = self.params_img[i]
        params = (params_to_crop(p, box, img.shape[0]) if p is not None
                  else np.zeros(self.model.n_params, np.float32))
        return {"image": crop_image(img, box), "landmarks": points_to_crop(self.landmarks_img[i], box),
                "params": params, "has_target": p is not None, "pose": self.poses[i].copy(),
                "box": box.astype(np.float32), "index": i}


class AFLW2000Dataset(_CroppedDataset):
    """The AFLW2000-3D layout (also our synthetic test set), cropped by the benchmark policy.

    Args:
        whitening: a ``param_whitening.pkl`` path or an object with ``param_mean`` /
            ``param_std`` (e.g. the training set); default: ``root/param_whitening.pkl`` if
            present, else mean 0 / std 1.
        box_scale, box_shift: the crop policy (:func:`m3lrn_lib.data.crop.box_from_landmarks`).

    Attributes:
        pose_para: (N, 7) raw ``Pose_Para`` (for the benchmark's [-99, 99] degree filter).
        landmarks_img: (N, 68, 3) ``pt3d_68`` in the original image frame.
        boxes: (N, 4) crop boxes.
    """

    layout = "aflw2000"

    def __init__(self, root, model=None, transform=None, whitening=None, box_scale=LANDMARK_SCALE,
                 box_shift=LANDMARK_SHIFT, skip_bad=False):
        super().__init__(root, model, transform, skip_bad)
        if whitening is None and (self.root / "param_whitening.pkl").is_file():
            whitening = self.root / "param_whitening.pkl"
        if isinstance(whitening, (str, Path)):
            self._load_whitening(whitening)
        elif whitening is not None:
            self.param_mean = np.asarray(whitening.param_mean, np.float32)
            self.param_std = np.asarray(whitening.param_std, np.float32)
        images = {p.stem: p for p in self.root.iterdir() if p.suffix.lower() in IMAGE_EXTS}
        mats = {p.stem: p for p in self.root.glob("*.mat")}
        stems = sorted(set(images) | set(mats))
        bad, lms, poses, params, paths = {}, {}, {}, {}, []
        d = self.model.n_params
        for i, s in enumerate(stems):
            paths.append(images.get(s))
            if s not in mats:
                bad[i] = f"{images[s]}: no {s}.mat beside it (AFLW2000-3D pairs every image with a .mat)"
                continue
            if s not in images:
                bad[i] = f"{mats[s]}: no image {s}.jpg beside it"
                continue
            try:
                mat = load_mat(mats[s], {"pt3d_68": 136, "Pose_Para": 3})
                lm = _points(mat["pt3d_68"], 68, mats[s], "pt3d_68")
                lms[i] = np.pad(lm, ((0, 0), (0, 3 - lm.shape[1])))
                poses[i] = np.pad(np.asarray(mat["Pose_Para"], np.float64).reshape(-1)[:7], (0, 7))[:7]
                params[i] = None
                if "m3lrn_params" in mat:
                    p = np.asarray(mat["m3lrn_params"], np.float64).reshape(-1)
                    if p.size != d or not np.isfinite(p).all():
                        raise DatasetError(f"{mats[s]}: m3lrn_params must hold {d} finite numbers for "
                                           f"model {self.model.name!r}, got {p.size}")
                    params[i] = p
            except DatasetError as exc:
                bad[i] = str(exc)
        if skip_bad:
            ok = [i for i in range(len(stems)) if i not in bad]
            dec = self._decode_errors([paths[i] for i in ok])
            bad.update({ok[j]: m for j, m in dec.items()})
        self._finish(len(stems), stems, bad, paths, lms, poses, params, box_scale, box_shift)


class W300LPDataset(_CroppedDataset):
    """The 300W-LP layout: subset folders of image + ``.mat`` pairs (no 3DMM target for our
    model: BFM parameters do not transfer), cropped by the benchmark policy.

    Args:
        subsets: subset folder names to read (default: all).
        landmarks: ``"auto"`` (``landmarks/SUBSET/NAME_pts.mat`` ``pts_3d`` when that file
            exists, else the ``.mat``'s ``pt2d``), ``"3d"`` (require ``pts_3d``) or ``"2d"``.
            Landmark z is 0 (the layout has only 2D points).
    """

    layout = "300wlp"

    def __init__(self, root, model=None, transform=None, subsets=None, landmarks="auto",
                 box_scale=LANDMARK_SCALE, box_shift=LANDMARK_SHIFT, skip_bad=False):
        super().__init__(root, model, transform, skip_bad)
        if landmarks not in ("auto", "3d", "2d"):
            raise ValueError(f"landmarks must be 'auto', '3d' or '2d', got {landmarks!r}")
        found = sorted(d.name for d in self.root.iterdir()
                       if d.is_dir() and d.name != "landmarks" and next(d.glob("*.mat"), None))
        if subsets is not None:
            unknown = sorted(set(subsets) - set(found))
            if unknown:
                raise DatasetError(f"{self.root}: no subset folder(s) {unknown}; found {found}")
            found = [s for s in found if s in set(subsets)]
        stems, paths, bad, lms, poses = [], [], {}, {}, {}
        for sub in found:
            folder = self.root / sub
            images = {p.stem: p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS}
            mats = {p.stem: p for p in folder.glob("*.mat")}
            for s in sorted(set(images) | set(mats)):
                i = len(stems)
                stems.append(f"{sub}/{s}")
                paths.append(images.get(s))
                if s not in mats or s not in images:
                    bad[i] = (f"{images[s]}: no {s}.mat beside it" if s not in mats
                              else f"{mats[s]}: no image {s}.jpg beside it")
                    continue
                try:
                    mat = load_mat(mats[s], {"Pose_Para": 3})
                    pts_file = self.root / "landmarks" / sub / f"{s}_pts.mat"
                    if landmarks == "3d" or (landmarks == "auto" and pts_file.is_file()):
                        lm = _points(load_mat(pts_file, {"pts_3d": 136})["pts_3d"], 68, pts_file, "pts_3d")
                    else:
                        lm = _points(load_mat(mats[s], {"pt2d": 136})["pt2d"], 68, mats[s], "pt2d")
                    lms[i] = np.pad(lm[:, :2], ((0, 0), (0, 1)))
                    poses[i] = np.pad(np.asarray(mat["Pose_Para"], np.float64).reshape(-1)[:7], (0, 7))[:7]
                except DatasetError as exc:
                    bad[i] = str(exc)
        if skip_bad:
            ok = [i for i in range(len(stems)) if i not in bad]
            dec = self._decode_errors([paths[i] for i in ok])
            bad.update({ok[j]: m for j, m in dec.items()})
        self._finish(len(stems), stems, bad, paths, lms, poses, [None] * len(stems), box_scale, box_shift)
