"""Command line of the UV-texture GAN (supplement Sec. G).

    python -m m3lrn_lib.texture train --config cpu [--out DIR] [--name NAME] [--fresh] [section.key=value ...]
    python -m m3lrn_lib.texture evaluate [--checkpoints data/checkpoints/texture] [--generator NAME=PATH ...] [--n 200]
    python -m m3lrn_lib.texture zoo [--jobs 2] [--only uv_gan,uv_gan_no_template] [--config cpu] [key=value ...]
    python -m m3lrn_lib.texture presets            # list configs/texture/*.toml
    python -m m3lrn_lib.texture eta --config cpu   # measured seconds per step and the run's ETA

``train`` resumes ``last.pt`` of its run folder unless ``--fresh``; ``--print-config`` shows the
resolved configuration. Exit status 2 for a bad configuration, checkpoint or argument.
"""
from __future__ import annotations

import argparse
import json
import sys


def _train(a) -> int:
    from .config import load_texture_config, to_toml
    from .train import TextureTrainer
    extra = ([f"run.out_dir={a.out}"] if a.out else []) + ([f"run.name={a.name}"] if a.name else [])
    cfg = load_texture_config(a.config, list(a.overrides) + extra)
    if a.print_config:
        print(to_toml(cfg), end="")
        return 0
    tr = TextureTrainer(cfg, resume=None if a.fresh else "auto")
    d = tr.derived()
    print(f"texture run {cfg.run.name!r} -> {tr.out_dir}: {d['train_faces']} faces, {d['steps_per_epoch']} steps/epoch x "
          f"{cfg.optim.epochs} epochs, UV {cfg.data.uv_size}, variant {cfg.model.variant}, mode {cfg.loss.mode}, "
          f"G {d['generator_params'] / 1e6:.2f}M / D {d['discriminator_params'] / 1e6:.2f}M params"
          + (f", resumed at epoch {tr.epoch}" if tr.resumed_from else ""), flush=True)
    print(json.dumps(tr.fit(), indent=1))
    return 0


def _evaluate(a) -> int:
    from pathlib import Path
    if not a.generator:
        from .zoo import evaluate_zoo
        evaluate_zoo(a.checkpoints, a.n)
        return 0
    from ..morphable import load_face_model
    from .checkpoint import load_file, load_generator
    from .config import config_from_dict
    from .evaluate import evaluate_methods, format_table
    from .synth import make_pairs
    from .train import cache_dir, synth_config
    gens, cfg = {}, None
    for item in a.generator:
        if "=" not in item:
            raise ValueError(f"--generator {item!r}: expected NAME=PATH")
        name, path = item.split("=", 1)
        obj = load_file(path)
        c = config_from_dict(obj["config"])
        if cfg is not None and c.data.uv_size != cfg.data.uv_size:
            raise ValueError(f"--generator {item!r}: uv_size {c.data.uv_size} differs from {cfg.data.uv_size}")
        cfg = cfg or c
        gens[name] = (Path(path), obj.get("mode"))
    model = load_face_model(cfg.data.face_model or None)
    test = make_pairs(model, a.n, "test", cfg.data.seed, synth_config(cfg), geometry=True, cache_dir=cache_dir(cfg))
    nets = {n: load_generator(p, model=model) for n, (p, _) in gens.items()}
    rows, _ = evaluate_methods(model, test, nets, labels={n: f"mode {m}" for n, (_, m) in gens.items()})
    print(format_table(rows))
    if a.json:
        from ..fileio import atomic_write_bytes
        atomic_write_bytes(a.json, (json.dumps({"n_test": a.n, "rows": rows}, indent=1) + "\n").encode())
    return 0


def _zoo(a) -> int:
    from .zoo import CHECKPOINT_DIR, train_zoo
    only = [s for s in a.only.split(",") if s] or None
    train_zoo(a.out or CHECKPOINT_DIR, a.config, a.overrides, only, a.runs, a.fresh, a.jobs, not a.no_eval, a.n)
    return 0


def _eta(a) -> int:
    from .config import load_texture_config
    from .train import per_step_time
    import torch
    cfg = load_texture_config(a.config, a.overrides)
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    t = per_step_time(cfg, a.steps)
    spe = max(1, cfg.data.n_train // cfg.optim.batch_size)
    total = spe * cfg.optim.epochs
    print(f"{a.config}: {t * 1000:.0f} ms/step (batch {cfg.optim.batch_size}, UV {cfg.data.uv_size}, "
          f"{cfg.run.threads or torch.get_num_threads()} thread(s)); {total} steps -> {t * total / 60:.1f} min "
          "of training (+ data generation and validation)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m m3lrn_lib.texture", description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train one texture GAN")
    t.add_argument("--config", default="cpu", help="preset (configs/texture/NAME.toml) or a .toml file")
    t.add_argument("--out", help="run folder (sets run.out_dir)")
    t.add_argument("--name", help="run name (sets run.name)")
    t.add_argument("--fresh", action="store_true", help="ignore an existing last.pt")
    t.add_argument("--print-config", action="store_true")
    t.add_argument("overrides", nargs="*", metavar="section.key=value")
    e = sub.add_parser("evaluate", help="PCA fit vs GANs on held-out synthetic faces (a table)")
    e.add_argument("--checkpoints", default=None, help="folder of zoo checkpoints (default data/checkpoints/texture)")
    e.add_argument("--generator", action="append", default=[], metavar="NAME=PATH", help="evaluate these instead")
    e.add_argument("--n", type=int, default=200, help="held-out faces (default 200)")
    e.add_argument("--json", help="also write the rows to this JSON file")
    z = sub.add_parser("zoo", help="(re-)train the shipped checkpoints, then evaluate them")
    z.add_argument("--config", default="cpu")
    z.add_argument("--out", default=None, help="checkpoint folder (default data/checkpoints/texture)")
    z.add_argument("--only", default="", help="comma-separated entries (default uv_gan,uv_gan_no_template)")
    z.add_argument("--runs", default="runs/texture_zoo", help="run folders (resumable)")
    z.add_argument("--fresh", action="store_true")
    z.add_argument("--jobs", type=int, default=1, help="entries trained side by side (one thread each)")
    z.add_argument("--no-eval", action="store_true", help="skip the evaluation afterwards")
    z.add_argument("--n", type=int, default=200, help="held-out faces for the evaluation")
    z.add_argument("overrides", nargs="*", metavar="section.key=value")
    sub.add_parser("presets", help="list the presets")
    s = sub.add_parser("eta", help="time a few steps of a preset and print the training ETA")
    s.add_argument("--config", default="cpu")
    s.add_argument("--steps", type=int, default=5)
    s.add_argument("overrides", nargs="*", metavar="section.key=value")
    a = ap.parse_args(argv)

    from ..morphable import FaceModelError
    from .checkpoint import TextureCheckpointError
    from .config import ConfigError, list_presets
    try:
        if a.cmd == "presets":
            print("\n".join(list_presets()))
            return 0
        if a.cmd == "evaluate" and a.checkpoints is None:
            from .zoo import CHECKPOINT_DIR
            a.checkpoints = CHECKPOINT_DIR
        return {"train": _train, "evaluate": _evaluate, "zoo": _zoo, "eta": _eta}[a.cmd](a)
    except (ConfigError, TextureCheckpointError, FaceModelError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
