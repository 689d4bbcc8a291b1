"""Hostile input for the data generator and its command line: nothing lost, one-line errors.

Every case checks the exit status, that the message names the file or argument, and which
files exist afterwards. Inputs are made here from code.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from m3lrn_lib.cli import run_main
from m3lrn_lib.data import DatasetError, generate
from m3lrn_lib.data.__main__ import main as data_main


def _files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _cli(capsys, *argv) -> tuple[int, str]:
    code = run_main(data_main, list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    return code, (err[-1] if err else "")


@pytest.fixture(scope="module")
def small_set(tmp_path_factory, model):
    """A finished generated set (2 + 2 faces) to copy from."""
    out = tmp_path_factory.mktemp("set")
    generate(model, out, 2, 2, seed=5, workers=1, progress=False)
    return out


# ----------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("argv, names", [
    (["--n-train", "-5"], "--n-train"),
    (["--n-test", "-1"], "--n-test"),
    (["--workers", "0"], "--workers"),
    (["--n-train", "0", "--n-test", "0"], "--n-train/--n-test"),
    (["--no-resume"], "--no-resume"),
    (["--n-train", "many"], "--n-train"),
    (["--bogus"], "--bogus"),
])
def test_bad_arguments_are_one_line_errors(capsys, tmp_path, argv, names):
    code, line = _cli(capsys, *argv)
    assert code == 2 and line.startswith("error: ") and names in line, line
    assert not any(tmp_path.iterdir())


def test_out_is_a_file(capsys, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("mine")
    for out in (f, f / "sub"):
        code, line = _cli(capsys, "--out", str(out), "--n-train", "2", "--n-test", "0")
        assert code == 2 and line.startswith("error: --out: ") and str(f) in line and "is a file" in line, line
    assert f.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_out_that_cannot_be_written(capsys, tmp_path, monkeypatch):
    # root ignores permission bits, so the check is driven through os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    code, line = _cli(capsys, "--out", str(tmp_path / "new"), "--n-train", "2", "--n-test", "0")
    assert code == 2 and line.startswith("error: --out: ") and "is not writable" in line
    assert not (tmp_path / "new").exists()


def test_corrupt_model_file(capsys, tmp_path):
    bad = tmp_path / "model.npz"
    bad.write_bytes(os.urandom(300))
    code, line = _cli(capsys, "--model", str(bad), "--out", str(tmp_path / "o"), "--n-train", "1", "--n-test", "0")
    assert code == 2 and str(bad) in line and "corrupt" in line
    assert not (tmp_path / "o").exists()


def test_debug_shows_the_traceback_of_a_user_error(capsys):
    code = run_main(data_main, ["--workers", "0", "--debug"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error: --workers")


# ----------------------------------------------------------------------------- nothing lost
def test_no_resume_refuses_folders_that_are_not_generated_sets(capsys, tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "thesis.tex").write_text("two years of work")
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "results.csv").write_text("1,2,3")
    before = _files(tmp_path)
    code, line = _cli(capsys, "--out", str(tmp_path), "--no-resume", "--n-train", "2", "--n-test", "2")
    assert code == 2 and str(tmp_path / "train") in line and "refusing to delete" in line, line
    assert _files(tmp_path) == before


def test_no_resume_leaves_a_split_it_does_not_generate_alone(capsys, tmp_path, model):
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "results.csv").write_text("1,2,3")
    code, _ = _cli(capsys, "--out", str(tmp_path), "--no-resume", "--n-train", "2", "--n-test", "0", "--quiet",
                   "--workers", "1")
    assert code == 0
    assert (tmp_path / "test" / "results.csv").read_text() == "1,2,3"
    assert (tmp_path / "train" / "manifest.json").is_file()


def test_no_resume_refuses_a_generated_set_with_a_users_file_in_it(tmp_path, small_set, model):
    import shutil
    out = tmp_path / "set"
    shutil.copytree(small_set, out)
    (out / "train" / "images" / "holiday.png").write_bytes(b"\x89PNG")
    (out / "test" / "notes.md").write_text("keep me")
    with pytest.raises(DatasetError, match="holiday.png, which the generator does not write"):
        generate(model, out, 2, 2, seed=5, workers=1, resume=False, progress=False)
    (out / "train" / "images" / "holiday.png").unlink()
    with pytest.raises(DatasetError, match="notes.md, which the generator does not write"):
        generate(model, out, 2, 2, seed=5, workers=1, resume=False, progress=False)
    assert (out / "test" / "notes.md").read_text() == "keep me"
    assert (out / "train" / "manifest.json").is_file()  # every split is checked before any is deleted


def test_no_resume_starts_a_generated_set_over(tmp_path, small_set, model):
    import shutil
    out = tmp_path / "set"
    shutil.copytree(small_set, out)
    (out / "test" / "image00000.jpg").write_bytes(b"damaged")
    generate(model, out, 2, 2, seed=5, workers=1, resume=False, progress=False)
    assert _files(out) == _files(small_set)


def test_resume_refuses_to_write_into_a_users_folder(tmp_path, model):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "draft.txt").write_text("draft")
    (tmp_path / "manifest.json").write_text('{"project": "mine"}')
    before = _files(tmp_path)
    with pytest.raises(DatasetError, match="manifest.json: is not the manifest of a generated synthetic set"):
        generate(model, tmp_path, 2, 0, seed=5, workers=1, progress=False)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(DatasetError, match="train: exists and is not a generated train split"):
        generate(model, tmp_path, 2, 0, seed=5, workers=1, progress=False)
    del before["manifest.json"]
    assert _files(tmp_path) == before


# ----------------------------------------------------------------------------- kill and resume
def _spawn_generation(out: Path, n_train: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "m3lrn_lib.data", "--out", str(out), "--n-train", str(n_train),
                             "--n-test", "0", "--seed", "9", "--workers", "2", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=False)


def _listing(root: Path) -> dict:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def test_sigkilled_generation_stops_writing_and_resumes_byte_identical(tmp_path, model):
    out = tmp_path / "killed"
    n = 96  # 3 chunks
    proc = _spawn_generation(out, n)
    parts = out / "train" / ".parts"
    deadline = time.time() + 120
    while time.time() < deadline and not (parts.is_dir() and len(list(parts.glob("*.npz"))) >= 1):
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # orphaned workers notice within one face
    first = _listing(out)
    time.sleep(1.5)
    assert _listing(out) == first, "workers kept writing after the parent was killed"
    assert not (out / "train" / "manifest.json").exists()
    generate(model, out, n, 0, seed=9, workers=2, progress=False)  # resume
    clean = tmp_path / "clean"
    generate(model, clean, n, 0, seed=9, workers=2, progress=False)
    assert _files(out) == _files(clean)
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".tmp-") or p.name == ".parts"]
    assert not leftovers, leftovers
    man = json.loads((out / "manifest.json").read_text())
    assert man["n_train"] == n
