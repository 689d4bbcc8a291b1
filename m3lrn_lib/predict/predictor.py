"""The :class:`Predictor`: detection -> crop -> network -> outputs in the original image.

Pipeline for one image (any number of faces, batched across faces and images)::

    image (H,W,3) uint8 RGB --detector (or given boxes)--> face boxes [x0,y0,x1,y1]
      --crop policy--> square crop boxes --crop_image--> (B,3,120,120) (x-127.5)/128
      --M3LRN (eval)--> L^r (B,68,3), vertices (B,N,3), params, pose   (crop frame)
      --points_from_crop (x, y and z scaled)--> image frame

Boxes from the detector go through :func:`m3lrn_lib.predict.detect.crop_box` (the calibrated
policy of the detector's backend); boxes given by the caller are *tight face boxes* (about the 68-landmark
box: brows to chin, ear to ear) and go through :func:`m3lrn_lib.data.crop.box_from_detector`,
which turns a landmark box into exactly the benchmark crop. :meth:`Predictor.predict_crops`
takes crop boxes directly (what the benchmark uses, with the ground-truth-landmark crop).

Boxes (:func:`check_box`): four finite numbers with ``x1 > x0``, ``y1 > y0``, each side at
least :data:`MIN_BOX_SIDE` (8 px: a smaller crop holds no face, only blur), coordinates within
+-:data:`MAX_BOX_COORD`; against an image, the box must overlap it by at least 8 px on each axis
(or the whole image side) and no side may exceed :data:`MAX_BOX_SCALE` times the image's longer
side. Anything else is a ValueError naming the box.
"""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from .. import geometry
from ..data.crop import box_from_detector, crop_image, points_from_crop
from ..errors import UserError
from .inputs import load_image, to_rgb8
from .network import load_network, variant_of

__all__ = ["Face", "Predictor", "parse_box", "check_box", "check_device", "MIN_BOX_SIDE", "MAX_BOX_COORD",
           "MAX_BOX_SCALE", "ENGINES", "STAGES"]

#: how the network runs: PyTorch eager, or its exported lean graph in ONNX Runtime (float32 / static int8)
ENGINES = ("torch", "onnx", "onnx-int8")
#: the stages :attr:`Predictor.timings` adds seconds to
STAGES = ("decode", "detect", "crop", "network", "outputs")

#: Smallest side of a face box in pixels (the crop of a smaller box holds no face).
MIN_BOX_SIDE = 8.0
#: Largest magnitude of a box coordinate in pixels.
MAX_BOX_COORD = 1e6
#: Largest box side, as a multiple of the image's longer side.
MAX_BOX_SCALE = 4.0


@dataclass
class Face:
    """One predicted face, in the original image's frame (x right, y down, pixels; z depth
    scaled like x, y, larger = closer).

    Attributes:
        box: (4,) the face box (detector's or the caller's); crop_box: (4,) the square crop.
        landmarks: (68, 3) refined landmarks L^r; landmarks_coarse: (68, 3) first-stage L^c.
        vertices: (N, 3) dense mesh or None; pose_deg: (3,) yaw, pitch, roll in degrees
        (convention of :mod:`m3lrn_lib.geometry`); rotation: (3, 3) from the pose parameters as
        :func:`m3lrn_lib.geometry.pose_to_sRt` makes it (rows 1-2 normalised, row 3 their cross
        product; nearly but not exactly orthogonal for a predicted pose); params: (D,)
        crop-frame 3DMM parameters; source: ``'detector'`` or ``'box'``.
    """

    box: np.ndarray
    crop_box: np.ndarray
    landmarks: np.ndarray
    landmarks_coarse: np.ndarray
    vertices: np.ndarray | None
    pose_deg: np.ndarray
    rotation: np.ndarray
    params: np.ndarray
    source: str

    @property
    def landmarks_2d(self) -> np.ndarray:
        """(68, 2) image-frame landmarks."""
        return self.landmarks[:, :2]

    def to_dict(self, vertices: bool = False) -> dict:
        """JSON-ready dict (lists of floats); the dense mesh only with ``vertices=True``."""
        r = lambda a: np.round(np.asarray(a, np.float64), 3).tolist()  # noqa: E731
        d = {"box": r(self.box), "crop_box": r(self.crop_box), "source": self.source,
             "yaw_pitch_roll_deg": r(self.pose_deg), "rotation": np.round(self.rotation, 6).tolist(),
             "landmarks_2d": r(self.landmarks_2d), "landmarks_3d": r(self.landmarks),
             "params_crop": np.asarray(self.params, np.float64).tolist()}
        if vertices and self.vertices is not None:
            d["vertices"] = r(self.vertices)
        return d


