"""Inference speed (Sec. 4, "~3000 fps landmarks, ~2600 fps dense on one GPU"): one table, one run.

Times the network part of inference -- the first stage, M2FA, LGS skipped, on (B, 3, 120, 120)
crops, without detection and cropping -- in two modes (:data:`MODE_OUTPUTS`):

- ``landmarks``: the refined 68 landmarks only (the Euler angles and parameters are not in the graph);
- ``dense``: the landmarks and the dense mesh.

:func:`speed_entries` builds the graphs of the table: the shipped first stage (``baseline``), +M2FA
(``m2fa``), the full model in float32 and int8 (:mod:`m3lrn_lib.predict.quantize`), landmarks and dense,
and the peers (:mod:`.peers`: MobileNet-V1 width 1.0 and 0.5, the plain MobileNet-V2), all exported
through the same path with BatchNorm folded. :func:`speed_table` times them **interleaved** in one
process (every round runs each entry in turn, so a change of the machine's load hits all of them alike)
with ONNX Runtime's CPU provider for every thread count x batch, and gives every row its ratio to the
reference (MobileNet-V1 width 1.0) of the same thread count and batch. :func:`speed_targets` reads the
issue's targets off the rows. Used by ``benchmarks/bench_inference.py`` and notebook 06. Timings on a
shared machine vary: compare rows of one run only.

On CUDA, :func:`gpu_speed_rows` adds PyTorch eager faces/s in fp32 and fp16 autocast.
"""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from ..predict.onnx_export import InferenceGraph, export_onnx, onnx_session

__all__ = ["MODES", "MODE_OUTPUTS", "REFERENCE", "median_time", "speed_row", "speed_entries", "speed_table",
           "speed_targets", "format_speed_table", "format_targets", "gpu_speed_rows", "format_row", "TARGETS"]

MODE_OUTPUTS = {"landmarks": ("landmarks",), "dense": ("landmarks", "vertices")}
MODES = tuple(MODE_OUTPUTS)
REFERENCE = "MobileNet-V1 1.0"
#: the targets of the speed work: (name, entry, reference entry, limit of the ratio, configurations)
TARGETS = (
    ("first stage <= 1.05 x plain MobileNet-V2", "first stage", "MobileNet-V2 (plain)", 1.05, "all"),
    ("M2FA overhead <= 10 % at batch 1", "+ M2FA", "first stage", 1.10, "batch 1"),
    ("M2FA overhead <= 5 % at batch 64", "+ M2FA", "first stage", 1.05, "batch 64"),
    ("M2FA overhead <= 10 % at batch 1, both int8", "+ M2FA int8", "first stage int8", 1.10, "batch 1"),
    ("M2FA overhead <= 5 % at batch 64, both int8", "+ M2FA int8", "first stage int8", 1.05, "batch 64"),
    ("full, landmarks, fp32 <= 0.75 x MobileNet-V1 1.0 (batch 1, 1 thread)", "full", REFERENCE, 0.75, "b1 t1"),
    ("full, landmarks, int8 <= 0.75 x MobileNet-V1 1.0 (batch 1, 1 thread)", "full int8", REFERENCE, 0.75, "b1 t1"),
)


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


def speed_row(name: str, device: str, threads, batch: int, sec: float) -> dict:
    """One result: ``ms_per_batch``, ``ms_per_face`` and ``faces_per_s`` from ``sec`` per batch."""
    return {"name": name, "device": device, "threads": threads, "batch": batch, "ms_per_batch": sec * 1e3,
            "ms_per_face": sec * 1e3 / batch, "faces_per_s": batch / sec}


