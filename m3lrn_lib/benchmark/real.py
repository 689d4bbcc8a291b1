"""The real-photo benchmark: checkpoints on a folder of photos annotated with iBUG-68 ``.pts`` files.

Folder layout (300-W / menpo style, not recursive): every image ``NAME.jpg`` (``.jpeg``, ``.png``,
``.ppm``, ``.bmp``; any case) with its annotation ``NAME.pts`` beside it -- one face per image,
68 points, 1-based pixel coordinates (:func:`m3lrn_lib.data.pts.read_pts`). Nothing else is paired
(``NAME_1.pts`` for a second face is not read).

What is measured, for every checkpoint (and for a "no network" reference, :func:`mean_shape_crop`):

- ``nme_gt``: Eq. 8 of the AFLW2000-3D protocol (:func:`m3lrn_lib.metrics.nme_2d`): the mean 2D
  distance of the 68 refined landmarks to the ground truth divided by ``sqrt(w * h)`` of the
  ground-truth landmark box, in percent, with the crop made from the ground-truth landmarks
  (:func:`m3lrn_lib.data.crop.box_from_landmarks`, the synthetic AFLW2000 benchmark's crop policy).
  Real photos carry no yaw label, so this is the plain mean over images (no yaw bins).
- detection: the face detector (:class:`m3lrn_lib.predict.detect.FaceDetector`) is run once per
  image; the face counts as *detected* when a detected box has its centre strictly inside the
  ground-truth landmark box (of several such boxes the one whose centre is nearest the landmark
  box's centre is kept). ``detection_rate`` = detected / evaluated images.
- ``nme_det``: the same NME with the crop made from the detector's box
  (:func:`m3lrn_lib.predict.detect.crop_box`), over the detected faces only; ``nme_gt_detected``
  is ``nme_gt`` over those same faces, so the two crops are compared on one set of faces.

Bad input: an image without its ``.pts`` is skipped and counted (``missing_pts``); an image that
cannot be decoded is skipped and counted with the reason (``unreadable``). A ``.pts`` that
:func:`~m3lrn_lib.data.pts.read_pts` refuses (malformed header, wrong point count, ...) or whose
points span no area or miss the image is a broken annotation: a :class:`~m3lrn_lib.errors.UserError`
naming the file and line, unless ``skip_bad`` (CLI ``--skip-bad``) skips and counts it (``bad_pts``).
Every ``.pts`` is read before any image is decoded, so such an error comes at once. A folder
without any usable annotated image is a :class:`~m3lrn_lib.errors.UserError`.

Pieces: :func:`scan_folder` (pairs, no decoding), :func:`load_faces` (annotations, crops and
detections -> :class:`RealFaces`, no network), :func:`evaluate_real` (one network),
:func:`reference_row`, :func:`build_real_report`, :func:`real_markdown`, and :func:`run_real`
(all of it for several checkpoints, writing ``real.json`` and ``real.md``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import metrics
from ..data.crop import CROP_SIZE, LANDMARK_SCALE, LANDMARK_SHIFT, box_from_landmarks, crop_image
from ..errors import UserError
from ..fileio import atomic_write_bytes

__all__ = ["IMAGE_EXTS", "REFERENCE_LABEL", "RealFaces", "scan_folder", "load_faces", "match_detection",
           "mean_shape_crop", "evaluate_real", "reference_row", "build_real_report", "real_markdown", "summary_lines",
           "run_real"]

#: Image suffixes paired with a ``.pts`` (compared in lower case).
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp")
#: Label of the "no network" row.
REFERENCE_LABEL = "mean shape (no network)"
FORMULA = ("NME = mean_i ||p_i - g_i||_2 / sqrt(w * h) x 100, over the 68 iBUG points, (w, h) the size of the "
           "ground-truth landmark box (AFLW2000-3D protocol, Eq. 8; no yaw bins: plain mean over images)")
MATCH_RULE = ("a detected box matches when its centre lies strictly inside the ground-truth landmark box; "
              "of several, the one whose centre is nearest the landmark box centre")
SKIP_BAD_HINT = "or pass --skip-bad to skip and count such images"


@dataclass
class RealFaces:
    """The evaluable faces of a folder, ready for any network (n faces, k of them detected).

    Attributes:
        folder: the folder; names: (n,) image file names, sorted.
        gt: (n, 68, 2) float64 0-based ground-truth landmarks in image pixels.
        sizes: (n, 2) int image (height, width).
        gt_crop_boxes: (n, 4) float64 crop boxes from the landmarks; gt_crops: (n, 120, 120, 3) uint8.
        detected: (n,) bool; det_boxes / det_crop_boxes: (n, 4) float64, NaN where not detected.
        det_crops: (k, 120, 120, 3) uint8, the detected faces' crops in ``names`` order.
        skipped: ``{"name", "kind", "reason"}`` dicts (kind ``missing_pts``, ``unreadable`` or ``bad_pts``).
        orphan_pts: ``.pts`` files without an image; image_files: images found in the folder;
        not_examined: annotated images left unread because ``max_faces`` was reached.
        detector: the detector's name (None when detection was not run).
    """

    folder: Path
    names: list
    gt: np.ndarray
    sizes: np.ndarray
    gt_crop_boxes: np.ndarray
    gt_crops: np.ndarray
    detected: np.ndarray
    det_boxes: np.ndarray
    det_crop_boxes: np.ndarray
    det_crops: np.ndarray
    skipped: list = field(default_factory=list)
    orphan_pts: list = field(default_factory=list)
    image_files: int = 0
    not_examined: int = 0
    detector: str | None = None

    def __len__(self) -> int:
        return len(self.names)

    def counts(self) -> dict:
        """How many images were found, evaluated, skipped (by kind) or not examined."""
        kinds = ("missing_pts", "unreadable", "bad_pts")
        return {"image_files": self.image_files, "evaluated": len(self),
                **{k: sum(s["kind"] == k for s in self.skipped) for k in kinds},
                "not_examined": self.not_examined, "orphan_pts": len(self.orphan_pts)}


def scan_folder(folder) -> tuple[list, list, list, int]:
    """Pair the images of ``folder`` with their ``.pts`` files (not recursive, hidden files ignored;
    nothing is decoded).

    Returns:
        ``(pairs, missing, orphans, n_images)``: ``pairs`` a sorted list of ``(image path, pts path)``,
        ``missing`` the skipped-entry dicts of images without a ``.pts``, ``orphans`` the names of
        ``.pts`` files without an image, ``n_images`` the images found.
    Raises:
        UserError: ``folder`` is not a folder, or no image in it has a ``.pts``.
    """
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"{root}: folder not found", hint="give a folder of images with iBUG-68 .pts files")
    files = sorted((p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")), key=lambda p: p.name)
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTS]
    pts = {p.stem: p for p in files if p.suffix.lower() == ".pts"}
    pairs = [(im, pts[im.stem]) for im in images if im.stem in pts]
    missing = [{"name": im.name, "kind": "missing_pts", "reason": f"no {im.stem}.pts beside it"}
               for im in images if im.stem not in pts]
    stems = {im.stem for im in images}
    orphans = [p.name for s, p in sorted(pts.items()) if s not in stems]
    if not pairs:
        raise UserError(f"{root}: no annotated image ({len(images)} image(s) with suffix {'/'.join(IMAGE_EXTS)}, "
                        f"{len(pts)} .pts file(s), no pair NAME.<image> + NAME.pts)",
                        hint="put each image's iBUG-68 annotation NAME.pts beside NAME.jpg, as 300-W does")
    return pairs, missing, orphans, len(images)


def match_detection(boxes, gt) -> int:
    """Index of the detected box that is the ground-truth face, or -1.

    Args:
        boxes: (K, 4) detector boxes ``[x0, y0, x1, y1]``; gt: (68, 2+) ground-truth landmarks.
    Returns:
        the index of the box whose centre lies strictly inside the landmark box, nearest its
        centre when several do; -1 when none does.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    g = np.asarray(gt, np.float64)[:, :2]
    lo, hi = g.min(0), g.max(0)
    c = (b[:, :2] + b[:, 2:]) / 2
    inside = np.all((c > lo) & (c < hi), axis=1)
    if not inside.any():
        return -1
    d = np.linalg.norm(c - (lo + hi) / 2, axis=1)
    return int(np.argmin(np.where(inside, d, np.inf)))


