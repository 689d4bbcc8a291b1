"""Hostile input for the dataset readers: degenerate labels and paths that leave the dataset root.

Each case is made from a copy of a tiny generated set, damaged by code; the error names the file
(and the line, for a list), and ``skip_bad=True`` drops the sample with a warning instead.
"""
import shutil

import numpy as np
import pytest
import scipy.io

from m3lrn_lib.data import AFLW2000Dataset, DatasetError, ThreeDDFADataset, generate
from m3lrn_lib.data.io import mat_bytes


@pytest.fixture(scope="module")
def source(tmp_path_factory, model):
    out = tmp_path_factory.mktemp("src")
    generate(model, out, 3, 3, seed=11, workers=1, progress=False)
    return out


@pytest.fixture
def copy(tmp_path, source):
    shutil.copytree(source, tmp_path / "set")
    return tmp_path / "set"


def _damage_landmarks(mat_path, fn):
    mat = scipy.io.loadmat(mat_path)
    arrays = {k: v for k, v in mat.items() if not k.startswith("__")}
    arrays["pt3d_68"] = fn(np.asarray(arrays["pt3d_68"], np.float64))
    mat_path.write_bytes(mat_bytes(arrays))


@pytest.mark.parametrize("damage, message", [
    (lambda a: np.where(np.arange(a.size).reshape(a.shape) == 5, np.nan, a), "NaN or inf landmark"),
    (lambda a: np.full_like(a, np.inf), "NaN or inf landmark"),
    (lambda a: np.full_like(a, 42.0), "is degenerate"),
    (lambda a: np.stack([a[0], np.full_like(a[1], 7.0), a[2]]), "is degenerate"),  # all on one row
])
def test_aflw_reader_refuses_bad_landmarks_naming_the_file(copy, model, damage, message):
    mat = copy / "test" / "image00001.mat"
    _damage_landmarks(mat, damage)
    with pytest.raises(DatasetError, match=message) as err:
        AFLW2000Dataset(copy / "test", model)
    assert str(mat) in str(err.value) and "skip_bad=True" in str(err.value)
    with pytest.warns(UserWarning, match="skipped 1 bad samples of 3"):
        ds = AFLW2000Dataset(copy / "test", model, skip_bad=True)
    assert len(ds) == 2 and "image00001" not in ds.names
    assert np.isfinite(ds.boxes).all() and (ds.boxes[:, 2:] > ds.boxes[:, :2]).all()


@pytest.mark.parametrize("entry", ["../../../../etc/passwd", "/etc/passwd", "images/../../outside.jpg"])
def test_list_entries_outside_the_dataset_root_are_refused(copy, model, entry, tmp_path):
    (tmp_path / "outside.jpg").write_bytes((copy / "train" / "images" / "000000.jpg").read_bytes())
    lst = copy / "train" / "train.list"
    lines = lst.read_text().splitlines()
    lines[1] = entry
    lst.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match="line 2 names") as err:
        ThreeDDFADataset(copy / "train", model)
    assert str(lst) in str(err.value) and "outside" in str(err.value)
    with pytest.warns(UserWarning, match="skipped 1 bad samples"):
        ds = ThreeDDFADataset(copy / "train", model, skip_bad=True)
    assert len(ds) == 2 and all(str(p).startswith(str(copy / "train")) for p in ds.paths)


def test_good_sets_still_read(copy, model):
    assert len(ThreeDDFADataset(copy / "train", model)) == 3
    assert len(AFLW2000Dataset(copy / "test", model)) == 3
