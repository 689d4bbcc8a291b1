"""Checkpoints: atomic writes, safe loading, compact fp16 exports and :func:`load_checkpoint`.

Two file kinds, both ordinary ``torch.save`` files that load with ``weights_only=True`` (no
pickled code is ever executed):

* a **training state** (``last.pt`` / ``best.pt`` in a run folder): model, optimizer, scaler,
  progress counters, RNG states, the resolved configuration -- enough to continue the run
  exactly (:mod:`m3lrn_lib.train.engine`);
* **weights** (:func:`export_weights`): the model's state dict (floating tensors in fp16 except
  the whitening statistics; packed into one flat tensor per dtype plus an index, which
  :func:`load_file` undoes), the network and face-model description, the resolved training
  configuration, its epoch log, metrics and wall time. This is what ``data/checkpoints/`` holds
  (the full model: 7.9 MiB).

Writes go to a temporary file in the target folder and are ``os.replace``-d over the old
file, so a crash or a full disk (``ENOSPC``) never leaves a half-written checkpoint: the
previous one stays valid. :func:`load_checkpoint` builds the network from either kind and
refuses weights of another variant or morphable model with a clear message (never a silent
partial load).
"""
from __future__ import annotations

import errno
import io
import os
import tempfile
import zlib
from pathlib import Path

import torch

from ..errors import UserError
from ..fileio import TMP_PREFIX, safe_torch_load  # TMP_PREFIX: the debris name of every atomic write

__all__ = ["CheckpointError", "atomic_save", "read_checkpoint", "fp16_state", "load_file", "export_weights",
           "load_checkpoint", "TRAIN_FORMAT", "WEIGHTS_FORMAT", "checkpoint_info"]

