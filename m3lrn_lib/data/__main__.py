"""Command line: ``python -m m3lrn_lib.data [--out DIR] [--n-train N] [--n-test N] ...``.

Without ``--out`` it generates the default sets (20000 training + 2000 test faces of the
embedded model, seed 0) into the cache (:func:`m3lrn_lib.paths.generated_data_dir`:
``$M3LRN_DATA_DIR``, else ``~/.cache/m3lrn/generated``). ``--sample`` regenerates the shipped
sample ``data/sample`` (300 + 100 faces, seed 2021): the only way this command writes into
``data/``. ``--no-resume`` starts over, deleting only split folders whose manifest proves they
are generated sets and that hold nothing else; it refuses any other folder, naming it.

Errors in arguments or files print one line and exit with status 2 (:mod:`m3lrn_lib.cli`).
"""
from __future__ import annotations

import sys
import time

from ..cli import ArgumentParser, check_output_folder, require, run_main


def main(argv=None) -> int:
    ap = ArgumentParser(prog="python -m m3lrn_lib.data", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="output folder (default: a folder in the cache, named after the settings)")
    ap.add_argument("--n-train", type=int, default=20000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default=None,
                    help="face model: 'embedded' (default, = 'embedded-v2': full basis), 'embedded-v1', a Surrey/BFM/npz path")
    ap.add_argument("--generator", choices=("1", "2"), default=None,
                    help="generator version (default: 2 for a model with a fuller basis than it regresses, else 1)")
    ap.add_argument("--no-resume", action="store_true",
                    help="delete an existing generated set in --out and start over")
    ap.add_argument("--sample", action="store_true", help="regenerate the shipped sample in data/sample")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    require(a.n_train >= 0, "--n-train", f"must be >= 0, got {a.n_train}")
    require(a.n_test >= 0, "--n-test", f"must be >= 0, got {a.n_test}")
    require(a.n_train + a.n_test > 0, "--n-train/--n-test", "nothing to generate (both are 0)")
    require(a.workers >= 1, "--workers", f"must be >= 1, got {a.workers}", "use 1 for no worker processes")
    require(a.no_resume is False or a.out is not None or a.sample, "--no-resume",
          "needs --out (the cache folder is managed by default_datasets)", "give --out DIR")

    from .. import paths
    from ..morphable import load_face_model
    from . import SAMPLE_COUNTS, default_datasets, generate

    model = load_face_model(a.model)
    t = time.perf_counter()
    if a.sample:
        out, n_train, n_test = paths.sample_dir(), SAMPLE_COUNTS["n_train"], SAMPLE_COUNTS["n_test"]
        generate(model, out, n_train, n_test, SAMPLE_COUNTS["seed"], a.workers, resume=not a.no_resume,
                 progress=not a.quiet, generator=a.generator)
    elif a.out:
        check_output_folder(a.out, "--out")
        out, n_train, n_test = a.out, a.n_train, a.n_test
        generate(model, out, n_train, n_test, a.seed, a.workers, resume=not a.no_resume, progress=not a.quiet,
                 generator=a.generator)
    else:
        require(a.generator is None, "--generator", "needs --out (the cache folders use the model's default version)",
                "give --out DIR")
        train, test = default_datasets(model, a.n_train, a.n_test, a.workers, a.seed, progress=not a.quiet)
        out, n_train, n_test = train.root.parent, len(train), len(test)
    dt = time.perf_counter() - t
    print(f"{n_train} training + {n_test} test faces of model {model.name!r} in {out} ({dt:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
