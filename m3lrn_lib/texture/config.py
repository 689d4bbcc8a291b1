"""Configuration of a texture-GAN run: five small sections, TOML presets, dotted overrides.

Presets are shipped inside the package (``m3lrn_lib/presets/texture/``: ``smoke``, ``cpu``,
``paper``, ...; see :func:`m3lrn_lib.paths.presets_dir`); a file may start from another with
``extends = "NAME"``. Overrides change single keys, with values coerced to the field's type::

    cfg = load_texture_config("cpu", ["model.variant=no_template", "optim.epochs=10", "loss.mode=adversarial"])

An unknown key raises :class:`ConfigError` naming the closest valid key. :func:`to_toml`
writes the resolved configuration (saved as ``config.toml`` beside every checkpoint; it
loads back with :func:`load_texture_config`). The file machinery is the landmark trainer's
(:class:`m3lrn_lib.train.configfiles.ConfigFiles`); this module declares the sections, their
validation and the stricter coercion of its values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..train.configfiles import ConfigError, ConfigFiles
from .gan import SUPPORTED_UV_SIZES, VARIANTS

__all__ = ["ConfigError", "TextureConfig", "FILES", "DEFAULT_CACHE", "load_texture_config", "apply_overrides",
           "list_presets", "to_toml", "to_dict", "valid_keys", "config_from_dict"]

LOSS_MODES = ("paired", "adversarial")
#: ``data.cache``'s default: ``data/generated/...`` stands for :func:`m3lrn_lib.paths.generated_data_dir`.
DEFAULT_CACHE = "data/generated/texture"


@dataclass
class RunSection:
    """name, out_dir (``{name}`` replaced), seed (initialisation and shuffling), device
    (``auto``/``cpu``/``cuda[:N]``), threads (torch CPU threads, 0 = default), log_every (steps),
    eval_every (epochs; 0 = only at the end), max_steps (stop early; the lr schedule is
    unchanged), progress (tqdm bar)."""

    name: str = "texture"
    out_dir: str = "runs/texture/{name}"
    seed: int = 0
    device: str = "cpu"
    threads: int = 1
    log_every: int = 20
    eval_every: int = 5
    max_steps: int = 0
    progress: bool = True


@dataclass
class DataSection:
    """Synthetic pairs (:mod:`m3lrn_lib.texture.synth`): uv_size, render_size, n_train, n_val
    (held-out faces scored during training), seed (data seed), cache (folder for generated sets;
    ``data/generated/...`` is inside :func:`m3lrn_lib.paths.generated_data_dir`, another relative
    path is relative to the repository root; empty = none), flip (probability of a joint left-right flip
    of image and texture, used only when the UV layout is mirror-symmetric), max_yaw (deg), detail
    (strength of the out-of-span detail), crop_scale, face_model (empty: the default model)."""

    uv_size: int = 64
    render_size: int = 128
    n_train: int = 2000
    n_val: int = 100
    seed: int = 0
    cache: str = DEFAULT_CACHE
    flip: float = 0.5
    max_yaw: float = 20.0
    detail: float = 1.0
    crop_scale: float = 1.3
    face_model: str = ""


@dataclass
class ModelSection:
    """variant (``template``: Fig. S4; ``no_template``: Fig. S6), generator width ngf and depth
    n_blocks, norm (``batch``; ``instance`` normalisation discards the input's global colour,
    which the texture needs: val L1 0.061 vs 0.053 after 400 steps of the cpu preset), PatchGAN
    width ndf and depth d_layers, conditional discriminator."""

    variant: str = "template"
    ngf: int = 16
    n_blocks: int = 6
    norm: str = "batch"
    ndf: int = 32
    d_layers: int = 2
    conditional: bool = True


@dataclass
class OptimSection:
    """Adam (lr, beta1, beta2), batch_size, epochs; the lr stays constant for decay_start epochs
    and then falls linearly to 0 at the last epoch (paper: 300 epochs, decay after 100)."""

    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 8
    epochs: int = 45
    decay_start: int = 15


@dataclass
class LossSection:
    """mode: ``adversarial`` (the paper: LSGAN only) or ``paired`` (LSGAN + l1_weight x L1 to the
    true texture, possible because synthetic faces come with their textures); gan_weight."""

    mode: str = "paired"
    l1_weight: float = 100.0
    gan_weight: float = 1.0


@dataclass
class TextureConfig:
    """A whole texture-GAN run (see the section classes for the keys)."""

    run: RunSection = field(default_factory=RunSection)
    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    optim: OptimSection = field(default_factory=OptimSection)
    loss: LossSection = field(default_factory=LossSection)

    def validate(self) -> TextureConfig:
        """Check every value; raise :class:`ConfigError` naming the key."""
        r, d, m, o, lo = self.run, self.data, self.model, self.optim, self.loss
        chk = _check
        chk(bool(r.name) and "/" not in r.name, f"run.name must be a non-empty name without '/', got {r.name!r}")
        chk(r.device in ("auto", "cpu") or r.device.startswith("cuda"),
            f"run.device must be auto, cpu or cuda[:N], got {r.device!r}")
        for k in ("threads", "eval_every", "max_steps"):
            chk(getattr(r, k) >= 0, f"run.{k} must be >= 0, got {getattr(r, k)}")
        chk(r.log_every >= 1, f"run.log_every must be >= 1, got {r.log_every}")
        chk(d.uv_size in SUPPORTED_UV_SIZES, f"data.uv_size={d.uv_size} is not supported; choose one of "
                                             f"{list(SUPPORTED_UV_SIZES)}")
        chk(16 <= d.render_size <= 2048, f"data.render_size must be in [16, 2048], got {d.render_size}")
        chk(d.n_train >= 1 and d.n_val >= 0, f"data.n_train must be >= 1 and data.n_val >= 0, got {d.n_train}, {d.n_val}")
        chk(0 <= d.flip <= 1, f"data.flip is a probability in [0, 1], got {d.flip}")
        chk(0 <= d.max_yaw <= 60, f"data.max_yaw must be in [0, 60] degrees (frontal faces), got {d.max_yaw}")
        chk(d.detail >= 0 and d.crop_scale > 0, "data.detail must be >= 0 and data.crop_scale > 0")
        chk(m.variant in VARIANTS, f"model.variant must be one of {list(VARIANTS)}, got {m.variant!r}")
        chk(m.ngf >= 1 and m.n_blocks >= 0 and m.ndf >= 1, "model.ngf, model.ndf must be >= 1, model.n_blocks >= 0")
        chk(1 <= m.d_layers <= 5, f"model.d_layers must be in [1, 5], got {m.d_layers}")
        chk(m.norm in ("instance", "batch"), f"model.norm must be instance or batch, got {m.norm!r}")
        chk(o.lr > 0 and math.isfinite(o.lr), f"optim.lr must be positive, got {o.lr}")
        chk(0 <= o.beta1 < 1 and 0 <= o.beta2 < 1, "optim.beta1 and optim.beta2 must be in [0, 1)")
        chk(o.batch_size >= 1, f"optim.batch_size must be >= 1, got {o.batch_size}")
        chk(o.epochs >= 1, f"optim.epochs must be >= 1, got {o.epochs}")
        chk(0 <= o.decay_start <= o.epochs, f"optim.decay_start must be in [0, epochs={o.epochs}], got {o.decay_start}")
        chk(lo.mode in LOSS_MODES, f"loss.mode must be one of {list(LOSS_MODES)}, got {lo.mode!r}")
        for k in ("l1_weight", "gan_weight"):
            v = getattr(lo, k)
            chk(math.isfinite(v) and v >= 0, f"loss.{k} must be a finite number >= 0, got {v}")
        chk(lo.gan_weight > 0 or (lo.mode == "paired" and lo.l1_weight > 0),
            f"loss.gan_weight and loss.l1_weight are both 0 (mode {lo.mode}): nothing to train; set one > 0")
        chk(lo.mode == "paired" or lo.gan_weight > 0, "loss.mode=adversarial needs loss.gan_weight > 0")
        return self


def _check(ok: bool, msg: str) -> None:
    if not ok:
        raise ConfigError(msg)


#: The preset files, overrides and TOML writer of :class:`TextureConfig`: stricter ints (``"5.0"`` is
#: refused) and looser strings (numbers accepted, quotes stripped) than the landmark trainer's.
FILES = ConfigFiles(TextureConfig, "texture", what="texture config key", preset="texture preset",
                    relative_suffixes=(".toml",), example="optim.epochs=10", skip=("extends", "derived"),
                    coerce_options=dict(message="{key}: cannot use {value!r} as a {kind}", int_text_as_float=False,
                                        bool_from_float=False, loose_str=True),
                    scalars_only=True, derived_note="informational; ignored when this file is loaded")

valid_keys = FILES.valid_keys
config_from_dict = FILES.config_from_dict
apply_overrides = FILES.apply_overrides
list_presets = FILES.list_presets
#: ``load_texture_config(name_or_path="cpu", overrides=())``: a preset (``m3lrn_lib/presets/texture/NAME.toml``)
#: or a TOML file, ``extends`` followed, dotted ``overrides`` applied, validated.
load_texture_config = FILES.load
to_dict = FILES.to_dict
to_toml = FILES.to_toml
