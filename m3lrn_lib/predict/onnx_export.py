"""ONNX export of the lean inference graph and its check against PyTorch ("Speed", Sec. 4).

The exported graph is what the paper times at test time (Sec. 4): the first stage (backbone +
heads), the 3DMM reconstruction of the coarse landmarks and M2FA; LGS is left out (training
only). It runs :func:`m3lrn_lib.nn.model.infer`, the function ``M3LRN.forward`` runs, on a copy of
the network's parts made lean for inference:

- every BatchNorm folded into the convolution or Linear layer before it
  (:func:`m3lrn_lib.nn.fold.fold_batchnorm`);
- M2FA's first decoder layer factorised (``W_p point_i + W_g g``, the global part once per face);
- the coarse landmarks reconstructed from the 68 landmark rows of the bases only;
- only the outputs asked for: without ``pose`` the Euler-angle branch is not in the graph, without
  ``vertices`` no dense mesh.

The per-point MLPs stay 1x1 convolutions: written as matrix multiplies on (B*68, C) rows they
were slower in ONNX Runtime at batch 1 and no faster at batch 64 (docs/benchmarks.md).

Outputs (:data:`OUTPUTS`), all in the 120x120 crop frame (inputs normalised ``(x - 127.5) / 128``),
batch dimension dynamic::

    landmarks         (B, 68, 3)  refined L^r
    landmarks_coarse  (B, 68, 3)  first-stage L^c
    pose              (B, 3)      yaw, pitch, roll in radians
    params            (B, D)      unwhitened 3DMM parameters
    vertices          (B, N, 3)   dense mesh

Export uses the TorchScript-based exporter (``dynamo=False``; no ``onnxscript`` needed), opset 17
by default (:data:`OPSETS`). ``quantize='static'`` / ``'dynamic'`` also quantises to int8 with ONNX
Runtime (:mod:`m3lrn_lib.predict.quantize`) and writes the model only if its accuracy check passes.

Command line (one-line errors, exit status 2)::

    python -m m3lrn_lib.predict.onnx_export --checkpoint data/checkpoints/full.pt --out full.onnx
        [--outputs landmarks pose params] [--dense] [--opset 17] [--quantize static|dynamic]
"""
from __future__ import annotations

import io
import sys
import warnings

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from ..fileio import atomic_write_bytes
from ..nn.fold import fold_batchnorm
from ..nn.model import infer

__all__ = ["InferenceGraph", "export_onnx", "trace_to_onnx", "onnx_session", "run_onnx", "check_onnx", "check_outputs",
           "check_opset", "OUTPUTS", "DEFAULT_OUTPUTS", "OPSETS", "main"]

OUTPUTS = ("landmarks", "landmarks_coarse", "pose", "params", "vertices")
DEFAULT_OUTPUTS = ("landmarks", "pose", "params")
#: opsets the export is tested with (the TorchScript exporter's range that has every op we use)
OPSETS = tuple(range(13, 21))
#: output name -> key of the dict :func:`~m3lrn_lib.nn.model.infer` returns
SOURCE = {"landmarks": "lmk_refined", "landmarks_coarse": "lmk_coarse", "pose": "pose", "params": "params_raw",
          "vertices": "vertices"}


def check_outputs(outputs=None, dense: bool = False) -> tuple:
    """The output names to export, in :data:`OUTPUTS` order: ``outputs`` (default
    :data:`DEFAULT_OUTPUTS`) plus ``vertices`` when ``dense``; UserError for an unknown name."""
    names = list(DEFAULT_OUTPUTS if outputs is None else ([outputs] if isinstance(outputs, str) else outputs))
    bad = [n for n in names if n not in OUTPUTS]
    if bad or not names:
        raise UserError(f"unknown output(s) {bad}" if bad else "no output asked for", subject="outputs",
                        hint=f"choose from {', '.join(OUTPUTS)}")
    if dense:
        names.append("vertices")
    return tuple(n for n in OUTPUTS if n in names)


def check_opset(opset) -> int:
    """``opset`` as an int if the export supports it, else UserError naming :data:`OPSETS`."""
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or int(opset) not in OPSETS:
        raise UserError(f"ONNX opset {opset!r} is not supported", subject="opset",
                        hint=f"use one of {OPSETS[0]}..{OPSETS[-1]} (default 17)")
    return int(opset)


