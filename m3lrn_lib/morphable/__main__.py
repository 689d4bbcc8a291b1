"""Command line for morphable models.

    python -m m3lrn_lib.morphable build [--seed S] [--out data/face_model.npz]
    python -m m3lrn_lib.morphable info [MODEL]

``build`` re-creates the shipped embedded default model bit for bit (same seed, same file).
"""
import argparse
import os
import sys

from .embedded import DEFAULT_SEED, build_embedded_model
from .loading import DEFAULT_MODEL_PATH, face_proportions, load_face_model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m m3lrn_lib.morphable", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="generate the embedded default model")
    b.add_argument("--seed", type=int, default=DEFAULT_SEED)
    b.add_argument("--out", default=str(DEFAULT_MODEL_PATH))
    i = sub.add_parser("info", help="print a model's size and landmark proportions")
    i.add_argument("model", nargs="?", default=None)
    args = ap.parse_args(argv)
    if args.cmd == "build" and os.environ.get("OMP_NUM_THREADS") != "1":
        # BLAS results depend on the thread count: build single-threaded so the file is bit-identical
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        argv = sys.argv[1:] if argv is None else argv
        os.execve(sys.executable, [sys.executable, "-m", "m3lrn_lib.morphable", *argv], env)
    if args.cmd == "build":
        model = build_embedded_model(seed=args.seed)
        model.save(args.out)
        print(f"wrote {args.out}: {model.n_vertices} vertices, {len(model.triangles)} triangles, "
              f"{model.n_shape} shape / {model.n_exp} expression components")
    else:
        model = load_face_model(args.model)
        print(f"{model.name}: {model.n_vertices} vertices, {len(model.triangles)} triangles, "
              f"{model.n_shape} shape / {model.n_exp} expression components, "
              f"uv={'yes' if model.uv is not None else 'no'}, "
              f"albedo={'yes' if model.albedo_mean is not None else 'no'}")
        for k, v in face_proportions(model.mean[model.landmarks]).items():
            print(f"  {k:12s} {v:7.1f} mm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
