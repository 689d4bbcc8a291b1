"""Per-face arrays of the benchmark, its figures and tables, notebook 06's exercises."""
import json

import numpy as np
import pytest
import torch

from m3lrn_lib import metrics as M
from m3lrn_lib.benchmark import figures as BF
from m3lrn_lib.benchmark import to_json, to_markdown
from m3lrn_lib.benchmark.runner import open_test_set, run
from m3lrn_lib.course.exercises import _REGISTRY, _load_all
from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.nn import M3LRN, M3LRNConfig


def tiny(preset, seed=0):
    torch.manual_seed(seed)
    return M3LRN(load_face_model(), M3LRNConfig.preset(preset, width_mult=0.25)).eval()


@pytest.fixture(scope="module")
def report():
    ds = open_test_set()
    assert open_test_set(ds) is ds  # an open dataset passes through
    return run([("base", tiny("baseline")), ("full", tiny("full", 1))], data=ds, out_dir=None, max_faces=6,
               protocols=False, florence_subjects=0, keep_arrays=True, log=None)


def test_per_face_arrays_agree_with_the_aggregates(report):
    pf = report["per_face"]
    assert set(pf) == {"base", "full"}
    for label, meas in zip(("base", "full"), report["measurements"]):
        a = pf[label]
        assert a["landmarks"].shape == a["landmarks_coarse"].shape == a["gt"].shape == (6, 68, 2)
        assert np.allclose(a["nme"], M.nme_2d(a["landmarks"], a["gt"]))
        assert M.nme_by_yaw(a["nme"], a["yaw"])["All"] == pytest.approx(meas["nme68"]["All"])
        assert M.nme_by_yaw(a["nme_coarse"], a["yaw"])["All"] == pytest.approx(meas["nme68_coarse"]["All"])
        assert "arrays" not in meas
    # the JSON report never carries the numpy arrays
    assert "per_face" not in json.loads(to_json(report))


def test_markdown_table_selection(report):
    md = to_markdown(report, tables=("1_original", "6"), header=False)
    assert "## Table 1 (top)" in md and "## Table 6" in md and "## Table 9" not in md
    assert "| checkpoint | variant |" not in md and md.startswith("> OUR NUMBERS ARE MEASURED ON SYNTHETIC")
    with pytest.raises(KeyError, match="unknown table keys.*'7x'"):
        to_markdown(report, tables=("7x",))


def test_figures_and_summary(report):
    fig = BF.nme_by_yaw_figure(report)
    assert [t.name for t in fig.data] == ["base", "full"]
    assert list(fig.data[1].y)[-1] == pytest.approx(report["measurements"][1]["nme68"]["All"])
    cdf = BF.nme_cdf_figure(report["per_face"])
    y = np.asarray(cdf.data[0].y)
    assert len(y) == 6 and y[-1] == 1.0 and np.all(np.diff(y) > 0)
    summary = BF.summary_markdown(report)
    assert summary.count("\n") == 4 and "`full`" in summary and "| — | — | — |" in summary
    with pytest.raises(KeyError, match="not a benchmark report"):
        BF.summary_markdown({"tables": {}})


def test_hardest_faces():
    pf = {"a": {"yaw": np.array([10.0, -80.0, 45.0, 70.0]), "nme": np.array([0.5, 0.1, 0.9, 0.2])}}
    assert BF.hardest_faces(pf, "a", k=2).tolist() == [1, 3]
    assert BF.hardest_faces(pf, "a", k=3, by="nme").tolist() == [2, 0, 3]
    with pytest.raises(KeyError, match="no per-face arrays for 'b'"):
        BF.hardest_faces(pf, "b")
    with pytest.raises(ValueError, match="by must be"):
        BF.hardest_faces(pf, "a", by="pitch")


def _ex(key):
    _load_all()
    return _REGISTRY[key].checker


def test_exercise_06_1_nme_by_hand():
    gt = np.stack([np.linspace(0, 40, 68), np.linspace(0, 90, 68)], 1)
    pred = gt + np.array([3.0, 4.0])  # every point 5 px off; box 40 x 90 -> sqrt = 60
    assert _ex("06.1")(5 / 60 * 100, pred=pred, gt=gt)[0]
    ok, msg = _ex("06.1")(5 / 60, pred=pred, gt=gt)
    assert not ok and "x100" in msg


def test_exercise_06_2_mean_of_bin_means():
    nme = np.array([1.0, 3.0, 10.0, 20.0])
    yaw = np.array([0.0, 10.0, 45.0, 80.0])  # bins: [1, 3] -> 2; [10]; [20] -> All = (2 + 10 + 20) / 3
    assert _ex("06.2")(32 / 3, nme=nme, yaw=yaw)[0]
    ok, msg = _ex("06.2")(8.5, nme=nme, yaw=yaw)
    assert not ok and "plain mean" in msg


def test_exercise_06_3_pose_drop_rule():
    pred = np.array([[10.0, 0, 0], [20.0, 0, 0], [0.0, 0, 0]])
    gt = np.array([[12.0, 0, 0], [26.0, 0, 0], [50.0, 120.0, 0]])  # the third face is dropped
    assert _ex("06.3")(4.0, pred=pred, gt=gt)[0]
    ok, msg = _ex("06.3")(58 / 3, pred=pred, gt=gt)
    assert not ok and "drops" in msg
