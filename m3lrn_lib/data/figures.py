"""Matplotlib figures for notebook 02: training samples with landmarks, augmentations."""
from __future__ import annotations

import numpy as np
import torch

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
