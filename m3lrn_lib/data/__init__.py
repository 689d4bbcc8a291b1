"""Data: readers of the real layouts, the synthetic generator, augmentations.

- :mod:`.crop` -- crop policies (benchmark: from landmarks; inference: from a detector box)
  and the maps of points / parameters between an image and its 120x120 crop.
- :mod:`.layouts` -- ``Dataset`` readers and writers of the 3DDFA, AFLW2000-3D and 300W-LP
  layouts; :func:`open_dataset` detects the layout.
- :mod:`.synth` / :mod:`.writer` -- synthetic faces from any morphable model, written as a
  3DDFA-layout training set and an AFLW2000-3D-layout test set (``python -m m3lrn_lib.data``).
- :mod:`.prior` -- faces drawn from the priors and framed like the training crops, without
  rendering (unlimited parameter / landmark pairs).
- :mod:`.transforms` -- colour jitter, horizontal flip, ``ToTensor``; :mod:`.faceswap` -- the
  paper's face-swap augmentation (batched, CPU or CUDA); :mod:`.figures` -- notebook plots.

Quick use::

    train, test = sample_datasets()          # shipped sample: ~300 train / ~100 test faces
    train, test = default_datasets()         # 20k / 2k faces, generated on first use
"""
from __future__ import annotations

from .. import paths
from .crop import (
    CROP_SIZE,
    box_from_detector,
    box_from_landmarks,
    crop_image,
    params_from_crop,
    params_to_crop,
    points_from_crop,
    points_to_crop,
)
from .faceswap import FaceSwap, face_swap
from .io import DatasetError
from .layouts import (
    AFLW2000Dataset,
    FaceDataset,
    ThreeDDFADataset,
    W300LPDataset,
    detect_layout,
    euler_from_pose_para,
    open_dataset,
    pose_para_from_params,
)
from .prior import sample_prior_params
from .synth import GENERATOR_VERSION, GENERATOR_VERSIONS, FaceSynthesizer, SynthConfig, default_generator
from .transforms import ColorJitter, Compose, RandomHorizontalFlip, ToTensor, to_sample
from .writer import SAMPLE_COUNTS, default_data_dir, generate


def _readers(folder, model, split, transform):
    from ..morphable import load_face_model
    model = load_face_model() if model is None else model
    train = ThreeDDFADataset(folder / "train", model, transform=transform) if "train" in split else None
    test = AFLW2000Dataset(folder / "test", model, whitening=train) if "test" in split else None
    out = {"train": train, "test": test}
    return out[split] if isinstance(split, str) else tuple(out[s] for s in split)


def sample_datasets(model=None, split=("train", "test"), transform=None):
    """Readers of the shipped sample in ``data/sample`` (made by the embedded model).

    Args:
        model: the embedded model (default); another model raises DatasetError (use
            :func:`default_datasets` to generate a set for it).
        split: "train", "test" or a tuple of them -> one reader or a tuple in that order.
        transform: raw-sample transform for the training split (the test split is never
            augmented).
    """
    return _readers(paths.sample_dir(), model, split, transform)


def default_datasets(model=None, n_train: int = 20000, n_test: int = 2000, workers: int = 2, seed: int = 0,
                     split=("train", "test"), transform=None, progress: bool = True):
    """Generate (first call only, minutes) the default synthetic sets into
    :func:`default_data_dir` and return their readers (as :func:`sample_datasets`)."""
    from ..morphable import load_face_model
    model = load_face_model() if model is None else model
    folder = default_data_dir() / (f"{model.name}-{model.fingerprint()[:8]}-seed{seed}-{n_train}-{n_test}"
                                   f"-v{default_generator(model)}")
    generate(model, folder, n_train, n_test, seed, workers, resume=True, progress=progress)
    return _readers(folder, model, split, transform)


__all__ = [
    "CROP_SIZE", "box_from_detector", "box_from_landmarks", "crop_image", "params_from_crop",
    "params_to_crop", "points_from_crop", "points_to_crop", "FaceSwap", "face_swap", "SAMPLE_COUNTS",
    "default_data_dir", "generate", "DatasetError", "AFLW2000Dataset", "FaceDataset",
    "ThreeDDFADataset", "W300LPDataset", "detect_layout", "euler_from_pose_para", "open_dataset",
    "pose_para_from_params", "GENERATOR_VERSION", "GENERATOR_VERSIONS", "default_generator", "FaceSynthesizer",
    "SynthConfig", "ColorJitter",
    "Compose", "RandomHorizontalFlip", "ToTensor", "to_sample", "sample_datasets", "default_datasets",
    "sample_prior_params",
]
