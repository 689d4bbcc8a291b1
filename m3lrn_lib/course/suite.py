"""Execute the notebook suite headlessly and export it (the README's main job).

    python -m m3lrn_lib.course.suite run [--out build] [--fast] [--only 01]

Writes ``OUT/notebooks/NN_name.ipynb`` (executed) and ``OUT/html/NN_name.html`` (a static copy
whose Plotly figures stay interactive: plotly.js is embedded) for every notebook in
``notebooks/``, in order, and prints the wall time of each. A notebook that fails stops the
run with its error; the files of the notebooks before it stay valid.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .. import paths
from ..fileio import atomic_write_bytes


def run_notebook(src: Path, out: Path, timeout: int = 3600) -> float:
    """Execute one notebook (cwd = its folder); write the executed copy and its HTML. Returns seconds."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(src, as_version=4)
    t0 = time.time()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(src.parent)}}).execute()
    dt = time.time() - t0
    export(nb, src.stem, out)
    return dt


PLOTLY_MIME = "application/vnd.plotly.v1+json"


def plotly_traces(nb) -> list[str]:
    """Trace types of every Plotly figure among the notebook's outputs (its mime bundle)."""
    types = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            fig = o.get("data", {}).get(PLOTLY_MIME)
            if fig:
                types += [t.get("type", "scatter") for t in fig.get("data", [])]
    return types


def check_html(nb, html: str, name: str) -> int:
    """Raise ValueError unless ``html`` carries plotly.js and the data of every Plotly figure
    of the executed notebook ``nb`` (so the figures stay interactive offline). Returns the count."""
    types = plotly_traces(nb)
    if not types:
        return 0
    compact = html.replace(": ", ":")  # once: the HTML embeds plotly.js and is several MB
    missing = [t for t in sorted(set(types)) if f'"type":"{t}"' not in compact]
    if "Plotly.newPlot" not in html or missing:
        raise ValueError(f"{name}.html: the Plotly figures are not interactive "
                         f"({'plotly.js call missing' if 'Plotly.newPlot' not in html else f'no data for {missing}'})")
    return len(types)


def export(nb, stem: str, out: Path) -> int:
    """Write the executed notebook ``nb`` to ``out/notebooks/STEM.ipynb`` and its HTML to
    ``out/html/STEM.html`` (atomically), checked with :func:`check_html`. Returns the number
    of Plotly traces in the HTML."""
    import nbformat
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(nb)
    n = check_html(nb, html, stem)
    atomic_write_bytes(out / "notebooks" / f"{stem}.ipynb", nbformat.writes(nb).encode())
    atomic_write_bytes(out / "html" / f"{stem}.html", html.encode())
    return n


def main(argv=None) -> int:
    from ..cli import ArgumentParser
    ap = ArgumentParser(prog="python -m m3lrn_lib.course.suite", description=__doc__)
    ap.add_argument("cmd", choices=["run"])
    ap.add_argument("--out", default="build", help="output folder (default: build)")
    ap.add_argument("--fast", action="store_true", help="set M3LRN_FAST=1 (CI-sized workloads)")
    ap.add_argument("--only", default=None, help="run only notebooks whose name starts with this")
    args = ap.parse_args(argv)
    if args.fast:
        os.environ["M3LRN_FAST"] = "1"
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    out = Path(args.out).resolve()
    folder = paths.notebooks_dir()
    books = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if not args.only or p.name.startswith(args.only))
    if not books:
        from ..errors import UserError
        raise UserError(f"no notebooks matched in {folder}", subject=f"--only {args.only}" if args.only else None,
                        hint="give the start of a notebook name, e.g. --only 01")
    total = 0.0
    for nb in books:
        print(f"running {nb.name} ...", flush=True)
        dt = run_notebook(nb, out)
        total += dt
        print(f"  done in {dt:.0f} s -> {out / 'html' / (nb.stem + '.html')}", flush=True)
    print(f"{len(books)} notebooks in {total:.0f} s; executed copies in {out / 'notebooks'}, HTML in {out / 'html'}")
    return 0


if __name__ == "__main__":
    from ..cli import run_main
    sys.exit(run_main(main))
