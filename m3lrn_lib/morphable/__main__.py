"""Command line for morphable models.

    python -m m3lrn_lib.morphable build [--seed S] [--out FILE.npz | --update-shipped]
    python -m m3lrn_lib.morphable info [MODEL]

``build`` re-creates the embedded default model bit for bit (same seed, same file on any CPU).
Without ``--out`` it writes the user cache's copy (:func:`m3lrn_lib.paths.cached_face_model`) and
says whether it equals the shipped file; only ``--update-shipped`` writes the repository's
``data/face_model.npz`` (shipped files are never overwritten by a command with default arguments).
A bad argument or model file is a one-line ``error:`` message, exit status 2.
"""
import sys
from pathlib import Path

from .. import cli, paths
from .embedded import DEFAULT_SEED, GENERATOR_VERSION, build_embedded_model
from .loading import face_proportions, load_face_model
from .model import FaceModelError


def main(argv=None) -> int:
    ap = cli.ArgumentParser(prog="python -m m3lrn_lib.morphable", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="generate the embedded default model")
    b.add_argument("--seed", type=int, default=DEFAULT_SEED)
    b.add_argument("--out", default=None, help="output .npz (default: the user cache's copy)")
    b.add_argument("--update-shipped", action="store_true", help="write the repository's data/face_model.npz")
    i = sub.add_parser("info", help="print a model's size and landmark proportions")
    i.add_argument("model", nargs="?", default=None)
    args = ap.parse_args(argv)
    if args.cmd == "build":
        shipped = paths.shipped_face_model()
        if args.update_shipped:
            if args.out is not None:
                raise cli.bad_argument("--update-shipped", "cannot be combined with --out", "give one of them")
            if shipped is None:
                raise cli.bad_argument("--update-shipped", "needs a source checkout (there is no data/ here)",
                                       "give --out FILE.npz")
            out = shipped
        else:
            out = Path(args.out) if args.out else paths.cached_face_model(GENERATOR_VERSION)
        model = build_embedded_model(seed=args.seed)
        model.save(out)
        print(f"wrote {out}: {model.n_vertices} vertices, {len(model.triangles)} triangles, "
              f"{model.n_shape} shape / {model.n_exp} expression components")
        if shipped is not None and shipped.is_file() and out != shipped and args.seed == DEFAULT_SEED:
            same = Path(out).read_bytes() == shipped.read_bytes()
            print(f"{'identical to' if same else 'DIFFERS from'} the shipped {shipped}")
    else:
        try:
            model = load_face_model(args.model)
        except FaceModelError as exc:
            if exc.hint:
                raise
            raise FaceModelError(str(exc), hint="give a .npz written by FaceModel.save, a 3DDFA BFM .pkl or an "
                                 "eos model folder") from exc
        print(f"{model.name}: {model.n_vertices} vertices, {len(model.triangles)} triangles, "
              f"{model.n_shape} shape / {model.n_exp} expression components, "
              f"uv={'yes' if model.uv is not None else 'no'}, "
              f"albedo={'yes' if model.albedo_mean is not None else 'no'}")
        for k, v in face_proportions(model.mean[model.landmarks]).items():
            print(f"  {k:12s} {v:7.1f} mm")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
