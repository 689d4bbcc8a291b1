"""Where the time goes in an exported inference graph: ONNX Runtime's profiler, op by op.

    python -m m3lrn_lib.benchmark.profile --checkpoint data/checkpoints/full.pt --batch 1 64 --threads 1

Exports the network's inference graph (:func:`m3lrn_lib.predict.onnx_export.export_onnx`, the
graph that ``benchmark.speed`` times), runs it ``warmup + runs`` times in an ONNX Runtime session
with profiling on, drops the warm-up runs, and sums the kernel time of every node per run: by op
type (Conv, Gemm, MatMul, ...) and the slowest nodes by name. The profiler's JSON goes to a
temporary folder and is deleted; with ``--out`` the aggregated tables are written there as
``profile.json`` (temp file, then rename). Errors in arguments print one line and exit with 2.
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..cli import ArgumentParser, check_output_folder, require, run_main

__all__ = ["profile_onnx", "format_profile", "main"]


def profile_onnx(model: bytes, batch: int = 1, threads: int = 1, runs: int = 20, warmup: int = 3,
                 input_size: int = 120, top: int = 10) -> dict:
    """Profile one ONNX graph (bytes) on (``batch``, 3, S, S) random normalised crops.

    Returns:
        dict with ``run_ms`` (median wall time of one run, ms), ``kernel_ms`` (summed node time
        per run), ``ops`` (list of ``{"op", "ms", "share", "nodes"}``, slowest first; ``share`` of
        ``kernel_ms``) and ``nodes`` (the ``top`` slowest nodes: ``{"name", "op", "ms", "share"}``).
    """
    import onnxruntime as ort

    if batch < 1 or runs < 1 or warmup < 0:
        raise ValueError(f"batch and runs must be >= 1 and warmup >= 0, got {batch}, {runs}, {warmup}")
    x = np.random.default_rng(0).normal(0, 0.5, (batch, 3, input_size, input_size)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="m3lrn-profile-") as tmp:
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = int(threads), 1
        so.log_severity_level = 3
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "ort")
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        for _ in range(warmup + runs):
            sess.run(None, {"images": x})
        events = json.loads(Path(sess.end_profiling()).read_text())
    run_events = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                        key=lambda e: e["ts"])[warmup:]
    if not run_events:
        raise RuntimeError("the ONNX Runtime profile has no model_run events")
    start = run_events[0]["ts"]
    per_op: dict = {}
    per_node: dict = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time") or e["ts"] < start:
            continue
        op = e.get("args", {}).get("op_name", "?")
        name = e["name"][: -len("_kernel_time")]
        per_op.setdefault(op, [0.0, set()])
        per_op[op][0] += e["dur"]
        per_op[op][1].add(name)
        per_node.setdefault(name, [op, 0.0])
        per_node[name][1] += e["dur"]
    n = len(run_events)
    kernel = sum(v[0] for v in per_op.values()) / n / 1000
    ops = sorted(({"op": k, "ms": v[0] / n / 1000, "share": v[0] / n / 1000 / kernel, "nodes": len(v[1])}
                  for k, v in per_op.items()), key=lambda r: -r["ms"])
    nodes = sorted(({"name": k, "op": v[0], "ms": v[1] / n / 1000, "share": v[1] / n / 1000 / kernel}
                    for k, v in per_node.items()), key=lambda r: -r["ms"])[:top]
    return {"batch": batch, "threads": threads, "runs": n,
            "run_ms": statistics.median(e["dur"] for e in run_events) / 1000, "kernel_ms": kernel,
            "ops": ops, "nodes": nodes}


def format_profile(p: dict, label: str = "") -> str:
    """The two tables of :func:`profile_onnx` as text (ms per run and share of the kernel time)."""
    head = (f"{label} batch {p['batch']}, {p['threads']} thread(s): {p['run_ms']:.3f} ms per run "
            f"({p['run_ms'] / p['batch']:.3f} ms/face), kernels {p['kernel_ms']:.3f} ms, median of {p['runs']} runs")
    lines = [head, f"  {'op type':22s}{'ms':>9s}{'share':>8s}{'nodes':>7s}"]
    lines += [f"  {r['op']:22s}{r['ms']:9.3f}{100 * r['share']:7.1f}%{r['nodes']:7d}" for r in p["ops"]]
    lines.append("  slowest nodes:")
    lines += [f"    {r['name'][:48]:48s} {r['op']:14s}{r['ms']:8.3f} ms{100 * r['share']:6.1f}%" for r in p["nodes"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = ArgumentParser(prog="python -m m3lrn_lib.benchmark.profile", description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", action="append", required=True, help="[LABEL=]PATH; repeat for several")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--dense", action="store_true", help="profile the graph with the dense mesh output")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--top", type=int, default=10, help="slowest nodes to list")
    ap.add_argument("--out", help="write profile.json here")
    a = ap.parse_args(argv)
    require(all(b >= 1 for b in a.batch), "--batch", f"must be >= 1, got {a.batch}")
    require(all(t >= 1 for t in a.threads), "--threads", f"must be >= 1, got {a.threads}")
    require(a.runs >= 1 and a.warmup >= 0, "--runs/--warmup", f"need runs >= 1, warmup >= 0, got {a.runs}, {a.warmup}")
    out = check_output_folder(a.out, "--out") if a.out else None
    ckpts = []
    for spec in a.checkpoint:
        label, _, path = spec.partition("=") if "=" in spec else ("", "", spec)
        require(Path(path).is_file(), "--checkpoint", f"{path} is not a file", "give a checkpoint (.pt) path")
        ckpts.append((label or Path(path).stem, path))

    from ..fileio import atomic_write_bytes
    from ..predict.onnx_export import export_onnx
    from ..train import load_checkpoint
    from .speed import MODE_OUTPUTS

    report = {}
    for label, path in ckpts:
        net = load_checkpoint(path)
        graph = export_onnx(net, outputs=MODE_OUTPUTS["dense" if a.dense else "landmarks"])  # what speed times
        for t in a.threads:
            for b in a.batch:
                p = profile_onnx(graph, b, t, a.runs, a.warmup, net.config.input_size, a.top)
                report[f"{label}/b{b}/t{t}"] = p
                print(format_profile(p, label), flush=True)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / "profile.json", (json.dumps(report, indent=1) + "\n").encode())
        print(f"wrote {out / 'profile.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