def check_box(box, shape=None) -> np.ndarray:
    """(4,) ``[x0, y0, x1, y1]`` -> float64, checked as the module docstring says (finite, sides
    >= :data:`MIN_BOX_SIDE`, and -- given the image ``shape`` -- overlapping the image and not
    far larger than it); ValueError naming the box otherwise."""
    try:
        b = np.asarray(box, np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"box {box!r}: expected four finite numbers x0,y0,x1,y1") from None
    if b.shape != (4,) or not np.isfinite(b).all():
        raise ValueError(f"box {np.asarray(box).tolist()}: expected four finite numbers x0,y0,x1,y1")
    if np.abs(b).max() > MAX_BOX_COORD:
        raise ValueError(f"box {b.tolist()}: coordinates must be at most {MAX_BOX_COORD:.0f} px in magnitude")
    if not (b[2] > b[0] and b[3] > b[1]):
        raise ValueError(f"box {b.tolist()}: needs x1 > x0 and y1 > y0")
    if min(b[2] - b[0], b[3] - b[1]) < MIN_BOX_SIDE:
        raise ValueError(f"box {b.tolist()}: each side must be at least {MIN_BOX_SIDE:g} px, got "
                         f"{b[2] - b[0]:.6g} x {b[3] - b[1]:.6g}")
    if shape is not None:
        h, w = int(shape[0]), int(shape[1])
        if b[2] <= 0 or b[3] <= 0 or b[0] >= w or b[1] >= h:
            raise ValueError(f"box {b.tolist()} lies outside the {w}x{h} image")
        ox, oy = min(b[2], w) - max(b[0], 0.0), min(b[3], h) - max(b[1], 0.0)
        if ox < min(MIN_BOX_SIDE, w) or oy < min(MIN_BOX_SIDE, h):
            raise ValueError(f"box {b.tolist()} overlaps the {w}x{h} image by only {ox:.3g} x {oy:.3g} px "
                             f"(at least {MIN_BOX_SIDE:g} px on each axis)")
        if max(b[2] - b[0], b[3] - b[1]) > MAX_BOX_SCALE * max(h, w):
            raise ValueError(f"box {b.tolist()} is larger than {MAX_BOX_SCALE:g} times the {w}x{h} image")
    return b


