"""Execute the notebook suite headlessly and export it (the README's main job).

    python -m m3lrn_lib.suite run [--out build] [--fast] [--only 01]

Writes ``OUT/notebooks/NN_name.ipynb`` (executed) and ``OUT/html/NN_name.html`` (a static copy
whose Plotly figures stay interactive: plotly.js is embedded) for every notebook in
``notebooks/``, in order, and prints the wall time of each. A notebook that fails stops the
run with its error; the files of the notebooks before it stay valid.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .fileio import atomic_write_bytes

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run_notebook(src: Path, out: Path, timeout: int = 3600) -> float:
    """Execute one notebook (cwd = its folder); write the executed copy and its HTML. Returns seconds."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.read(src, as_version=4)
    t0 = time.time()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(src.parent)}}).execute()
    dt = time.time() - t0
    atomic_write_bytes(out / "notebooks" / src.name, nbformat.writes(nb).encode())
    html, _ = HTMLExporter().from_notebook_node(nb)
    atomic_write_bytes(out / "html" / (src.stem + ".html"), html.encode())
    return dt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m m3lrn_lib.suite", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["run"])
    ap.add_argument("--out", default="build", help="output folder (default: build)")
    ap.add_argument("--fast", action="store_true", help="set M3LRN_FAST=1 (CI-sized workloads)")
    ap.add_argument("--only", default=None, help="run only notebooks whose name starts with this")
    args = ap.parse_args(argv)
    if args.fast:
        os.environ["M3LRN_FAST"] = "1"
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    out = Path(args.out).resolve()
    books = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if not args.only or p.name.startswith(args.only))
    if not books:
        print(f"no notebooks matched in {NOTEBOOKS}", file=sys.stderr)
        return 2
    total = 0.0
    for nb in books:
        print(f"running {nb.name} ...", flush=True)
        dt = run_notebook(nb, out)
        total += dt
        print(f"  done in {dt:.0f} s -> {out / 'html' / (nb.stem + '.html')}", flush=True)
    print(f"{len(books)} notebooks in {total:.0f} s; executed copies in {out / 'notebooks'}, HTML in {out / 'html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
