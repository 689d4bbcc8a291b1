"""ONNX export of the inference graph and its check against PyTorch ("Speed", Sec. 4).

The exported graph is what the paper times at test time (Sec. 4): the first stage (backbone +
heads), the 3DMM reconstruction of the coarse landmarks and M2FA; LGS is left out (training
only). It is :meth:`m3lrn_lib.nn.M3LRN.infer`, the function ``M3LRN.forward`` runs, so the
export cannot drift from the model. Two versions::

    landmarks:  images (B,3,120,120) -> landmarks (B,68,3), pose (B,3) rad, params (B,D)
    dense:      ... and vertices (B,N,3)

all in the 120x120 crop frame (inputs normalised ``(x - 127.5) / 128``), batch dimension
dynamic. Export uses the TorchScript-based exporter (``dynamo=False``; no ``onnxscript``
needed), opset 17.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from torch import nn

from ..fileio import atomic_write_bytes
from ..nn.model import infer

__all__ = ["InferenceGraph", "export_onnx", "onnx_session", "run_onnx", "check_onnx", "OUTPUTS"]

OUTPUTS = ("landmarks", "pose", "params")


class InferenceGraph(nn.Module):
    """The test-time forward pass of an :class:`~m3lrn_lib.nn.M3LRN` as a plain module:
    :func:`m3lrn_lib.nn.model.infer` without LGS on the network's parts (shares its weights; no
    input checks, no LGS, no extra state).

    Returns a tuple ``(landmarks L^r, pose, params_raw[, vertices])``, see the module docstring.
    """

    def __init__(self, net, dense: bool = False):
        super().__init__()
        self.backbone, self.heads, self.m2fa, self.lgs = net.backbone, net.heads, net.m2fa, None
        self.register_buffer("param_mean", net.param_mean.detach().clone())
        self.register_buffer("param_std", net.param_std.detach().clone())
        self.face_model, self.n_shape, self.config = net.face_model, net.n_shape, net.config
        self.dense = bool(dense)

    def forward(self, images: torch.Tensor):
        out = infer(self, images, lgs=False, dense=self.dense)
        if self.dense:
            return out["lmk_refined"], out["pose"], out["params_raw"], out["vertices"]
        return out["lmk_refined"], out["pose"], out["params_raw"]


def export_onnx(net, path=None, dense: bool = False, opset: int = 17) -> bytes:
    """Export ``net``'s inference graph; write it atomically to ``path`` if given; return the bytes."""
    graph = InferenceGraph(net, dense).cpu().eval()
    x = torch.zeros(2, 3, net.config.input_size, net.config.input_size)
    names = list(OUTPUTS) + (["vertices"] if dense else [])
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow in checks
        torch.onnx.export(graph, (x,), buf, dynamo=False, opset_version=opset, input_names=["images"],
                          output_names=names, dynamic_axes={k: {0: "batch"} for k in ["images"] + names})
    data = buf.getvalue()
    if path is not None:
        atomic_write_bytes(path, data)
    return data


def onnx_session(model, threads: int | None = None, providers=None):
    """An ONNX Runtime session for a model path or bytes; ``threads`` sets intra-op threads."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    so.log_severity_level = 3
    src = model if isinstance(model, (bytes, bytearray)) else str(model)
    return ort.InferenceSession(src, so, providers=providers or ["CPUExecutionProvider"])


def run_onnx(session, images) -> dict:
    """Run a session on (B, 3, 120, 120) normalised images -> dict name -> numpy array."""
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"images": np.ascontiguousarray(x, np.float32)})))


@torch.inference_mode()
def check_onnx(net, model=None, dense: bool = False, batch: int = 3, tol: float = 1e-4, seed: int = 0) -> dict:
    """Compare ONNX Runtime with PyTorch eager on random images.

    The criterion is ``max |onnx - torch| <= tol * max(1, max |torch|)`` per output (outputs are
    pixels and radians, so this is 1e-4 absolute for values up to 1 and relative beyond).

    Args:
        model: ONNX bytes or path (default: export now).
    Returns:
        dict output -> ``{"max_abs": float, "scale": float, "ok": bool}``; raises AssertionError
        when an output misses the tolerance.
    """
    was = net.training
    net.eval()
    data = export_onnx(net, dense=dense) if model is None else model
    x = torch.randn(batch, 3, net.config.input_size, net.config.input_size,
                    generator=torch.Generator().manual_seed(seed))
    ref = [t.float().cpu().numpy() for t in InferenceGraph(net, dense).eval()(x.to(net.param_mean.device))]
    got = run_onnx(onnx_session(data), x)
    names = list(OUTPUTS) + (["vertices"] if dense else [])
    out = {}
    for name, r in zip(names, ref):
        err = float(np.abs(got[name] - r).max())
        scale = max(1.0, float(np.abs(r).max()))
        out[name] = {"max_abs": err, "scale": scale, "ok": err <= tol * scale}
    net.train(was)
    bad = {k: v for k, v in out.items() if not v["ok"]}
    if bad:
        raise AssertionError(f"ONNX Runtime differs from PyTorch beyond {tol} (relative to max(1, |x|)): {bad}")
    return out
