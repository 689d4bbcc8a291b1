"""Inference speed: faces/s and ms/face, PyTorch eager vs ONNX Runtime, landmarks vs dense mesh.

    python benchmarks/bench_inference.py [--preset full] [--threads 1 2] [--batches 1 64]
                                         [--runs 20] [--warmup 3] [--gpu-batches 1 64 256 1024]
                                         [--checkpoint CKPT] [--json OUT.json]

Times the network part of inference (what the paper times in Sec. 4: first stage + M2FA, LGS
skipped) on 120x120 crops, without detection and cropping:

- ``landmarks``: refined 68 landmarks + pose + parameters;
- ``dense``: the same plus the dense mesh (the paper: ~3000 fps landmarks, ~2600 fps dense on
  one GPU with the MobileNet backbone).

Backends: PyTorch eager (:class:`m3lrn_lib.predict.onnx_export.InferenceGraph`, the same graph
that is exported, in ``torch.inference_mode``) and ONNX Runtime (CPU provider), each with 1 and 2
intra-op threads, batch 1 and 64; on a CUDA machine also PyTorch eager on the GPU (fp32, and fp16
autocast) at larger batches. Every configuration is timed as the median of ``--runs`` after
``--warmup``; the ONNX outputs are first checked against PyTorch (max |diff| printed).
Timings on a shared machine vary with other load: compare rows of one run, not across runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from m3lrn_lib.benchmark.speed import MODES, cpu_speed_rows, gpu_speed_rows
from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.nn import M3LRN, M3LRNConfig
from m3lrn_lib.predict.onnx_export import check_onnx, export_onnx


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="full")
    ap.add_argument("--checkpoint", default=None, help="time this checkpoint instead of an untrained network")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--gpu-batches", type=int, nargs="+", default=[1, 64, 256, 1024])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-gpu", action="store_true")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)

    if args.checkpoint:
        from m3lrn_lib.predict import load_network
        net = load_network(args.checkpoint, "cpu")
    else:
        torch.manual_seed(0)
        net = M3LRN(load_face_model(), M3LRNConfig.preset(args.preset)).eval()
    n_params = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("lgs."))
    print(f"network: {args.preset if not args.checkpoint else args.checkpoint}, {n_params / 1e6:.2f}M parameters "
          f"at test time (LGS excluded); torch {torch.__version__}, CPU {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} logical cores")
    models, check = {}, {}
    for mode in MODES:
        t0 = time.perf_counter()
        models[mode] = export_onnx(net, dense=mode == "dense")
        check[mode] = check_onnx(net, models[mode], dense=mode == "dense", batch=4)
        worst = max(v["max_abs"] for v in check[mode].values())
        print(f"ONNX export ({mode}): {len(models[mode]) / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s; "
              f"max |onnx - torch| = {worst:.2e} (tolerance 1e-4 x max(1, |x|))")
    rows = cpu_speed_rows(net, args.threads, args.batches, args.runs, args.warmup, onnx=models,
                          log=lambda s: print(s, flush=True))
    if torch.cuda.is_available() and not args.no_gpu:
        rows += gpu_speed_rows(net, args.gpu_batches, args.runs, args.warmup, log=lambda s: print(s, flush=True))
    else:
        print("no CUDA GPU here: GPU rows skipped (the paper: ~3000 fps landmarks, ~2600 fps dense on one GPU)")
    if args.json:
        from m3lrn_lib.fileio import atomic_write_bytes
        atomic_write_bytes(args.json, json.dumps({"rows": rows, "onnx_check": check}, indent=1).encode())


if __name__ == "__main__":
    main()