def speed_entries(networks: dict, int8: bool = True, peers: bool = True, dense: bool = True, calibration=None,
                  check=None, log=None) -> dict:
    """The ONNX graphs of the speed table: name -> ``{"model": bytes, "macs": int, "params": int}``.

    Args:
        networks: ``{"first stage": net, "+ M2FA": net, "full": net}`` (any subset; e.g. the shipped
            ``baseline``, ``m2fa`` and ``full``), timed with landmarks only; ``full`` also gives
            ``full (dense)`` when ``dense``. With ``int8`` every one also gets a ``<name> int8`` twin
            (static quantisation, calibrated on ``calibration`` or on synthetic training crops; its
            accuracy gate applies, on ``check`` = ``(images, landmarks)`` or held-out synthetic crops).
        peers: add MobileNet-V1 1.0 / 0.5 and the plain MobileNet-V2.
    """
    from .peers import MobileNetV1, PlainMobileNetV2, graph_macs, peer_onnx

    say = log or (lambda s: None)

    def entry(model, module):
        n = sum(p.numel() for name, p in module.named_parameters() if not name.startswith("lgs."))
        return {"model": model, "macs": graph_macs(model), "params": int(n)}

    if int8 and networks and (calibration is None or check is None):  # one set of crops for every network
        from ..predict.quantize import synthetic_crops
        model = next(iter(networks.values())).face_model
        calibration = synthetic_crops(model, 128, seed=1)[0] if calibration is None else calibration
        check = synthetic_crops(model, 256, seed=2) if check is None else check
    out = {}
    for name, net in networks.items():
        for mode in (("landmarks", "dense") if name == "full" and dense else ("landmarks",)):
            suffix = " (dense)" if mode == "dense" else ""
            out[name + suffix] = entry(export_onnx(net, outputs=MODE_OUTPUTS[mode]), net)
            if int8:
                q = export_onnx(net, outputs=MODE_OUTPUTS[mode], quantize="static", calibration=calibration,
                                check=check, log=(lambda s, n=name: say(f"{n}: {s}")) if mode == "landmarks" else None)
                out[name + " int8" + suffix] = entry(q, net)
    if peers:
        for name, module in ((REFERENCE, MobileNetV1(1.0)), ("MobileNet-V1 0.5", MobileNetV1(0.5)),
                             ("MobileNet-V2 (plain)", PlainMobileNetV2())):
            out[name] = entry(peer_onnx(module), module)
    for name, e in out.items():
        say(f"{name:<22} {e['params'] / 1e6:5.2f}M parameters, {e['macs'] / 1e6:6.1f}M multiply-adds per face, "
            f"{len(e['model']) / 1e6:5.1f} MB")
    return out


def speed_table(entries: dict, threads=(1, 2), batches=(1, 64), runs: int = 20, warmup: int = 3, rounds: int = 5,
                reference: str = REFERENCE, log=None) -> list[dict]:
    """Time ONNX graphs interleaved; one :func:`speed_row` per entry x thread count x batch, plus ``ratio``
    (ms/face over the ``reference`` entry's of the same thread count and batch; None without it).

    Args:
        entries: name -> ONNX bytes or a :func:`speed_entries` dict.
        runs: timed calls per entry in total, split over ``rounds`` rounds; the median of all is kept.
    """
    if runs < 1 or rounds < 1:
        raise ValueError(f"runs and rounds must be >= 1, got {runs} and {rounds}")
    models = {k: (v["model"] if isinstance(v, dict) else v) for k, v in entries.items()}
    per_round = max(1, -(-runs // rounds))
    rows = []
    for n_threads in threads:
        # idle workers sleep at once: a session's spinning threads would steal the next one's cores
        sessions = {k: onnx_session(m, threads=int(n_threads), spinning=False) for k, m in models.items()}
        for batch in batches:
            x = np.random.default_rng(0).standard_normal((int(batch), 3, 120, 120)).astype(np.float32)
            calls = {k: (lambda s=s: s.run(None, {"images": x})) for k, s in sessions.items()}
            for fn in calls.values():
                for _ in range(warmup):
                    fn()
            times = {k: [] for k in calls}
            for _ in range(rounds):
                for k, fn in calls.items():
                    for _ in range(per_round):
                        t0 = time.perf_counter()
                        fn()
                        times[k].append(time.perf_counter() - t0)
            block = [speed_row(k, "cpu", int(n_threads), int(batch), statistics.median(ts)) for k, ts in times.items()]
            ref = next((r for r in block if r["name"] == reference), None)
            for r in block:
                r["ratio"] = r["ms_per_face"] / ref["ms_per_face"] if ref else None
                if log:
                    log(format_row(r))
            rows += block
    return rows


def _ratio(rows, name, ref, threads, batch):
    a = [r for r in rows if r["name"] == name and r["threads"] == threads and r["batch"] == batch]
    b = [r for r in rows if r["name"] == ref and r["threads"] == threads and r["batch"] == batch]
    return a[0]["ms_per_face"] / b[0]["ms_per_face"] if a and b else None


def speed_targets(rows: list[dict]) -> list[dict]:
    """The :data:`TARGETS` read off :func:`speed_table` rows: one dict per target and configuration,
    ``{"target", "threads", "batch", "ratio", "limit", "met"}`` (targets whose entries are missing are left out)."""
    out = []
    configs = sorted({(r["threads"], r["batch"]) for r in rows}, key=lambda c: (c[1], c[0]))
    for text, name, ref, limit, where in TARGETS:
        for threads, batch in configs:
            if (where == "batch 1" and batch != 1) or (where == "batch 64" and batch != 64) or \
                    (where == "b1 t1" and (batch, threads) != (1, 1)):
                continue
            ratio = _ratio(rows, name, ref, threads, batch)
            if ratio is not None:
                out.append({"target": text, "threads": threads, "batch": batch, "ratio": ratio, "limit": limit,
                            "met": ratio <= limit})
    return out


def format_speed_table(rows: list[dict], reference: str = REFERENCE) -> str:
    """A Markdown table: one line per entry, per configuration ``ms/face (ratio to the reference)``."""
    configs = sorted({(r["threads"], r["batch"]) for r in rows}, key=lambda c: (c[1], c[0]))
    names = list(dict.fromkeys(r["name"] for r in rows))
    head = ["network"] + [f"batch {b}, {t} thread{'s' if t > 1 else ''}" for t, b in configs]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * len(configs)]
    for name in names:
        cells = [name]
        for t, b in configs:
            r = next((r for r in rows if r["name"] == name and (r["threads"], r["batch"]) == (t, b)), None)
            if r is None:
                cells.append("—")
            else:
                cells.append(f"{r['ms_per_face']:.3f} ms" + (f" ({r['ratio']:.2f}×)" if r.get("ratio") else ""))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"\nms per face; in parentheses the ratio to {reference} of the same column.")
    return "\n".join(lines) + "\n"


