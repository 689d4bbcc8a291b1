"""Does the data leave something to refine? The refinement probe, on one synthetic world.

    python -m m3lrn_lib.benchmark.refinement_probe [--world v1|v2|both] [--steps-first N] [--steps-refine N]
                                                   [--n-train N] [--n-test N] [--seeds 0,1] [--out DIR]

For each world (v1: the embedded model's own 40 / 10 components, every face inside the span of
the 62 regressed numbers; v2: faces from the full 150 / 29 basis, targets truncated, whole heads)
and each seed:

1. generate a training and a test set of that world (cached under ``<cache>/generated``);
2. train the first stage (preset ``baseline``: MobileNet-V2 + 3 FC heads) for ``steps_first`` SGD
   steps on L_3DMM (Eq. 3), then freeze it (weights and BatchNorm statistics);
3. put M²FA (preset ``m2fa``) on the frozen first stage and train M²FA alone for ``steps_refine``
   steps on L_lmk (Eq. 4) against the data's ground-truth landmarks;
4. report the test NME (Eq. 8, %) of the coarse landmarks L^c and of the refined ones L^r.

With the same short budget for both worlds, the difference of ``coarse - refined`` between them is
what the 3DMM bottleneck adds to the refinement's job. Results go to ``DIR/probe.json`` (default
``build/refinement-probe``). The budget is small on purpose (minutes on a laptop CPU); the numbers
say whether there is something to refine, not how good a fully trained network is.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .. import cli

WORLDS = {"v1": "embedded-v1", "v2": "embedded-v2"}


def probe_world(world: str, seed: int = 0, n_train: int = 4000, n_test: int = 500, steps_first: int = 800,
                steps_refine: int = 400, batch_size: int = 32, workers: int = 2, progress: bool = False) -> dict:
    """Run the probe on one world for one seed; return coarse / refined NME (%) and timings.

    Args:
        world: "v1" or "v2"; seed: training seed (the data set is the same for every seed).
        n_train, n_test: generated faces; steps_first, steps_refine: SGD steps of the two stages.
        batch_size: images per step; workers: data-generation processes.
    Returns:
        dict ``world``, ``seed``, ``coarse`` / ``refined`` (NME %, all test faces), ``gain``
        (coarse - refined), ``first_stage_only`` (the baseline network's own NME) and ``seconds``.
    """
    from .. import data, metrics
    from ..data.layouts import AFLW2000Dataset, ThreeDDFADataset
    from ..morphable import load_face_model
    from ..nn import M3LRN
    from ..nn.losses import LossWeights
    from ..paths import generated_data_dir
    from ..train.loop import TrainSettings, predict_batches, train

    t0 = time.perf_counter()
    model = load_face_model(WORLDS[world])
    folder = generated_data_dir() / f"probe-{world}-{model.fingerprint()[:8]}-{n_train}-{n_test}"
    data.generate(model, folder, n_train, n_test, seed=11, workers=workers, progress=progress)
    augment = data.Compose([data.ColorJitter(), data.RandomHorizontalFlip(model, p=0.5)])
    train_set = ThreeDDFADataset(folder / "train", model, transform=augment)
    test_set = AFLW2000Dataset(folder / "test", model, whitening=train_set)
    torch.manual_seed(seed)
    first = M3LRN(model, "baseline", train_set.param_mean, train_set.param_std)
    lr = 0.02
    train(first, train_set, TrainSettings(steps=steps_first, batch_size=batch_size, lr=lr, seed=seed,
                                          milestones=(int(steps_first * 0.75),), device="cpu", progress=progress,
                                          weights=LossWeights(w_3dmm=20.0, w_lmk=0.0, w_3dmm_lmk=0.0, w_g=0.0)))
    torch.manual_seed(seed + 1000)
    net = M3LRN(model, "m2fa", train_set.param_mean, train_set.param_std)
    state = {k: v for k, v in first.state_dict().items() if k.startswith(("backbone.", "heads."))}
    missing = net.load_state_dict(state, strict=False)
    assert not missing.unexpected_keys, missing.unexpected_keys
    train(net, train_set, TrainSettings(steps=steps_refine, batch_size=batch_size, lr=lr, seed=seed + 1,
                                        milestones=(int(steps_refine * 0.75),), device="cpu", progress=progress,
                                        weights=LossWeights(w_3dmm=0.0, w_lmk=0.03, w_3dmm_lmk=0.0, w_g=0.0)),
          frozen=(net.backbone, net.heads))
    r = predict_batches(net, test_set, 64)
    base = predict_batches(first, test_set, 64)
    nme = lambda p: float(100 * metrics.nme_2d(p, r["gt_landmarks"]).mean())  # noqa: E731
    coarse, refined = nme(r["lmk_coarse"]), nme(r["lmk_refined"])
    assert np.allclose(r["lmk_coarse"], base["lmk_refined"], atol=1e-3), "the first stage moved while frozen"
    return {"world": world, "seed": seed, "coarse": coarse, "refined": refined, "gain": coarse - refined,
            "first_stage_only": nme(base["lmk_refined"]), "n_test": int(len(test_set)),
            "steps_first": steps_first, "steps_refine": steps_refine, "seconds": time.perf_counter() - t0}


def summarize(rows: list) -> str:
    """A markdown table: per world, coarse -> refined NME and the gain, mean +- std over seeds."""
    out = ["| world | seeds | coarse L^c NME % | refined L^r NME % | gain (coarse - refined) |", "|---|---|---|---|---|"]
    for world in WORLDS:
        rs = [r for r in rows if r["world"] == world]
        if not rs:
            continue
        f = lambda k: f"{np.mean([r[k] for r in rs]):.2f} ± {np.std([r[k] for r in rs]):.2f}"  # noqa: E731
        out.append(f"| {world} | {len(rs)} | {f('coarse')} | {f('refined')} | {f('gain')} |")
    return "\n".join(out)


def main(argv=None) -> int:
    return cli.run_main(_main, argv)


def _main(argv=None) -> int:
    ap = cli.ArgumentParser(prog="python -m m3lrn_lib.benchmark.refinement_probe", description=__doc__.split("\n\n")[1])
    ap.add_argument("--world", choices=("v1", "v2", "both"), default="both")
    ap.add_argument("--steps-first", type=int, default=800)
    ap.add_argument("--steps-refine", type=int, default=400)
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds (default 0)")
    ap.add_argument("--out", default="build/refinement-probe")
    a = ap.parse_args(argv)
    for name in ("steps_first", "steps_refine", "n_train", "n_test"):
        cli.require(getattr(a, name) >= 1, "--" + name.replace("_", "-"), f"must be >= 1, got {getattr(a, name)}")
    try:
        seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
    except ValueError:
        raise cli.bad_argument("--seeds", f"not a list of integers: {a.seeds!r}", "e.g. --seeds 0,1,2") from None
    cli.require(bool(seeds), "--seeds", "no seed given", "e.g. --seeds 0")
    cli.check_output_folder(a.out, "--out")
    torch.set_num_threads(1)
    rows = []
    for world in (("v1", "v2") if a.world == "both" else (a.world,)):
        for s in seeds:
            r = probe_world(world, s, a.n_train, a.n_test, a.steps_first, a.steps_refine)
            print(f"{world} seed {s}: coarse {r['coarse']:.2f} -> refined {r['refined']:.2f} "
                  f"(gain {r['gain']:+.2f}; {r['seconds']:.0f} s)", flush=True)
            rows.append(r)
    from ..fileio import atomic_write_bytes
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    table = summarize(rows)
    atomic_write_bytes(out / "probe.json", (json.dumps({"rows": rows, "table": table}, indent=1) + "\n").encode())
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
