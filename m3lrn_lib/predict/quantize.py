"""int8 inference on the CPU: ONNX Runtime quantisation of the exported graph, with an accuracy gate.

Two modes (:data:`MODES`):

- ``'static'``: weights int8 per output channel, activations uint8 with ranges calibrated
  (min/max) on synthetic *training* crops (:func:`synthetic_crops`), QDQ format; ONNX Runtime runs
  the convolutions as int8 kernels.
- ``'dynamic'``: weights int8, activation ranges measured per batch at run time (no calibration).

What stays float32: the heads (they produce the 3DMM parameters, whose whitened units are a
fraction of a pixel), the 3DMM reconstruction (``MatMul`` with the bases), M2FA's last layer (the
landmark residual in pixels) and the skip connection. Only nodes of the backbone and M2FA are
quantised (:func:`quantized_nodes`).

The gate (:func:`check_quantized`): NME (Eq. 8) of the int8 and float32 graphs against ground-truth
landmarks of held-out synthetic crops; a relative increase beyond ``tol`` (2 %) raises
:class:`QuantizationError`, which says by how much, and the caller writes nothing.
"""
from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

import numpy as np

from .. import metrics
from ..errors import UserError

__all__ = ["MODES", "DEFAULT_TOL", "QuantizationError", "check_mode", "quantize_onnx", "synthetic_crops",
           "check_quantized", "normalise_crops", "quantized_nodes", "output_layers"]

MODES = ("static", "dynamic")
DEFAULT_TOL = 0.02
#: module scopes (node-name prefixes of the exported graph) that are quantised
SCOPES = ("/backbone/", "/m2fa/")
#: op types static quantisation touches: the convolutions, and the activations, sums and pools between
#: them (quantised too, so that no dequantise / quantise pair is left around each of them)
STATIC_OPS = ("Conv", "MatMul", "Clip", "Relu", "Add", "ReduceMean")
DYNAMIC_OPS = ("Conv", "MatMul")
_WEIGHTED = ("Conv", "Gemm", "MatMul")


def output_layers(graph) -> set[str]:
    """Names of the nodes between a graph output and the last layer with weights before it, that
    layer included (for M2FA: the skip connection and the layer that makes the residual in pixels)."""
    producer = {o: n for n in graph.node for o in n.output}
    keep, stack = set(), [o.name for o in graph.output]
    while stack:
        n = producer.get(stack.pop())
        if n is None or n.name in keep:
            continue
        keep.add(n.name)
        if n.op_type not in _WEIGHTED:
            stack += list(n.input)
    return keep


def quantized_nodes(graph, ops) -> list[str]:
    """Names of the nodes of an ONNX ``graph`` (GraphProto) to quantise: op type in ``ops``, inside
    :data:`SCOPES`, and not among the :func:`output_layers` (which stay float32)."""
    keep = output_layers(graph)
    return [n.name for n in graph.node if n.op_type in ops and n.name.startswith(SCOPES) and n.name not in keep]


class QuantizationError(UserError):
    """The int8 model missed its accuracy check against float32 (it was not written)."""


def check_mode(mode) -> str:
    """``mode`` if it is one of :data:`MODES`, else UserError naming them."""
    if mode not in MODES:
        raise UserError(f"quantisation mode {mode!r} is not supported", subject="quantize",
                        hint=f"use one of {', '.join(MODES)}")
    return mode


