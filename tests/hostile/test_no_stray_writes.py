"""Every command line owned by the trainers and the course writes only inside the folder it was
given (and the user cache): the repository and ``$HOME`` gain nothing. Real ``python -m``
subprocesses with ``HOME`` and ``M3LRN_CACHE`` in fresh temporary folders."""
import os
import subprocess
import sys

import pytest

from m3lrn_lib import paths

SKIP = {".git", "build", ".venv", "__pycache__", ".pytest_cache", "runs"}


def listing(folder) -> set:
    out = set()
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.endswith(".egg-info")]
        rel = os.path.relpath(root, folder)
        out.update(os.path.join(rel, f) for f in files)
        out.update(os.path.join(rel, d) + "/" for d in dirs)
    return out


@pytest.fixture()
def sandbox(tmp_path):
    home, cache, work = tmp_path / "home", tmp_path / "cache", tmp_path / "work"
    for d in (home, cache, work):
        d.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M3LRN_", "XDG_", "MPL"))}
    env.update(HOME=str(home), M3LRN_CACHE=str(cache), OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore",
               PYTHONPATH=str(paths.source_root()), PYTHONDONTWRITEBYTECODE="1", M3LRN_FAST="1")
    return tmp_path, env


def run(args, env, cwd):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def test_commands_write_only_where_told(sandbox):
    tmp, env = sandbox
    work, home = tmp / "work", tmp / "home"
    repo = paths.source_root()
    repo_before = listing(repo)
    steps = [
        (["m3lrn_lib.train", "--bogus"], 2),
        (["m3lrn_lib.train", "--config", "smoke", "run.threads=1", "data.subset=8", "optim.batch_size=4",
          "optim.epochs=1", "optim.milestones=", "data.test_subset=4", "run.max_steps=1",
          "--out", str(work / "run")], 0),
        (["m3lrn_lib.texture", "train", "--config", "smoke", "--out", str(work / "tex"), "run.max_steps=1",
          "data.n_train=4", "data.n_val=2"], 0),
        (["m3lrn_lib.texture", "evaluate", "--generator", f"g={work / 'tex' / 'generator.pt'}", "--n", "2"], 0),
        (["m3lrn_lib.course.exercises", "list"], 0),
    ]
    for args, want in steps:
        r = run(args, env, work)
        assert r.returncode == want, (args, r.stderr[-2000:])
        if want == 2:
            assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr, (args, r.stderr)
    new_repo = listing(repo) - repo_before
    assert not new_repo, f"new files in the repository: {sorted(new_repo)[:20]}"
    assert listing(home) == set(), f"new files in $HOME: {sorted(listing(home))[:20]}"
    assert (work / "run" / "last.pt").is_file() and (work / "tex" / "generator.pt").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["run", "tex"]