def _annotation_problem(gt, shape) -> str | None:
    """Why ``gt`` (68, 2) cannot be evaluated on an image of ``shape`` (None when it can)."""
    from ..predict.predictor import check_box

    wh = gt.max(0) - gt.min(0)
    if not (wh > 0).all():
        return f"the 68 points span a box of {wh[0]:.3g} x {wh[1]:.3g} px (no area)"
    try:
        check_box(box_from_landmarks(gt), shape)
    except ValueError as exc:
        return f"the points do not fit the {shape[1]}x{shape[0]} image ({exc})"
    return None


def load_faces(folder, detector="auto", max_faces: int | None = None, skip_bad: bool = False,
               log=None) -> RealFaces:
    """Read a folder's annotations and images, make the ground-truth and detector crops (no network).

    Args:
        folder: see the module docstring.
        detector: a callable (H, W, 3) uint8 RGB image -> (K, 4) boxes, ``"auto"`` (the package's
            :class:`~m3lrn_lib.predict.detect.FaceDetector`) or None (no detection: nothing detected).
        max_faces: stop after this many evaluable images (in name order).
        skip_bad: skip and count broken annotations instead of raising.
        log: optional ``log(str)`` for progress lines.
    Raises:
        UserError: see :func:`scan_folder`; a broken ``.pts`` (without ``skip_bad``); no evaluable image.
    """
    from ..data.io import DatasetError
    from ..data.pts import read_pts
    from ..predict.detect import crop_box
    from ..predict.inputs import load_image

    if max_faces is not None and (int(max_faces) != max_faces or max_faces < 1):
        raise UserError(f"must be an integer >= 1, got {max_faces!r}", subject="max_faces",
                        hint="None uses every annotated image")
    pairs, skipped, orphans, n_images = scan_folder(folder)
    annotated = []
    for im, pp in pairs:  # every annotation first: a broken one is reported before any decoding
        try:
            annotated.append((im, pp, read_pts(pp)))
        except DatasetError as exc:
            if not skip_bad:
                text = str(exc)
                if exc.hint and text.endswith(f" ({exc.hint})"):
                    text = text[: -len(exc.hint) - 3]
                raise UserError(text, hint=f"{exc.hint}; {SKIP_BAD_HINT}" if exc.hint else SKIP_BAD_HINT) from None
            skipped.append({"name": im.name, "kind": "bad_pts", "reason": str(exc)})
    if detector == "auto":
        from ..predict.detect import FaceDetector
        detector = FaceDetector()
    det_name = None if detector is None else str(getattr(detector, "name", type(detector).__name__))
    names, gts, sizes, gt_boxes, gt_crops, found, det_boxes, det_crop_boxes, det_crops = ([] for _ in range(9))
    examined = 0
    for im, pp, gt in annotated:
        if max_faces is not None and len(names) >= max_faces:
            break
        examined += 1
        try:
            img = load_image(im)
        except (UserError, OSError) as exc:
            skipped.append({"name": im.name, "kind": "unreadable", "reason": str(exc)})
            continue
        problem = _annotation_problem(gt, img.shape)
        if problem is not None:
            if not skip_bad:
                raise UserError(problem, subject=str(pp), hint=f"check that it annotates {im.name}; {SKIP_BAD_HINT}")
            skipped.append({"name": im.name, "kind": "bad_pts", "reason": f"{pp}: {problem}"})
            continue
        box = box_from_landmarks(gt)
        names.append(im.name)
        gts.append(gt)
        sizes.append(img.shape[:2])
        gt_boxes.append(box)
        gt_crops.append(crop_image(img, box))
        j = -1
        if detector is not None:
            cand = np.asarray(detector(img), np.float64).reshape(-1, 4)
            j = match_detection(cand, gt)
        found.append(j >= 0)
        if j >= 0:
            cb = np.asarray(crop_box(cand[j], detector=detector), np.float64)
            det_boxes.append(cand[j])
            det_crop_boxes.append(cb)
            det_crops.append(crop_image(img, cb))
        else:
            det_boxes.append(np.full(4, np.nan))
            det_crop_boxes.append(np.full(4, np.nan))
        if log:
            log(f"  {im.name}: {'detected' if j >= 0 else 'not detected'}")
    if not names:
        why = "; ".join(f"{s['name']}: {s['kind']}" for s in skipped[:3]) or "none"
        raise UserError(f"{Path(folder)}: no evaluable annotated image ({len(pairs)} annotated, skipped: {why})",
                        hint="give images OpenCV can decode with valid iBUG-68 .pts files")
    empty = np.zeros((0, CROP_SIZE, CROP_SIZE, 3), np.uint8)
    return RealFaces(folder=Path(folder), names=names, gt=np.stack(gts), sizes=np.asarray(sizes, np.int64),
                     gt_crop_boxes=np.stack(gt_boxes), gt_crops=np.stack(gt_crops), detected=np.asarray(found, bool),
                     det_boxes=np.stack(det_boxes), det_crop_boxes=np.stack(det_crop_boxes),
                     det_crops=np.stack(det_crops) if det_crops else empty, skipped=skipped, orphan_pts=orphans,
                     image_files=n_images, not_examined=len(annotated) - examined, detector=det_name)


