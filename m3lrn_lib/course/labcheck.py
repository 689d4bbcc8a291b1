"""Notebook 01 in a real browser: JupyterLab + headless Chromium, driven by Playwright.

    python -m m3lrn_lib.course.labcheck [--out build/browser] [--port 0] [--timeout 300]

What it does, in order (each step fails with a :class:`LabCheckError` that says what went wrong
and what to install; it never waits forever and always stops the server it started):

1. finds Chromium (``$M3LRN_CHROMIUM``, else ``chromium`` / ``chromium-browser`` /
   ``google-chrome`` on the PATH; Debian: ``apt-get install chromium``) and Playwright's Python
   package (the ``dev`` extra; it drives the system browser, nothing is downloaded);
2. copies ``notebooks/01_3dmm_basics.ipynb`` into a temporary folder (the repository's copy is
   never touched: JupyterLab autosaves outputs) and starts JupyterLab there on localhost with a
   random token (``--port 0``: a free port; a given port that is taken is an error);
3. opens the notebook in headless Chromium, runs every cell (menu *Run > Run All Cells*) and
   fails on the first cell error, quoting it;
4. finds the face explorer's ``yaw (deg)`` slider and its Plotly 3D figure, reads the mesh's
   x coordinates from the plot's DOM node (``gd.data[0].x``), moves the slider with the
   keyboard, and checks that the mesh trace is a drawn ``mesh3d`` whose coordinates changed
   and whose screenshot changed;
5. saves the screenshots (``page_loaded.png``, ``notebook_run.png``, ``explorer_before.png``,
   ``explorer_after.png``) and ``report.json`` (timings, data checked) in ``--out``.

A setup problem (:class:`LabSetupError`: no Chromium or Playwright, a taken ``--port``) or a
bad argument prints one line ``error: ...`` and exits with status 2 (:mod:`m3lrn_lib.cli`); a check
that ran and failed prints ``browser check FAILED: ...`` and exits with status 1.

The test command runs it through ``tests/test_browser.py`` (FAST mode); ``M3LRN_BROWSER=skip``
skips that test with a reason (e.g. on a machine where Chromium cannot be installed).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from .. import paths
from ..errors import UserError
from ..fileio import atomic_write_bytes

NOTEBOOK_NAME = "01_3dmm_basics.ipynb"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = ("install Debian's Chromium with `apt-get update && apt-get install -y chromium` "
                "(python3 tasks.py test does this when it runs as root), or set M3LRN_CHROMIUM=/path/to/chrome")


class LabCheckError(RuntimeError):
    """The browser check could not run or found a problem; the message says which and what to do."""


class LabSetupError(LabCheckError, UserError):
    """The check cannot start because of the user's setup (no Chromium, no playwright, a port that is
    taken, a missing notebook or folder): a user error (one line, exit status 2 on the command line)."""


# ----------------------------------------------------------------------------- preflight
def find_chromium() -> str:
    """Path of a Chromium/Chrome executable; raises :class:`LabCheckError` naming the install."""
    env = os.environ.get("M3LRN_CHROMIUM")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise LabSetupError(f"M3LRN_CHROMIUM={env!r} is not an executable file; {INSTALL_HINT}")
        return env
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise LabSetupError(f"Chromium not found (looked for {', '.join(CHROMIUM_NAMES)} on the PATH); {INSTALL_HINT}")


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise LabSetupError("the Python package 'playwright' is missing: pip install -e '.[dev]' "
                            f"(or pip install playwright) ({exc})") from None
    return sync_playwright


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_port(port: int) -> None:
    """Raise :class:`LabCheckError` if ``port`` on 127.0.0.1 is taken."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise LabSetupError(f"port {port} on 127.0.0.1 is taken ({exc.strerror}); "
                                "choose another with --port, or --port 0 for a free one") from None


