"""The 3DMM bottleneck on a test set: the NME floor of a perfect first stage (Sec. 1, 3.2).

    python -m m3lrn_lib.benchmark.floor [--data DIR] [--max-faces N] [--out DIR]

For every test face of an AFLW2000-3D-layout set that stores its parameters (our synthetic sets:
``m3lrn_params``), Eq. 8 NME against the ground-truth landmarks of

- **the target**: the stored 62-d parameters, i.e. what a first stage that regresses its training
  target perfectly outputs (for generator v2, the truncation of the full face to 40 / 10);
- **the best 62-d fit**: the 62 numbers whose landmarks come closest to the ground truth in the
  image (:func:`m3lrn_lib.morphable.bottleneck.best_fit_62`), the floor of *any* 62-d output.

A refinement that treats the landmarks as free points (M²FA) can go below both. The default data
is the default synthetic test set (2000 faces of the default model, generated once into the cache);
the result goes to ``DIR/floor.json`` (default ``build/floor``). On generator v1 data both floors
are zero: every face lies in the span of the 62 numbers.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from .. import cli

__all__ = ["floor_of_test_set", "format_floor"]


def floor_of_test_set(dataset, max_faces: int | None = None, iterations: int = 12) -> dict:
    """The bottleneck floors of an AFLW2000-3D-layout test set with stored parameters.

    Args:
        dataset: an :class:`~m3lrn_lib.data.AFLW2000Dataset` whose samples store ``params_img``
            (B, 62) image-frame parameters (a synthetic test set).
        max_faces: use only the first N faces; iterations: best-fit alternations.
    Returns:
        dict ``n``, ``target`` / ``best_fit`` (each :func:`m3lrn_lib.metrics.nme_by_yaw` plus ``std``:
        the spread over faces, in %), ``generator_version``, ``model``, ``seconds``.
    Raises:
        ValueError: the set stores no parameters (a real AFLW2000-3D folder).
    """
    from PIL import Image

    from .. import metrics
    from ..morphable.bottleneck import bottleneck_nme

    t0 = time.perf_counter()
    n = len(dataset) if max_faces is None else min(int(max_faces), len(dataset))
    idx = [i for i in range(n) if dataset.params_img[i] is not None]
    if not idx:
        raise ValueError(f"{dataset.root}: no stored parameters (m3lrn_params) -- the floor needs a synthetic test set")
    heights = []
    for i in idx:
        with Image.open(dataset.paths[i]) as im:
            heights.append(float(im.size[1]))
    res = bottleneck_nme(dataset.model, np.stack([dataset.params_img[i] for i in idx]),
                         np.asarray(dataset.landmarks_img)[idx], np.array(heights), iterations=iterations)
    yaw = np.degrees(np.asarray(dataset.pose_para)[idx, 1])
    out = {"n": len(idx), "model": dataset.model.name,
           "generator_version": getattr(dataset, "manifest", {}).get("generator_version")}
    for key, name in (("target_nme", "target"), ("best_fit_nme", "best_fit")):
        by_yaw = {k: (None if isinstance(v, float) and np.isnan(v) else v)   # an empty yaw bin: None, not NaN
                  for k, v in metrics.nme_by_yaw(res[key], yaw).items()}
        out[name] = {**by_yaw, "std": float(np.std(res[key]) * 100)}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def format_floor(r: dict) -> str:
    """Two lines, ``target`` and ``best 62-d fit``: NME (%) All, per yaw bin and mean +- std over faces."""
    from ..metrics import BIN_NAMES

    lines = [f"{r['n']} test faces (model {r['model']}, generator v{r['generator_version']}); NME %, Eq. 8",
             f"{'':24s}{'All':>7s}" + "".join(f"{b:>10s}" for b in BIN_NAMES) + f"{'mean +- std':>16s}"]
    for key, label in (("target", "target (perfect stage 1)"), ("best_fit", "best 62-d fit")):
        v = r[key]
        cell = lambda x, w: f"{x:{w}.2f}" if x is not None else f"{'-':>{w}s}"  # noqa: E731
        lines.append(f"{label:24s}{cell(v['All'], 7)}" + "".join(cell(v[b], 10) for b in BIN_NAMES)
                     + f"{v['mean']:9.2f} +- {v['std']:.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    return cli.run_main(_main, argv)


def _main(argv=None) -> int:
    ap = cli.ArgumentParser(prog="python -m m3lrn_lib.benchmark.floor", description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 2)[2])
    ap.add_argument("--data", default=None, help="AFLW2000-3D-layout synthetic test set (default: the default "
                                                 "synthetic test set of the default model)")
    ap.add_argument("--max-faces", type=int, default=None, help="use only the first N (>= 1) faces")
    ap.add_argument("--out", default="build/floor", help="output folder (default build/floor)")
    a = ap.parse_args(argv)
    cli.require(a.max_faces is None or a.max_faces >= 1, "--max-faces", f"must be >= 1, got {a.max_faces}")
    cli.check_output_folder(a.out, "--out")
    from .. import data

    if a.data is None:
        test = data.default_datasets(split="test", progress=False)
    else:
        cli.require(Path(a.data).is_dir(), "--data", f"{a.data} is not a folder", "give an AFLW2000-3D-layout test set")
        test = data.AFLW2000Dataset(a.data)
    try:
        r = floor_of_test_set(test, a.max_faces)
    except ValueError as exc:
        raise cli.bad_argument("--data", str(exc), "give a synthetic test set (python -m m3lrn_lib.data)") from None
    print(format_floor(r))
    from ..fileio import atomic_write_bytes
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "floor.json", (json.dumps(r, indent=1, allow_nan=False) + "\n").encode())
    print(f"wrote {out / 'floor.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