def mean_shape_crop(model, size: int = CROP_SIZE) -> np.ndarray:
    """The "no network" prediction: the model's mean face seen frontally, placed in a crop.

    The 68 landmark vertices of ``model.mean`` are projected frontally (x right, y down) and
    scaled and moved so that the benchmark crop policy
    (:func:`~m3lrn_lib.data.crop.box_from_landmarks`) applied to them gives exactly the crop
    ``[0, 0, size, size]``: a network-free guess that uses only what the network sees (the crop).

    Returns:
        (68, 2) float64 points in the ``size`` crop's pixel frame.
    """
    lm = np.asarray(model.mean, np.float64)[np.asarray(model.landmarks)][:, :2] * np.array([1.0, -1.0])
    lo, hi = lm.min(0), lm.max(0)
    ext = float(max(hi - lo))
    k = size / (LANDMARK_SCALE * ext)
    centre = np.array([size / 2, size / 2 + LANDMARK_SHIFT * size / LANDMARK_SCALE])
    return (lm - (lo + hi) / 2) * k + centre


def _stats(nme) -> dict:
    """``mean`` / ``median`` (percent) and ``n`` of (k,) NME fractions (None when k = 0)."""
    v = np.asarray(nme, np.float64)
    if v.size == 0:
        return {"mean": None, "median": None, "n": 0}
    return {"mean": float(v.mean() * 100), "median": float(np.median(v) * 100), "n": int(v.size)}


