"""Training (Sec. 4, "Procedure"): the quick loop of notebooks 02-04 and the full trainer.

- :mod:`.loop` -- :func:`train` (a short SGD loop on any dataset), :func:`evaluate` (NME by yaw bin,
  pose MAE), :func:`predict_batches`, :func:`make_loader`.
- :mod:`.config` -- :class:`TrainConfig`, presets in ``m3lrn_lib/presets/`` (``paper``, ``paper_code``,
  ``cpu``, ``smoke``), dotted overrides, :func:`load_config`; :mod:`.configfiles` -- the TOML preset
  machinery shared with the texture GAN.
- :mod:`.engine` -- :class:`Trainer` / :func:`fit`: schedule, augmentation, AMP, channels-last,
  ``torch.compile``, NaN guard, DDP, logs, best/last checkpoints, exact resume.
- :mod:`.checkpoint` -- atomic saves, ``weights_only`` loading, fp16 export, :func:`load_checkpoint`.
- :mod:`.schedule`, :mod:`.logs` -- lr schedule / linear scaling; log files (both trainers) and plots.
- :mod:`.zoo`, :mod:`.zoofiles` -- the shipped checkpoints; the zoo mechanism shared with the texture GAN.

Platform plumbing (threads, RNG state, devices, torchrun) is in :mod:`m3lrn_lib.runtime`.

Command line: ``python -m m3lrn_lib.train --config cpu [section.key=value ...]`` (also under
``torchrun --nproc_per_node=N``); ``python -m m3lrn_lib.train.zoo`` re-trains the shipped checkpoints.
"""
from ..runtime import describe_hardware
from .checkpoint import CheckpointError, checkpoint_info, export_weights, load_checkpoint
from .config import ConfigError, TrainConfig, apply_overrides, list_presets, load_config, to_toml
from .engine import Trainer, fit
from .logs import LivePlot, plot_log, read_log
from .loop import TrainSettings, evaluate, format_eval, make_loader, mean_face_nme, predict_batches, train
from .schedule import lr_at, lr_curve, scaled_lr, steps_per_epoch

__all__ = ["TrainSettings", "train", "evaluate", "make_loader", "predict_batches", "mean_face_nme", "format_eval",
           "TrainConfig", "ConfigError", "load_config", "apply_overrides", "list_presets", "to_toml",
           "Trainer", "fit", "describe_hardware", "CheckpointError", "load_checkpoint", "export_weights",
           "checkpoint_info", "read_log", "plot_log", "LivePlot", "lr_at", "lr_curve", "scaled_lr",
           "steps_per_epoch"]
