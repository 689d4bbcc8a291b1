"""Face detection with a detector that ships inside an installed package, and its crop policy.

OpenCV 5 no longer ships the Haar cascades nor ``cv2.CascadeClassifier`` (``cv2.data.haarcascades``
points at an empty folder), and its DNN detector (``FaceDetectorYN``) needs a model file that
no package ships. We therefore use the **LBP frontal-face cascade bundled with scikit-image**
(``skimage.data.lbp_frontal_face_cascade_filename()``, run by ``skimage.feature.Cascade``).

Limits (say them to users): it finds roughly frontal, upright faces only -- it misses most
faces turned beyond ~30-45 degrees of yaw, profiles, faces rolled beyond ~20 degrees, faces
smaller than ``min_size`` and strongly occluded ones; on textured backgrounds it can fire on
non-faces (raise ``min_neighbours`` to be stricter). For profiles or anything it misses, give
the face box yourself (``Predictor.predict(image, boxes=...)``, CLI ``--box x0,y0,x1,y1``).

Crop policy: the cascade's square box is smaller than the 68-landmark box and sits higher on
the face. :data:`DETECTOR_SCALE` / :data:`DETECTOR_SHIFT` map it to the benchmark crop
(:func:`m3lrn_lib.data.crop.box_from_landmarks`) through
:func:`m3lrn_lib.data.crop.box_from_detector`; they are the medians fitted by
:func:`calibrate` on synthetic test faces of the embedded model that the cascade found.
"""
from __future__ import annotations

import numpy as np

from ..data.crop import LANDMARK_SCALE, LANDMARK_SHIFT, box_from_detector, box_from_landmarks

__all__ = ["FaceDetector", "DETECTOR_SCALE", "DETECTOR_SHIFT", "DetectorUnavailable", "calibrate", "crop_box"]

# Fitted by calibrate() with the default detector settings (min_neighbours 4) on the first 800
# faces of the default synthetic test set (seed 0, 20000/2000): the cascade found 262 of them
# (the others are mostly beyond 30-45 deg of yaw); medians 1.496 and 0.128.
#: Cascade box side -> benchmark crop side (the benchmark side is LANDMARK_SCALE x landmark extent).
DETECTOR_SCALE = 1.50
#: Vertical move of the crop centre, in cascade-box sides (positive = down).
DETECTOR_SHIFT = 0.13


class DetectorUnavailable(RuntimeError):
    """scikit-image (and with it the bundled cascade) is not installed."""


def crop_box(det_box, scale: float = DETECTOR_SCALE, shift: float = DETECTOR_SHIFT) -> np.ndarray:
    """Benchmark-like crop box ``[x0, y0, x1, y1]`` from a cascade box (inference crop policy)."""
    return box_from_detector(det_box, scale, shift)


