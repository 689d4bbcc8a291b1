"""Atomic file writes shared by every module that writes (models, data sets, notebooks, checkpoints).

A file is written to a ``.tmp-*`` name beside its destination and renamed into place, so a
reader never sees a half-written file and an interrupted write leaves only ``.tmp-*`` debris
(which :func:`remove_temp_files` clears).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

TMP_PREFIX = ".tmp-"


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file beside it, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def remove_temp_files(folder) -> int:
    """Delete ``.tmp-*`` debris of interrupted writes in ``folder``; returns the count."""
    n = 0
    for p in Path(folder).glob(TMP_PREFIX + "*"):
        p.unlink()
        n += 1
    return n
