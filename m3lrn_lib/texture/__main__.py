"""Command line of the UV-texture GAN (supplement Sec. G).

    python -m m3lrn_lib.texture train --config cpu [--out DIR] [--name NAME] [--fresh] [section.key=value ...]
    python -m m3lrn_lib.texture evaluate [--checkpoints DIR] [--generator NAME=PATH ...] [--n 200] [--out DIR]
    python -m m3lrn_lib.texture zoo [--jobs 2] [--only uv_gan,uv_gan_no_template] [--config cpu] [key=value ...]
    python -m m3lrn_lib.texture presets            # list the presets (m3lrn_lib/presets/texture/*.toml)
    python -m m3lrn_lib.texture eta --config cpu   # measured seconds per step and the run's ETA

``train`` resumes ``last.pt`` of its run folder unless ``--fresh``; ``--print-config`` shows the
resolved configuration. ``evaluate`` scores the shipped generators (or ``--checkpoints DIR``,
or ``--generator NAME=PATH``) and writes its reports into ``--out`` (default
``build/texture-eval`` of the current directory).

Shipped artefacts (``data/`` of the repository: ``data/checkpoints/texture`` with its
``evaluation.*`` and ``comparison.png``) are never overwritten by a command run with its default
arguments: ``zoo`` trains into ``build/texture-zoo`` by default, and writing into ``data/`` (the
shipped folder, or an ``--out`` there) needs ``--update-shipped``. Generated data sets go to the
user cache (``$M3LRN_CACHE``), never into the repository.

A bad argument, configuration or checkpoint prints one line, ``error: <file or argument>: <what is
wrong> (<what to do>)``, and exits with status 2 (``--debug`` adds the traceback; :mod:`m3lrn_lib.cli`).
"""
from __future__ import annotations

import json
import os
import sys

from ..cli import ArgumentParser, bad_argument, require, run_main


def _use_cache_for_matplotlib() -> None:
    """matplotlib keeps a font cache in ``~/.config`` / ``~/.cache``; put it in the user cache instead."""
    if not os.environ.get("MPLCONFIGDIR"):
        from .. import paths
        folder = paths.cache_dir() / "matplotlib"
        folder.mkdir(parents=True, exist_ok=True)
        os.environ["MPLCONFIGDIR"] = str(folder)
    os.environ.setdefault("MPLBACKEND", "Agg")


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
    print(f"texture run {cfg.run.name!r} -> {tr.out_dir}: {d['train_faces']} faces, "
          f"{d['steps_per_epoch']} steps/epoch x "
          f"{cfg.optim.epochs} epochs, UV {cfg.data.uv_size}, variant {cfg.model.variant}, mode {cfg.loss.mode}, "
          f"G {d['generator_params'] / 1e6:.2f}M / D {d['discriminator_params'] / 1e6:.2f}M params"
          + (f", resumed at epoch {tr.epoch}" if tr.resumed_from else ""), flush=True)
    print(json.dumps(tr.fit(), indent=1))
    return 0


def _evaluate(a) -> int:
    from pathlib import Path
    require(a.n >= 1, "--n", f"must be >= 1, got {a.n}")
    _use_cache_for_matplotlib()
    if not a.generator:
        from .zoo import evaluate_zoo
        evaluate_zoo(a.checkpoints, a.n, report_dir=a.out, update_shipped=a.update_shipped)
        return 0
    from ..morphable import load_face_model
    from ..train.zoofiles import is_shipped
    from .checkpoint import load_generator, load_texture_file
    from .config import config_from_dict
    from .evaluate import evaluate_methods, format_table
    from .synth import make_pairs
    from .train import data_cache_dir, synth_config
    from .zoo import UPDATE_SHIPPED
    if a.json and is_shipped(a.json) and not a.update_shipped:
        raise bad_argument(f"--json {a.json}", "inside the shipped artefacts (data/), which a command never "
                           "overwrites by default", f"add {UPDATE_SHIPPED} or choose another file")
    gens, cfg = {}, None
    for item in a.generator:
        if "=" not in item or not item.split("=", 1)[0] or not item.split("=", 1)[1]:
            raise bad_argument(f"--generator {item}", "expected NAME=PATH",
                               "e.g. --generator gan=runs/texture/x/generator.pt")
        name, path = item.split("=", 1)
        obj = load_texture_file(path)
        try:
            c = config_from_dict(obj.get("config") or {})
        except ValueError as exc:
            raise bad_argument(f"--generator {item}", f"its stored configuration is unusable ({exc})") from None
        if cfg is not None and c.data.uv_size != cfg.data.uv_size:
            raise bad_argument(f"--generator {item}", f"uv_size {c.data.uv_size} differs from {cfg.data.uv_size}",
                               "evaluate generators of one UV size together")
        cfg = cfg or c
        gens[name] = (Path(path), obj.get("mode"))
    model = load_face_model(cfg.data.face_model or None)
    test = make_pairs(model, a.n, "test", cfg.data.seed, synth_config(cfg), geometry=True,
                      cache_dir=data_cache_dir(cfg))
    nets = {n: load_generator(p, model=model) for n, (p, _) in gens.items()}
    rows, _ = evaluate_methods(model, test, nets, labels={n: f"mode {m}" for n, (_, m) in gens.items()})
    print(format_table(rows))
    if a.json:
        from ..fileio import atomic_write_bytes
        atomic_write_bytes(a.json, (json.dumps({"n_test": a.n, "rows": rows}, indent=1) + "\n").encode())
    return 0


