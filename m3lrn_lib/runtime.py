"""Run-time switches shared by notebooks, scripts and tests.

- ``M3LRN_FAST=1`` (set by the test command): notebooks shrink their workloads so that each
  runs in under two minutes on a 2-core CPU. :data:`FAST` reads it once at import.
- :func:`default_device` picks CUDA when available, else CPU.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

FAST: bool = os.environ.get("M3LRN_FAST", "0") not in ("", "0", "false", "False")


def fast_mode() -> bool:
    """True when ``M3LRN_FAST`` is set (re-read each call, for tests that change it)."""
    return os.environ.get("M3LRN_FAST", "0") not in ("", "0", "false", "False")


def pick(fast, full):
    """``fast`` in FAST mode, else ``full`` -- for sizes in notebooks (``pick(50, 2000)``)."""
    return fast if fast_mode() else full


def default_device() -> torch.device:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
