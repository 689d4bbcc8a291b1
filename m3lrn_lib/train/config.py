"""Training configuration: a dataclass tree, preset files, command-line overrides, a TOML writer.

A run is described by :class:`TrainConfig` with six sections (``run``, ``model``, ``data``,
``augment``, ``optim``, ``loss``). Presets are plain TOML (or YAML) files shipped inside the
package (``m3lrn_lib/presets/``: ``paper``, ``paper_code``, ``cpu``, ``smoke``; see
:func:`m3lrn_lib.paths.presets_dir`); a file may start from another with ``extends = "NAME"``.
Dotted overrides change single keys::

    cfg = load_config("cpu", ["optim.batch_size=64", "model.preset=baseline", "optim.milestones=9,12"])

Values are coerced to the field's type (``true/false``, ints, floats such as ``5e-4``,
lists as ``9,12`` or ``[9, 12]``). An unknown key raises :class:`ConfigError` naming the
closest valid key (difflib). :func:`to_toml` writes the resolved configuration, which the
trainer saves beside every checkpoint (``config.toml``); it loads back with
:func:`load_config`. The file machinery is :class:`m3lrn_lib.train.configfiles.ConfigFiles`;
this module declares the sections, the ``model.options.*`` keys and the validation.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..nn.losses import LossWeights
from . import configfiles
from .configfiles import ConfigError
from .loop import OPTIMIZERS

__all__ = ["ConfigError", "RunConfig", "ModelConfig", "DataConfig", "AugmentConfig", "OptimConfig",
           "TrainConfig", "FILES", "list_presets", "load_config", "config_from_dict", "apply_overrides",
           "to_toml", "to_dict", "valid_keys"]


@dataclass
class RunConfig:
    """Where and how a run executes.

    Attributes:
        name: run name; out_dir: output folder (``{name}`` is replaced by the name).
        seed: seeds initialisation, shuffling and augmentation.
        device: ``auto`` (CUDA when available; under torchrun ``cuda:LOCAL_RANK``), ``cpu``, ``cuda[:N]``.
        threads: torch CPU threads (0: torch's default).
        deterministic: ``torch.use_deterministic_algorithms(True)`` (needed for bit-exact resume on GPU).
        amp: mixed precision on CUDA for the backbone: ``auto`` (bf16 where supported, else fp16 with
            a gradient scaler), ``bf16``, ``fp16``, ``off``. Ignored on CPU.
        channels_last: NHWC memory format for the convolutions (faster on CPU and tensor cores).
        compile: ``torch.compile`` the backbone in place (state-dict keys unchanged).
        sync_bn: SyncBatchNorm across processes (CUDA + DDP only; the paper's code does not use it).
        ddp_find_unused: DistributedDataParallel's ``find_unused_parameters``.
        log_format: ``jsonl`` or ``csv``; log_every: steps between step records.
        eval_every: epochs between validations (0: only at the end); eval_batch: validation batch.
        save_every: steps between mid-epoch checkpoints (0: at epoch ends only).
        max_steps: stop after this many steps (0: the whole schedule; the schedule is unchanged).
        progress: tqdm progress bar.
    """

    name: str = "run"
    out_dir: str = "runs/{name}"
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    deterministic: bool = False
    amp: str = "auto"
    channels_last: bool = True
    compile: bool = False
    sync_bn: bool = False
    ddp_find_unused: bool = False
    log_format: str = "jsonl"
    log_every: int = 10
    eval_every: int = 1
    eval_batch: int = 128
    save_every: int = 0
    max_steps: int = 0
    progress: bool = True


@dataclass
class ModelConfig:
    """The network: an :class:`~m3lrn_lib.nn.M3LRNConfig` preset plus optional field overrides
    (``[model.options]``, e.g. ``lmk_kind = "wing"``), and the morphable model
    (``face_model``: empty for ``$M3LRN_FACE_MODEL`` / the embedded one, or a path)."""

    preset: str = "full"
    face_model: str = ""
    options: dict = field(default_factory=dict)


@dataclass
class DataConfig:
    """Training and validation data.

    Attributes:
        train: ``synthetic`` (the default generated set, :func:`m3lrn_lib.data.default_datasets`),
            ``sample`` (the shipped sample) or a folder in the 3DDFA layout (real 300W-LP crops).
        test: empty (the test split that goes with ``synthetic`` / ``sample``; none for a path),
            ``none``, or an AFLW2000-3D-layout folder.
        n_train, n_test: sizes of the synthetic set; subset, test_subset: use only the first N (0: all).
        workers: DataLoader worker processes; pin_memory: pinned host memory (CUDA only).
        prefetch: batches each worker prepares ahead.
        start_method: how workers start: ``spawn`` (default, robust: a forked child inherits
            OpenCV's / OpenBLAS's thread pools in an unusable state and can hang), ``forkserver``
            or ``fork`` (fastest start).
        skip_bad: drop bad samples (undecodable images, non-finite parameters or landmarks) of
            the training and test sets with a warning giving the count, instead of stopping
            with an error naming the first one (the readers' ``skip_bad=True``).
    """

    train: str = "synthetic"
    test: str = ""
    n_train: int = 20000
    n_test: int = 2000
    subset: int = 0
    test_subset: int = 0
    workers: int = 2
    pin_memory: bool = True
    prefetch: int = 2
    start_method: str = "spawn"
    skip_bad: bool = False


@dataclass
class AugmentConfig:
    """Sec. 4 "Procedure": colour jitter, horizontal flip (p = 0.5) and face swap within a minibatch.

    ``face_swap`` is the probability that a face takes part in the texture shuffle (the paper gives
    none; 0 disables it). ``face_swap_texture``: side of the UV textures.
    """

    color_jitter: bool = True
    flip: float = 0.5
    face_swap: float = 0.5
    face_swap_texture: int = 128


@dataclass
class OptimConfig:
    """SGD and the step schedule (paper: lr 0.08 at batch 1024, momentum 0.9, 80 epochs, x0.1 at 48 and 64).

    Attributes:
        optimizer: ``sgd`` (the paper's: momentum, nesterov) or ``adam`` (``momentum`` is its beta_1,
            beta_2 = 0.999; a documented change for short schedules, docs/cpu-recipe.md).
        lr: learning rate at ``ref_batch``; scale_lr: linear-scaling rule, the effective rate is
            ``lr * batch_size / ref_batch`` (:func:`m3lrn_lib.train.schedule.scaled_lr`).
        batch_size: global batch (all processes together; divisible by the number of processes).
        milestones: epochs after which the rate is multiplied by ``gamma``.
        warmup_epochs: linear warm-up (the public code: 5; the paper: none).
        nesterov, weight_decay: the public code uses True and 5e-4 (the paper: plain momentum, none).
        skip_nonfinite: skip (and count) a step whose loss or gradients are not finite, or whose
            update would make a parameter non-finite (the parameters and the optimiser state are
            restored to what they were before the step).
    """

    optimizer: str = "sgd"
    lr: float = 0.08
    ref_batch: int = 1024
    scale_lr: bool = True
    batch_size: int = 1024
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    epochs: int = 80
    milestones: list = field(default_factory=lambda: [48, 64])
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    skip_nonfinite: bool = True


@dataclass
class TrainConfig:
    """A whole run; sections as above, ``loss`` are lambda_1..4 of Eq. 7 (:class:`LossWeights`)."""

    run: RunConfig = field(default_factory=RunConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossWeights = field(default_factory=LossWeights)

    def validate(self) -> TrainConfig:
        """Raise :class:`ConfigError` for values out of range; returns self."""
        _validate(self)
        return self

    def out_dir(self) -> Path:
        """The run's output folder (``run.out_dir`` with ``{name}`` filled in)."""
        return Path(self.run.out_dir.replace("{name}", self.run.name))


# ----------------------------------------------------------------------------- files
class _TrainConfigFiles(configfiles.ConfigFiles):
    """The landmark trainer's keys: the sections' fields plus ``model.options.<M3LRNConfig field>``."""

    def valid_keys(self, cfg: TrainConfig | None = None) -> list[str]:
        """Every dotted key (``optim.lr``, ...) and the M3LRN options (``model.options.lmk_kind``)."""
        from ..nn import M3LRNConfig
        return super().valid_keys(cfg) + [f"model.options.{f.name}" for f in dataclasses.fields(M3LRNConfig)]

    def set(self, cfg: TrainConfig, key: str, value, from_file: bool = False) -> None:
        from ..nn import M3LRNConfig
        keys = self.valid_keys(cfg)
        section, name = configfiles.find_field(cfg, key, keys, error=self.error)
        parts = key.split(".")
        mfields = {f.name: f for f in dataclasses.fields(M3LRNConfig)}
        if parts[0] == "model" and name == "options" and len(parts) == 3:
            opt = parts[2]
            if opt not in mfields:
                raise self.unknown(key, keys)
            default = mfields[opt].default
            if isinstance(value, str) and not from_file:
                value = None if value.lower() in ("none", "null") else (
                    self.coerce(key, value, default) if default is not None else configfiles.parse_scalar(value))
            section.options[opt] = value
            return
        if len(parts) != 2:
            raise self.unknown(key, keys)
        value = self.coerce(key, value, configfiles.field_default(section, name))
        if parts[0] == "model" and name == "options":
            for opt in value:
                if opt not in mfields:
                    raise self.unknown(f"model.options.{opt}", keys)
        configfiles.assign(section, name, value)  # LossWeights is a frozen dataclass


#: The preset files, overrides and TOML writer of :class:`TrainConfig`.
FILES = _TrainConfigFiles(TrainConfig, "landmarks", suffixes=(".toml", ".yaml", ".yml"), example="optim.lr=0.01")

valid_keys = FILES.valid_keys
config_from_dict = FILES.config_from_dict
apply_overrides = FILES.apply_overrides
list_presets = FILES.list_presets
#: ``load_config(name_or_path="cpu", overrides=())``: a preset name (``m3lrn_lib/presets/NAME.toml``)
#: or a TOML/YAML file, ``extends`` followed, dotted ``overrides`` applied, validated.
load_config = FILES.load
to_dict = FILES.to_dict
#: ``to_toml(cfg, header="", derived=None)``: ``derived`` (effective lr, steps, ...) goes to a
#: ``[derived]`` table that :func:`load_config` ignores.
to_toml = FILES.to_toml


# ----------------------------------------------------------------------------- validation
def _check(ok: bool, msg: str) -> None:
    if not ok:
        raise ConfigError(msg)


def _validate(cfg: TrainConfig) -> None:
    from ..nn import M3LRNConfig
    r, d, a, o = cfg.run, cfg.data, cfg.augment, cfg.optim
    _check(r.amp in ("auto", "off", "bf16", "fp16"), f"run.amp must be auto, off, bf16 or fp16, got {r.amp!r}")
    _check(r.log_format in ("jsonl", "csv"), f"run.log_format must be jsonl or csv, got {r.log_format!r}")
    _check(r.device == "auto" or r.device == "cpu" or r.device.startswith("cuda"),
           f"run.device must be auto, cpu or cuda[:N], got {r.device!r}")
    for k in ("threads", "eval_every", "save_every", "max_steps"):
        _check(getattr(r, k) >= 0, f"run.{k} must be >= 0, got {getattr(r, k)}")
    _check(r.log_every >= 1 and r.eval_batch >= 1, "run.log_every and run.eval_batch must be >= 1")
    _check(bool(r.name) and "/" not in r.name, f"run.name must be a non-empty name without '/', got {r.name!r}")
    try:
        M3LRNConfig.preset(cfg.model.preset, **cfg.model.options)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"model: {exc}") from None
    _check(bool(d.train), "data.train must be 'synthetic', 'sample' or a dataset folder")
    for k in ("n_train", "n_test", "subset", "test_subset", "workers"):
        _check(getattr(d, k) >= 0, f"data.{k} must be >= 0, got {getattr(d, k)}")
    _check(d.prefetch >= 1, "data.prefetch must be >= 1")
    _check(d.start_method in ("spawn", "forkserver", "fork"),
           f"data.start_method must be spawn, forkserver or fork, got {d.start_method!r}")
    _check(0 <= a.flip <= 1 and 0 <= a.face_swap <= 1, "augment.flip and augment.face_swap are probabilities in [0, 1]")
    _check(a.face_swap_texture >= 8, "augment.face_swap_texture must be >= 8")
    _check(o.optimizer in OPTIMIZERS, f"optim.optimizer must be one of {', '.join(OPTIMIZERS)}, got {o.optimizer!r}")
    _check(o.lr > 0 and math.isfinite(o.lr), f"optim.lr must be positive, got {o.lr}")
    _check(o.batch_size >= 2, f"optim.batch_size must be >= 2 (BatchNorm), got {o.batch_size}")
    _check(o.ref_batch >= 1, "optim.ref_batch must be >= 1")
    _check(o.epochs >= 1, f"optim.epochs must be >= 1, got {o.epochs}")
    _check(0 <= o.momentum < 1, f"optim.momentum must be in [0, 1), got {o.momentum}")
    _check(o.weight_decay >= 0 and 0 < o.gamma <= 1, "optim.weight_decay >= 0 and 0 < optim.gamma <= 1")
    _check(not o.nesterov or o.momentum > 0, "optim.nesterov needs momentum > 0")
    _check(not o.nesterov or o.optimizer == "sgd", "optim.nesterov is an SGD option (set optim.nesterov=false for adam)")
    _check(0 <= o.warmup_epochs <= o.epochs, "optim.warmup_epochs must be in [0, epochs]")
    ms = o.milestones
    _check(all(isinstance(m, int) and not isinstance(m, bool) for m in ms),
           f"optim.milestones must be whole epochs, got {ms}")
    _check(list(ms) == sorted(set(ms)) and all(0 < m < o.epochs for m in ms),
           f"optim.milestones must increase strictly inside (0, epochs={o.epochs}), got {ms}")
    weights = dataclasses.asdict(cfg.loss)
    for k, v in weights.items():
        _check(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0,
               f"loss.{k} must be a finite number >= 0, got {v}")
    _check(any(v > 0 for v in weights.values()),
           "loss weights are all 0 (" + ", ".join(f"loss.{k}" for k in weights)
           + "): nothing to train; set at least one > 0, e.g. loss.w_3dmm=0.02")