def _zoo(a) -> int:
    from .zoo import train_zoo
    require(a.jobs >= 1, "--jobs", f"must be >= 1, got {a.jobs}")
    require(a.n >= 1, "--n", f"must be >= 1, got {a.n}")
    if not a.no_eval:
        _use_cache_for_matplotlib()
    only = [s for s in a.only.split(",") if s] or None
    train_zoo(a.out or None, a.config, a.overrides, only, a.runs, a.fresh, a.jobs, not a.no_eval, a.n,
              update_shipped=a.update_shipped)
    return 0


def _eta(a) -> int:
    import torch

    from .config import load_texture_config
    from .train import per_step_time
    require(a.steps >= 1, "--steps", f"must be >= 1, got {a.steps}")
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
    from ..train.zoofiles import SHIPPED_POLICY, UPDATE_SHIPPED
    ap = ArgumentParser(prog="python -m m3lrn_lib.texture", description=__doc__.split("\n\n")[0],
                        epilog=__doc__.split("\n\n", 1)[1])
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=ArgumentParser)
    t = sub.add_parser("train", help="train one texture GAN")
    t.add_argument("--config", default="cpu", help="preset (m3lrn_lib/presets/texture/NAME.toml) or a .toml file")
    t.add_argument("--out", help="run folder (sets run.out_dir)")
    t.add_argument("--name", help="run name (sets run.name)")
    t.add_argument("--fresh", action="store_true", help="ignore an existing last.pt")
    t.add_argument("--print-config", action="store_true")
    t.add_argument("overrides", nargs="*", metavar="section.key=value")
    e = sub.add_parser("evaluate", help="PCA fit vs GANs on held-out synthetic faces (a table)",
                       description=SHIPPED_POLICY)
    e.add_argument("--checkpoints", default=None, help="folder of zoo checkpoints (default data/checkpoints/texture)")
    e.add_argument("--generator", action="append", default=[], metavar="NAME=PATH", help="evaluate these instead")
    e.add_argument("--n", type=int, default=200, help="held-out faces (default 200)")
    e.add_argument("--out", default=None, help="folder for evaluation.md/.json and comparison.png (default "
                                               f"build/texture-eval; the checkpoint folder with {UPDATE_SHIPPED})")
    e.add_argument(UPDATE_SHIPPED, dest="update_shipped", action="store_true",
                   help="allow writing into the shipped artefacts (data/checkpoints/texture)")
    e.add_argument("--json", help="also write the rows to this JSON file (with --generator)")
    z = sub.add_parser("zoo", help="(re-)train the shipped checkpoints, then evaluate them", description=SHIPPED_POLICY)
    z.add_argument("--config", default="cpu")
    z.add_argument("--out", default=None, help="checkpoint folder (default build/texture-zoo; the shipped "
                                               f"data/checkpoints/texture with {UPDATE_SHIPPED})")
    z.add_argument(UPDATE_SHIPPED, dest="update_shipped", action="store_true",
                   help="allow writing into the shipped artefacts (data/checkpoints/texture)")
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

    if a.cmd == "presets":
        from .config import list_presets
        print("\n".join(list_presets()))
        return 0
    return {"train": _train, "evaluate": _evaluate, "zoo": _zoo, "eta": _eta}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(run_main(main))