def _row(faces: RealFaces, lmk_gt_crop, lmk_det_crop) -> dict:
    """A row from crop-frame predictions: (n, 68, 2+) in the gt crops, (k, 68, 2+) in the detector crops."""
    nme_gt = metrics.nme_2d(metrics.points_to_image(lmk_gt_crop, faces.gt_crop_boxes), faces.gt)
    det = faces.detected
    nme_det = np.full(len(faces), np.nan)
    if det.any():
        nme_det[det] = metrics.nme_2d(metrics.points_to_image(lmk_det_crop, faces.det_crop_boxes[det]), faces.gt[det])
    return {"nme_gt": _stats(nme_gt), "nme_det": _stats(nme_det[det]), "nme_gt_detected": _stats(nme_gt[det]),
            "detected": int(det.sum()), "detection_rate": float(det.mean()),
            "per_image": {"nme_gt": (nme_gt * 100).tolist(),
                          "nme_det": [None if not d else float(v * 100) for d, v in zip(det, nme_det)]}}


def evaluate_real(predictor, faces: RealFaces) -> dict:
    """One network on the prepared faces.

    Args:
        predictor: a :class:`m3lrn_lib.predict.Predictor` (``forward_crops`` is used: the crops are made).
        faces: from :func:`load_faces`.
    Returns:
        dict ``nme_gt``, ``nme_det``, ``nme_gt_detected`` ({mean, median (percent), n}), ``detected``,
        ``detection_rate``, ``per_image`` {``nme_gt``: (n,) percent, ``nme_det``: (n,) percent or None}, ``seconds``.
    """
    t0 = time.perf_counter()
    lmk_gt = predictor.forward_crops(faces.gt_crops)["lmk_refined"]
    lmk_det = predictor.forward_crops(faces.det_crops)["lmk_refined"] if len(faces.det_crops) else \
        np.zeros((0, 68, 3))
    out = _row(faces, lmk_gt, lmk_det)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def reference_row(faces: RealFaces, model) -> dict:
    """The "no network" row: :func:`mean_shape_crop` of ``model`` in every crop (as :func:`evaluate_real`)."""
    shape = mean_shape_crop(model)
    return {**_row(faces, np.repeat(shape[None], len(faces), 0), np.repeat(shape[None], len(faces.det_crops), 0)),
            "label": REFERENCE_LABEL, "reference": True, "path": None, "variant": None, "params": 0,
            "model": getattr(model, "name", None), "seconds": 0.0}


