"""Command line for morphable models.

    python -m m3lrn_lib.morphable build [--version 1|2] [--seed S] [--out FILE.npz | --update-shipped]
    python -m m3lrn_lib.morphable info [MODEL]

``build`` re-creates an embedded model bit for bit (same seed, same file on any CPU): version 2
(the default model: a full basis of 150 / 29 components whose leading 40 / 10 are regressed) or
version 1 (40 / 10 components and nothing beyond them). Without ``--out`` it writes the user cache's copy
(:func:`m3lrn_lib.paths.cached_face_model`) and says whether it equals the shipped file; only
``--update-shipped`` writes the repository's ``data/face_model_v2.npz`` / ``data/face_model.npz``
(shipped files are never overwritten by a command with default arguments). ``info`` also prints
the bottleneck of a model with a full basis: the share of landmark variance its regressed
components cannot reach.
A bad argument or model file is a one-line ``error:`` message, exit status 2.
"""
import sys
from pathlib import Path

from .. import cli, paths
from .embedded import DEFAULT_SEED, build_embedded_model
from .embedded_v2 import DEFAULT_SEED as DEFAULT_SEED_V2
from .embedded_v2 import build_embedded_model_v2
from .loading import DEFAULT_VERSION, face_proportions, load_face_model
from .model import FaceModelError


def main(argv=None) -> int:
    ap = cli.ArgumentParser(prog="python -m m3lrn_lib.morphable", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="generate the embedded default model")
    b.add_argument("--version", choices=("1", "2"), default=DEFAULT_VERSION,
                   help=f"embedded model version (default {DEFAULT_VERSION})")
    b.add_argument("--seed", type=int, default=None, help="random seed (default: the shipped model's)")
    b.add_argument("--out", default=None, help="output .npz (default: the user cache's copy)")
    b.add_argument("--update-shipped", action="store_true",
                   help="write the repository's data/face_model_v2.npz (v1: face_model.npz)")
    i = sub.add_parser("info", help="print a model's size and landmark proportions")
    i.add_argument("model", nargs="?", default=None)
    args = ap.parse_args(argv)
    if args.cmd == "build":
        shipped = paths.shipped_face_model(args.version)
        default_seed = DEFAULT_SEED if args.version == "1" else DEFAULT_SEED_V2
        seed = default_seed if args.seed is None else args.seed
        if args.update_shipped:
            if args.out is not None:
                raise cli.bad_argument("--update-shipped", "cannot be combined with --out", "give one of them")
            if shipped is None:
                raise cli.bad_argument("--update-shipped", "needs a source checkout (there is no data/ here)",
                                       "give --out FILE.npz")
            out = shipped
        else:
            out = Path(args.out) if args.out else paths.cached_face_model(args.version)
        model = (build_embedded_model if args.version == "1" else build_embedded_model_v2)(seed=seed)
        model.save(out)
        print(f"wrote {out}: {model.n_vertices} vertices, {len(model.triangles)} triangles, "
              f"{_components(model)}")
        if shipped is not None and shipped.is_file() and out != shipped and seed == default_seed:
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
              f"{_components(model)}, "
              f"uv={'yes' if model.uv is not None else 'no'}, "
              f"albedo={'yes' if model.albedo_mean is not None else 'no'}")
        for k, v in face_proportions(model.mean[model.landmarks]).items():
            print(f"  {k:12s} {v:7.1f} mm")
        if model.n_shape_full > model.n_shape or model.n_exp_full > model.n_exp:
            from .bottleneck import prior_bottleneck
            b = prior_bottleneck(model)
            print(f"  bottleneck: {100 * b['outside_span']:.1f} % of the landmark variance of faces drawn from the "
                  f"full prior is outside the span of the {model.n_shape} + {model.n_exp} regressed components "
                  f"(rms {b['rms_outside_mm']:.2f} mm per landmark; the truncated coefficients leave "
                  f"{100 * b['truncation']:.1f} %)")
    return 0


def _components(model) -> str:
    """'40 shape / 10 expression components' (with the full basis's sizes when it is larger)."""
    text = f"{model.n_shape} shape / {model.n_exp} expression components"
    if model.n_shape_full > model.n_shape or model.n_exp_full > model.n_exp:
        text += f" regressed of {model.n_shape_full} / {model.n_exp_full} in the full basis"
    return text


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
