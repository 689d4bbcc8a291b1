"""Write synthetic sets to disk: in parallel, byte-identical for any worker count, resumable.

Output folder (``out_dir``)::

    train/   3DDFA layout: images/NNNNNN.jpg (120x120), train.list, param_all_norm.pkl,
             param_whitening.pkl, params.npy (raw crop-frame parameters), manifest.json
    test/    AFLW2000-3D layout: imageNNNNN.jpg (200-256 px) + imageNNNNN.mat, params.npy
             (image-frame parameters), param_whitening.pkl (the training set's), manifest.json
    manifest.json   generator version, seed, counts, model, configuration -- written last

Faces are made in fixed chunks of :data:`CHUNK` by spawned worker processes (one BLAS /
torch / OpenCV thread each). A chunk's files are written to temporary names then
``os.replace``-d, and the chunk is recorded in ``SPLIT/.parts/`` only after its files;
an interrupted run therefore resumes at the first unrecorded chunk, and a split folder
with a ``.parts`` folder is refused by the readers until the run is finished. The
parameter files and manifests are written last.
"""
from __future__ import annotations

import io
import json
import multiprocessing as mp
import os
import shutil
import signal
from dataclasses import fields
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .. import paths
from ..morphable import load_face_model
from ..morphable.model import FaceModel
from .crop import CROP_SIZE, params_to_crop
from .io import (
    TMP_PREFIX,
    DatasetError,
    atomic_write_bytes,
    jpeg_bytes,
    load_array_pickle,
    mat_bytes,
    pickle_bytes,
    remove_temp_files,
)
from .layouts import LANDMARKS_FILE, PARTS_DIR, aflw_mat_arrays, whitening_bytes, whitening_stats
from .synth import FaceSynthesizer, SynthConfig, check_generator, default_generator

CHUNK = 32
SAMPLE_COUNTS = {"n_train": 300, "n_test": 100, "seed": 2021}
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def default_data_dir() -> Path:
    """Cache folder of generated sets (:func:`m3lrn_lib.paths.generated_data_dir`)."""
    return paths.generated_data_dir()


def _spec(model: FaceModel, seed, n_train, n_test, cfg: SynthConfig, version: str) -> dict:
    return {"generator_version": version, "seed": int(seed), "n_train": int(n_train),
            "n_test": int(n_test), "model_name": model.name, "model_fingerprint": model.fingerprint(),
            "n_params": model.n_params, "crop_size": CROP_SIZE, "chunk": CHUNK, "config": cfg.to_dict()}


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()


