"""Benchmark runner: the paper's Tables 1-10 and S2 with our measured numbers beside
the printed ones.

- :mod:`.paper_tables` -- every printed number of the paper (:data:`TABLES`).
- :mod:`.evaluate` -- :func:`evaluate_network`: NME by yaw bin (68 and 21 points), head-pose MAE,
  3D face-modelling protocols 1/2, synthetic Florence, for one network on an AFLW2000-3D-layout set.
- :mod:`.report` -- :func:`build_report`, :func:`to_markdown`, :func:`to_json`.
- :func:`run` -- all of it for several checkpoints, writing ``benchmark.json`` and ``benchmark.md``.
- :mod:`.real` -- :func:`run_real`: the real-photo benchmark on a folder of images with iBUG-68
  ``.pts`` files (NME with the ground-truth crop, detection rate, NME with the detector's crop, a
  mean-shape reference), writing ``real.json`` and ``real.md``; :func:`load_faces` reads the folder.

Command line: ``python -m m3lrn_lib.benchmark --checkpoint A.pt [--checkpoint B.pt ...] [--data DIR | --real DIR]``.
"""
from .evaluate import data_kind, evaluate_network
from .paper_tables import TABLES, PaperRow, PaperTable
from .real import load_faces, run_real
from .report import build_report, to_json, to_markdown
from .runner import run

__all__ = ["TABLES", "PaperTable", "PaperRow", "evaluate_network", "data_kind", "build_report", "to_markdown",
           "to_json", "run", "run_real", "load_faces"]
