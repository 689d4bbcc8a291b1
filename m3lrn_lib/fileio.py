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


def remove_temp_files(folder, older_than: float = 0.0) -> int:
    """Delete ``.tmp-*`` debris of interrupted writes in ``folder``; returns the count.

    ``older_than``: only files last modified at least that many seconds ago (for a folder that
    other processes may be writing into right now, e.g. a zoo's output folder). A missing
    folder has no debris.
    """
    import time
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    n, now = 0, time.time()
    for p in folder.glob(TMP_PREFIX + "*"):
        try:
            if older_than and now - p.stat().st_mtime < older_than:
                continue
            if p.is_file() or p.is_symlink():
                p.unlink()
                n += 1
        except FileNotFoundError:  # removed by its writer meanwhile
            pass
    return n


def _load_failure(path: Path, exc: BaseException) -> str:
    """One line saying why ``torch.load(path, weights_only=True)`` failed."""
    text = str(exc)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        head = b""
    if "Unsupported global" in text or "GLOBAL" in text or "Unsupported class" in text:
        found = next((w for w in text.replace(":", " ").split() if "." in w and w[0].isalpha()
                      and not w.endswith(".")), "")
        return ("refused: it holds pickled objects" + (f" ({found})" if found else "")
                + " whose loading could run code; only plain tensors and numbers are read")
    if head[:1] == b"\x80" and not head.startswith(b"PK"):
        return ("refused: a plain pickle file, not a torch.save checkpoint (unpickling it could run code); "
                "only plain tensors and numbers are read")
    if isinstance(exc, EOFError) or "EOF" in text or "unexpected end" in text.lower():
        return "truncated (the file ends early; was its writing interrupted?)"
    if head.startswith(b"PK") or "zip archive" in text or "central directory" in text:
        return "corrupt or truncated (not a complete torch zip archive)"
    if "Unsupported operand" in text:
        return "not a PyTorch checkpoint (random bytes or another file type)"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"not a PyTorch checkpoint ({type(exc).__name__}{': ' + first[:120] if first else ''})"


def safe_torch_load(path, error: type[Exception] = ValueError, name: str = "checkpoint", hint: str = ""):
    """``torch.load(path, map_location="cpu", weights_only=True)`` with one-line errors.

    A missing path, a folder, an empty, truncated or non-torch file, and a pickle payload (a
    ``.pt`` whose unpickling would import and call code: refused by ``weights_only``, never run)
    raise ``error`` with a one-line message naming the path (``hint`` is appended to "not found").
    """
    import torch
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a folder, not a {name} file (give the .pt file inside it)")
    if not path.is_file():
        raise error(f"{name} not found: {path}" + (f" ({hint})" if hint else ""))
    size = path.stat().st_size
    if size == 0:
        raise error(f"{path}: not a readable checkpoint: empty file (0 bytes; was its writing interrupted?)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- torch raises many kinds for a bad file; all are reported alike
        raise error(f"{path}: not a readable checkpoint: {_load_failure(path, exc)}") from None