def build_real_report(faces: RealFaces, rows: list[dict]) -> dict:
    """The JSON-ready report.

    Args:
        faces: from :func:`load_faces`; rows: :func:`evaluate_real` results with ``label``, ``path``,
            ``variant``, ``params`` added, and the :func:`reference_row` (``reference: True``).
    Returns:
        dict ``kind`` ("real"), ``folder``, ``formula``, ``detector``, ``match_rule``, ``n_images``,
        ``n_detected``, ``detection_rate``, ``counts``, ``skipped``, ``orphan_pts``, ``rows`` (summaries,
        without per-image values) and ``images`` [{``name``, ``size``, ``gt_crop_box``, ``detected``,
        ``det_box``, ``det_crop_box``, ``nme_gt`` {label: percent}, ``nme_det`` {label: percent or None}}].
    """
    def box(b):
        return None if not np.isfinite(b).all() else np.round(b, 2).tolist()

    images = []
    for i, name in enumerate(faces.names):
        images.append({"name": name, "size": faces.sizes[i].tolist(), "gt_crop_box": box(faces.gt_crop_boxes[i]),
                       "detected": bool(faces.detected[i]), "det_box": box(faces.det_boxes[i]),
                       "det_crop_box": box(faces.det_crop_boxes[i]),
                       "nme_gt": {r["label"]: r["per_image"]["nme_gt"][i] for r in rows},
                       "nme_det": {r["label"]: r["per_image"]["nme_det"][i] for r in rows}})
    n, k = len(faces), int(faces.detected.sum())
    return {"kind": "real", "folder": str(faces.folder), "formula": FORMULA, "detector": faces.detector,
            "match_rule": MATCH_RULE, "n_images": n, "n_detected": k, "detection_rate": k / n,
            "counts": faces.counts(), "skipped": list(faces.skipped), "orphan_pts": list(faces.orphan_pts),
            "rows": [{key: v for key, v in r.items() if key != "per_image"} for r in rows], "images": images}


def _pct(v) -> str:
    return "—" if v is None else f"{v:.2f}"


