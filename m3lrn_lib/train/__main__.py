"""Command line: train M^3-LRN from a preset or a config file, with dotted overrides.

    python -m m3lrn_lib.train --config cpu                        # ~10 min on a 2-core CPU
    python -m m3lrn_lib.train --config paper data.train=/data/300W_LP_3ddfa
    python -m m3lrn_lib.train --config my.toml optim.lr=0.01 optim.milestones=30,40 model.preset=baseline
    python -m m3lrn_lib.train --config cpu --resume               # continue runs/<name>/last.pt
    torchrun --nproc_per_node=4 -m m3lrn_lib.train --config paper data.workers=8

``--print-config`` shows the resolved configuration (TOML) and exits; ``--list`` the presets.
A bad argument, configuration, dataset or checkpoint prints one line, ``error: <file or
argument>: <what is wrong> (<what to do>)``, and exits with status 2 (``--debug`` adds the
traceback; :mod:`m3lrn_lib.cli`). The test set is opened and its images decoded before training
starts; ``data.skip_bad=true`` drops bad samples with a warning instead. Files are written only
into the run folder (``run.out_dir``, default ``runs/<name>`` of the current directory) and the
user cache (generated data sets).
"""
from __future__ import annotations

import json
import sys

from ..cli import ArgumentParser, run_main


def main(argv=None) -> int:
    ap = ArgumentParser(prog="python -m m3lrn_lib.train", description=__doc__.split("\n\n")[0],
                        epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--config", default="cpu", help="preset name (m3lrn_lib/presets/NAME.toml) or a .toml/.yaml file")
    ap.add_argument("--out", help="output folder (sets run.out_dir)")
    ap.add_argument("--name", help="run name (sets run.name)")
    ap.add_argument("--resume", nargs="?", const="auto", default=None,
                    help="continue from a checkpoint (default: last.pt of the run folder, if any)")
    ap.add_argument("--print-config", action="store_true", help="print the resolved configuration and exit")
    ap.add_argument("--list", action="store_true", help="list the presets and exit")
    ap.add_argument("overrides", nargs="*", metavar="section.key=value")
    a = ap.parse_args(argv)

    from .config import list_presets, load_config, to_toml

    if a.list:
        print("\n".join(list_presets()))
        return 0
    extra = ([f"run.out_dir={a.out}"] if a.out else []) + ([f"run.name={a.name}"] if a.name else [])
    cfg = load_config(a.config, list(a.overrides) + extra)  # ConfigError -> one line, exit 2 (cli.run_main)
    if a.print_config:
        print(to_toml(cfg), end="")
        return 0
    from ..runtime import cleanup_distributed, dist_info, init_distributed
    from .engine import Trainer
    init_distributed()
    try:
        trainer = Trainer(cfg, resume=a.resume)
        if trainer.is_main:
            d = trainer.derived()
            print(f"run {cfg.run.name!r} -> {trainer.out_dir}: {d['train_samples']} training faces, "
                  f"{d['steps_per_epoch']} steps/epoch x {cfg.optim.epochs} epochs, batch {cfg.optim.batch_size} "
                  f"({d['per_process_batch']} per process x {d['world_size']}), lr {d['effective_lr']:.4g}, "
                  f"device {d['device']}, amp {d['amp']}"
                  + (f", resumed at step {trainer.state['step']}" if trainer.resumed_from else ""), flush=True)
        try:
            summary = trainer.fit()
        finally:
            trainer.close()
        if trainer.is_main:
            print(json.dumps(summary, indent=1))
        return 0
    finally:
        if dist_info()[0] > 1:
            cleanup_distributed()


if __name__ == "__main__":
    sys.exit(run_main(main))
