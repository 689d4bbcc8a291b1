"""Notebook 02's figures build without error and show what they claim."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from m3lrn_lib.data import sample_datasets  # noqa: E402
from m3lrn_lib.data.figures import augmentation_figure, sample_grid  # noqa: E402


def test_sample_grid_and_augmentations():
    train, test = sample_datasets()
    fig = sample_grid(train, n=8, cols=4)
    assert len([a for a in fig.axes if a.images]) == 8
    fig2 = sample_grid(test, indices=[0, 1, 2])
    assert len([a for a in fig2.axes if a.images]) == 3
    fig3 = augmentation_figure(train, indices=(0, 1, 2))
    assert len(fig3.axes) == 12 and [fig3.axes[i].get_title() for i in (0, 3, 6, 9)] == \
        ["original", "colour jitter", "flip", "face swap"]
    plt.close("all")
