"""``python -m m3lrn_lib.predict INPUT --checkpoint CKPT --out DIR``: faces in an image, a folder of
images or a video -> landmarks, meshes, head poses, overlays, OBJ/PLY.

Outputs (all inside ``--out``; nothing is ever written elsewhere):

- per image ``NAME.json`` (faces: boxes, yaw/pitch/roll, 2D and 3D landmarks, parameters),
  ``NAME_overlay.jpg`` (mesh, landmarks, pose axes, boxes), ``NAME_faceK.obj`` / ``.ply`` (dense
  mesh with per-vertex colours sampled from the image);
- per video ``NAME.jsonl`` (one line per processed frame, written and flushed frame by frame)
  and ``NAME_overlay.avi`` (MJPG);
- ``summary.json``: what was processed, skipped (not images) and failed (with reasons; a video
  that stopped early -- truncated file, Ctrl-C -- is ``failed`` with ``"partial": true`` and the
  frames done, whose ``.jsonl`` and overlay are kept). It is written even when the run is
  interrupted (then with ``"interrupted": true``).

Every JSON file is strict JSON (no NaN/Infinity): an image whose prediction is not finite is
recorded as failed and gets no output files. Temporary files carry the ``.tmp-`` prefix of
:mod:`m3lrn_lib.fileio` and the debris of a killed run is removed at the start of the next one.
Images over 100 megapixels are refused (see :mod:`m3lrn_lib.predict.inputs`); EXIF orientation
is applied.

Arguments are all checked (``--out`` must be a writable folder or creatable in one) before the
network is loaded and before anything is written; a bad one is a one-line ``error:`` message.

Exit status: 0 all inputs processed (also when no face was found), 1 some inputs failed (a
corrupt or oversized image, a truncated video), 2 unusable arguments (missing input, bad
checkpoint, bad box, bad --out), 130 interrupted (Ctrl-C; the outputs done so far are kept).
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from .. import cli
from ..errors import UserError
from ..fileio import TMP_PREFIX, remove_temp_files

DETECTOR_HELP = ("Faces are found by --detector: auto takes the best installed one -- mtcnn (MTCNN with the weights "
                 "of facenet-pytorch: frontal and turned faces, small ones too, almost no false detections), then "
                 "dlib (dlib's HOG detector, dlib-bin), then lbp (scikit-image's LBP cascade, always there: roughly "
                 "frontal, upright faces only, fires on textures). None ever downloads anything. All miss full "
                 "profiles and faces smaller than --min-face: give --box for those.")


def build_parser() -> cli.ArgumentParser:
    ap = cli.ArgumentParser(prog="python -m m3lrn_lib.predict", description=__doc__.split("\n\n")[0],
                            epilog=DETECTOR_HELP)
    ap.add_argument("input", help="an image, a folder of images (not recursive) or a video file")
    ap.add_argument("--checkpoint", required=True, help="trainer checkpoint or state-dict file (.pt)")
    ap.add_argument("--out", required=True, help="output folder (created; nothing is written outside it)")
    ap.add_argument("--box", action="append", default=None, metavar="x0,y0,x1,y1",
                    help="tight face box (about brows-to-chin, ear-to-ear; sides >= 8 px) instead of detection; "
                         "repeatable")
    ap.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    ap.add_argument("--batch-size", type=int, default=64, help="faces per forward pass (default 64)")
    ap.add_argument("--engine", default="torch", help="how the network runs: torch (default), onnx (the lean float32 "
                    "graph in ONNX Runtime) or onnx-int8 (its int8 version, after its accuracy check); onnx uses the CPU")
    ap.add_argument("--variant", default=None, help="refuse a checkpoint of another variant (preset name)")
    ap.add_argument("--mesh", default="obj,ply", help="mesh files per face: obj,ply | obj | ply | none")
    ap.add_argument("--no-dense", action="store_true", help="landmarks and pose only (no mesh, faster)")
    ap.add_argument("--no-overlay", action="store_true", help="do not draw overlay images/videos")
    ap.add_argument("--max-faces", type=int, default=None, help="largest N (>= 1) detected faces per image")
    ap.add_argument("--detector", default="auto", metavar="auto|mtcnn|dlib|lbp",
                    help="face detector backend (default auto: the first installed of mtcnn, dlib, lbp)")
    ap.add_argument("--min-face", type=int, default=None,
                    help="detector: smallest face side in px (default: the backend's, 20 mtcnn, 40 dlib, 24 lbp)")
    ap.add_argument("--min-face-frac", type=float, default=None,
                    help="detector: and at least this fraction (0..1] of the image's shorter side (default: the "
                         "backend's, 0.05 mtcnn, 0 dlib, 0.15 lbp; lower it for small faces in group photos, at the "
                         "cost of time and more false detections)")
    ap.add_argument("--every", type=int, default=1, help="video: process every N-th frame")
    ap.add_argument("--max-frames", type=int, default=None, help="video: stop after N processed frames")
    return ap


def _json(obj) -> bytes:
    """Strict JSON (``allow_nan=False``): ValueError rather than NaN/Infinity in a file."""
    return json.dumps(obj, indent=1, allow_nan=False).encode()


# ----------------------------------------------------------------------------- output paths
class OutDir:
    """All writes go through here: names are sanitised and must resolve inside the folder."""

    def __init__(self, root):
        from ..cli import check_output_folder

        self.root = check_output_folder(root, "--out")
        self.root.mkdir(parents=True, exist_ok=True)
        self.real = self.root.resolve()
        self.used: set[str] = set()
        remove_temp_files(self.root)  # debris of a killed run

    @staticmethod
    def clean(name: str) -> str:
        s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")
        return s[:120] or "input"

    def stem_for(self, path: Path) -> str:
        """A unique, safe output stem for an input file (``a.jpg`` and ``a.png`` -> ``a``, ``a_png``)."""
        stem = self.clean(path.stem)
        if stem in self.used:
            stem = self.clean(f"{path.stem}_{path.suffix.lstrip('.')}")
        base, k = stem, 1
        while stem in self.used:
            stem, k = f"{base}_{k}", k + 1
        self.used.add(stem)
        return stem

    def path(self, name: str) -> Path:
        p = self.root / self.clean(name)
        if p.parent.resolve() != self.real:
            raise ValueError(f"refusing to write outside {self.real}: {p}")
        return p

    def temp_path(self, name: str) -> Path:
        """A temporary name (``.tmp-`` prefix, which the clean-up knows) inside the folder."""
        p = self.root / (TMP_PREFIX + self.clean(name))
        if p.parent.resolve() != self.real:
            raise ValueError(f"refusing to write outside {self.real}: {p}")
        return p

    def write(self, name: str, data: bytes) -> Path:
        from ..fileio import atomic_write_bytes
        p = self.path(name)
        atomic_write_bytes(p, data)
        return p


def _jpeg(rgb: np.ndarray) -> bytes:
    import cv2
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


# ----------------------------------------------------------------------------- per input
def _image_record(name, img, faces, pred) -> dict:
    rec = {"image": name, "width": int(img.shape[1]), "height": int(img.shape[0]), "variant": pred.variant,
           "faces": [f.to_dict() for f in faces]}
    if not faces:
        rec["message"] = "no face found (the detector misses full profiles and small faces; try --box)"
    return rec


def _non_finite(faces) -> str | None:
    """Why the faces cannot be written (a NaN or inf in an output), or None."""
    for k, f in enumerate(faces):
        for name in ("box", "crop_box", "landmarks", "landmarks_coarse", "pose_deg", "rotation", "params",
                     "vertices"):
            a = getattr(f, name)
            if a is not None and not np.isfinite(np.asarray(a, np.float64)).all():
                return f"the prediction is not finite (NaN or inf in face {k}'s {name}); nothing written for it"
    return None


def _save_image_outputs(out: OutDir, stem: str, img, faces, pred, args) -> int:
    from .draw import draw_faces
    from .export import obj_bytes, ply_bytes, sample_colors, to_export_frame

    record = _json(_image_record(stem, img, faces, pred))  # ValueError before anything is written
    n = 0
    if faces and not args.no_overlay:
        out.write(f"{stem}_overlay.jpg", _jpeg(draw_faces(img, faces, pred.triangles)))
    kinds = [k for k in args.mesh.split(",") if k and k != "none"]
    for k, f in enumerate(faces):
        if f.vertices is None:
            continue
        cols = sample_colors(img, f.vertices)
        v = to_export_frame(f.vertices, img.shape[0])
        if "obj" in kinds:
            out.write(f"{stem}_face{k}.obj", obj_bytes(v, pred.triangles, cols))
        if "ply" in kinds:
            out.write(f"{stem}_face{k}.ply", ply_bytes(v, pred.triangles, cols))
        n += 1
    out.write(f"{stem}.json", record)
    return n


def _fail(summary, name: str, error: str, **extra) -> None:
    summary["failed"].append({"input": name, "error": error, **extra})
    print(f"error: {error}" if error.startswith(name) or name in error else f"error: {name}: {error}",
          file=sys.stderr, flush=True)


def _run_images(paths, pred, out: OutDir, args, boxes, summary) -> None:
    from .inputs import InputError, load_image

    chunk = max(1, min(16, args.batch_size))
    for i in range(0, len(paths), chunk):
        group, imgs = [], []
        for p in paths[i:i + chunk]:
            try:
                imgs.append(load_image(p))
                group.append(p)
            except InputError as exc:
                _fail(summary, p.name, str(exc))
        if not group:
            continue
        try:
            results = pred.predict_many(imgs, None if boxes is None else [boxes] * len(imgs))
        except ValueError as exc:
            for p in group:
                _fail(summary, p.name, str(exc))
            continue
        for p, img, faces in zip(group, imgs, results):
            bad = _non_finite(faces)
            if bad is not None:
                _fail(summary, p.name, bad)
                continue
            stem = out.stem_for(p)
            try:
                _save_image_outputs(out, stem, img, faces, pred, args)
            except ValueError as exc:  # a non-finite number json refused: nothing was written
                _fail(summary, p.name, f"cannot be written as JSON ({exc})")
                continue
            summary["processed"].append({"input": p.name, "output": stem, "faces": len(faces)})
            print(f"{p.name}: {len(faces)} face(s)" + ("" if faces else " -- no face found"))


def _run_video(path: Path, pred, out: OutDir, args, boxes, summary) -> None:
    """One video; the ``.jsonl`` is written frame by frame into a temp name and renamed (kept as
    partial output when the video stops early); the summary entry is made whatever happens."""
    import cv2

    from .draw import draw_faces
    from .inputs import InputError, iter_video

    stem = out.stem_for(path)
    final_avi, final_jsonl = out.path(f"{stem}_overlay.avi"), out.path(f"{stem}.jsonl")
    tmp_avi, tmp_jsonl = out.temp_path(f"{stem}_overlay.avi"), out.temp_path(f"{stem}.jsonl")
    info: dict = {}
    st = {"frames": 0, "faces": 0, "writer": None, "error": None, "done": False}
    fh = open(tmp_jsonl, "w", encoding="utf-8")
    frames: list = []

    def flush():
        res = pred.predict_many([f for _, f, _ in frames], None if boxes is None else [boxes] * len(frames))
        for (idx, img, fps), faces in zip(frames, res):
            good = [f for f in faces if _non_finite([f]) is None]
            line = {"frame": idx, "faces": [f.to_dict() for f in good]}
            if len(good) < len(faces):
                line["non_finite_faces"] = len(faces) - len(good)
            fh.write(json.dumps(line, allow_nan=False) + "\n")
            fh.flush()
            st["faces"] += len(good)
            st["frames"] += 1
            if not args.no_overlay:
                if st["writer"] is None:
                    st["writer"] = cv2.VideoWriter(os.fspath(tmp_avi), cv2.VideoWriter_fourcc(*"MJPG"),
                                                   fps / max(1, args.every), (img.shape[1], img.shape[0]))
                st["writer"].write(np.ascontiguousarray(draw_faces(img, good, pred.triangles)[..., ::-1]))
        frames.clear()

    try:
        for item in iter_video(path, args.every, args.max_frames, info=info):
            frames.append(item)
            if len(frames) >= max(1, min(16, args.batch_size)):
                flush()
        if frames:
            flush()
        st["done"] = True
    except InputError as exc:
        st["error"] = str(exc)
    except KeyboardInterrupt:
        st["error"] = f"interrupted after {st['frames']} processed frame(s)"
        raise
    except BaseException as exc:
        st["error"] = f"stopped after {st['frames']} processed frame(s): {type(exc).__name__}: {exc}"
        raise
    finally:
        fh.close()
        if st["writer"] is not None:
            st["writer"].release()
        kept = st["frames"] > 0
        for tmp, final in ((tmp_jsonl, final_jsonl), (tmp_avi, final_avi)):
            if tmp.exists():
                if kept:
                    os.replace(tmp, final)
                else:
                    tmp.unlink()
        entry = {"input": path.name, "output": stem, "frames": st["frames"], "faces": st["faces"]}
        if st["done"] and info.get("truncated"):
            msg = (f"{path.name}: video truncated: read {info['frames_read']} of {info['frame_count']} frames "
                   "(the container's frame count); the frames read were processed")
            print(f"warning: {msg}", file=sys.stderr, flush=True)
            summary["failed"].append({**entry, "error": msg, "partial": True, "frame_count": info["frame_count"]})
        elif st["done"]:
            summary["processed"].append(entry)
            print(f"{path.name}: {st['frames']} frame(s), {st['faces']} face(s)")
        elif kept:
            summary["failed"].append({**entry, "error": f"{path.name}: {st['error']}", "partial": True})
            print(f"error: {path.name}: {st['error']} (the frames done are kept)", file=sys.stderr, flush=True)
        else:
            _fail(summary, path.name, st["error"] or "stopped before the first frame")


def _check_arguments(args):
    """Every check that needs no network and writes nothing; returns ``(boxes, device)``."""
    from ..cli import check_output_folder
    from ..nn import PRESETS
    from .inputs import classify, image_size
    from .predictor import check_box, check_device, parse_box

    src = Path(args.input)
    if not src.exists():
        raise UserError("input not found", subject=str(src), hint="give an image, a folder of images or a video")
    for name, value in (("--every", args.every), ("--batch-size", args.batch_size),
                        ("--max-faces", args.max_faces), ("--max-frames", args.max_frames),
                        ("--min-face", args.min_face)):
        cli.require(value is None or value >= 1, name, f"must be >= 1, got {value}",
                  "omit it to keep every face" if name == "--max-faces" else
                  "omit it to process every frame" if name == "--max-frames" else None)
    cli.require(args.min_face_frac is None or 0 < args.min_face_frac <= 1, "--min-face-frac",
                f"must be in (0, 1], got {args.min_face_frac}", "e.g. 0.05 for small faces in group photos")
    from .detect import BACKENDS
    cli.require(args.detector in ("auto", *BACKENDS), "--detector", f"unknown face detector {args.detector!r}",
                f"choose auto, {', '.join(BACKENDS)}")
    kinds = {k for k in args.mesh.split(",") if k}
    cli.require(bool(kinds) and kinds <= {"obj", "ply", "none"}, "--mesh",
              f"must list obj, ply or none, got {args.mesh!r}", "e.g. --mesh obj,ply or --mesh none")
    cli.require(args.variant is None or args.variant in PRESETS, "--variant", f"unknown variant {args.variant!r}",
              f"choose one of {', '.join(sorted(PRESETS))}")
    try:
        device = check_device(args.device)
    except UserError as exc:
        raise cli.bad_argument("--device", f"unknown device {args.device!r}", "use auto, cpu, cuda or cuda:N") \
            from exc
    if device is not None and device.type == "cuda":
        import torch
        cli.require(torch.cuda.is_available(), "--device", f"{args.device!r} requested but no CUDA GPU is available",
                  "use --device cpu or auto")
    from .predictor import ENGINES
    cli.require(args.engine in ENGINES, "--engine", f"unknown engine {args.engine!r}", f"use one of {', '.join(ENGINES)}")
    cli.require(args.engine == "torch" or device is None or device.type == "cpu", "--engine",
                f"{args.engine} runs on the CPU, not on {args.device}", "use --device cpu or --engine torch")
    ck = Path(args.checkpoint)
    cli.require(ck.is_file(), "--checkpoint", f"{ck}: file not found", "give a .pt written by the trainer or "
              "save_state_dict, e.g. data/checkpoints/baseline.pt")
    cli.require(ck.stat().st_size > 0, "--checkpoint", f"{ck} is an empty file", "re-download or re-train it")
    boxes = None
    if args.box:
        try:
            boxes = np.stack([parse_box(b) for b in args.box])
        except ValueError as exc:
            raise cli.bad_argument("--box", str(exc), "give x0,y0,x1,y1 in pixels of the image") from None
        if classify(src) == "image":
            try:
                hw = image_size(src)
            except UserError:
                hw = None  # an unusable image is reported as a failed input
            if hw is not None:
                try:
                    for b in boxes:
                        check_box(b, hw)
                except ValueError as exc:
                    raise cli.bad_argument("--box", str(exc), "give a box on the image") from None
    check_output_folder(args.out, "--out")
    return boxes, device


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .detect import FaceDetector
    from .inputs import IMAGE_EXTS, InputError, classify, list_folder
    from .network import NetworkLoadError
    from .predictor import Predictor

    boxes, device = _check_arguments(args)
    src = Path(args.input)
    # a missing or broken detector package is a one-line UserError naming it (and --detector lbp)
    det = None if boxes is not None else FaceDetector(args.detector, min_size=args.min_face,
                                                      min_rel_size=args.min_face_frac)
    try:
        pred = Predictor(args.checkpoint, device=device, detector=det, dense=not args.no_dense,
                         batch_size=args.batch_size, max_faces=args.max_faces, expect_variant=args.variant,
                         engine=args.engine)
    except NetworkLoadError as exc:
        raise UserError(str(exc), subject="--checkpoint", hint="give a checkpoint of this package's M3LRN "
                        "(trainer checkpoint or save_state_dict file)") from None
    out = OutDir(args.out)
    summary = {"input": str(src), "checkpoint": str(args.checkpoint), "variant": pred.variant,
               "device": str(pred.device), "engine": pred.engine,
               "detector": "given boxes" if boxes is not None else det.name,
               "processed": [], "skipped": [], "failed": []}
    t0 = time.perf_counter()
    kind = classify(src)
    try:
        if kind == "folder":
            images, others = list_folder(src)
            for p in others:
                summary["skipped"].append({"input": p.name, "reason": "not an image (by extension)"})
                print(f"skipped {p.name}: not an image")
            if not images:
                exts = ", ".join(e.lstrip(".") for e in IMAGE_EXTS)
                print(f"error: no images in {src} (looked for {exts})", file=sys.stderr)
            _run_images(images, pred, out, args, boxes, summary)
        elif kind == "video":
            _run_video(src, pred, out, args, boxes, summary)
        else:
            _run_images([src], pred, out, args, boxes, summary)
    except InputError as exc:
        _fail(summary, src.name, str(exc))
    except KeyboardInterrupt:
        summary["interrupted"] = True
        raise
    finally:
        summary["seconds"] = round(time.perf_counter() - t0, 3)
        summary["stage_seconds"] = {k: round(v, 3) for k, v in pred.timings.items()}  # decode, detect, crop, ...
        out.write("summary.json", _json(summary))
    n_ok, n_bad = len(summary["processed"]), len(summary["failed"])
    print(f"done: {n_ok} processed, {len(summary['skipped'])} skipped, {n_bad} failed -> {out.root}")
    if n_bad or (kind == "folder" and not n_ok):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
