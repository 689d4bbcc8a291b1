"""Re-train the shipped checkpoints: one per ablation row of Table 1 (+ Table S2's extra-MLP stage).

    python -m m3lrn_lib.train.zoo                       # all nine, `cpu` preset: ~10 min each alone on 2 CPU cores
    python -m m3lrn_lib.train.zoo --only full,baseline  # some of them
    python -m m3lrn_lib.train.zoo --config paper data.train=/data/300W_LP_3ddfa   # on a GPU, real data

    python -m m3lrn_lib.train.zoo --update-shipped       # regenerate the shipped data/checkpoints

For each row it trains a run (resumable: an interrupted zoo continues where it stopped) in
``--runs`` (default ``runs/zoo``), then writes into ``--out`` (default ``build/zoo`` of the
current directory; the shipped ``data/checkpoints`` only with ``--update-shipped``):

* ``NAME.pt`` -- fp16 weights (:func:`m3lrn_lib.train.checkpoint.export_weights`) of the best
  validation epoch, with the resolved configuration, the epoch / validation log, the
  validation metrics and the training wall time inside (4.1M parameters -> ~8 MB for ``full``);
* ``NAME.toml`` (resolved configuration) and ``NAME.log.jsonl`` / ``.csv`` (the full step log);
* ``zoo.json`` -- an index: file, size, wall time, NME, the command that made it.

Load one with :func:`m3lrn_lib.train.load_checkpoint` (or :func:`load_zoo_model`).

Shipped artefacts (``data/`` of the repository) are never overwritten by a command run with its
default arguments: writing into ``data/checkpoints`` (or any ``--out`` under ``data/``) needs
``--update-shipped``. Errors print one line and exit with status 2 (:mod:`m3lrn_lib.cli`).
"""
from __future__ import annotations

import sys
from pathlib import Path

from .. import paths
from ..cli import ArgumentParser, run_main
from ..errors import UserError
from .checkpoint import export_weights, load_checkpoint
from .config import load_config
from .logs import read_log
from .zoofiles import SHIPPED_POLICY, UPDATE_SHIPPED, output_folder, train_row, zoo_file
from .zoofiles import zoo_index as _read_index

__all__ = ["ZOO", "ZOO_OVERRIDES", "train_zoo", "load_zoo_model", "zoo_index", "MAX_BYTES"]

CLI = "m3lrn_lib.train.zoo"
DEFAULT_OUT = "build/zoo"  # relative to the current directory: outside the shipped data/
MAX_BYTES = 8_000_000  # 8 MB per shipped checkpoint (the repository keeps no file over 8 MB)

#: name -> (M3LRN preset, the row of the paper it reproduces)
ZOO = {
    "baseline": ("baseline", "Table 1 row 1: first stage only (MobileNet-V2 + 3 FC heads)"),
    "m2fa": ("m2fa", "Table 1 row 2: + M2FA landmark refinement"),
    "lgs": ("lgs", "Table 1 row 3: + LGS (landmark-to-3DMM) from the coarse landmarks"),
    "full": ("full", "Table 1 row 4: M2FA + LGS, the full M^3-LRN"),
    "baseline_extra_mlp": ("baseline_extra_mlp", "Table S2: first stage with MLP heads of the full model's size"),
    "points_only": ("points_only", "Table 2/7 row 1: + M2FA with point features only"),
    "points_image": ("points_image", "Table 2/7 row 2: + M2FA with point + image features"),
    "baseline_seed1": ("baseline", "Table 1 row 1 again with run.seed=1: the seed-to-seed spread"),
    "full_seed1": ("full", "Table 1 row 4 again with run.seed=1: the seed-to-seed spread"),
}
#: extra overrides of an entry (a second seed of a row)
ZOO_OVERRIDES = {"baseline_seed1": ("run.seed=1",), "full_seed1": ("run.seed=1",)}


def zoo_index(out=None) -> dict:
    """The ``zoo.json`` index of a checkpoint folder (default :func:`m3lrn_lib.paths.checkpoints_dir`;
    {} when there is none)."""
    return _read_index(paths.checkpoints_dir() if out is None else out)


