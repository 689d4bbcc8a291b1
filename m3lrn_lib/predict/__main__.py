"""``python -m m3lrn_lib.predict INPUT --checkpoint CKPT --out DIR``: faces in an image, a folder of
images or a video -> landmarks, meshes, head poses, overlays, OBJ/PLY.

Outputs (all inside ``--out``; nothing is ever written elsewhere):

- per image ``NAME.json`` (faces: boxes, yaw/pitch/roll, 2D and 3D landmarks, parameters),
  ``NAME_overlay.jpg`` (mesh, landmarks, pose axes, boxes), ``NAME_faceK.obj`` / ``.ply`` (dense
  mesh with per-vertex colours sampled from the image);
- per video ``NAME.jsonl`` (one line per processed frame) and ``NAME_overlay.avi`` (MJPG);
- ``summary.json``: what was processed, skipped (not images) and failed (with reasons).

Exit status: 0 all inputs processed (also when no face was found), 1 some inputs failed,
2 unusable arguments (missing input, bad checkpoint, bad box).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

DETECTOR_HELP = ("Faces are found with the LBP frontal-face cascade bundled with scikit-image (OpenCV 5 ships "
                 "no Haar cascades): it finds roughly frontal, upright faces -- it misses most faces turned "
                 "beyond ~30-45 deg of yaw, profiles, strong roll and small faces (see --min-face, "
                 "--min-face-frac) -- and can fire on textures. Give --box for anything it misses.")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m m3lrn_lib.predict", description=__doc__.split("\n\n")[0],
                                 epilog=DETECTOR_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="an image, a folder of images (not recursive) or a video file")
    ap.add_argument("--checkpoint", required=True, help="trainer checkpoint or state-dict file (.pt)")
    ap.add_argument("--out", required=True, help="output folder (created; nothing is written outside it)")
    ap.add_argument("--box", action="append", default=None, metavar="x0,y0,x1,y1",
                    help="tight face box (about brows-to-chin, ear-to-ear) instead of detection; repeatable")
    ap.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    ap.add_argument("--batch-size", type=int, default=64, help="faces per forward pass (default 64)")
    ap.add_argument("--variant", default=None, help="refuse a checkpoint of another variant (preset name)")
    ap.add_argument("--mesh", default="obj,ply", help="mesh files per face: obj,ply | obj | ply | none")
    ap.add_argument("--no-dense", action="store_true", help="landmarks and pose only (no mesh, faster)")
    ap.add_argument("--no-overlay", action="store_true", help="do not draw overlay images/videos")
    ap.add_argument("--max-faces", type=int, default=None, help="largest N detected faces per image")
    ap.add_argument("--min-face", type=int, default=24, help="detector: smallest face side in px (default 24)")
    ap.add_argument("--min-face-frac", type=float, default=0.15,
                    help="detector: and at least this fraction of the image's shorter side (default 0.15; "
                         "lower it for small faces in group photos, at the cost of more false detections)")
    ap.add_argument("--every", type=int, default=1, help="video: process every N-th frame")
    ap.add_argument("--max-frames", type=int, default=None, help="video: stop after N processed frames")
    return ap


# ----------------------------------------------------------------------------- output paths
class OutDir:
    """All writes go through here: names are sanitised and must resolve inside the folder."""

    def __init__(self, root):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"--out {self.root} exists and is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self.real = self.root.resolve()
        self.used: set[str] = set()

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
        rec["message"] = "no face found (the frontal-face detector misses profiles; try --box)"
    return rec


def _save_image_outputs(out: OutDir, stem: str, img, faces, pred, args) -> int:
    from .draw import draw_faces
    from .export import obj_bytes, ply_bytes, sample_colors, to_export_frame

    out.write(f"{stem}.json", json.dumps(_image_record(stem, img, faces, pred), indent=1).encode())
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
    return n


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
                summary["failed"].append({"input": p.name, "error": str(exc)})
                print(f"error: {exc}", file=sys.stderr)
        if not group:
            continue
        try:
            results = pred.predict_many(imgs, None if boxes is None else [boxes] * len(imgs))
        except ValueError as exc:
            for p in group:
                summary["failed"].append({"input": p.name, "error": str(exc)})
            print(f"error: {exc}", file=sys.stderr)
            continue
        for p, img, faces in zip(group, imgs, results):
            stem = out.stem_for(p)
            _save_image_outputs(out, stem, img, faces, pred, args)
            summary["processed"].append({"input": p.name, "output": stem, "faces": len(faces)})
            print(f"{p.name}: {len(faces)} face(s)" + ("" if faces else " -- no face found"))


def _run_video(path: Path, pred, out: OutDir, args, boxes, summary) -> None:
    import cv2

    from .draw import draw_faces
    from .inputs import iter_video

    stem = out.stem_for(path)
    lines, writer, tmp, n_faces, n_frames = [], None, None, 0, 0
    final = out.path(f"{stem}_overlay.avi")
    try:
        frames = []

        def flush():
            nonlocal writer, tmp, n_faces, n_frames
            res = pred.predict_many([f for _, f, _ in frames], None if boxes is None else [boxes] * len(frames))
            for (idx, img, fps), faces in zip(frames, res):
                lines.append(json.dumps({"frame": idx, "faces": [f.to_dict() for f in faces]}))
                n_faces += len(faces)
                n_frames += 1
                if not args.no_overlay:
                    if writer is None:
                        tmp = out.path(f"tmp-{stem}_overlay.avi")
                        writer = cv2.VideoWriter(os.fspath(tmp), cv2.VideoWriter_fourcc(*"MJPG"),
                                                 fps / max(1, args.every), (img.shape[1], img.shape[0]))
                    writer.write(np.ascontiguousarray(draw_faces(img, faces, pred.triangles)[..., ::-1]))
            frames.clear()

        for item in iter_video(path, args.every, args.max_frames):
            frames.append(item)
            if len(frames) >= max(1, min(16, args.batch_size)):
                flush()
        if frames:
            flush()
    except BaseException:
        if writer is not None:
            writer.release()
            writer = None
        if tmp is not None and tmp.exists():
            tmp.unlink()
        raise
    finally:
        if writer is not None:
            writer.release()
    if tmp is not None:
        os.replace(tmp, final)
    out.write(f"{stem}.jsonl", ("\n".join(lines) + "\n").encode())
    summary["processed"].append({"input": path.name, "output": stem, "frames": n_frames, "faces": n_faces})
    print(f"{path.name}: {n_frames} frame(s), {n_faces} face(s)")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .inputs import IMAGE_EXTS, InputError, classify, list_folder
    from .network import NetworkLoadError
    from .predictor import Predictor, parse_box

    src = Path(args.input)
    if not src.exists():
        print(f"error: input not found: {src}", file=sys.stderr)
        return 2
    try:
        boxes = None if not args.box else np.stack([parse_box(b) for b in args.box])
        kinds = {k for k in args.mesh.split(",") if k}
        if not kinds <= {"obj", "ply", "none"}:
            raise ValueError(f"--mesh must list obj, ply or none, got {args.mesh!r}")
        if args.every < 1 or args.batch_size < 1:
            raise ValueError("--every and --batch-size must be >= 1")
        from .detect import FaceDetector
        det = None if boxes is not None else FaceDetector(min_size=args.min_face, min_rel_size=args.min_face_frac)
        device = None if args.device == "auto" else args.device
        pred = Predictor(args.checkpoint, device=device, detector=det, dense=not args.no_dense,
                         batch_size=args.batch_size, max_faces=args.max_faces, expect_variant=args.variant)
        out = OutDir(args.out)
    except (ValueError, NetworkLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = {"input": str(src), "checkpoint": str(args.checkpoint), "variant": pred.variant,
               "device": str(pred.device), "detector": "given boxes" if boxes is not None else det.name,
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
        summary["failed"].append({"input": src.name, "error": str(exc)})
        print(f"error: {exc}", file=sys.stderr)
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    out.write("summary.json", json.dumps(summary, indent=1).encode())
    n_ok, n_bad = len(summary["processed"]), len(summary["failed"])
    print(f"done: {n_ok} processed, {len(summary['skipped'])} skipped, {n_bad} failed -> {out.root}")
    if n_bad or (kind == "folder" and not n_ok):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
