"""Inference speed (Sec. 4, "~3000 fps landmarks, ~2600 fps dense on one GPU"): faces/s and ms/face.

Times the network part of inference -- first stage + M2FA, LGS skipped, on (B, 3, 120, 120)
crops, without detection and cropping -- in two modes:

- ``landmarks``: refined 68 landmarks + pose + parameters;
- ``dense``: the same plus the dense mesh.

Backends: PyTorch eager (:class:`m3lrn_lib.predict.onnx_export.InferenceGraph`, the graph that is
exported, under ``torch.inference_mode``) and ONNX Runtime (CPU provider) with a given number of
intra-op threads; on CUDA, PyTorch eager in fp32 and fp16 autocast. Each configuration is the
median of ``runs`` timings after ``warmup`` calls. Used by ``benchmarks/bench_inference.py`` and
notebook 06. Timings on a shared machine vary with its load: compare rows of one run only.
"""
from __future__ import annotations

import statistics
import time

import torch

from ..predict.onnx_export import InferenceGraph, export_onnx, onnx_session

__all__ = ["MODES", "median_time", "speed_row", "cpu_speed_rows", "gpu_speed_rows", "format_row",
           "export_both"]

MODES = ("landmarks", "dense")


def median_time(fn, runs: int = 20, warmup: int = 3, sync=None) -> float:
    """Median wall time in seconds of ``fn()`` over ``runs`` calls after ``warmup`` calls
    (``sync()`` after each call, e.g. ``torch.cuda.synchronize``)."""
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def speed_row(backend: str, device: str, threads, batch: int, mode: str, sec: float) -> dict:
    """One result: ``ms_per_batch``, ``ms_per_face`` and ``faces_per_s`` from ``sec`` per batch."""
    return {"backend": backend, "device": device, "threads": threads, "batch": batch, "mode": mode,
            "ms_per_batch": sec * 1e3, "ms_per_face": sec * 1e3 / batch, "faces_per_s": batch / sec}


def export_both(net) -> dict:
    """ONNX bytes of the inference graph of ``net`` for both :data:`MODES`."""
    return {m: export_onnx(net, dense=m == "dense") for m in MODES}


def cpu_speed_rows(net, threads=(1, 2), batches=(1, 64), runs: int = 20, warmup: int = 3, onnx=True,
                   modes=MODES, log=None) -> list[dict]:
    """PyTorch eager (and ONNX Runtime unless ``onnx`` is False; pass the :func:`export_both`
    dict to reuse exports) on the CPU for every thread count x batch x mode; restores torch's
    thread count afterwards. Returns a list of :func:`speed_row` dicts."""
    net = net.to("cpu").eval()
    models = (export_both(net) if onnx is True else onnx) if onnx else None
    before = torch.get_num_threads()
    rows = []
    try:
        for n_threads in threads:
            torch.set_num_threads(int(n_threads))
            sessions = {m: onnx_session(models[m], threads=int(n_threads)) for m in modes} if models else {}
            for batch in batches:
                x = torch.randn(int(batch), 3, 120, 120, generator=torch.Generator().manual_seed(0))
                xn = x.numpy()
                for mode in modes:
                    g = InferenceGraph(net, dense=mode == "dense").eval()

                    def eager():
                        with torch.inference_mode():
                            g(x)

                    rows.append(speed_row("pytorch", "cpu", n_threads, batch, mode, median_time(eager, runs, warmup)))
                    if log:
                        log(format_row(rows[-1]))
                    if mode in sessions:
                        s = sessions[mode]
                        sec = median_time(lambda: s.run(None, {"images": xn}), runs, warmup)
                        rows.append(speed_row("onnxruntime", "cpu", n_threads, batch, mode, sec))
                        if log:
                            log(format_row(rows[-1]))
    finally:
        torch.set_num_threads(before)
    return rows


def gpu_speed_rows(net, batches=(1, 64, 256, 1024), runs: int = 20, warmup: int = 3, modes=MODES,
                   log=None) -> list[dict]:
    """PyTorch eager on the first CUDA device, fp32 and fp16 autocast ([] without CUDA)."""
    if not torch.cuda.is_available():
        return []
    dev = torch.device("cuda")
    netc = net.to(dev).eval()
    name = torch.cuda.get_device_name(0)
    rows = []
    for batch in batches:
        x = torch.randn(int(batch), 3, 120, 120, device=dev)
        for mode in modes:
            g = InferenceGraph(netc, dense=mode == "dense").eval()
            for amp in (False, True):
                def eager():
                    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                        g(x)
                sec = median_time(eager, runs, warmup, sync=torch.cuda.synchronize)
                rows.append(speed_row("pytorch" + (" fp16" if amp else ""), name, "-", batch, mode, sec))
                if log:
                    log(format_row(rows[-1]))
    return rows


def format_row(r: dict) -> str:
    """One aligned text line for a :func:`speed_row` dict."""
    return (f"{r['backend']:<16} {str(r['device'])[:22]:<22} thr {str(r['threads']):>2}  batch {r['batch']:>5}  "
            f"{r['mode']:<9}  {r['ms_per_batch']:9.2f} ms/batch  {r['ms_per_face']:8.3f} ms/face  "
            f"{r['faces_per_s']:9.1f} faces/s")