TRAIN_FORMAT = "m3lrn-train-state"
WEIGHTS_FORMAT = "m3lrn-weights"
VERSION = 1
# never stored in fp16: whitening statistics (their values reach ~1e2 with small std)
KEEP_FP32 = ("param_mean", "param_std")


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable, of another kind, or does not fit the network."""


def _write(fh, data) -> None:
    """Write ``data`` to the open file (one place, so tests can simulate a full disk)."""
    fh.write(data)


def atomic_save(obj, path) -> int:
    """``torch.save(obj)`` to ``path`` atomically; returns the file size in bytes.

    On any error (e.g. ``OSError(ENOSPC)``) the temporary file is removed, the previous file at
    ``path`` is untouched, and the error is re-raised (a full disk as :class:`OSError` with a
    message naming the path).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getbuffer()
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".pt", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write(fh, data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise OSError(errno.ENOSPC, f"no space left on the device while writing {path} "
                                        f"({len(data) / 1e6:.1f} MB); the previous checkpoint is unchanged") from exc
        raise
    return len(data)


def read_checkpoint(path, formats, error=None, what: str = "an m3lrn checkpoint", name: str = "checkpoint",
                    hint: str = "", version: int = VERSION) -> dict:
    """The one reader of every checkpoint file of the project: ``torch.load(weights_only=True)`` on
    the CPU, then the format tag (one of ``formats``) and the version are checked.

    Raises ``error`` (default :class:`CheckpointError`) naming the file, in one line, when it is
    missing ("``name`` not found", with ``hint``, e.g. the command that makes it), a folder,
    empty, truncated, not a torch file, a pickle payload (refused, never run), not ``what``, or
    newer than ``version`` (:func:`m3lrn_lib.fileio.safe_torch_load`).
    """
    error = error or CheckpointError
    path = Path(path)
    obj = safe_torch_load(path, error, name=name, hint=hint)  # one line for a folder, empty, truncated, pickle file
    if not isinstance(obj, dict) or obj.get("format") not in formats:
        raise error(f"{path}: not {what} (expected format {' or '.join(map(repr, formats))})")
    version_found = obj.get("version", 0)
    if not isinstance(version_found, int) or isinstance(version_found, bool):
        raise error(f"{path}: not {what} (its version is {version_found!r}, not a number)")
    if version_found > version:
        raise error(f"{path}: written by a newer m3lrn_lib (version {obj['version']} > {version})")
    return obj


def load_file(path) -> dict:
    """Load a training or weights checkpoint dict (:func:`read_checkpoint`) and unpack its
    compressed weights; CheckpointError when it does not exist, cannot be read, or is not one of ours."""
    obj = read_checkpoint(path, (TRAIN_FORMAT, WEIGHTS_FORMAT))
    if "packed_model" in obj:
        try:
            obj["model"] = _unpack(obj.pop("packed_model"))
        except (KeyError, IndexError, RuntimeError, TypeError, ValueError, zlib.error) as exc:
            raise CheckpointError(f"{path}: damaged weights ({type(exc).__name__}: {exc})") from None
    missing = [k for k in ("model", "model_config", "face_model") if k not in obj]
    if missing or not isinstance(obj.get("model"), dict):
        raise CheckpointError(f"{path}: incomplete checkpoint (missing {missing or ['model']})")
    return obj


def checkpoint_info(path) -> dict:
    """Description of a checkpoint without building the network: format, model config,
    face model, progress / metrics, wall time."""
    obj = load_file(path)
    keys = ("format", "model_config", "face_model", "progress", "metrics", "wall_time_s", "exported_from")
    return {k: obj[k] for k in keys if k in obj}


def fp16_state(state: dict, keep=KEEP_FP32) -> dict:
    """A copy of ``state`` with floating-point tensors in fp16, except keys ending in ``keep``."""
    out = {}
    for k, v in state.items():
        if torch.is_tensor(v) and v.is_floating_point() and not k.endswith(tuple(keep)):
            v = v.half()
        out[k] = v
    return out


def _pack(state: dict, compress: bool = False) -> dict:
    """Concatenate the tensors of a state dict into one flat tensor per dtype plus an index.

    ``torch.save`` stores every tensor as its own aligned zip record (~300 bytes each; 418
    tensors in the full model): packing avoids that overhead. With ``compress`` each flat tensor
    is stored as zlib-compressed bytes (a uint8 tensor, still loadable with ``weights_only=True``):
    ~10% smaller for fp16 weights, which keeps the 4.1M-parameter networks under 8 MB.
    """
    flat, index, other = {}, [], {}
    for k, v in state.items():
        if not torch.is_tensor(v):
            other[k] = v
            continue
        name = str(v.dtype).replace("torch.", "")
        chunks = flat.setdefault(name, [])
        offset = sum(c.numel() for c in chunks)
        chunks.append(v.detach().reshape(-1).cpu())
        index.append([k, name, list(v.shape), offset])
    tensors = {n: torch.cat(c) for n, c in flat.items()}
    if not compress:
        return {"tensors": tensors, "index": index, "other": other}
    z = {n: torch.frombuffer(bytearray(zlib.compress(t.contiguous().view(torch.uint8).numpy().tobytes(), 9)),
                             dtype=torch.uint8) for n, t in tensors.items()}
    return {"zlib_tensors": z, "index": index, "other": other}


def _unpack(packed: dict) -> dict:
    if "zlib_tensors" in packed:
        tensors = {n: torch.frombuffer(bytearray(zlib.decompress(t.numpy().tobytes())), dtype=getattr(torch, n))
                   for n, t in packed["zlib_tensors"].items()}
    else:
        tensors = packed["tensors"]
    state = {}
    for k, name, shape, offset in packed["index"]:
        n = 1
        for d in shape:
            n *= d
        state[k] = tensors[name][offset:offset + n].reshape(shape).clone()
    state.update(packed["other"])
    return state


def export_weights(source, path, fp16: bool = True, **extra) -> int:
    """Write a compact weights file from a training state (dict or path); returns its size.

    ``extra`` (e.g. ``log=[...]``, ``metrics={...}``, ``wall_time_s=...``) is stored beside the
    weights; it must hold only plain types.
    """
    st = load_file(source) if not isinstance(source, dict) else source
    state = st["model"]  # (load_file unpacks a packed weights file)
    obj = {"format": WEIGHTS_FORMAT, "version": VERSION, "dtype": "float16" if fp16 else "float32",
           "packed_model": _pack(fp16_state(state) if fp16 else dict(state), compress=True), "model_config": st["model_config"],
           "face_model": st["face_model"], "config": st.get("config"), "progress": st.get("progress")}
    if "metrics" in st:
        obj["metrics"] = st["metrics"]
    obj.update(extra)
    return atomic_save(obj, path)


def _describe(cfg: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in cfg.items())


def load_checkpoint(path, model=None, device=None):
    """Build an :class:`~m3lrn_lib.nn.M3LRN` from a checkpoint (weights or training state).

    Args:
        path: a ``.pt`` file written by the trainer or :func:`export_weights`.
        model: None (load the face model the checkpoint names, default the embedded one), a
            :class:`~m3lrn_lib.morphable.FaceModel` or a source for
            :func:`~m3lrn_lib.morphable.load_face_model` (``"embedded"``, a path), or an existing
            ``M3LRN`` to load into (its variant must be the checkpoint's).
        device: where to put the network (default CPU).
    Returns:
        the network in eval mode, float32.
    Raises:
        CheckpointError: another variant, another morphable model, or a bad file.
    """
    from ..morphable import load_face_model
    from ..morphable.model import FaceModel
    from ..nn import M3LRN, M3LRNConfig

    obj = load_file(path)
    if isinstance(model, (str, os.PathLike)):
        model = load_face_model(model)
    mcfg, face = obj["model_config"], obj["face_model"]
    state = {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in obj["model"].items()}
    if isinstance(model, M3LRN):
        mine = model.config.to_dict()
        if mine != mcfg:
            diff = {k: (mcfg.get(k), mine.get(k)) for k in set(mine) | set(mcfg) if mine.get(k) != mcfg.get(k)}
            raise CheckpointError(f"{path} holds another model variant: "
                                  + "; ".join(f"{k}: checkpoint {a!r}, network {b!r}" for k, (a, b) in sorted(diff.items())))
        if model.fingerprint != face["fingerprint"]:
            raise CheckpointError(f"{path} was trained for face model {face['name']!r} (fingerprint "
                                  f"{face['fingerprint']}, D={face['n_params']}); this network is built for "
                                  f"{model.face_model.name!r} ({model.fingerprint}, D={model.n_params})")
        net = model
    else:
        if model is None:
            fm = load_face_model(face.get("source") or None)
            if fm.fingerprint() != face["fingerprint"]:
                raise CheckpointError(
                    f"{path} was trained for face model {face['name']!r} (fingerprint {face['fingerprint']}), "
                    f"but the default model is {fm.name!r} ({fm.fingerprint()}); pass model=<that FaceModel>")
        elif isinstance(model, FaceModel):
            fm = model
            if fm.fingerprint() != face["fingerprint"]:
                raise CheckpointError(
                    f"{path} was trained for face model {face['name']!r} (fingerprint {face['fingerprint']}, "
                    f"D={face['n_params']}), not for {fm.name!r} ({fm.fingerprint()}, D={fm.n_params})")
        else:
            raise TypeError(f"model must be None, a FaceModel or an M3LRN, got {type(model).__name__}")
        try:
            config = M3LRNConfig(**mcfg)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: unusable model configuration ({exc})") from None
        net = M3LRN(fm, config, state["param_mean"], state["param_std"])
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path} does not fit the network ({_describe(mcfg)}): {exc}") from None
    return net.to(device or "cpu").float().eval()