def _npy_bytes(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


# ----------------------------------------------------------------------------- workers
_WORKER: dict = {}


def _init_worker(model, cfg, seed, out, parent, version):
    import cv2
    import torch
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    _WORKER.update(synth=FaceSynthesizer(model, seed, cfg, version=version), out=Path(out), parent=parent)


def _stop_if_orphaned() -> None:
    """In a pool worker: exit at once when the parent is gone (SIGKILLed), instead of writing on.

    ``parent`` is the pid of the process that made the pool (passed in, not read in the worker: a
    worker that starts after its parent died would see its new parent).
    """
    parent = _WORKER.get("parent")
    if parent is not None and os.getppid() != parent:
        os._exit(3)


def _run_chunk(job) -> int:
    return write_chunk(_WORKER["synth"], _WORKER["out"], *job)


def write_chunk(synth: FaceSynthesizer, out: Path, split: str, chunk: int, lo: int, hi: int) -> int:
    """Render faces ``lo..hi-1`` of ``split``, write their files, then record the chunk."""
    d = out / split
    rows, crop_rows, lmk_rows = [], [], []
    for i in range(lo, hi):
        _stop_if_orphaned()
        f = synth.face(split, i)
        jpg = jpeg_bytes(f.image, synth.cfg.jpeg_quality)
        if split == "train":
            atomic_write_bytes(d / "images" / f"{i:06d}.jpg", jpg)
        else:
            atomic_write_bytes(d / f"image{i:05d}.jpg", jpg)
            atomic_write_bytes(d / f"image{i:05d}.mat", mat_bytes(aflw_mat_arrays(f.landmarks, f.params, f.box)))
            crop_rows.append(params_to_crop(f.params, f.box, f.image.shape[0]))
        rows.append(f.params)
        lmk_rows.append(f.landmarks)
    buf = io.BytesIO()
    extra = {"landmarks": np.stack(lmk_rows)} if synth.version != "1" else {}  # v1 parts stay as they were
    np.savez(buf, params=np.stack(rows), crop_params=np.stack(crop_rows or rows), **extra)
    atomic_write_bytes(d / PARTS_DIR / f"{chunk:06d}.npz", buf.getvalue())
    return hi - lo


def _pool(workers, model, cfg, seed, out, version):
    """A spawn-context pool whose workers use one thread each (env set around the spawn)."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: "1" for k in _THREAD_VARS})
    try:
        clean = FaceModel(**{f.name: getattr(model, f.name) for f in fields(model)})  # no torch cache
        return mp.get_context("spawn").Pool(workers, _init_worker, (clean, cfg, seed, str(out), os.getpid(), version))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ----------------------------------------------------------------------------- finalise
def _read_parts(d: Path, n: int) -> dict:
    parts = [np.load(d / PARTS_DIR / f"{c:06d}.npz") for c in range(-(-n // CHUNK))]
    keys = ("params", "crop_params") + (("landmarks",) if parts and "landmarks" in parts[0].files else ())
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def _finalize(d: Path, split: str, n: int, spec: dict, stats) -> None:
    parts = _read_parts(d, n)
    params = parts["params"].astype(np.float32)
    if split == "train":
        mean, std = whitening_stats(params)
        atomic_write_bytes(d / "param_all_norm.pkl", pickle_bytes(((params - mean) / std).astype(np.float32)))
        atomic_write_bytes(d / "train.list", "".join(f"images/{i:06d}.jpg\n" for i in range(n)).encode())
        if "landmarks" in parts:  # generator v2: the full face's landmarks, which the parameters cannot give
            atomic_write_bytes(d / LANDMARKS_FILE, _npy_bytes(parts["landmarks"].astype(np.float32)))
    else:
        mean, std = stats if stats is not None else whitening_stats(parts["crop_params"])
    atomic_write_bytes(d / "param_whitening.pkl", whitening_bytes(mean, std))
    atomic_write_bytes(d / "params.npy", _npy_bytes(params))
    atomic_write_bytes(d / "manifest.json", _json_bytes(spec))
    shutil.rmtree(d / PARTS_DIR)


#: What the generator writes in a split folder: a start-over (``resume=False``) deletes a folder
#: only if it holds nothing else and its manifest (or an unfinished run's spec) proves it is a
#: generated set.
_GENERATED = {"train": ("images", "train.list", "param_all_norm.pkl", "param_whitening.pkl", "params.npy",
                        LANDMARKS_FILE, "manifest.json", PARTS_DIR),
              "test": ("params.npy", "param_whitening.pkl", "manifest.json", PARTS_DIR)}


def _generated_split(d: Path, split: str) -> str | None:
    """Why ``d`` is not a split folder this generator wrote (None when it is one)."""
    if not d.is_dir():
        return "is a file, not a folder"
    proof = d / "manifest.json" if (d / "manifest.json").is_file() else d / PARTS_DIR / "spec.json"
    try:
        spec = json.loads(proof.read_text())
    except (OSError, ValueError):
        return "holds no manifest.json of a generated synthetic set"
    if not isinstance(spec, dict) or "generator_version" not in spec or spec.get("split") != split:
        return f"{proof.name} is not the manifest of a generated {split} split"
    allowed = set(_GENERATED[split])
    for p in d.iterdir():
        if p.name.startswith(TMP_PREFIX) or p.name in allowed:
            continue
        if split == "test" and p.is_file() and p.name.startswith("image") and p.suffix in (".jpg", ".mat"):
            continue
        return f"holds {p.name}, which the generator does not write"
    if split == "train" and (d / "images").is_dir():
        other = next((p for p in (d / "images").iterdir()
                      if not (p.suffix == ".jpg" or p.name.startswith(TMP_PREFIX))), None)
        if other is not None:
            return f"holds images/{other.name}, which the generator does not write"
    return None


def _read_manifest(path: Path) -> dict | None:
    """A generator manifest at ``path`` (None when there is none); refuse any other file there."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or "generator_version" not in data:
        raise DatasetError(f"{path}: is not the manifest of a generated synthetic set; refusing to overwrite it "
                           "(move it away or choose another output folder)")
    return data


def _remove_splits(out: Path, splits) -> None:
    """Delete generated split folders of ``out``; refuse (naming one) before deleting any if a
    folder is not a generated split or holds anything else."""
    folders = [(out / s, s) for s in splits if (out / s).exists()]
    for d, split in folders:
        why = _generated_split(d, split)
        if why is not None:
            raise DatasetError(f"{d}: {why}; refusing to delete it to start over (move it away or choose "
                               "another output folder)")
    for d, _ in folders:
        shutil.rmtree(d)


def _diff(old: dict, new: dict) -> str:
    return ", ".join(f"{k}: {old.get(k)!r} vs {new.get(k)!r}" for k in sorted(new) if old.get(k) != new[k])


def generate(model: FaceModel | None = None, out_dir=None, n_train: int = 20000, n_test: int = 2000,
             seed: int = 0, workers: int = 2, resume: bool = True, progress: bool = True,
             config: SynthConfig | None = None, generator: str | None = None) -> dict:
    """Generate a training set (3DDFA layout) and a test set (AFLW2000-3D layout).

    Args:
        model: any :class:`FaceModel` (default: the embedded one).
        out_dir: output folder (default :func:`default_data_dir`).
        n_train, n_test: number of faces (0 skips a split).
        seed: data-set seed; the same seed gives byte-identical files for any ``workers``.
        workers: worker processes (>= 1, spawned).
        resume: continue an interrupted run (a finished one returns at once); False
            deletes the splits being generated and starts over -- only folders whose manifest
            proves they are generated sets and that hold nothing else; anything else is
            refused with a :class:`DatasetError` naming the folder.
        progress: show a tqdm progress bar.
        config: the generator's knobs (:class:`SynthConfig`).
        generator: generator version "1" or "2" (default :func:`m3lrn_lib.data.synth.default_generator`
            of the model); resuming a folder of another version is refused, naming both.
    Returns:
        the manifest dict (also written to ``out_dir/manifest.json``).
    """
    if workers < 1:
        raise DatasetError(f"workers must be >= 1, got {workers}")
    if min(int(n_train), int(n_test)) < 0:
        raise DatasetError(f"face counts must be >= 0, got n_train={n_train}, n_test={n_test}")
    model = load_face_model() if model is None else model
    cfg = config or SynthConfig()
    try:
        version = default_generator(model) if generator is None else check_generator(generator)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    out = Path(out_dir) if out_dir is not None else default_data_dir()
    spec = _spec(model, seed, n_train, n_test, cfg, version)
    top = out / "manifest.json"
    splits = {"train": int(n_train), "test": int(n_test)}
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: is a file, not a folder (choose another output folder)")
    if not resume:
        _remove_splits(out, [s for s, n in splits.items() if n])  # a split with n = 0 is left alone
        if _read_manifest(top) is not None:
            top.unlink()
    elif (old := _read_manifest(top)) is not None:
        if {k: old.get(k) for k in spec} == spec:
            return old
        raise DatasetError(f"{top}: this folder holds a different synthetic set ({_diff(old, spec)}); "
                           "choose another out_dir or pass resume=False to overwrite it")
    jobs, done = [], 0
    for split, n in splits.items():
        d, split_spec = out / split, {**spec, "split": split, "count": n}
        if n == 0:
            continue
        if (d / "manifest.json").is_file():
            old = _read_manifest(d / "manifest.json")
            if old != split_spec:
                raise DatasetError(f"{d / 'manifest.json'}: holds a different set ({_diff(old, split_spec)}); "
                                   "pass resume=False to overwrite it")
            shutil.rmtree(d / PARTS_DIR, ignore_errors=True)  # a run stopped right after finishing
            done += n
            continue
        if d.exists() and not (d / PARTS_DIR).is_dir() and (not d.is_dir() or any(d.iterdir())):
            raise DatasetError(f"{d}: exists and is not a generated {split} split (move it away or choose "
                               "another output folder)")
        (d / PARTS_DIR).mkdir(parents=True, exist_ok=True)
        if split == "train":
            (d / "images").mkdir(exist_ok=True)
        spec_file = d / PARTS_DIR / "spec.json"
        if spec_file.is_file() and json.loads(spec_file.read_text()) != split_spec:
            raise DatasetError(f"{spec_file}: an unfinished run with different settings "
                               f"({_diff(json.loads(spec_file.read_text()), split_spec)}); pass resume=False")
        atomic_write_bytes(spec_file, _json_bytes(split_spec))
        for folder in (d, d / "images", d / PARTS_DIR):
            if folder.is_dir():
                remove_temp_files(folder)
        for c, lo in enumerate(range(0, n, CHUNK)):
            hi = min(lo + CHUNK, n)
            if (d / PARTS_DIR / f"{c:06d}.npz").is_file():
                done += hi - lo
            else:
                jobs.append((split, c, lo, hi))
    with tqdm(total=sum(splits.values()), initial=done, unit="face", desc=f"generating {out.name}",
              disable=not progress) as bar:
        if jobs:
            with _pool(workers, model, cfg, seed, out, version) as pool:
                for k in pool.imap_unordered(_run_chunk, jobs):
                    bar.update(k)
    stats = None
    for split, n in splits.items():
        d = out / split
        if n and not (d / "manifest.json").is_file():
            _finalize(d, split, n, {**spec, "split": split, "count": n}, stats)
        if split == "train" and n:
            w = load_array_pickle(d / "param_whitening.pkl")
            stats = (w["param_mean"], w["param_std"])
    manifest = {**spec, "layouts": {"train": "3ddfa", "test": "aflw2000"}}
    atomic_write_bytes(top, _json_bytes(manifest))
    return manifest
