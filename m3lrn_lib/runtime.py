"""The platform under the notebooks, scripts and trainers: run-time switches, threads, RNG, devices, processes.

- ``M3LRN_FAST=1`` (set by the test command): notebooks shrink their workloads so that each
  runs in under two minutes on a 2-core CPU (:func:`fast_mode`, :func:`pick`).
- :func:`seed_everything`, :func:`rng_state` / :func:`set_rng_state`: the Python, numpy and
  torch (CPU and CUDA) random generators, as a checkpoint stores them.
- :func:`limit_blas_threads` / :func:`restore_blas_threads`: numpy's OpenBLAS thread pool.
- :func:`pick_device`: ``auto`` / ``cpu`` / ``cuda[:N]`` to a :class:`torch.device`.
- :func:`dist_info`, :func:`init_distributed`, :func:`cleanup_distributed`: torchrun's process group.
- :func:`describe_hardware`: CUDA devices, bf16 support, CPU cores, versions.

Both trainers (:mod:`m3lrn_lib.train.engine`, :mod:`m3lrn_lib.texture.train`) use these.
"""
from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["fast_mode", "pick", "seed_everything", "rng_state", "set_rng_state", "limit_blas_threads",
           "restore_blas_threads", "pick_device", "dist_info", "init_distributed", "cleanup_distributed",
           "describe_hardware"]


# ----------------------------------------------------------------------------- switches
def fast_mode() -> bool:
    """True when ``M3LRN_FAST`` is set (re-read each call, for tests that change it)."""
    return os.environ.get("M3LRN_FAST", "0") not in ("", "0", "false", "False")


def pick(fast, full):
    """``fast`` in FAST mode, else ``full`` -- for sizes in notebooks (``pick(50, 2000)``)."""
    return fast if fast_mode() else full


# ----------------------------------------------------------------------------- random generators
def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The state of the torch (CPU and CUDA), Python and numpy generators, in plain types and
    tensors (so that a checkpoint holding it loads with ``weights_only=True``)."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": [name, torch.from_numpy(key.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(s: dict) -> None:
    """Restore a :func:`rng_state` (the CUDA part only on a machine with as many GPUs)."""
    torch.set_rng_state(s["torch"])
    v, state, gauss = s["python"]
    random.setstate((v, tuple(state), gauss))
    name, key, pos, has_gauss, gauss = s["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if s.get("cuda") and torch.cuda.is_available() and len(s["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(s["cuda"])


# ----------------------------------------------------------------------------- threads
def _openblas_libs() -> list:
    import ctypes
    libs = []
    try:
        with open("/proc/self/maps") as fh:
            found = sorted({ln.split()[-1] for ln in fh if "openblas" in ln.split()[-1].lower()
                            and ".so" in ln.split()[-1]})
    except OSError:
        return libs
    for path in found:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get, put in (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                         ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                         ("openblas_get_num_threads", "openblas_set_num_threads")):
            if hasattr(lib, get) and hasattr(lib, put):
                libs.append((getattr(lib, get), getattr(lib, put)))
                break
    return libs


def limit_blas_threads(n: int = 1) -> list[int]:
    """Set numpy's OpenBLAS thread count (via ctypes, as threadpoolctl does); returns the previous
    counts. The trainer runs numpy code (face swap rendering) between torch steps; OpenBLAS
    threads then spin-wait and, on a 2-core machine, slow torch's OpenMP threads ~30x."""
    prev = []
    for get, put in _openblas_libs():
        prev.append(int(get()))
        put(int(n))
    return prev


def restore_blas_threads(prev: list[int]) -> None:
    """Undo :func:`limit_blas_threads` (``prev``: what it returned)."""
    for (_, put), n in zip(_openblas_libs(), prev):
        put(int(n))


# ----------------------------------------------------------------------------- devices and processes
def pick_device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """The device for a ``run.device`` setting: ``auto`` (CUDA when available, else CPU), ``cpu``,
    ``cuda`` or ``cuda:N``. With ``local_rank`` (a torchrun process) a bare ``cuda`` becomes
    ``cuda:LOCAL_RANK``. RuntimeError when CUDA is asked for but not available."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and local_rank is not None:
        name = f"cuda:{local_rank}"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"run.device = {name!r} but CUDA is not available (use run.device=cpu or auto)")
    return torch.device(name)


def dist_info() -> tuple[int, int, int]:
    """(world_size, rank, local_rank): from the process group when it is initialised, else
    from torchrun's environment variables, else (1, 0, 0)."""
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank(), local
    return int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0")), local


def init_distributed() -> bool:
    """Start the process group when launched by torchrun with WORLD_SIZE > 1 (``nccl`` when
    CUDA is available, else ``gloo``). Returns True when distributed."""
    world, _, local = dist_info()
    if world <= 1:
        return False
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if cuda else "gloo")
    return True


def cleanup_distributed() -> None:
    """Destroy the process group (if one was started)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def describe_hardware() -> dict:
    """What this machine offers for training: CUDA devices, bf16 support, CPU cores, versions."""
    info = {"torch": torch.__version__, "python": platform.python_version(), "cpu_cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(), "gpus": []}
    if info["cuda"]:
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            info["gpus"].append({"name": p.name, "memory_gb": round(p.total_memory / 2**30, 1),
                                 "capability": f"{p.major}.{p.minor}"})
        info["bf16"] = torch.cuda.is_bf16_supported()
    return info
