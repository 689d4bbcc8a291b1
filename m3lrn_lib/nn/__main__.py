"""``python -m m3lrn_lib.nn [preset] [depth]``: print the parameter table of a preset.

A bad preset or depth is a one-line ``error:`` message, exit status 2.
"""
import sys

from .. import cli


def main(argv=None) -> int:
    from .model import PRESETS

    ap = cli.ArgumentParser(prog="python -m m3lrn_lib.nn", description=__doc__.split("\n\n")[0])
    ap.add_argument("preset", nargs="?", default="full", help=f"one of {', '.join(sorted(PRESETS))} (default full)")
    ap.add_argument("depth", nargs="?", type=int, default=1, help="module depth of the table (>= 0, default 1)")
    args = ap.parse_args(argv)
    cli.require(args.preset in PRESETS, "preset", f"unknown preset {args.preset!r}",
              f"choose one of {', '.join(sorted(PRESETS))}")
    cli.require(args.depth >= 0, "depth", f"must be >= 0, got {args.depth}", "e.g. 1")
    from ..morphable import load_face_model
    from .counts import parameter_table
    from .model import M3LRN

    print(parameter_table(M3LRN(load_face_model(), args.preset), depth=args.depth))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