class InferenceGraph(nn.Module):
    """The lean test-time forward pass of an :class:`~m3lrn_lib.nn.M3LRN` as a plain module:
    :func:`m3lrn_lib.nn.model.infer` without LGS on BatchNorm-folded copies of the network's parts
    (no input checks, no extra state).

    Args:
        net: the network; dense: add ``vertices``; outputs: names from :data:`OUTPUTS`.
    Returns (forward):
        a tuple of tensors in the order of :attr:`outputs` (see the module docstring).
    """

    def __init__(self, net, dense: bool = False, outputs=None):
        super().__init__()
        self.backbone, self.heads = fold_batchnorm(net.backbone), fold_batchnorm(net.heads)
        self.m2fa = fold_batchnorm(net.m2fa) if net.m2fa is not None else None
        self.lgs = None
        self.register_buffer("param_mean", net.param_mean.detach().clone())
        self.register_buffer("param_std", net.param_std.detach().clone())
        self.face_model, self.n_shape, self.config = net.face_model, net.n_shape, net.config
        self.outputs = check_outputs(outputs, dense)
        self.dense = "vertices" in self.outputs

    def forward(self, images: torch.Tensor):
        out = infer(self, images, lgs=False, dense=self.dense, pose="pose" in self.outputs)
        return tuple(out[SOURCE[k]] for k in self.outputs)


def trace_to_onnx(module: nn.Module, output_names, input_size: int = 120, opset: int = 17) -> bytes:
    """ONNX bytes of any image model ``module`` (eval, CPU): input ``images`` (B, 3, S, S), outputs
    named ``output_names``, batch dimension dynamic. The one export path of the package (the network's
    lean graph and the speed table's peer networks, :mod:`m3lrn_lib.benchmark.peers`)."""
    module = module.cpu().eval()
    names = tuple(output_names)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow in checks
        torch.onnx.export(module, (torch.zeros(2, 3, input_size, input_size),), buf, dynamo=False,
                          opset_version=check_opset(opset), input_names=["images"], output_names=list(names),
                          dynamic_axes={k: {0: "batch"} for k in ("images",) + names})
    return buf.getvalue()


def export_onnx(net, path=None, dense: bool = False, opset: int = 17, outputs=None, quantize: str | None = None,
                calibration=None, check=None, tol: float | None = None, log=None) -> bytes:
    """Export ``net``'s lean inference graph; return the bytes, and write them atomically to ``path``.

    Args:
        dense, outputs: what the graph returns (:func:`check_outputs`); opset: one of :data:`OPSETS`.
        quantize: None (float32), ``'static'`` or ``'dynamic'`` int8 (:func:`m3lrn_lib.predict.quantize.quantize_onnx`).
        calibration: (N, 3, 120, 120) normalised crops for static quantisation (default: synthetic
            training crops, :func:`m3lrn_lib.predict.quantize.synthetic_crops`); check: ``(images, gt
            landmarks)`` on which the int8 model's NME must stay within ``tol`` (relative, default 2 %)
            of the float32 model's (default: held-out synthetic crops). A failing model is not written:
            :class:`~m3lrn_lib.predict.quantize.QuantizationError` says by how much it missed.
    """
    names = check_outputs(outputs, dense)  # the opset is checked by trace_to_onnx, before any work
    if quantize is not None:
        from .quantize import check_mode
        check_mode(quantize)
    data = trace_to_onnx(InferenceGraph(net, outputs=names), names, net.config.input_size, opset)
    if quantize is not None:
        from .quantize import DEFAULT_TOL, check_quantized, quantize_onnx, synthetic_crops
        if "landmarks" not in names:
            raise UserError("the int8 check measures landmark NME: keep 'landmarks' among the outputs",
                            subject="outputs")
        if calibration is None and quantize == "static":
            calibration = synthetic_crops(net.face_model, 128, seed=1)[0]
        q = quantize_onnx(data, quantize, calibration)
        images, gt = check if check is not None else synthetic_crops(net.face_model, 256, seed=2)
        report = check_quantized(data, q, images, gt, DEFAULT_TOL if tol is None else tol)
        if log:
            log(f"int8 ({quantize}): NME {report['nme_fp32']:.3f} % -> {report['nme_int8']:.3f} % "
                f"({report['relative_change'] * 100:+.2f} %, tolerance {report['tol'] * 100:.1f} %)")
        data = q
    if path is not None:
        atomic_write_bytes(path, data)
    return data


