"""``python -m m3lrn_lib.benchmark --checkpoint A.pt [--checkpoint LABEL=B.pt ...] [--data DIR | --real DIR] [--out DIR]``

Evaluates each checkpoint on an AFLW2000-3D-layout test set (default: the shipped synthetic
sample; point ``--data`` at a real AFLW2000-3D folder to use it) and writes ``benchmark.json``
and ``benchmark.md``: the paper's Tables 1-10 and S2 with our numbers beside the printed ones.

With ``--real DIR`` (a folder of photos with iBUG-68 ``.pts`` files beside them, 300-W / menpo
style) it runs only the real-photo benchmark instead (:mod:`m3lrn_lib.benchmark.real`): 2D NME
with the ground-truth crop, the face detector's detection rate and the NME with its crop, and a
"mean shape, no network" reference row, written to ``real.json`` and ``real.md``. A broken
``.pts`` is an error unless ``--skip-bad``; images without a ``.pts`` or that cannot be decoded
are skipped and counted. ``--data`` cannot be combined with it; ``--florence-subjects`` and
``--no-protocols`` do not apply to it.

Every argument is checked before any network is loaded or anything written (``--out`` must be
a writable folder or creatable in one); a bad one is a one-line ``error:`` message, exit status 2.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .. import cli
from ..errors import UserError


def build_parser() -> cli.ArgumentParser:
    ap = cli.ArgumentParser(prog="python -m m3lrn_lib.benchmark", description="\n\n".join(__doc__.split("\n\n")[1:3]))
    ap.add_argument("--checkpoint", action="append", required=True, metavar="[LABEL=]PATH",
                    help="a checkpoint (trainer or state-dict file); repeat for several variants")
    ap.add_argument("--data", default=None, help="AFLW2000-3D-layout folder (default: data/sample/test, synthetic)")
    ap.add_argument("--real", default=None, metavar="DIR",
                    help="run only the real-photo benchmark on DIR: images with NAME.pts (iBUG-68) beside them")
    ap.add_argument("--skip-bad", action="store_true",
                    help="with --real: skip (and count) images whose .pts is broken instead of stopping")
    ap.add_argument("--out", default="build/benchmark", help="output folder (default build/benchmark)")
    ap.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when available)")
    ap.add_argument("--max-faces", type=int, default=None,
                    help="use only the first N (>= 1) test images (with --real: the first N usable ones by name)")
    ap.add_argument("--florence-subjects", type=int, default=4,
                    help="synthetic Florence subjects, 15 renders each (0 skips Table 10; not used by --real)")
    ap.add_argument("--no-protocols", action="store_true", help="skip Table 9's ICP protocols (faster; not used by --real)")
    ap.add_argument("--engine", default="torch", help="how the networks run: torch (default), onnx (the exported "
                    "float32 graph in ONNX Runtime) or onnx-int8 (its static int8 version); onnx engines use the CPU")
    return ap


def _checkpoints(values) -> list:
    cks = []
    for c in values:
        label, sep, path = c.partition("=")
        src = path if sep and label else c
        ck = Path(src)
        cli.require(ck.is_file(), "--checkpoint", f"{ck}: file not found",
                  "give a .pt written by the trainer or save_state_dict, e.g. data/checkpoints/baseline.pt")
        cli.require(ck.stat().st_size > 0, "--checkpoint", f"{ck} is an empty file", "re-download or re-train it")
        cks.append((label, path) if sep and label else c)
    return cks


def main(argv=None) -> int:
    """The command line; user errors are printed as one line and give 2 (also when called directly)."""
    return cli.run_main(_main, argv)


def _main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from ..cli import check_output_folder
    from ..predict import NetworkLoadError
    from ..predict.predictor import check_device

    cli.require(args.max_faces is None or args.max_faces >= 1, "--max-faces", f"must be >= 1, got {args.max_faces}",
              "omit it to use every test image")
    cli.require(args.florence_subjects >= 0, "--florence-subjects", f"must be >= 0, got {args.florence_subjects}",
              "0 skips Table 10")
    try:
        device = check_device(args.device)
    except UserError:
        raise cli.bad_argument("--device", f"unknown device {args.device!r}", "use cpu, cuda or cuda:N") from None
    if device is not None and device.type == "cuda":
        import torch
        cli.require(torch.cuda.is_available(), "--device", f"{args.device!r} requested but no CUDA GPU is available",
                  "use --device cpu")
    from ..predict.predictor import ENGINES
    cli.require(args.engine in ENGINES, "--engine", f"unknown engine {args.engine!r}", f"use one of {', '.join(ENGINES)}")
    cli.require(args.engine == "torch" or device is None or device.type == "cpu", "--engine",
                f"{args.engine} runs on the CPU, not on {args.device}", "drop --device or use --engine torch")
    cks = _checkpoints(args.checkpoint)
    if args.real is not None:
        cli.require(args.data is None, "--real", "cannot be combined with --data (--real runs only the real-photo "
                    "benchmark)", "run the command once with --data and once with --real")
        cli.require(Path(args.real).is_dir(), "--real", f"{args.real}: folder not found",
                    "give a folder of images with iBUG-68 NAME.pts files beside them")
    cli.require(not args.skip_bad or args.real is not None, "--skip-bad", "only applies to --real",
                "add --real DIR or drop --skip-bad")
    if args.data is not None and args.data != "default":
        cli.require(Path(args.data).is_dir(), "--data", f"{args.data}: folder not found",
                  "give an AFLW2000-3D-layout folder, or omit it for the shipped sample")
    check_output_folder(args.out, "--out")
    if args.real is not None:
        return _main_real(args, cks)
    from .runner import run

    try:
        report = run(cks, args.data, args.out, args.device, args.max_faces, args.florence_subjects,
                     not args.no_protocols, engine=args.engine)
    except NetworkLoadError as exc:
        raise UserError(str(exc), subject="--checkpoint", hint="give a checkpoint of this package's M3LRN") from None
    print(report["banner"])
    return 0


def _main_real(args, cks) -> int:
    """``--real``: read the folder (annotations, images, detections: every user error comes here,
    before any network is loaded), then evaluate the checkpoints."""
    from ..predict import NetworkLoadError
    from .real import load_faces, run_real, summary_lines

    print(f"{args.real}: reading the annotations and images, running the face detector")
    faces = load_faces(args.real, max_faces=args.max_faces, skip_bad=args.skip_bad)
    try:
        report = run_real(cks, faces, args.out, args.device, engine=args.engine)
    except NetworkLoadError as exc:
        raise UserError(str(exc), subject="--checkpoint", hint="give a checkpoint of this package's M3LRN") from None
    print("\n".join(summary_lines(report)))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