# ----------------------------------------------------------------------------- server
@contextmanager
def jupyterlab(root: Path, port: int, env: dict, start_timeout: float = 90.0, extra_args=()):
    """Start JupyterLab on 127.0.0.1:``port`` serving ``root``; yield ``(base_url, token)``.

    ``extra_args`` are appended to the ``jupyter lab`` command line.
    The server runs in its own process group and is terminated (then killed) on exit, whatever
    happens inside the ``with`` block. Raises :class:`LabCheckError` with the tail of the
    server's log when it exits early or does not answer within ``start_timeout`` seconds.
    """
    root = Path(root)
    if not root.is_dir():
        raise LabSetupError(f"JupyterLab root folder {root} does not exist")
    check_port(port)
    token = secrets.token_hex(16)
    log_path = root.parent / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
           "--LabApp.news_url=", "--ServerApp.terminals_enabled=False", "--allow-root", *extra_args]
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)

    def tail() -> str:
        log.flush()
        return log_path.read_text(errors="replace")[-2000:]

    base = f"http://127.0.0.1:{port}"
    try:
        t0 = time.monotonic()
        while True:
            if proc.poll() is not None:
                raise LabCheckError(f"JupyterLab exited with code {proc.returncode} before answering "
                                    f"(is `jupyterlab` installed in {sys.executable}?); its log:\n{tail()}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - t0 > start_timeout:
                raise LabCheckError(f"JupyterLab did not answer on {base} within {start_timeout:.0f} s; its log:\n{tail()}")
            time.sleep(0.5)
        yield base, token
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(15)
        log.close()


# ----------------------------------------------------------------------------- browser
_PLOT_JS = """(root) => {
  const gd = root.querySelector('.js-plotly-plot');
  if (!gd || !gd._fullData || !gd._fullData.length) return null;
  const t = gd._fullData[0];
  const x = Array.from(gd.data[0].x || []);
  return {type: t.type, n: x.length, x: x.slice(0, 50), canvases: gd.querySelectorAll('canvas').length};
}"""

_ERRORS_JS = """() => Array.from(document.querySelectorAll(
     '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], '
     + '.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]'))
   .map(e => e.innerText).filter(t => /Error|Traceback/.test(t))"""

_BUSY_JS = """() => {
  const prompts = Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'));
  return {busy: prompts.filter(p => p.innerText.includes('*')).length,
          run: prompts.filter(p => /\\[\\d+\\]/.test(p.innerText)).length, cells: prompts.length};
}"""


def _wait(predicate, timeout: float, what: str, interval: float = 0.5, on_timeout=None):
    t0 = time.monotonic()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() - t0 > timeout:
            extra = on_timeout() if on_timeout else ""
            raise LabCheckError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(interval)


def _distinct_colours(png: bytes) -> int:
    import cv2
    import numpy as np
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    return int(len(np.unique(img.reshape(-1, 3) // 8, axis=0)))


def run_check(out: Path, port: int = 0, timeout: float = 300.0, notebook: Path | None = None) -> dict:
    """Run notebook 01 in JupyterLab in headless Chromium and move the explorer's yaw slider.

    ``notebook`` defaults to ``01_3dmm_basics.ipynb`` of :func:`m3lrn_lib.paths.notebooks_dir`.
    Returns the report (also written to ``out/report.json``); raises :class:`LabCheckError`.
    """
    chromium = find_chromium()
    sync_playwright = _playwright()
    notebook = Path(notebook) if notebook is not None else paths.notebooks_dir() / NOTEBOOK_NAME
    if not notebook.is_file():
        raise LabSetupError(f"notebook not found: {notebook}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    report = {"chromium": chromium, "port": port, "notebook": notebook.name, "timings_s": {}}
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="m3lrn-lab-") as tmp:
        root = Path(tmp) / "lab"
        root.mkdir()
        shutil.copy2(notebook, root / notebook.name)
        home = Path(tmp) / "home"
        # every cell in the DOM (JupyterLab 4 otherwise renders only the cells in view)
        settings = home / "settings" / "@jupyterlab" / "notebook-extension"
        settings.mkdir(parents=True)
        (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
                   JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "ws"),
                   M3LRN_FAST=os.environ.get("M3LRN_FAST", "1"), MPLBACKEND="module://matplotlib_inline.backend_inline")
        if not env.get("M3LRN_SFM_PATH"):
            env["M3LRN_SFM_PATH"] = str(paths.sfm_dir())
        with jupyterlab(root, port, env) as (base, token):
            report["timings_s"]["server_start"] = round(time.monotonic() - t_all, 1)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                             args=["--no-sandbox", "--use-angle=swiftshader",
                                                   "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"])
                try:
                    page = browser.new_page(viewport={"width": 1500, "height": 1000})
                    page.set_default_timeout(60_000)
                    _drive(page, base, token, notebook.name, out, report, timeout)
                finally:
                    browser.close()
    report["timings_s"]["total"] = round(time.monotonic() - t_all, 1)
    atomic_write_bytes(out / "report.json", json.dumps(report, indent=1).encode())
    return report


def _drive(page, base: str, token: str, name: str, out: Path, report: dict, timeout: float) -> None:
    t0 = time.monotonic()
    page.goto(f"{base}/lab/tree/{name}?token={token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
    _wait(lambda: page.locator(".jp-Notebook-ExecutionIndicator, .jp-Toolbar-kernelStatus").count() > 0
          or page.locator("text=Idle").count() > 0, 60, "the notebook's kernel")
    time.sleep(2)  # let the kernel finish starting
    page.screenshot(path=str(out / "page_loaded.png"))
    report["timings_s"]["page_open"] = round(time.monotonic() - t0, 1)

    # Run > Run All Cells
    t1 = time.monotonic()
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

    def finished():
        errors = page.evaluate(_ERRORS_JS)
        if errors:
            page.screenshot(path=str(out / "notebook_error.png"), full_page=True)
            raise LabCheckError("a cell of the notebook failed in JupyterLab:\n" + errors[0][-1500:])
        s = page.evaluate(_BUSY_JS)
        return s if s["cells"] and s["busy"] == 0 and s["run"] == s["cells"] else None

    def stuck():
        page.screenshot(path=str(out / "notebook_timeout.png"))
        return f" (cells: {page.evaluate(_BUSY_JS)}; screenshot notebook_timeout.png)"

    state = _wait(finished, timeout, "every cell of the notebook to run", interval=1.0, on_timeout=stuck)
    report["timings_s"]["run_all"] = round(time.monotonic() - t1, 1)
    report["cells_run"] = state["run"]
    page.screenshot(path=str(out / "notebook_run.png"))

    # the explorer: the slider box whose label is "yaw (deg)", and the plot in the same widget
    label = page.locator(".widget-slider .widget-label", has_text="yaw (deg)").first
    label.scroll_into_view_if_needed()
    slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text="yaw (deg)")).first
    explorer = page.locator(".widget-hbox", has=slider).last
    plot = explorer.locator(".js-plotly-plot").first
    _wait(lambda: plot.count() > 0 and page.evaluate(_PLOT_JS, explorer.element_handle()), 60,
          "the explorer's Plotly figure to draw")
    time.sleep(1.0)
    before = page.evaluate(_PLOT_JS, explorer.element_handle())
    if before["type"] != "mesh3d" or before["n"] == 0:
        raise LabCheckError(f"the explorer's first trace is not a drawn mesh: {before}")
    if before["canvases"] == 0:
        raise LabCheckError("the Plotly 3D figure has no canvas: WebGL is not available in this Chromium")
    shot_before = plot.screenshot(path=str(out / "explorer_before.png"))
    value_before = slider.locator(".widget-readout").first.inner_text()

    t2 = time.monotonic()
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for _ in range(25):  # 25 steps of 1 degree to the right
        page.keyboard.press("ArrowRight")
    _wait(lambda: page.evaluate(_PLOT_JS, explorer.element_handle())["x"] != before["x"], 60,
          "the mesh to move after the slider moved")
    report["timings_s"]["slider_to_redraw"] = round(time.monotonic() - t2, 2)
    time.sleep(1.0)  # let WebGL repaint
    after = page.evaluate(_PLOT_JS, explorer.element_handle())
    shot_after = plot.screenshot(path=str(out / "explorer_after.png"))
    value_after = slider.locator(".widget-readout").first.inner_text()
    if value_after == value_before:
        raise LabCheckError(f"the yaw slider did not move (readout {value_before!r})")
    if shot_after == shot_before:
        raise LabCheckError("the explorer's screenshot did not change although the mesh data did")
    colours = _distinct_colours(shot_after)
    if colours < 20:
        raise LabCheckError(f"the 3D plot looks empty ({colours} distinct colours in its screenshot)")
    report.update(slider=f"yaw (deg): {value_before} -> {value_after}", trace=after["type"],
                  n_vertices=after["n"], plot_colours=colours, canvases=after["canvases"],
                  x_before=before["x"][:3], x_after=after["x"][:3])


def main(argv=None) -> int:
    from ..cli import ArgumentParser
    ap = ArgumentParser(prog="python -m m3lrn_lib.course.labcheck", description=__doc__)
    ap.add_argument("--out", default="build/browser", help="folder for screenshots and report.json")
    ap.add_argument("--port", type=int, default=0, help="JupyterLab port (0: a free one)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds allowed for running the notebook")
    args = ap.parse_args(argv)
    if not 0 <= args.port <= 65535:
        raise UserError(f"must be in [0, 65535], got {args.port}", subject="--port", hint="0 picks a free one")
    if not args.timeout > 0:
        raise UserError(f"must be > 0 seconds, got {args.timeout}", subject="--timeout")
    try:
        report = run_check(Path(args.out), args.port, args.timeout)
    except LabSetupError:
        raise  # no Chromium, a taken port, ...: one line, exit status 2 (cli.run_main)
    except LabCheckError as exc:
        print(f"browser check FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=1))
    print(f"browser check passed in {report['timings_s']['total']} s; screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    from ..cli import run_main
    sys.exit(run_main(main))
