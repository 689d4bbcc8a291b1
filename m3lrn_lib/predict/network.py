"""Loading a trained network for prediction and benchmarks: :func:`load_network`, :func:`variant_of`.

Accepted sources:

- an :class:`~m3lrn_lib.nn.M3LRN` instance (used as is, put in eval mode);
- a trainer checkpoint (a ``torch.save`` dict with a ``format`` key): handed to
  :func:`m3lrn_lib.train.load_checkpoint` when the trainer provides it;
- a plain state-dict file: ``torch.save({'state_dict': net.state_dict(), 'config': <preset name
  or M3LRNConfig dict>, 'param_mean': (D,), 'param_std': (D,)})`` (see :func:`save_state_dict`).

Files are read with ``weights_only=True`` (no pickled code runs). Any problem -- missing or
corrupt file, unknown layout, weights of another variant or another morphable model -- raises
:class:`NetworkLoadError` with a message that says what was found and what was expected.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import UserError
from ..fileio import safe_torch_load

__all__ = ["NetworkLoadError", "load_network", "save_state_dict", "variant_of", "ARCH_FIELDS"]

#: Config fields that define the architecture (the rest only affect training).
ARCH_FIELDS = ("backbone", "refine", "lgs", "mmpf", "lgs_targets", "lgs_setting", "extra_mlp", "adapt_image")


class NetworkLoadError(UserError):
    """A network source is missing, unreadable, or does not fit what was asked for."""


def _config_dict(cfg) -> dict:
    if hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    if isinstance(cfg, str):
        from ..nn import M3LRNConfig
        return M3LRNConfig.preset(cfg).to_dict()
    return dict(cfg)


def variant_of(config) -> str:
    """The preset name (``'full'``, ``'baseline'``, ... see :mod:`m3lrn_lib.nn.model`) whose
    architecture matches ``config`` (an M3LRN, an M3LRNConfig, a dict or a preset name), with
    ``'@w<width>'`` appended for a MobileNet width other than 1.0; ``'custom'`` if none matches."""
    from ..nn import PRESETS, M3LRNConfig

    if hasattr(config, "config") and not isinstance(config, dict):
        config = config.config
    mine = _config_dict(config)
    name = "custom"
    for preset in PRESETS:
        ref = M3LRNConfig.preset(preset).to_dict()
        if all(mine.get(k, ref[k]) == ref[k] for k in ARCH_FIELDS):
            name = preset
            break
    w = mine.get("width_mult", 1.0)
    return name if w == 1.0 or name == "custom" else f"{name}@w{w:g}"


def save_state_dict(net, path) -> None:
    """Write ``net`` in the plain state-dict layout that :func:`load_network` reads (atomically)."""
    import io

    from ..fileio import atomic_write_bytes

    buf = io.BytesIO()
    torch.save({"state_dict": net.state_dict(), "config": net.config.to_dict(),
                "param_mean": net.param_mean.detach().cpu(), "param_std": net.param_std.detach().cpu()}, buf)
    atomic_write_bytes(path, buf.getvalue())


def _from_trainer(path: Path, model):
    try:
        from ..train import load_checkpoint
    except ImportError:
        raise NetworkLoadError(f"{path} is a trainer checkpoint, but m3lrn_lib.train.load_checkpoint is not "
                               "available in this installation") from None
    try:
        return load_checkpoint(path, model=model)
    except (ValueError, TypeError, KeyError) as exc:  # CheckpointError is a ValueError
        text = str(exc)
        raise NetworkLoadError(text if str(path) in text else f"{path}: {text}") from None


def _from_state_dict(path: Path, obj: dict, model):
    from ..morphable import load_face_model
    from ..nn import M3LRN, M3LRNConfig

    missing = [k for k in ("config", "param_mean", "param_std") if k not in obj]
    if missing:
        raise NetworkLoadError(f"{path}: a state-dict checkpoint needs keys 'state_dict', 'config', "
                               f"'param_mean', 'param_std'; missing {missing}")
    try:
        cfg = obj["config"]
        config = M3LRNConfig.preset(cfg) if isinstance(cfg, str) else M3LRNConfig(**dict(cfg))
    except (TypeError, ValueError) as exc:
        raise NetworkLoadError(f"{path}: unusable model configuration {obj['config']!r} ({exc})") from None
    fm = load_face_model(model)
    try:
        net = M3LRN(fm, config, obj["param_mean"], obj["param_std"])
    except ValueError as exc:
        raise NetworkLoadError(f"{path}: {exc}") from None
    state = {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v)
             for k, v in obj["state_dict"].items()}
    try:
        result = net.load_state_dict(state, strict=False)
    except (RuntimeError, ValueError) as exc:
        raise NetworkLoadError(f"{path} does not fit a {variant_of(config)!r} network: {exc}") from None
    if result.missing_keys or result.unexpected_keys:
        def head(keys):
            mods = sorted({k.split(".")[0] for k in keys})
            return f"{len(keys)} ({', '.join(mods)})"
        raise NetworkLoadError(
            f"{path}: the weights are for another variant than its config says ({variant_of(config)!r}): "
            f"missing {head(result.missing_keys)}, unexpected {head(result.unexpected_keys)} tensors")
    return net


def load_network(source, device=None, expect_variant: str | None = None, model=None):
    """An :class:`~m3lrn_lib.nn.M3LRN` in eval mode on ``device`` from ``source`` (see the module docstring).

    Args:
        source: an M3LRN, or a path to a trainer checkpoint or a state-dict file.
        device: ``'cpu'``, ``'cuda'``, a torch.device, or None (keep / CPU).
        expect_variant: a preset name; a network of another variant raises NetworkLoadError
            (e.g. a ``'baseline'`` checkpoint where ``'full'`` was asked for).
        model: the morphable model (default: the embedded one, or the one the checkpoint names).
    """
    from ..nn import M3LRN, PRESETS

    if expect_variant is not None and expect_variant not in PRESETS:
        raise NetworkLoadError(f"unknown variant {expect_variant!r}; choose one of {sorted(PRESETS)}")
    if isinstance(source, M3LRN):
        net = source
    elif isinstance(source, torch.nn.Module):
        raise NetworkLoadError(f"expected an M3LRN network, got a {type(source).__name__}")
    else:
        path = Path(source)
        # one line for a missing path, a folder, an empty / truncated / foreign file and a pickle payload
        # (weights_only refuses it: its code never runs)
        obj = safe_torch_load(path, NetworkLoadError)
        if not isinstance(obj, dict):
            raise NetworkLoadError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")
        if "format" in obj:
            net = _from_trainer(path, model)
        elif "state_dict" in obj:
            net = _from_state_dict(path, obj, model)
        else:
            raise NetworkLoadError(f"{path}: unknown checkpoint layout (keys {sorted(map(str, obj))[:10]}); "
                                   "expected a trainer checkpoint or {'state_dict', 'config', 'param_mean', "
                                   "'param_std'}")
    got = variant_of(net)
    if expect_variant is not None and got.split("@")[0] != expect_variant:
        raise NetworkLoadError(f"the checkpoint holds a {got!r} network, not the {expect_variant!r} variant asked for")
    if device is not None:
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise NetworkLoadError("device 'cuda' requested but no CUDA GPU is available (use --device cpu)")
        net = net.to(dev)
    return net.float().eval()