class FaceDetector:
    """The LBP frontal-face cascade shipped with scikit-image.

    Args:
        min_size: smallest face side in pixels searched for; min_rel_size: and at least this
            fraction of the image's shorter side (0.15 drops most false positives on textures;
            lower it for group photos); scale_factor: pyramid step (1.1-1.3); min_neighbours:
            overlapping raw detections needed to keep a face (higher = fewer false positives);
            nms_iou: overlapping boxes above this IoU are merged into the largest;
            max_side: images are shrunk to this longer side for detection (speed), boxes are
            mapped back.
    """

    name = "scikit-image LBP frontal-face cascade (lbpcascade_frontalface_opencv.xml)"

    def __init__(self, min_size: int = 24, min_rel_size: float = 0.15, scale_factor: float = 1.15,
                 min_neighbours: int = 4, nms_iou: float = 0.3, max_side: int = 640):
        try:
            from skimage import data
            from skimage.feature import Cascade
        except ImportError as exc:  # pragma: no cover -- scikit-image is a dependency
            raise DetectorUnavailable("face detection needs scikit-image (pip install scikit-image); "
                                      "or pass face boxes explicitly (--box x0,y0,x1,y1)") from exc
        self._cascade = Cascade(data.lbp_frontal_face_cascade_filename())
        self.min_size, self.scale_factor = int(min_size), float(scale_factor)
        self.min_neighbours, self.max_side = int(min_neighbours), int(max_side)
        self.min_rel_size, self.nms_iou = float(min_rel_size), float(nms_iou)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Detect faces in an (H, W, 3) uint8 RGB image -> (K, 4) float64 boxes ``[x0, y0, x1, y1]``,
        largest first; (0, 4) when there is none or the image is smaller than ``min_size``."""
        import cv2

        h, w = image.shape[:2]
        k = min(1.0, self.max_side / max(h, w))
        img = cv2.resize(image, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA) \
            if k < 1 else image
        side = min(img.shape[:2])
        lo = max(8, int(round(self.min_size * k)), int(round(self.min_rel_size * side)))
        if side < lo:
            return np.zeros((0, 4))
        raw = self._cascade.detect_multi_scale(img=np.ascontiguousarray(img), scale_factor=self.scale_factor,
                                               step_ratio=1, min_size=(lo, lo), max_size=(side, side),
                                               min_neighbor_number=self.min_neighbours)
        boxes = np.array([[d["c"], d["r"], d["c"] + d["width"], d["r"] + d["height"]] for d in raw],
                         np.float64).reshape(-1, 4) / k
        return nms(boxes[np.argsort(-(boxes[:, 2] - boxes[:, 0]), kind="stable")], self.nms_iou)


def nms(boxes: np.ndarray, iou: float) -> np.ndarray:
    """Greedy suppression of (K, 4) boxes sorted by priority: drop any box whose IoU with a kept
    one exceeds ``iou``."""
    keep = []
    for b in boxes:
        ok = True
        for k in keep:
            iw = max(0.0, min(b[2], k[2]) - max(b[0], k[0]))
            ih = max(0.0, min(b[3], k[3]) - max(b[1], k[1]))
            inter = iw * ih
            union = (b[2] - b[0]) * (b[3] - b[1]) + (k[2] - k[0]) * (k[3] - k[1]) - inter
            if union > 0 and inter / union > iou:
                ok = False
                break
        if ok:
            keep.append(b)
    return np.array(keep, np.float64).reshape(-1, 4)


def calibrate(detector: FaceDetector, dataset, limit: int | None = None) -> dict:
    """Fit the cascade-box -> benchmark-crop map on a labelled AFLW2000-layout dataset.

    For every image where the cascade finds a face overlapping the landmark box, compares the
    largest such box with the landmark box: ``scale = LANDMARK_SCALE * ext / side`` and
    ``shift = (benchmark crop centre y - cascade centre y) / side`` (medians).

    Returns:
        dict ``scale``, ``shift``, ``found`` (images with a face), ``n`` (images tried).
    """
    import cv2

    scales, shifts, n = [], [], 0
    for i in range(len(dataset) if limit is None else min(limit, len(dataset))):
        n += 1
        img = cv2.cvtColor(cv2.imread(str(dataset.paths[i])), cv2.COLOR_BGR2RGB)
        lm = np.asarray(dataset.landmarks_img[i])[:, :2]
        lo, hi = lm.min(0), lm.max(0)
        for b in detector(img):
            c = (b[:2] + b[2:]) / 2
            if np.all(c > lo) and np.all(c < hi):  # the face, not a false positive
                side = (b[2] - b[0] + b[3] - b[1]) / 2
                target = box_from_landmarks(lm, LANDMARK_SCALE, LANDMARK_SHIFT)
                scales.append((target[2] - target[0]) / side)
                shifts.append(((target[1] + target[3]) / 2 - c[1]) / side)
                break
    return {"scale": float(np.median(scales)) if scales else float("nan"),
            "shift": float(np.median(shifts)) if shifts else float("nan"), "found": len(scales), "n": n}