def check_device(device) -> torch.device | None:
    """``None``/``'auto'`` -> None (CUDA when available, decided later); a device string ->
    ``torch.device``; :class:`~m3lrn_lib.errors.UserError` naming it when torch does not know it."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return None
    try:
        return torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"unknown device {device!r}", subject="device",
                        hint="use auto, cpu, cuda or cuda:N") from None


def parse_box(text: str) -> np.ndarray:
    """``'x0,y0,x1,y1'`` -> (4,) float64; ValueError with the reason otherwise."""
    try:
        b = np.array([float(v) for v in str(text).replace(" ", "").split(",")], np.float64)
    except ValueError:
        raise ValueError(f"box {text!r}: expected four numbers x0,y0,x1,y1") from None
    return check_box(b)


class Predictor:
    """Faces in images -> landmarks, dense meshes and head poses (see the module docstring).

    Args:
        network: an M3LRN or a checkpoint path (:func:`~m3lrn_lib.predict.network.load_network`).
        device: ``'cpu'``, ``'cuda'``, or None (CUDA when available).
        detector: a callable image -> (K, 4) boxes (e.g. a :class:`~m3lrn_lib.predict.detect.FaceDetector`),
            ``'auto'`` (the best installed backend, see :mod:`m3lrn_lib.predict.detect`) or a backend name
            (``'mtcnn'``, ``'dlib'``, ``'lbp'``), created on first use, or None (boxes must then be given).
        dense: also reconstruct the dense mesh; batch_size: faces per forward pass;
        max_faces: keep at most this many (largest) detected faces per image.
        expect_variant: refuse a checkpoint of another variant (preset name).
        engine: one of :data:`ENGINES`: ``'torch'`` (default, any device), ``'onnx'`` (the lean exported
            graph in ONNX Runtime on the CPU) or ``'onnx-int8'`` (its static int8 version; made at
            construction, after its accuracy gate, :mod:`m3lrn_lib.predict.quantize`; a few seconds);
            threads: ONNX Runtime's intra-op threads (None: its default).

    :attr:`timings` adds up the seconds spent per stage (:data:`STAGES`: decoding, detection,
    cropping, the network, building the outputs) since construction or :meth:`reset_timings`.
    """

    def __init__(self, network, device=None, detector="auto", dense: bool = True, batch_size: int = 64,
                 max_faces: int | None = None, expect_variant: str | None = None, engine: str = "torch",
                 threads: int | None = None):
        if engine not in ENGINES:
            raise UserError(f"unknown engine {engine!r}", subject="engine", hint=f"choose one of {', '.join(ENGINES)}")
        if engine != "torch" and device is not None and str(device) not in ("cpu", "auto"):
            raise UserError(f"engine {engine!r} runs on the CPU, not on {device}", subject="engine",
                            hint="use engine 'torch' for a GPU")
        dev = check_device("cpu" if engine != "torch" else device)
        if max_faces is not None and (not isinstance(max_faces, (int, np.integer)) or max_faces < 1):
            raise UserError(f"must be an integer >= 1, got {max_faces!r}", subject="max_faces",
                            hint="None keeps every face")
        if int(batch_size) < 1:
            raise UserError(f"must be >= 1, got {batch_size!r}", subject="batch_size")
        self.device = dev if dev is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.net = load_network(network, self.device, expect_variant)
        self.variant = variant_of(self.net)
        self.model = self.net.face_model
        self.triangles = np.asarray(self.model.triangles)
        self.dense, self.batch_size, self.max_faces = bool(dense), int(batch_size), max_faces
        self._detector = detector
        self.engine, self.session = engine, None
        if engine != "torch":  # export (and quantise, after its gate) now, not inside the first timed call
            from .onnx_export import export_onnx, onnx_session

            outs = ("landmarks", "landmarks_coarse", "pose", "params") + (("vertices",) if self.dense else ())
            model = export_onnx(self.net, outputs=outs, quantize="static" if engine == "onnx-int8" else None)
            # idle workers sleep at once, so that they do not take the cores from the detector
            self.session = onnx_session(model, threads=threads, spinning=False)
        self.timings: dict = defaultdict(float)

    def reset_timings(self) -> None:
        """Zero :attr:`timings`."""
        self.timings = defaultdict(float)

    def _tick(self, stage: str, t0: float) -> float:
        t = time.perf_counter()
        self.timings[stage] += t - t0
        return t

    @property
    def detector(self):
        if isinstance(self._detector, str):
            from .detect import BACKENDS, FaceDetector
            if self._detector != "auto" and self._detector not in BACKENDS:
                raise ValueError(f"detector must be a callable, 'auto', one of {', '.join(BACKENDS)} or None, "
                                 f"got {self._detector!r}")
            self._detector = FaceDetector(self._detector)
        return self._detector

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Face boxes and crop boxes, each (K, 4), of an RGB image (largest faces first)."""
        from .detect import crop_box

        det = self.detector
        if det is None:
            raise ValueError("this Predictor has no detector: pass boxes=...")
        boxes = np.asarray(det(image), np.float64).reshape(-1, 4)
        if self.max_faces is not None:
            boxes = boxes[: self.max_faces]
        return boxes, np.array([crop_box(b, detector=det) for b in boxes]).reshape(-1, 4)

    @torch.inference_mode()
    def forward_crops(self, crops: np.ndarray) -> dict:
        """Run the network on (B, 120, 120, 3) uint8 crops in batches -> dict of numpy arrays
        ``lmk_refined``, ``lmk_coarse`` (B, 68, 3), ``pose`` (B, 3) rad, ``params_raw`` (B, D),
        ``vertices`` (B, N, 3) when dense -- all in the crop frame."""
        t0 = time.perf_counter()
        out: dict = {}
        keys = ("lmk_refined", "lmk_coarse", "pose", "params_raw") + (("vertices",) if self.dense else ())
        for i in range(0, len(crops), self.batch_size):
            x = torch.from_numpy(np.ascontiguousarray(crops[i:i + self.batch_size])).to(self.device)
            x = (x.permute(0, 3, 1, 2).float() - 127.5) / 128.0
            if self.engine == "torch":
                r = {k: v.float().cpu().numpy() for k, v in self.net(x, dense=self.dense).items() if k in keys}
            else:
                from .onnx_export import SOURCE, run_onnx
                r = {SOURCE[k]: v for k, v in run_onnx(self.session, x).items()}
            for k in keys:
                out.setdefault(k, []).append(r[k])
        r = {k: np.concatenate(v) for k, v in out.items()}
        self._tick("network", t0)
        return r

    def _faces(self, r: dict, boxes, crop_boxes, sources) -> list[Face]:
        faces = []
        for j, (b, cb) in enumerate(zip(boxes, crop_boxes)):
            P = torch.as_tensor(r["params_raw"][j:j + 1, :geometry.POSE_DIM], dtype=torch.float64).reshape(1, 3, 4)
            _, Rm, _ = geometry.pose_to_sRt(P)
            faces.append(Face(
                box=np.asarray(b, np.float64), crop_box=np.asarray(cb, np.float64),
                landmarks=points_from_crop(r["lmk_refined"][j], cb),
                landmarks_coarse=points_from_crop(r["lmk_coarse"][j], cb),
                vertices=points_from_crop(r["vertices"][j], cb) if "vertices" in r else None,
                pose_deg=np.degrees(r["pose"][j].astype(np.float64)), rotation=Rm[0].numpy(),
                params=r["params_raw"][j], source=sources[j]))
        return faces

    # ------------------------------------------------------------------ API
    def prepare(self, image) -> np.ndarray:
        """A path or any array (gray, RGB, RGBA, 16-bit, float) -> (H, W, 3) uint8 RGB."""
        if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
            return load_image(image)
        if isinstance(image, torch.Tensor):
            image = image.detach().cpu().numpy()
        return to_rgb8(np.asarray(image))

    def predict(self, image, boxes=None) -> list[Face]:
        """Faces of one image (RGB array or path). ``boxes``: optional (K, 4) tight face boxes
        that replace detection. No face found -> ``[]``."""
        return self.predict_many([image], None if boxes is None else [boxes])[0]

    def predict_many(self, images, boxes=None) -> list[list[Face]]:
        """Faces of several images, all faces in shared batches. ``boxes``: None or one entry per
        image (None = detect, or a (K, 4) array of tight face boxes)."""
        t = time.perf_counter()
        imgs = [self.prepare(im) for im in images]
        t = self._tick("decode", t)
        if boxes is not None and len(boxes) != len(imgs):
            raise ValueError(f"got {len(boxes)} box lists for {len(imgs)} images")
        per = []
        for i, img in enumerate(imgs):
            given = None if boxes is None else boxes[i]
            if given is None:
                b, cb = self.detect(img)
                src = "detector"
            else:
                b = np.asarray(given, np.float64).reshape(-1, 4)
                for x in b:
                    check_box(x, img.shape)
                cb = np.array([box_from_detector(x) for x in b]).reshape(-1, 4)
                src = "box"
            per.append((b, cb, [src] * len(b)))
        t = self._tick("detect", t)
        crops = [crop_image(img, c) for img, (_, cbs, _) in zip(imgs, per) for c in cbs]
        t = self._tick("crop", t)
        if not crops:
            return [[] for _ in imgs]
        r = self.forward_crops(np.stack(crops))
        t = time.perf_counter()
        out, k = [], 0
        for b, cb, src in per:
            n = len(b)
            out.append(self._faces({key: v[k:k + n] for key, v in r.items()}, b, cb, src))
            k += n
        self._tick("outputs", t)
        return out

    def predict_crops(self, images, crop_boxes) -> dict:
        """Benchmark entry: one face per image with a given *crop* box (e.g. from ground-truth
        landmarks) -> dict of crop-frame outputs (see :meth:`forward_crops`) plus the same
        mapped to the image frame: ``landmarks`` (B, 68, 3), ``vertices`` (B, N, 3)."""
        t = time.perf_counter()
        imgs = [self.prepare(im) for im in images]
        t = self._tick("decode", t)
        crops = np.stack([crop_image(im, b) for im, b in zip(imgs, crop_boxes)])
        self._tick("crop", t)
        r = self.forward_crops(crops)
        t = time.perf_counter()
        r["landmarks"] = np.stack([points_from_crop(p, b) for p, b in zip(r["lmk_refined"], crop_boxes)])
        if "vertices" in r:
            r["vertices_image"] = np.stack([points_from_crop(p, b) for p, b in zip(r["vertices"], crop_boxes)])
        self._tick("outputs", t)
        return r

    def predict_boxes(self, images, crop_boxes):
        """``(vertices (B,N,3), landmarks (B,68,3))`` in the image frame for given crop boxes
        (the callable :func:`m3lrn_lib.protocols.florence_benchmark` expects)."""
        if not self.dense:
            raise ValueError("predict_boxes needs a dense Predictor (dense=True)")
        r = self.predict_crops(images, crop_boxes)
        return r["vertices_image"], r["landmarks"]

    def __repr__(self):
        return f"Predictor(variant={self.variant!r}, device={self.device}, dense={self.dense}, engine={self.engine!r})"