def real_markdown(report: dict) -> str:
    """The report as Markdown: the data, a summary table (one row per checkpoint and the reference),
    the per-image table and the skipped images."""
    c = report["counts"]
    lines = ["# Real-photo benchmark", "",
             f"Data: `{report['folder']}`: {report['n_images']} annotated images evaluated "
             f"({c['image_files']} image files; skipped: {c['missing_pts']} without .pts, {c['unreadable']} unreadable, "
             f"{c['bad_pts']} with a bad .pts; {c['not_examined']} not examined (--max-faces); "
             f"{c['orphan_pts']} .pts without image).", "",
             f"Detector: {report['detector'] or 'none'}: found {report['n_detected']} of {report['n_images']} faces "
             f"({report['detection_rate'] * 100:.1f}%); {report['match_rule']}.", "",
             f"{report['formula']}. *GT crop*: the crop from the ground-truth landmarks (benchmark policy); "
             "*detector crop*: the crop from the detector's box, over the detected faces only; the last column "
             "is the GT-crop NME over those same faces.", "",
             "| checkpoint | variant | NME % GT crop (mean) | median | detected | NME % detector crop (mean) "
             "| median | NME % GT crop, detected faces |", "|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        label = r["label"] if r.get("reference") else f"`{r['label']}`"
        lines.append(f"| {label} | {r.get('variant') or '—'} | {_pct(r['nme_gt']['mean'])} | "
                     f"{_pct(r['nme_gt']['median'])} | {r['detected']}/{report['n_images']} | "
                     f"{_pct(r['nme_det']['mean'])} | {_pct(r['nme_det']['median'])} | "
                     f"{_pct(r['nme_gt_detected']['mean'])} |")
    labels = [r["label"] for r in report["rows"]]
    head = ["image", "detected"] + [f"{lb} GT / det" for lb in labels]
    lines += ["", "## Per image (NME %, GT crop / detector crop)", "", "| " + " | ".join(head) + " |",
              "|" + "---|" * len(head)]
    for im in report["images"]:
        cells = [f"`{im['name']}`", "yes" if im["detected"] else "no"]
        cells += [f"{_pct(im['nme_gt'][lb])} / {_pct(im['nme_det'][lb])}" for lb in labels]
        lines.append("| " + " | ".join(cells) + " |")
    if report["skipped"]:
        lines += ["", "## Skipped images", ""]
        lines += [f"- `{s['name']}` ({s['kind']}): {s['reason']}" for s in report["skipped"]]
    return "\n".join(lines) + "\n"


def summary_lines(report: dict) -> list[str]:
    """A few plain-text lines for the terminal: one per row."""
    out = [f"{report['n_images']} images, detector found {report['n_detected']} "
           f"({report['detection_rate'] * 100:.1f}%); NME % (GT crop mean | detector crop mean | GT crop on detected)"]
    for r in report["rows"]:
        out.append(f"  {r['label']:<28} {_pct(r['nme_gt']['mean']):>7} | {_pct(r['nme_det']['mean']):>7} | "
                   f"{_pct(r['nme_gt_detected']['mean']):>7}")
    return out


def run_real(checkpoints, faces, out_dir="build/benchmark", device=None, max_faces=None, skip_bad: bool = False,
             detector="auto", log=print, engine: str = "torch") -> dict:
    """Evaluate ``checkpoints`` (paths or M3LRN networks; ``(label, source)`` pairs name them) on the
    real photos ``faces`` (a folder, see the module docstring, or a :class:`RealFaces`); write
    ``real.json`` and ``real.md`` atomically to ``out_dir`` (None: write nothing); return the report
    (:func:`build_real_report`). ``max_faces``, ``skip_bad`` and ``detector`` go to :func:`load_faces`
    when ``faces`` is a folder."""
    from ..predict import Predictor, variant_of
    from .report import to_json

    if not isinstance(faces, RealFaces):
        faces = load_faces(faces, detector=detector, max_faces=max_faces, skip_bad=skip_bad, log=log)
    rows, model = [], None
    for item in checkpoints:
        label, src = item if isinstance(item, tuple) else (Path(item).stem if not hasattr(item, "config")
                                                           else variant_of(item), item)
        base, n = label, 2
        while label in {r["label"] for r in rows} or label == REFERENCE_LABEL:  # per-image values are keyed by label
            label, n = f"{base}#{n}", n + 1
        pred = Predictor(src, device=device, detector=None, dense=False, engine=engine)
        model = pred.model if model is None else model
        if log:
            log(f"{label}: variant {pred.variant}, {len(faces)} images")
        res = evaluate_real(pred, faces)
        res.update(label=label, path=str(src) if not hasattr(src, "config") else None, variant=pred.variant,
                   params=int(sum(p.numel() for p in pred.net.parameters())))
        rows.append(res)
    if model is None:
        from ..morphable import load_face_model
        model = load_face_model()
    rows.append(reference_row(faces, model))
    report = build_real_report(faces, rows)
    if out_dir is not None:
        out = Path(out_dir)
        atomic_write_bytes(out / "real.json", to_json(report).encode())
        atomic_write_bytes(out / "real.md", real_markdown(report).encode())
        if log:
            log(f"wrote {out / 'real.json'} and {out / 'real.md'}")
    return report
