""":func:`run`: evaluate several checkpoints on one test set and write the report files."""
from __future__ import annotations

from pathlib import Path

from ..fileio import atomic_write_bytes
from .evaluate import data_kind, evaluate_network
from .report import build_report, to_json, to_markdown

__all__ = ["run", "open_test_set", "data_label"]


def open_test_set(path=None):
    """An AFLW2000-3D-layout reader for ``path``: ``None`` (the shipped synthetic sample's test
    split, 100 faces), ``"default"`` (the default synthetic test set of 2000 faces, generated into
    ``data/generated`` on first use, about a minute), a folder (one holding a ``test/`` subfolder,
    like ``data/sample``, means that subfolder), or an already open dataset (returned as is)."""
    from .. import paths
    from ..data import AFLW2000Dataset, default_datasets

    if hasattr(path, "landmarks_img") and hasattr(path, "paths"):
        return path
    if isinstance(path, str) and path == "default":
        return default_datasets(split=("test",))[0]
    root = Path(path) if path is not None else paths.sample_dir() / "test"
    if (root / "test").is_dir() and not any(root.glob("*.mat")):
        root = root / "test"
    return AFLW2000Dataset(root)


def data_label(dataset, n: int) -> str:
    """One line naming the data the numbers come from."""
    kind = data_kind(dataset)
    if kind == "synthetic":
        m = dataset.manifest or {}
        return (f"synthetic AFLW2000-3D-layout test set {dataset.root} ({n} faces rendered from the "
                f"{m.get('model_name', 'embedded')} morphable model, generator v{m.get('generator_version', '?')}, "
                f"seed {m.get('seed', '?')})")
    return f"the AFLW2000-3D layout at {dataset.root} ({n} images, real data)"


def run(checkpoints, data=None, out_dir="build/benchmark", device=None, max_faces=None, florence_subjects=4,
        protocols=True, log=print, keep_arrays: bool = False, engine: str = "torch") -> dict:
    """Evaluate ``checkpoints`` (paths or M3LRN networks; ``(label, source)`` pairs name them) on the
    test set ``data`` (see :func:`open_test_set`); write ``benchmark.json`` and ``benchmark.md`` to
    ``out_dir`` (None: write nothing); return the report. With ``keep_arrays`` the report also holds
    ``per_face`` {label: per-face arrays of :func:`evaluate_network`} (never written to JSON). ``engine``:
    how the networks run (:data:`m3lrn_lib.predict.predictor.ENGINES`; ``'onnx-int8'`` measures the int8 graph)."""
    from ..errors import UserError
    from ..predict import Predictor, variant_of

    if max_faces is not None and (int(max_faces) != max_faces or max_faces < 1):
        raise UserError(f"must be an integer >= 1, got {max_faces!r}", subject="max_faces",
                        hint="None uses every test image")
    if int(florence_subjects) != florence_subjects or florence_subjects < 0:
        raise UserError(f"must be an integer >= 0, got {florence_subjects!r}", subject="florence_subjects",
                        hint="0 skips Table 10")
    ds = open_test_set(data)
    n = len(ds) if max_faces is None else min(max_faces, len(ds))
    results, per_face = [], {}
    for item in checkpoints:
        label, src = item if isinstance(item, tuple) else (Path(item).stem if not hasattr(item, "config")
                                                           else variant_of(item), item)
        pred = Predictor(src, device=device, detector=None, dense=True, engine=engine)
        if log:
            log(f"{label}: variant {pred.variant}, {n} images")
        res = evaluate_network(pred, ds, max_faces=max_faces, protocols=protocols,
                               florence_subjects=florence_subjects, log=log, keep_arrays=keep_arrays)
        if keep_arrays:
            per_face[label] = res.pop("arrays")
        res.update(label=label, path=str(src) if not hasattr(src, "config") else None, variant=pred.variant,
                   params=int(sum(p.numel() for p in pred.net.parameters())))
        results.append(res)
    data_info = {"kind": data_kind(ds), "label": data_label(ds, n), "path": str(ds.root), "n": n}
    report = build_report(results, data_info)
    if keep_arrays:
        report["per_face"] = per_face
    if out_dir is not None:
        out = Path(out_dir)
        atomic_write_bytes(out / "benchmark.json", to_json(report).encode())
        atomic_write_bytes(out / "benchmark.md", to_markdown(report).encode())
        if log:
            log(f"wrote {out / 'benchmark.json'} and {out / 'benchmark.md'}")
    return report