def load_zoo_model(name: str = "full", out=None, model=None):
    """The shipped network ``name`` (see :data:`ZOO`) in eval mode; FileNotFoundError with the
    command that makes it when the file is missing."""
    return load_checkpoint(zoo_file(paths.checkpoints_dir() if out is None else out, name, ZOO, CLI), model)


def _run(cfg):
    from .engine import Trainer
    trainer = Trainer(cfg, resume="auto")
    try:
        summary = trainer.fit()
    finally:
        trainer.close()  # stop this row's DataLoader workers before the next row starts its own
    return summary, trainer.log_path


def _export(name: str, preset: str, row: str):
    def export(cfg, summary, log_path, target, command):
        src = Path(summary["best"] or summary["last"])
        epochs = [r for r in read_log(log_path) if r.get("kind") in ("epoch", "eval")]
        size = export_weights(src, target, fp16=True, log=epochs, wall_time_s=summary["wall_time_s"],
                              zoo_name=name, paper_row=row, command=command, exported_from=src.name)
        m = (summary["metrics"] or {})
        entry = {"file": f"{name}.pt", "bytes": size, "preset": preset, "row": row,
                 "wall_time_s": round(summary["wall_time_s"], 1), "steps": summary["step"],
                 "epochs": summary["epoch"], "nme_all": m.get("nme_all"), "yaw_mae": m.get("yaw_mae"),
                 "best_epoch": summary["best_epoch"], "skipped_steps": summary["skipped"], "command": command}
        return size, entry
    return export


def train_zoo(out=None, config="cpu", overrides=(), only=None, runs_dir="runs/zoo",
              fresh: bool = False, log=print, update_shipped: bool = False) -> dict:
    """Train the zoo entries ``only`` (default all) and export them into ``out`` (default
    :data:`DEFAULT_OUT`; with ``update_shipped`` the shipped :func:`m3lrn_lib.paths.checkpoints_dir`,
    which is refused otherwise); returns the updated index."""
    names = list(ZOO) if not only else list(only)
    unknown = [n for n in names if n not in ZOO]
    if unknown:
        raise UserError(f"unknown zoo entries {unknown}", subject="--only", hint=f"choose from {','.join(ZOO)}")
    out = output_folder(out, update_shipped=update_shipped, default=DEFAULT_OUT,
                        shipped=paths.checkpoints_dir() if update_shipped else None)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        preset, row = ZOO[name]
        _, summary, size, entry = train_row(
            name, row, out=out, runs=runs_dir, cli=CLI, config=config, overrides=list(overrides),
            extra=[f"model.preset={preset}", *ZOO_OVERRIDES.get(name, ())], fresh=fresh, load_config=load_config, run=_run,
            export=_export(name, preset, row), log=log, tag="zoo")
        flag = "" if size <= MAX_BYTES else f"  (over the {MAX_BYTES / 1e6:.0f} MB target!)"
        log(f"[zoo] {name}: {size / 1e6:.2f} MB -> {out / (name + '.pt')}{flag}; "
            f"{summary['wall_time_s'] / 60:.1f} min; NME {entry['nme_all']}")
    return zoo_index(out)


def main(argv=None) -> int:
    ap = ArgumentParser(prog="python -m m3lrn_lib.train.zoo", description=__doc__.split("\n\n")[0],
                        epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--out", default=None, help=f"checkpoint folder (default {DEFAULT_OUT}; the shipped "
                                                f"data/checkpoints with {UPDATE_SHIPPED})")
    ap.add_argument(UPDATE_SHIPPED, dest="update_shipped", action="store_true",
                    help="allow writing into the shipped artefacts (data/checkpoints). " + SHIPPED_POLICY)
    ap.add_argument("--config", default="cpu", help="preset or config file (default cpu)")
    ap.add_argument("--only", default="", help=f"comma-separated subset of {','.join(ZOO)}")
    ap.add_argument("--runs", default="runs/zoo", help="folder of the training runs (resumable)")
    ap.add_argument("--fresh", action="store_true", help="delete earlier runs instead of resuming them")
    ap.add_argument("overrides", nargs="*", metavar="section.key=value")
    a = ap.parse_args(argv)
    train_zoo(a.out, a.config, a.overrides, [s for s in a.only.split(",") if s] or None, a.runs, a.fresh,
              update_shipped=a.update_shipped)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