def normalise_crops(crops: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) uint8 RGB crops -> (B, 3, H, W) float32 ``(x - 127.5) / 128`` (the network's input)."""
    x = np.asarray(crops, np.float32).transpose(0, 3, 1, 2)
    return np.ascontiguousarray((x - 127.5) / 128.0)


def synthetic_crops(model, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic training crops of ``model`` (the generator of the training sets, seed ``seed``:
    the shipped training sets use seed 0): ``(images (n, 3, 120, 120) normalised, landmarks (n, 68, 3))``
    in the crop frame."""
    from ..data.synth import FaceSynthesizer

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    synth = FaceSynthesizer(model, seed)
    faces = [synth.face("train", i) for i in range(int(n))]
    return (normalise_crops(np.stack([f.image for f in faces])),
            np.stack([f.landmarks for f in faces]).astype(np.float32))


class _Reader:
    """ONNX Runtime's calibration-data protocol over an array of images, 16 at a time."""

    def __init__(self, images: np.ndarray, batch: int = 16):
        self.batches = [np.ascontiguousarray(images[i:i + batch], np.float32) for i in range(0, len(images), batch)]
        self.i = 0

    def get_next(self):
        if self.i >= len(self.batches):
            return None
        self.i += 1
        return {"images": self.batches[self.i - 1]}

    def rewind(self):
        self.i = 0


@contextlib.contextmanager
def _quiet_root_logger():
    """ONNX Runtime's quantiser logs its advice ("consider pre-processing") on the root logger: silence
    warnings there while it runs (the graph is already shape-complete and folded by the exporter)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_onnx(model: bytes, mode: str = "static", calibration: np.ndarray | None = None) -> bytes:
    """int8 version of a float32 ONNX graph (bytes in, bytes out; temporary files are deleted).

    Args:
        model: the float32 graph of :func:`m3lrn_lib.predict.onnx_export.export_onnx`.
        mode: ``'static'`` (needs ``calibration``, (N, 3, 120, 120) normalised crops) or ``'dynamic'``.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    check_mode(mode)
    graph = onnx.load_from_string(bytes(model))
    with tempfile.TemporaryDirectory(prefix="m3lrn-quant-") as tmp, _quiet_root_logger():
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(bytes(model))
        if mode == "static":
            if calibration is None or len(calibration) == 0:
                raise ValueError("static quantisation needs calibration images")
            quantize_static(str(src), str(dst), _Reader(np.asarray(calibration)), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=list(STATIC_OPS), nodes_to_quantize=quantized_nodes(graph.graph, STATIC_OPS),
                            calibrate_method=CalibrationMethod.MinMax)
        else:
            quantize_dynamic(str(src), str(dst), per_channel=True, weight_type=QuantType.QInt8,
                             op_types_to_quantize=list(DYNAMIC_OPS),
                             nodes_to_quantize=quantized_nodes(graph.graph, DYNAMIC_OPS))
        return dst.read_bytes()


def _landmarks(model: bytes, images: np.ndarray, batch: int = 64) -> np.ndarray:
    from .onnx_export import onnx_session, run_onnx

    s = onnx_session(model)
    return np.concatenate([run_onnx(s, images[i:i + batch])["landmarks"] for i in range(0, len(images), batch)])


def check_quantized(fp32: bytes, int8: bytes, images: np.ndarray, gt: np.ndarray, tol: float = DEFAULT_TOL) -> dict:
    """NME (%) of both graphs on ``images`` (N, 3, 120, 120) against ``gt`` (N, 68, 2+) crop-frame landmarks.

    Returns ``{"nme_fp32", "nme_int8", "relative_change", "mean_shift_px", "tol", "n"}``; raises
    :class:`QuantizationError` when ``nme_int8 / nme_fp32 - 1 > tol`` (a better NME is no failure).
    """
    a, b = _landmarks(fp32, images), _landmarks(int8, images)
    n32, n8 = float(metrics.nme_2d(a, gt).mean() * 100), float(metrics.nme_2d(b, gt).mean() * 100)
    rel = n8 / n32 - 1.0
    out = {"nme_fp32": n32, "nme_int8": n8, "relative_change": rel,
           "mean_shift_px": float(np.linalg.norm(a[..., :2] - b[..., :2], axis=-1).mean()), "tol": float(tol),
           "n": int(len(images))}
    if rel > tol:
        raise QuantizationError(
            f"the int8 model's NME is {n8:.3f} % against {n32:.3f} % in float32 on {len(images)} held-out crops: "
            f"{rel * 100:+.2f} % relative, {(rel - tol) * 100:.2f} points over the {tol * 100:.1f} % tolerance; "
            "nothing was written", subject="quantize", hint="keep the float32 export or try the other mode")
    return out
