"""Training and evaluation loops (Sec. 4, "Procedure").

:func:`train` runs SGD on any :class:`~m3lrn_lib.nn.M3LRN` variant and a dataset of samples
(see :mod:`m3lrn_lib.data`); :func:`evaluate` measures NME by yaw bin and head-pose MAE.
"""
from .loop import TrainSettings, evaluate, make_loader, predict_batches, train

__all__ = ["TrainSettings", "train", "evaluate", "make_loader", "predict_batches"]
