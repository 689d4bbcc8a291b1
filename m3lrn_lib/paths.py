"""Every file-system location the library resolves, in one place.

Nothing else in the package looks at ``__file__`` to find files. Two situations are told apart:

- **a source checkout** (``git clone``, ``pip install -e .``): the package sits in a folder whose
  parent holds ``pyproject.toml`` and ``data/``; the shipped files in ``data/`` (embedded model,
  sample, checkpoints) and the notebooks are used from there;
- **an installed package** (``pip install .``, a wheel): there is no repository; the embedded model
  is re-created from code into the user cache on first use (bit for bit the shipped file), and
  checkpoints, notebooks and data sets are given by path.

Settings (environment variables; one that is set but points at nothing raises
:class:`PathSettingError` naming the variable and the path):

=======================  =====================================================================
``M3LRN_FACE_MODEL``     the morphable model to use everywhere (see :func:`m3lrn_lib.morphable.load_face_model`)
``M3LRN_CACHE``          the user cache (default ``$XDG_CACHE_HOME/m3lrn`` or ``~/.cache/m3lrn``)
``M3LRN_DATA_DIR``       where generated synthetic sets are cached (default ``<cache>/generated``)
``M3LRN_CHECKPOINTS``    the landmark checkpoint zoo (default ``<repo>/data/checkpoints``)
``M3LRN_SFM_PATH``       the Surrey Face Model folder used by tests and notebook 01 (default
                         ``<repo>/../shared/reference/sfm``)
``M3LRN_SHARED``         the shared reference folder beside the repository (default ``<repo>/../shared``)
=======================  =====================================================================
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import UserError

#: The installed package folder (``.../m3lrn_lib``).
PACKAGE_DIR = Path(__file__).resolve().parent


class PathSettingError(UserError):
    """An ``M3LRN_*`` path setting that points at nothing, or a repository file asked for outside one."""


def source_root() -> Path | None:
    """The repository root when the package runs from a source checkout, else ``None``."""
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() and (root / "data").is_dir():
        return root
    return None


def _setting(name: str, *, must_exist: bool = True) -> Path | None:
    """The path in ``$name`` (``~`` expanded), or None when unset; checked to exist."""
    value = os.environ.get(name)
    if not value:
        return None
    path = Path(value).expanduser()
    if must_exist and not path.exists():
        raise PathSettingError(f"{name}={value}: no such file or folder (unset {name} or point it at an existing path)")
    return path


def _repo(*parts: str, what: str) -> Path:
    root = source_root()
    if root is None:
        raise PathSettingError(f"{what} is shipped only in a source checkout of m3lrn (this is an installed "
                               f"package at {PACKAGE_DIR}); pass its path explicitly")
    return root.joinpath(*parts)


# ----------------------------------------------------------------------------- caches
def cache_dir() -> Path:
    """The user cache: ``$M3LRN_CACHE``, else ``$XDG_CACHE_HOME/m3lrn``, else ``~/.cache/m3lrn``."""
    env = _setting("M3LRN_CACHE", must_exist=False)
    if env is not None:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "m3lrn"


def generated_data_dir() -> Path:
    """Cache folder of generated synthetic sets: ``$M3LRN_DATA_DIR``, else ``<cache>/generated``.

    Caches never go into the repository: :func:`cache_dir` is the one place the library writes
    to without being given a folder.
    """
    env = _setting("M3LRN_DATA_DIR", must_exist=False)
    if env is not None:
        return env
    return cache_dir() / "generated"


# ----------------------------------------------------------------------------- shipped files
def shipped_face_model(version: str) -> Path | None:
    """The repository's embedded model file of ``version`` in a checkout (``data/face_model.npz`` for
    version 1, ``data/face_model_v2.npz`` for version 2), else None."""
    root = source_root()
    name = "face_model.npz" if version == "1" else f"face_model_v{version}.npz"
    return root / "data" / name if root is not None else None


def cached_face_model(generator_version: str) -> Path:
    """Where an installed package keeps the embedded model it re-created from code."""
    return cache_dir() / f"face_model-v{generator_version}.npz"


def face_model_setting() -> Path | str | None:
    """``$M3LRN_FACE_MODEL``: a path (checked to exist), the name ``embedded-v2`` / ``embedded-v1``,
    or None when unset or ``embedded``."""
    value = os.environ.get("M3LRN_FACE_MODEL")
    if value == "embedded":
        return None
    if value in ("embedded-v1", "embedded-v2"):
        return value
    return _setting("M3LRN_FACE_MODEL")


def sample_dir() -> Path:
    """The shipped synthetic sample (``data/sample``, a checkout only)."""
    return _repo("data", "sample", what="the synthetic sample data/sample")


def checkpoints_dir() -> Path:
    """The landmark checkpoint zoo: ``$M3LRN_CHECKPOINTS`` or ``<repo>/data/checkpoints``."""
    env = _setting("M3LRN_CHECKPOINTS", must_exist=False)
    if env is not None:
        return env
    return _repo("data", "checkpoints", what="the checkpoint zoo data/checkpoints")


def texture_checkpoints_dir() -> Path:
    """The texture GAN zoo: ``<checkpoints>/texture``."""
    return checkpoints_dir() / "texture"


def notebooks_dir() -> Path:
    """The course notebooks (``notebooks/``, a checkout only)."""
    return _repo("notebooks", what="the notebooks folder")


def presets_dir(kind: str = "landmarks") -> Path:
    """The shipped TOML presets inside the package: ``kind`` is ``landmarks`` or ``texture``."""
    if kind not in ("landmarks", "texture"):
        raise ValueError(f"presets kind must be 'landmarks' or 'texture', got {kind!r}")
    return PACKAGE_DIR / "presets" / ("" if kind == "landmarks" else "texture")


# ----------------------------------------------------------------------------- beside the repository
def shared_dir() -> Path:
    """The shared reference folder: ``$M3LRN_SHARED`` or ``<repo>/../shared`` (may not exist)."""
    env = _setting("M3LRN_SHARED")
    if env is not None:
        return env
    root = source_root()
    return (root.parent if root is not None else Path.cwd()) / "shared"


def sfm_dir() -> Path:
    """The Surrey Face Model folder: ``$M3LRN_SFM_PATH`` or ``<shared>/reference/sfm`` (may not exist)."""
    env = _setting("M3LRN_SFM_PATH")
    if env is not None:
        return env
    return shared_dir() / "reference" / "sfm"
