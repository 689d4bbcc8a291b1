"""Checked exercises for the notebooks: ``check("01.1", answer)`` prints a verdict and a hint.

Each notebook's exercises register a checker here with :func:`exercise`. A checker
*computes* the expected answer from the library (nothing is hard-coded) and returns
``(ok, message)``. ``check`` raises ``AssertionError`` on a wrong answer when
``M3LRN_SOLUTIONS=1`` (teacher mode, where the notebooks fill in the solutions and nbval
must fail on a wrong one); otherwise it prints the hint so a student can try again.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class Exercise:
    key: str
    question: str
    hint: str
    checker: Callable


_REGISTRY: dict[str, Exercise] = {}


def exercise(key: str, question: str, hint: str):
    """Decorator registering ``checker(answer, **context) -> (ok, message)`` under ``key``."""
    def deco(fn):
        _REGISTRY[key] = Exercise(key, question, hint, fn)
        return fn
    return deco


def solutions_mode() -> bool:
    """True when ``M3LRN_SOLUTIONS=1`` (teacher mode)."""
    return os.environ.get("M3LRN_SOLUTIONS", "0") not in ("", "0", "false", "False")


def check(key: str, answer, **context) -> bool:
    """Check a student's ``answer`` to exercise ``key``; print a verdict and return it."""
    _load_all()
    if key not in _REGISTRY:
        raise KeyError(f"unknown exercise {key!r}; known: {sorted(_REGISTRY)}")
    ex = _REGISTRY[key]
    if answer is None or answer is Ellipsis:
        print(f"[{key}] not answered yet. Hint: {ex.hint}")
        if solutions_mode():
            raise AssertionError(f"exercise {key} has no answer in solutions mode")
        return False
    try:
        ok, msg = ex.checker(answer, **context)
    except Exception as exc:  # a malformed answer is a wrong answer, with the reason
        ok, msg = False, f"could not check this answer: {exc}"
    print(f"[{key}] {'correct' if ok else 'not yet'}: {msg}" + ("" if ok else f"\nHint: {ex.hint}"))
    if not ok and solutions_mode():
        raise AssertionError(f"exercise {key}: {msg}")
    return ok


def list_exercises() -> list[Exercise]:
    """All registered exercises, sorted by key."""
    _load_all()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def close(a, b, tol) -> bool:
    """``allclose`` for nested numbers/arrays/tensors with an absolute tolerance."""
    a = np.asarray(getattr(a, "detach", lambda: a)(), dtype=np.float64) if not isinstance(a, np.ndarray) else a
    b = np.asarray(getattr(b, "detach", lambda: b)(), dtype=np.float64) if not isinstance(b, np.ndarray) else b
    return a.shape == b.shape and bool(np.allclose(a, b, atol=tol, rtol=0))


def _load_all():
    # notebook-specific checkers live in m3lrn_lib/exercise_sets/ (one module per notebook)
    import importlib
    import pkgutil

    from . import exercise_sets
    for mod in pkgutil.iter_modules(exercise_sets.__path__):
        importlib.import_module(f"{exercise_sets.__name__}.{mod.name}")
