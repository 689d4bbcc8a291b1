"""Texture-GAN checkpoints: atomic writes, ``weights_only`` loading, compact generator exports.

Two kinds of ordinary ``torch.save`` files, both loadable with ``torch.load(weights_only=True)``:

* a **training state** (``last.pt`` in a run folder, written at every epoch end): generator,
  discriminator, both Adam states, the epoch / step counters, the RNG state and the resolved
  configuration -- a killed run continues from its last finished epoch;
* a **generator export** (:func:`export_generator`; what ``data/checkpoints/texture/`` holds):
  the generator's weights in fp16 (the template buffer stays fp32), its
  :class:`~m3lrn_lib.texture.gan.GeneratorConfig`, the face model's name and fingerprint, the
  training mode, configuration, epoch log, metrics and wall time.

:func:`load_generator` rebuilds a :class:`~m3lrn_lib.texture.gan.TextureGenerator` from either
kind and refuses, with a message naming the argument, a checkpoint made for another UV size,
variant or face model. Reading, atomic writing and the fp16 rule are the landmark trainer's
(:mod:`m3lrn_lib.train.checkpoint`); this module only adds the texture formats.
"""
from __future__ import annotations

from ..errors import UserError
from ..train.checkpoint import atomic_save, fp16_state, read_checkpoint  # one writer, one reader, one fp16 rule
from .gan import GeneratorConfig, TextureGenerator, check_uv_size

__all__ = ["TextureCheckpointError", "TRAIN_FORMAT", "GENERATOR_FORMAT", "load_texture_file", "export_generator",
           "load_generator", "generator_info"]

TRAIN_FORMAT = "m3lrn-texture-train-state"
GENERATOR_FORMAT = "m3lrn-texture-generator"
VERSION = 1
KEEP_FP32 = ("template",)


class TextureCheckpointError(UserError):
    """A texture checkpoint is missing, unreadable, or made for another UV size / variant / model."""


def load_texture_file(path) -> dict:
    """A texture checkpoint dict loaded with ``weights_only=True`` on the CPU (the trainer's
    :func:`~m3lrn_lib.train.checkpoint.read_checkpoint`); TextureCheckpointError if it is missing,
    unreadable or not a texture checkpoint."""
    return read_checkpoint(path, (GENERATOR_FORMAT, TRAIN_FORMAT), error=TextureCheckpointError,
                           what="a texture-GAN checkpoint", name="texture checkpoint", version=VERSION,
                           hint="make the shipped ones with `python -m m3lrn_lib.texture zoo`")


def export_generator(state: dict, path, fp16: bool = True, **extra) -> int:
    """Write a generator export from a training-state dict; returns the file size in bytes.

    ``extra`` (plain types: ``log=[...]``, ``metrics={...}``, ``wall_time_s=...``) is stored beside
    the weights.
    """
    weights = fp16_state(state["generator"], keep=KEEP_FP32) if fp16 else dict(state["generator"])
    obj = {"format": GENERATOR_FORMAT, "version": VERSION, "dtype": "float16" if fp16 else "float32",
           "generator": weights, "generator_config": state["generator_config"], "face_model": state["face_model"],
           "config": state.get("config"), "progress": {"epoch": state.get("epoch"), "step": state.get("step")}}
    obj.update(extra)
    return atomic_save(obj, path)


def generator_info(path) -> dict:
    """What a checkpoint holds, without building the network (config, face model, mode, metrics)."""
    obj = load_texture_file(path)
    keys = ("format", "generator_config", "face_model", "progress", "metrics", "wall_time_s", "mode", "zoo_name",
            "command")
    return {k: obj[k] for k in keys if k in obj}


def load_generator(path, uv_size: int | None = None, variant: str | None = None, model=None,
                   device=None) -> TextureGenerator:
    """Build the generator stored in ``path`` (an export or a training state), eval mode, float32.

    Args:
        uv_size, variant: when given, the checkpoint must have been made for them.
        model: a :class:`~m3lrn_lib.morphable.FaceModel` the generator must belong to (checked by
            fingerprint), or None.
    Raises:
        TextureCheckpointError: missing/unreadable file, or another UV size, variant or face model.
    """
    obj = load_texture_file(path)
    try:
        gcfg = GeneratorConfig(**obj["generator_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TextureCheckpointError(f"{path}: unusable generator configuration ({exc})") from None
    if uv_size is not None:
        check_uv_size(uv_size)
        if int(uv_size) != gcfg.uv_size:
            raise TextureCheckpointError(f"{path} was trained for uv_size={gcfg.uv_size}, not uv_size={uv_size}; "
                                         f"use a checkpoint trained with data.uv_size={uv_size}")
    if variant is not None and variant != gcfg.variant:
        raise TextureCheckpointError(f"{path} holds the {gcfg.variant!r} variant, not variant={variant!r}")
    face = obj.get("face_model") or {}
    if model is not None and face.get("fingerprint") not in (None, model.fingerprint()):
        raise TextureCheckpointError(f"{path} was trained for face model {face.get('name')!r} (fingerprint "
                                     f"{face.get('fingerprint')}), not for {model.name!r} ({model.fingerprint()})")
    state = {k: v.float() if v.is_floating_point() else v for k, v in obj["generator"].items()}
    tpl = state.get("template")
    gen = TextureGenerator(gcfg, None if tpl is None else (tpl + 1) / 2)
    try:
        gen.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise TextureCheckpointError(f"{path} does not fit the generator {gcfg.to_dict()}: {exc}") from None
    gen.meta = {k: obj.get(k) for k in ("mode", "zoo_name", "metrics", "wall_time_s", "face_model", "progress")}
    return gen.to(device or "cpu").eval()
