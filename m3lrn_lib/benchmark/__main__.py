"""``python -m m3lrn_lib.benchmark --checkpoint A.pt [--checkpoint LABEL=B.pt ...] [--data DIR] [--out DIR]``

Evaluates each checkpoint on an AFLW2000-3D-layout test set (default: the shipped synthetic
sample; point ``--data`` at a real AFLW2000-3D folder to use it) and writes ``benchmark.json``
and ``benchmark.md``: the paper's Tables 1-10 and S2 with our numbers beside the printed ones.
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m m3lrn_lib.benchmark", description=__doc__.split("\n\n")[1])
    ap.add_argument("--checkpoint", action="append", required=True, metavar="[LABEL=]PATH",
                    help="a checkpoint (trainer or state-dict file); repeat for several variants")
    ap.add_argument("--data", default=None, help="AFLW2000-3D-layout folder (default: data/sample/test, synthetic)")
    ap.add_argument("--out", default="build/benchmark", help="output folder (default build/benchmark)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when available)")
    ap.add_argument("--max-faces", type=int, default=None, help="use only the first N test images")
    ap.add_argument("--florence-subjects", type=int, default=4,
                    help="synthetic Florence subjects, 15 renders each (0 skips Table 10)")
    ap.add_argument("--no-protocols", action="store_true", help="skip Table 9's ICP protocols (faster)")
    args = ap.parse_args(argv)
    from ..data import DatasetError
    from ..predict import NetworkLoadError
    from .runner import run

    cks = []
    for c in args.checkpoint:
        label, sep, path = c.partition("=")
        cks.append((label, path) if sep and label else c)
    try:
        report = run(cks, args.data, args.out, args.device, args.max_faces, args.florence_subjects,
                     not args.no_protocols)
    except (NetworkLoadError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report["banner"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
