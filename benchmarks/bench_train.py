"""Training throughput (images/s) with and without the data pipeline, so a data bottleneck shows.

    .venv/bin/python benchmarks/bench_train.py [--config cpu] [--steps 12] [--workers 0,1,2] [overrides ...]

For the preset (default ``cpu``: the full model, batch 32, 2 threads) it measures

1. **model only** -- ``Trainer.train_step`` on synthetic tensors held in memory (forward, Eq. 7
   loss, backward, NaN guard, SGD): the ceiling;
2. **data only** -- iterating the DataLoader (JPEG decode, colour jitter, flip, ``ToTensor``,
   face swap in the collate step) for each worker count, with and without the face swap;
3. **end to end** -- loader + step, for each worker count.

On a GPU (``--device cuda``, or after the CPU run when one is visible) the same runs on it with
AMP and channels-last (give a GPU-sized batch, e.g. ``optim.batch_size=256 --workers 4,8``).
``M3LRN_FAST=1`` shrinks the run. Timings on a shared machine vary with the other jobs; the script
prints the load average next to the figures.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from m3lrn_lib.runtime import limit_blas_threads, pick
from m3lrn_lib.train import Trainer, load_config


def _trainer(args, overrides, tmp):
    cfg = load_config(args.config, [f"run.out_dir={tmp}", "run.progress=false", *overrides])
    return Trainer(cfg)


def model_only(tr, steps):
    """Synthetic tensors: random crops and whitened targets (the loss reconstructs the landmarks)."""
    g = torch.Generator().manual_seed(0)
    b = tr.cfg.optim.batch_size // tr.world
    batch = {"image": torch.randn(b, 3, 120, 120, generator=g).clamp(-1, 1),
             "target": 0.5 * torch.randn(b, tr.net.n_params, generator=g)}
    for _ in range(2):  # warm-up (allocator, oneDNN primitives, cudnn autotune)
        tr.train_step(batch)
    _sync(tr)
    t = time.perf_counter()
    for _ in range(steps):
        tr.train_step(batch)
    _sync(tr)
    return steps * len(batch["image"]) / (time.perf_counter() - t)


def data_only(tr, steps):
    tr.sampler.set_epoch(0)
    it = iter(tr.loader)
    next(it)  # worker start-up
    t, n = time.perf_counter(), 0
    for _ in range(steps):
        n += len(next(it)["image"])
    return n / (time.perf_counter() - t)


def end_to_end(tr, steps):
    tr.sampler.set_epoch(0)
    it = iter(tr.loader)
    tr.train_step(next(it))
    _sync(tr)
    t, n = time.perf_counter(), 0
    for _ in range(steps):
        b = next(it)
        tr.train_step(b)
        n += len(b["image"])
    _sync(tr)
    return n / (time.perf_counter() - t)


def _sync(tr):
    if tr.device.type == "cuda":
        torch.cuda.synchronize()


def run(a, device):
    ov = list(a.overrides) + [f"run.device={device}"]
    with tempfile.TemporaryDirectory() as tmp:
        base = _trainer(a, ov, tmp)
        cfg = base.cfg
        threads = cfg.run.threads or torch.get_num_threads()
        torch.set_num_threads(threads)
        limit_blas_threads(1)
        print(f"config {a.config}: model {cfg.model.preset}, batch {cfg.optim.batch_size}, device {base.device}, "
              f"amp {base.derived()['amp']}, channels_last {cfg.run.channels_last}, torch threads {threads}, "
              f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f}")
        if device == "cuda":
            torch.backends.cudnn.benchmark = True
        m = model_only(base, a.steps)
        print(f"model only (synthetic tensors in memory): {m:7.1f} images/s", flush=True)
        rows = []
        for w in [int(x) for x in a.workers.split(",")]:
            for swap in (True, False):
                tr = _trainer(a, ov + [f"data.workers={w}"] + ([] if swap else ["augment.face_swap=0"]), tmp)
                d = data_only(tr, a.steps)
                e = end_to_end(tr, a.steps) if swap else float("nan")
                rows.append((w, swap, d, e))
                tr.close()  # stop its DataLoader workers now, not at interpreter exit
                del tr
                tag = "with face swap" if swap else "no face swap  "
                line = f"workers {w}, {tag}: data only {d:7.1f} images/s"
                if swap:
                    line += f" | end to end {e:7.1f} images/s ({100 * e / m:3.0f}% of model only)"
                print(line, flush=True)
        best = max(r[3] for r in rows if r[1])
        d_best = max(r[2] for r in rows if r[1])
        verdict = "data-bound" if d_best < m else "compute-bound"
        print(f"best end to end {best:.1f} images/s; data pipeline alone at most {d_best:.1f} images/s vs model "
              f"{m:.1f} -> {verdict}; load average now {os.getloadavg()[0]:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="cpu")
    ap.add_argument("--steps", type=int, default=pick(3, 12))
    ap.add_argument("--workers", default=pick("0,1", "0,1,2"))
    ap.add_argument("--device", default=None, help="cpu | cuda (default: cpu, and cuda too when one is visible)")
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    devices = [a.device] if a.device else (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    for device in devices:
        run(a, device)


if __name__ == "__main__":
    main()
