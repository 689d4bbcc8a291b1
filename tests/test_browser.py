"""Notebook 01 in JupyterLab in headless Chromium (m3lrn_lib.course.labcheck), and its failure modes.

The real-browser test needs Debian's ``chromium`` (``python3 tasks.py test`` installs it when run
as root) and Playwright's Python package (the ``dev`` extra). ``M3LRN_BROWSER=skip`` skips it,
with that reason, on a machine where neither can be installed. Screenshots and ``report.json``
are kept in ``build/browser/``.
"""
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from m3lrn_lib import paths
from m3lrn_lib.course import labcheck

ROOT = paths.source_root()


def test_notebook01_in_a_real_browser():
    if os.environ.get("M3LRN_BROWSER") == "skip":
        pytest.skip("M3LRN_BROWSER=skip: the real-browser check was switched off")
    out = ROOT / "build" / "browser"
    report = labcheck.run_check(out, timeout=400)
    assert report["trace"] == "mesh3d" and report["n_vertices"] > 1000
    assert report["x_before"] != report["x_after"], "the mesh did not move with the slider"
    assert report["plot_colours"] >= 20
    for name in ("page_loaded", "notebook_run", "explorer_before", "explorer_after"):
        assert (out / f"{name}.png").stat().st_size > 1000, name
    left = subprocess.run(["pgrep", "-f", "m3lrn-lab-"], capture_output=True, text=True).stdout.strip()
    assert left == "", f"JupyterLab or its kernel was left running: {left}"
    assert (paths.notebooks_dir() / "01_3dmm_basics.ipynb").read_text().count('"outputs": []') > 0, \
        "the repository's notebook must stay without outputs"


def test_missing_chromium_says_what_to_install(monkeypatch):
    monkeypatch.setenv("M3LRN_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(labcheck.LabCheckError, match="apt-get install -y chromium"):
        labcheck.find_chromium()
    monkeypatch.delenv("M3LRN_CHROMIUM")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(labcheck.LabCheckError, match="Chromium not found.*apt-get install"):
        labcheck.find_chromium()
    with pytest.raises(labcheck.LabCheckError, match="Chromium not found"):
        labcheck.run_check(Path("/nonexistent-out"))


def test_port_taken_is_refused(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(labcheck.LabCheckError, match=f"port {port} on 127.0.0.1 is taken"):
            with labcheck.jupyterlab(tmp_path, port, dict(os.environ)):
                pass


def test_server_that_dies_is_reported_and_cleaned_up(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(labcheck.LabCheckError, match="root folder .*missing does not exist"):
        with labcheck.jupyterlab(tmp_path / "missing", labcheck.free_port(), dict(os.environ)):
            pass
    root = tmp_path / "lab"
    root.mkdir()
    with pytest.raises(labcheck.LabCheckError, match="JupyterLab exited with code"):
        # a command-line value the server rejects: it exits before answering
        with labcheck.jupyterlab(root, labcheck.free_port(), dict(os.environ), start_timeout=60,
                                 extra_args=["--ServerApp.port_retries=not-a-number"]):
            pass
    assert time.monotonic() - t0 < 60
    out = subprocess.run(["pgrep", "-f", str(root)], capture_output=True, text=True)
    assert out.stdout.strip() == "", "the JupyterLab process was left running"
