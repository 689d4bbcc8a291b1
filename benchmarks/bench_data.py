"""Benchmark of the data pipeline: synthetic generation speed and loader throughput.

    .venv/bin/python benchmarks/bench_data.py [--n-train 2000] [--n-test 200] [--workers 2] [--models embedded-v1,embedded-v2]

For each model (default: the v1 embedded model with generator v1, and the embedded model v2 with
generator v2 -- whole heads, skin detail, environment light) prints faces/s for
``m3lrn_lib.data.generate`` (spawned workers, wall time including their start), the per-face cost
in one process, and images/s of a ``DataLoader`` (batch 64, 2 workers) over the generated training
set; then the v2 / v1 ratio measured in the same run. The target of generator v2 is >= 200 faces/s
on 2 cores. ``M3LRN_FAST=1`` shrinks the run.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch

from m3lrn_lib.data import FaceSynthesizer, ThreeDDFADataset, default_generator, generate
from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.runtime import pick


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-train", type=int, default=pick(300, 2000))
    ap.add_argument("--n-test", type=int, default=pick(30, 200))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--models", default="embedded-v1,embedded-v2")
    a = ap.parse_args()
    torch.set_num_threads(1)
    rates = {}
    for name in a.models.split(","):
        rates[name] = bench_model(load_face_model(name), name, a)
    if len(rates) == 2:
        (n1, r1), (n2, r2) = rates.items()
        print(f"ratio {n2} / {n1}: {r2 / r1:.2f} (generation faces/s, same run)")


def bench_model(model, name, a) -> float:
    """Print the figures of one model's generator; return its generation rate (faces/s)."""
    print(f"== {name} (generator v{default_generator(model)})")

    synth = FaceSynthesizer(model, 0)
    for split, n in (("train", 60), ("test", 20)):
        synth.face(split, 0)
        t = time.perf_counter()
        for i in range(n):
            synth.face(split, i)
        print(f"one process, {split} face: {(time.perf_counter() - t) / n * 1e3:.1f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        generate(model, tmp, a.n_train, a.n_test, seed=0, workers=a.workers, progress=False)
        dt = time.perf_counter() - t
        n = a.n_train + a.n_test
        print(f"generate: {n} faces ({a.n_train} train 120x120 + {a.n_test} test 200-256 px) with "
              f"{a.workers} workers in {dt:.1f} s = {n / dt:.0f} faces/s")
        rate = n / dt

        ds = ThreeDDFADataset(f"{tmp}/train", model)
        loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=2,
                                             persistent_workers=True)
        for _ in loader:  # warm-up epoch: worker start, page cache
            pass
        t, seen = time.perf_counter(), 0
        for _ in range(2):
            for b in loader:
                seen += len(b["image"])
        dt = time.perf_counter() - t
        print(f"DataLoader (batch 64, 2 workers): {seen / dt:.0f} images/s")
    return rate


if __name__ == "__main__":
    main()
