"""Hostile command lines of ``python -m m3lrn_lib.benchmark`` (and the small ``morphable`` and ``nn``
command lines): every bad argument is one ``error:`` line, exit status 2, nothing written.

The cases run in one subprocess through :func:`m3lrn_lib.cli.run_main` around each CLI's ``main``
(what ``python -m`` does), each in its own folder; one case also runs as a real process."""
import subprocess
import sys

import pytest
from cli_batch import ENV, run_batch  # tests/hostile/cli_batch.py

from m3lrn_lib import paths

BASELINE = str(paths.checkpoints_dir() / "baseline.pt")

BENCH = ["--checkpoint", BASELINE, "--no-protocols", "--florence-subjects", "0", "--max-faces", "2"]

# id -> (module, argv, names the error line must contain)
CASES = {
    "max_faces_zero": ("m3lrn_lib.benchmark", BENCH + ["--max-faces", "0"], ["--max-faces", "0"]),
    "max_faces_negative": ("m3lrn_lib.benchmark", BENCH + ["--max-faces", "-3"], ["--max-faces"]),
    "florence_negative": ("m3lrn_lib.benchmark", BENCH + ["--florence-subjects", "-1"], ["--florence-subjects"]),
    "out_is_a_file": ("m3lrn_lib.benchmark", BENCH + ["--out", "afile"], ["--out", "afile"]),
    "out_under_a_file": ("m3lrn_lib.benchmark", BENCH + ["--out", "afile/sub"], ["--out", "afile"]),
    "device_tpu": ("m3lrn_lib.benchmark", BENCH + ["--device", "tpu"], ["--device", "tpu"]),
    "checkpoint_missing": ("m3lrn_lib.benchmark", ["--checkpoint", "missing.pt", "--max-faces", "2"],
                           ["--checkpoint", "missing.pt"]),
    "checkpoint_empty_label": ("m3lrn_lib.benchmark", ["--checkpoint", "x=empty.pt"], ["--checkpoint", "empty.pt"]),
    "data_missing": ("m3lrn_lib.benchmark", BENCH + ["--data", "nodata"], ["nodata"]),
    "no_checkpoint": ("m3lrn_lib.benchmark", [], ["--checkpoint"]),
    "morphable_info_missing": ("m3lrn_lib.morphable", ["info", "nomodel.npz"], ["nomodel.npz"]),
    "morphable_unknown_command": ("m3lrn_lib.morphable", ["frobnicate"], ["frobnicate"]),
    "nn_unknown_preset": ("m3lrn_lib.nn", ["nonsense"], ["nonsense"]),
    "nn_bad_depth": ("m3lrn_lib.nn", ["full", "-1"], ["depth"]),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    cases, before = [], {}
    for cid, (module, argv, _) in CASES.items():
        d = tmp / cid
        d.mkdir()
        (d / "afile").write_text("a file, not a folder")
        (d / "empty.pt").write_bytes(b"")
        before[cid] = sorted(p.name for p in d.rglob("*"))
        cases.append({"id": cid, "module": module, "argv": argv, "cwd": str(d)})
    res = run_batch(cases, tmp)
    for cid in res:
        res[cid]["before"], res[cid]["after"] = before[cid], sorted(p.name for p in (tmp / cid).rglob("*"))
    return res


@pytest.mark.parametrize("cid", list(CASES))
def test_bad_argument_is_one_line_exit_2_nothing_written(results, cid):
    r = results[cid]
    assert r["rc"] == 2, r["stderr"]
    assert "Traceback" not in r["stderr"]
    last = r["stderr"].strip().splitlines()[-1]
    assert last.startswith("error: ")
    for name in CASES[cid][2]:
        assert name in last, last
    assert "(" in last and last.endswith(")")  # says what to do
    assert r["after"] == r["before"]  # no build/benchmark, no report


def test_real_process_max_faces_zero(tmp_path):
    r = subprocess.run([sys.executable, "-m", "m3lrn_lib.benchmark", *BENCH, "--max-faces", "0"], cwd=tmp_path,
                       env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: --max-faces: ")
    assert list(tmp_path.iterdir()) == []


def test_runner_refuses_bad_numbers_in_process():
    from m3lrn_lib.benchmark.runner import run
    from m3lrn_lib.errors import UserError

    for kw, name in (({"max_faces": 0}, "max_faces"), ({"florence_subjects": -1}, "florence_subjects")):
        with pytest.raises(UserError, match=name):
            run([BASELINE], out_dir=None, log=None, **kw)
