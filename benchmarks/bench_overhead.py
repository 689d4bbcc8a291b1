"""Inference overhead of M2FA (and LGS) over the first stage, on this machine's CPU.

    python benchmarks/bench_overhead.py [--runs 20] [--warmup 3] [--batches 1 64] [--threads N]

Times one forward pass per batch (eval mode, ``torch.inference_mode``, median of ``--runs``
after ``--warmup``; the variants run interleaved, round-robin, so that other load on the
machine affects them alike) for:

- first stage: backbone + FC heads + L^c + pose (the ``baseline`` preset),
- + M2FA: the ``m2fa`` preset (what M^3-LRN runs at test time),
- + M2FA + LGS: the ``full`` preset with ``with_lgs=True`` (LGS is skipped at test time),
- + M2FA, literal MMPF: as above but with the 68x2418 MMPF materialised
  (``factorized_mmpf=False``), to show why the factorised first decoder layer matters,
- + M2FA, dense mesh: the refined landmarks plus the dense mesh (the paper's 2600 vs 3000 fps).

The paper reports "about 5%" more time for M2FA + LGS on a GPU with the MobileNet backbone.
Then prints the parameter table of the full model.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.nn import M3LRN, M3LRNConfig, parameter_table

VARIANTS = [  # (label, preset, config overrides, forward kwargs)
    ("first stage", "baseline", {}, {}),
    ("+ M2FA", "m2fa", {}, {}),
    ("+ M2FA + LGS", "full", {}, {"with_lgs": True}),
    ("+ M2FA, literal MMPF", "m2fa", {"factorized_mmpf": False}, {}),
    ("+ M2FA, dense mesh", "m2fa", {}, {"dense": True}),
]


def time_interleaved(nets, x, runs, warmup):
    """Median seconds per forward for each variant, runs interleaved round-robin so that load
    from other processes on the machine hits every variant alike."""
    times = {label: [] for label in nets}
    with torch.inference_mode():
        for label, (net, kw) in nets.items():
            for _ in range(warmup):
                net(x, **kw)
        for _ in range(runs):
            for label, (net, kw) in nets.items():
                t0 = time.perf_counter()
                net(x, **kw)
                times[label].append(time.perf_counter() - t0)
    return {label: statistics.median(ts) for label, ts in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--face-model", default="embedded", help="morphable model (default: the embedded one)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fm = load_face_model(args.face_model)
    nets = {}
    for label, preset, over, kw in VARIANTS:
        nets[label] = (M3LRN(fm, M3LRNConfig.preset(preset, **over)).eval(), kw)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; median of {args.runs} runs "
          f"after {args.warmup} warm-up, eval mode, inference_mode; face model {fm.name} (D={fm.n_params})")
    for b in args.batches:
        x = torch.randn(b, 3, 120, 120)
        med = time_interleaved(nets, x, args.runs, args.warmup)
        base = med[VARIANTS[0][0]]
        print(f"\nbatch {b}")
        print(f"  {'variant':<24}{'ms/batch':>10}{'ms/face':>10}{'faces/s':>10}{'overhead':>10}")
        for label, t in med.items():
            over = "" if label == VARIANTS[0][0] else f"{100 * (t - base) / base:+.1f}%"
            print(f"  {label:<24}{1e3 * t:>10.2f}{1e3 * t / b:>10.3f}{b / t:>10.0f}{over:>10}")
    print("\nparameters (full model):")
    print(parameter_table(nets["+ M2FA + LGS"][0]))


if __name__ == "__main__":
    main()