def onnx_session(model, threads: int | None = None, providers=None, spinning: bool = True):
    """An ONNX Runtime session for a model path or bytes; ``threads`` sets intra-op threads;
    ``spinning=False`` lets idle worker threads sleep at once (for many sessions timed in turn)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    src = model if isinstance(model, (bytes, bytearray)) else str(model)
    return ort.InferenceSession(src, so, providers=providers or ["CPUExecutionProvider"])


def run_onnx(session, images) -> dict:
    """Run a session on (B, 3, 120, 120) normalised images -> dict name -> numpy array."""
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"images": np.ascontiguousarray(x, np.float32)})))


@torch.inference_mode()
def check_onnx(net, model=None, dense: bool = False, batch: int = 3, tol: float = 1e-4, seed: int = 0,
               outputs=None) -> dict:
    """Compare ONNX Runtime with the network's own :meth:`~m3lrn_lib.nn.M3LRN.forward` (eval mode,
    BatchNorm not folded: what the checkpoint predicts) on random images.

    The criterion is ``max |onnx - torch| <= tol * max(1, max |torch|)`` per output (outputs are
    pixels and radians, so this is 1e-4 absolute for values up to 1 and relative beyond).

    Args:
        model: ONNX bytes or path (default: export now); dense, outputs: as given to the export.
    Returns:
        dict output -> ``{"max_abs": float, "scale": float, "ok": bool}``; raises AssertionError
        when an output misses the tolerance.
    """
    was = net.training
    net.eval()
    try:
        data = export_onnx(net, dense=dense, outputs=outputs) if model is None else model
        x = torch.randn(batch, 3, net.config.input_size, net.config.input_size,
                        generator=torch.Generator().manual_seed(seed))
        session = onnx_session(data)
        names = [o.name for o in session.get_outputs()]
        ref = infer(net, x.to(net.param_mean.device), dense="vertices" in names)
        got = run_onnx(session, x)
    finally:
        net.train(was)
    out = {}
    for name in names:
        r = ref[SOURCE[name]].float().cpu().numpy()
        err = float(np.abs(got[name] - r).max())
        scale = max(1.0, float(np.abs(r).max()))
        out[name] = {"max_abs": err, "scale": scale, "ok": err <= tol * scale}
    bad = {k: v for k, v in out.items() if not v["ok"]}
    if bad:
        raise AssertionError(f"ONNX Runtime differs from PyTorch beyond {tol} (relative to max(1, |x|)): {bad}")
    return out


def build_parser():
    from .. import cli

    ap = cli.ArgumentParser(prog="python -m m3lrn_lib.predict.onnx_export",
                            description="Export a checkpoint's lean inference graph to ONNX (optionally int8).")
    ap.add_argument("--checkpoint", required=True, help="trainer checkpoint or state-dict file (.pt)")
    ap.add_argument("--out", required=True, help="the .onnx file to write (written only after its check passes)")
    ap.add_argument("--outputs", nargs="+", default=None, metavar="NAME",
                    help=f"outputs of the graph: {' '.join(OUTPUTS)} (default: {' '.join(DEFAULT_OUTPUTS)})")
    ap.add_argument("--dense", action="store_true", help="also output the dense mesh (vertices)")
    ap.add_argument("--opset", type=int, default=17, help=f"ONNX opset, {OPSETS[0]}..{OPSETS[-1]} (default 17)")
    ap.add_argument("--quantize", default=None, help="int8 with ONNX Runtime: static (calibrated) or dynamic")
    return ap


def main(argv=None) -> int:
    from pathlib import Path

    from .network import load_network

    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"{out} is a folder", subject="--out", hint="give a file path ending in .onnx")
    if not out.parent.is_dir():
        raise UserError(f"the folder {out.parent} does not exist", subject="--out", hint="create it first")
    check_opset(args.opset)
    names = check_outputs(args.outputs, args.dense)
    if args.quantize is not None:
        from .quantize import check_mode
        check_mode(args.quantize)
    net = load_network(args.checkpoint, "cpu")
    data = export_onnx(net, None, outputs=names, opset=args.opset, quantize=args.quantize,
                       log=lambda s: print(s, flush=True))
    if args.quantize is None:
        check_onnx(net, data, outputs=names)
    atomic_write_bytes(out, data)
    print(f"wrote {out} ({len(data) / 1e6:.1f} MB; outputs {', '.join(names)}; opset {args.opset}"
          f"{'; int8 ' + args.quantize if args.quantize else ''})")
    return 0


if __name__ == "__main__":
    from ..cli import run_main
    sys.exit(run_main(main))
