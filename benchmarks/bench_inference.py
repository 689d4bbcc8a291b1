"""Inference speed in one run: our networks against MobileNet-V1 (3DDFA_V2's backbone), ratios per column.

    python benchmarks/bench_inference.py [--checkpoints DIR] [--threads 1 2] [--batches 1 64]
                                         [--runs 40] [--rounds 8] [--warmup 5] [--no-int8]
                                         [--gpu-batches 1 64 1024] [--json OUT.json]

Times, interleaved in one process with ONNX Runtime's CPU provider (m3lrn_lib.benchmark.speed.speed_table):

- the first stage (the shipped ``baseline``: backbone, heads, landmark reconstruction);
- + M2FA (the shipped ``m2fa``);
- the full model (``full``), float32 and static int8, landmarks and dense;
- MobileNet-V1 width 1.0 and 0.5 with 62 outputs (as 3DDFA_V2 uses it) and a plain MobileNet-V2 of our width;

at every thread count x batch, each row as a ratio to MobileNet-V1 1.0 of the same column, and then the
targets (met / missed). The float32 graphs are first checked against PyTorch (1e-4 x max(1, |x|)); the int8
graph passes its NME gate (<= 2 % relative on held-out synthetic crops) or the script stops. With CUDA also
PyTorch eager faces/s on the GPU, fp32 and fp16. Timings on a shared machine vary: compare rows of one run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform

import onnxruntime
import torch

from m3lrn_lib import paths
from m3lrn_lib.benchmark import speed
from m3lrn_lib.predict import load_network
from m3lrn_lib.predict.onnx_export import check_onnx

NETWORKS = {"first stage": "baseline", "+ M2FA": "m2fa", "full": "full"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoints", default=None, help="folder with baseline.pt, m2fa.pt, full.pt "
                                                        "(default: the shipped data/checkpoints)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--no-int8", action="store_true")
    ap.add_argument("--gpu-batches", type=int, nargs="+", default=[1, 64, 1024])
    ap.add_argument("--json", default=None, help="also write the rows and targets to this JSON file")
    args = ap.parse_args(argv)

    folder = paths.checkpoints_dir() if args.checkpoints is None else args.checkpoints
    nets = {label: load_network(os.path.join(folder, f"{name}.pt"), "cpu") for label, name in NETWORKS.items()}
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, CPU {platform.processor() or platform.machine()}"
          f", {os.cpu_count()} logical cores; checkpoints from {folder}")
    entries = speed.speed_entries(nets, int8=not args.no_int8, log=print)
    for label, net in nets.items():  # the float32 graphs that are timed, against the network's own forward pass
        worst = max(v["max_abs"] for v in check_onnx(net, entries[label]["model"], batch=4).values())
        print(f"ONNX check ({label}): max |onnx - torch| = {worst:.2e} (tolerance 1e-4 x max(1, |x|))")
    rows = speed.speed_table(entries, args.threads, args.batches, args.runs, args.warmup, args.rounds,
                       log=lambda s: print(s, flush=True))
    print()
    print(speed.format_speed_table(rows))
    targets = speed.speed_targets(rows)
    print(speed.format_targets(targets))
    gpu = []
    if torch.cuda.is_available():
        gpu = speed.gpu_speed_rows(nets["full"], args.gpu_batches, log=lambda s: print(s, flush=True))
    else:
        print("\nno CUDA GPU here: GPU rows skipped (the paper: ~3000 fps landmarks, ~2600 fps dense on one GPU)")
    if args.json:
        from m3lrn_lib.fileio import atomic_write_bytes
        meta = {k: {"macs": e["macs"], "params": e["params"]} for k, e in entries.items()}
        atomic_write_bytes(args.json, json.dumps({"rows": rows, "targets": targets, "gpu_rows": gpu,
                                                  "entries": meta}, indent=1).encode())
    return rows


if __name__ == "__main__":
    main()