def format_targets(targets: list[dict]) -> str:
    """One line per :func:`speed_targets` result: met / MISSED, the ratio and its limit."""
    return "\n".join(f"{'met   ' if t['met'] else 'MISSED'}  {t['target']:<70} batch {t['batch']:>2}, "
                     f"{t['threads']} thread(s): {t['ratio']:.3f} (limit {t['limit']:.2f})" for t in targets)


def gpu_speed_rows(net, batches=(1, 64, 1024), runs: int = 20, warmup: int = 3, modes=MODES, log=None) -> list[dict]:
    """PyTorch eager on the first CUDA device, fp32 and fp16 autocast, for each of ``modes``
    (``[]`` without CUDA). Row names: ``'<mode> fp32'`` / ``'<mode> fp16'``."""
    if not torch.cuda.is_available():
        return []
    dev = torch.device("cuda")
    rows = []
    gpu_name = torch.cuda.get_device_name(0)
    for mode in modes:
        g = InferenceGraph(net, outputs=MODE_OUTPUTS[mode]).to(dev).eval()  # folded copies: net is not moved
        for batch in batches:
            x = torch.randn(int(batch), 3, 120, 120, device=dev)
            for amp in (False, True):
                def eager():
                    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                        g(x)
                sec = median_time(eager, runs, warmup, sync=torch.cuda.synchronize)
                rows.append({**speed_row(f"{mode} {'fp16' if amp else 'fp32'}", gpu_name, "-", batch, sec),
                             "ratio": None})
                if log:
                    log(format_row(rows[-1]))
    return rows


def format_row(r: dict) -> str:
    """One aligned text line for a :func:`speed_row` dict."""
    ratio = f"  {r['ratio']:.3f}x ref" if r.get("ratio") else ""
    return (f"{r['name']:<22} {str(r['device'])[:18]:<18} thr {str(r['threads']):>2}  batch {r['batch']:>5}  "
            f"{r['ms_per_batch']:9.2f} ms/batch  {r['ms_per_face']:8.3f} ms/face  {r['faces_per_s']:9.1f} faces/s"
            f"{ratio}")
