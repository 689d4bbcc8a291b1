"""Command line: ``python -m m3lrn_lib.data [--out DIR] [--n-train N] [--n-test N] ...``.

Without arguments it generates the default sets (20000 training + 2000 test faces of the
embedded model, seed 0) into the cache folder (``$M3LRN_DATA_DIR`` or ``data/generated``).
``--sample`` regenerates the shipped sample ``data/sample`` (300 + 100 faces, seed 2021).
"""
from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m m3lrn_lib.data", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="output folder (default: a folder in the cache, named after the settings)")
    ap.add_argument("--n-train", type=int, default=20000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default=None, help="face model: 'embedded' (default), a Surrey/BFM/npz path")
    ap.add_argument("--no-resume", action="store_true", help="delete an existing set and start over")
    ap.add_argument("--sample", action="store_true", help="regenerate the shipped sample in data/sample")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)

    from ..morphable import load_face_model
    from . import SAMPLE_COUNTS, SAMPLE_DIR, default_datasets, generate

    model = load_face_model(a.model)
    t = time.perf_counter()
    if a.sample:
        out, n_train, n_test = SAMPLE_DIR, SAMPLE_COUNTS["n_train"], SAMPLE_COUNTS["n_test"]
        generate(model, out, n_train, n_test, SAMPLE_COUNTS["seed"], a.workers, resume=not a.no_resume,
                 progress=not a.quiet)
    elif a.out:
        out, n_train, n_test = a.out, a.n_train, a.n_test
        generate(model, out, n_train, n_test, a.seed, a.workers, resume=not a.no_resume, progress=not a.quiet)
    else:
        if a.no_resume:
            ap.error("--no-resume needs --out (the cache folder is managed by default_datasets)")
        train, test = default_datasets(model, a.n_train, a.n_test, a.workers, a.seed, progress=not a.quiet)
        out, n_train, n_test = train.root.parent, len(train), len(test)
    dt = time.perf_counter() - t
    print(f"{n_train} training + {n_test} test faces of model {model.name!r} in {out} ({dt:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
