"""The shipped texture-GAN checkpoints (``data/checkpoints/texture/``) and the command that re-makes them.

    python -m m3lrn_lib.texture zoo                    # uv_gan + uv_gan_no_template, `cpu` preset, one after the other
    python -m m3lrn_lib.texture zoo --jobs 2           # the two side by side, one thread each (2 cores: ~30 min)
    python -m m3lrn_lib.texture zoo --only uv_gan_adversarial   # the paper's adversarial-only set-up too

    python -m m3lrn_lib.texture zoo --update-shipped   # regenerate the shipped data/checkpoints/texture

Each entry trains a run (resumable: ``--runs``, default ``runs/texture_zoo``) and writes into
``--out`` (default ``build/texture-zoo`` of the current directory; the shipped
``data/checkpoints/texture`` only with ``--update-shipped``): ``NAME.pt`` (fp16 generator,
:func:`~m3lrn_lib.texture.checkpoint.export_generator`),
``NAME.toml`` (resolved configuration), ``NAME.log.jsonl`` and ``zoo.json`` (index: size, wall
time, mode, validation L1). Afterwards the held-out evaluation (PCA fit vs the GANs) is written to
``evaluation.md`` / ``evaluation.json`` and a Fig. S5/S6-style figure to ``comparison.png``.

Shipped artefacts (``data/`` of the repository) are never overwritten with default arguments:
``python -m m3lrn_lib.texture evaluate`` writes its reports into ``--out`` (default
``build/texture-eval``), and writing into ``data/`` needs ``--update-shipped``.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from .. import paths
from ..errors import UserError
from ..fileio import atomic_write_bytes
from ..train.zoofiles import UPDATE_SHIPPED, output_folder, train_row, zoo_file
from ..train.zoofiles import zoo_index as _read_index

__all__ = ["ZOO", "DEFAULT_ENTRIES", "DEFAULT_OUT", "DEFAULT_EVAL_OUT",
           "MAX_TOTAL_BYTES", "zoo_index", "load_texture_zoo", "train_zoo",
           "evaluate_zoo"]

CLI = "m3lrn_lib.texture zoo"
DEFAULT_OUT = "build/texture-zoo"  # relative to the current directory: outside the shipped data/
DEFAULT_EVAL_OUT = "build/texture-eval"
MAX_TOTAL_BYTES = 20 * 2**20

#: name -> (overrides, what it reproduces)
ZOO = {
    "uv_gan": (["model.variant=template", "loss.mode=paired"],
               "Fig. S4/S5: template input + shortcut; paired (LSGAN + L1)"),
    "uv_gan_no_template": (["model.variant=no_template", "loss.mode=paired"],
                           "Fig. S6: no template; paired (LSGAN + L1)"),
    "uv_gan_adversarial": (["model.variant=template", "loss.mode=adversarial"],
                           "Fig. S4 with the paper's adversarial-only loss (LSGAN)"),
}
DEFAULT_ENTRIES = ("uv_gan", "uv_gan_no_template")


def _out(out) -> Path:
    return Path(paths.texture_checkpoints_dir() if out is None else out)


def zoo_index(out=None) -> dict:
    """The ``zoo.json`` of a checkpoint folder (default :func:`m3lrn_lib.paths.texture_checkpoints_dir`;
    {} when absent)."""
    return _read_index(_out(out))


def load_texture_zoo(name: str = "uv_gan", out=None, model=None, uv_size=None):
    """The shipped generator ``name`` (eval mode); FileNotFoundError naming the command that makes it."""
    from .checkpoint import load_generator
    return load_generator(zoo_file(_out(out), name, ZOO, CLI, what="texture zoo entry"), uv_size=uv_size, model=model)


def _run(log):
    def run(cfg):
        from .train import TextureTrainer
        tr = TextureTrainer(cfg, resume="auto", log=log)
        return tr.fit(), tr.log_path
    return run


def _export(name: str, row: str):
    def export(cfg, s, log_path, target, command):
        from ..train.checkpoint import atomic_save
        from ..train.logs import read_log
        from .checkpoint import load_texture_file
        obj = load_texture_file(Path(s["out_dir"]) / "generator.pt")
        obj.update(zoo_name=name, paper_row=row, command=command)
        size = atomic_save(obj, target)
        entry = {"file": f"{name}.pt", "bytes": size, "variant": cfg.model.variant, "mode": cfg.loss.mode,
                 "uv_size": cfg.data.uv_size, "row": row, "epochs": s["epoch"], "steps": s["step"],
                 "wall_time_s": s["wall_time_s"], "val_l1_all": s["metrics"].get("val_l1_all"),
                 "val_l1_visible": s["metrics"].get("val_l1_visible"), "command": command,
                 "train_records": len(read_log(log_path))}
        return size, entry
    return export


def _train_one(name, out: Path, runs: Path, config, overrides, fresh, log) -> dict:
    from .config import load_texture_config
    extra, row = ZOO[name]
    _, s, size, entry = train_row(name, row, out=out, runs=runs, cli=CLI, config=config, overrides=list(overrides),
                                  extra=extra, fresh=fresh, load_config=load_texture_config, run=_run(log),
                                  export=_export(name, row), log=log, tag="texture zoo")
    log(f"[texture zoo] {name}: {size / 2**20:.2f} MiB -> {out / (name + '.pt')}; {s['wall_time_s'] / 60:.1f} min; "
        f"val L1 {entry['val_l1_all']}")
    return entry


def evaluate_zoo(out=None, n_test: int = 200, names=None, log=print, report_dir=None,
                 update_shipped: bool = False) -> list[dict]:
    """Evaluate the checkpoints of ``out`` (default: the shipped ones) (PCA fit vs GANs) on
    ``n_test`` held-out synthetic faces; writes ``evaluation.md``, ``evaluation.json`` and
    ``comparison.png`` into ``report_dir`` (default :data:`DEFAULT_EVAL_OUT`, or the shipped
    checkpoint folder with ``update_shipped``; a folder inside the shipped ``data/`` needs
    ``update_shipped``); returns the rows."""
    if n_test < 1:
        raise UserError(f"must be >= 1, got {n_test}", subject="--n")
    from ..morphable import load_face_model
    from .checkpoint import load_generator, load_texture_file
    from .config import config_from_dict
    from .evaluate import comparison_figure, evaluate_methods, format_table
    from .synth import make_pairs
    from .train import data_cache_dir, synth_config
    out = _out(out)
    report_dir = output_folder(report_dir, update_shipped=update_shipped, shipped=out, default=DEFAULT_EVAL_OUT)
    if not out.is_dir():
        raise UserError(f"no such folder: {out}", subject=f"--checkpoints {out}",
                        hint="give the folder of the texture zoo checkpoints")
    names = [n for n in (names or ZOO) if (out / f"{n}.pt").is_file()]
    if not names:
        raise UserError(f"no texture checkpoints ({', '.join(f'{n}.pt' for n in ZOO)}) in {out}",
                        subject=f"--checkpoints {out}", hint="make them with `python -m m3lrn_lib.texture zoo`")
    cfgs = {n: config_from_dict(load_texture_file(out / f"{n}.pt")["config"]) for n in names}
    sizes = {c.data.uv_size for c in cfgs.values()}
    if len(sizes) > 1:
        raise UserError(f"the checkpoints in {out} have different UV sizes {sorted(sizes)}; evaluate them separately")
    cfg = cfgs[names[0]]
    model = load_face_model(cfg.data.face_model or None)
    test = make_pairs(model, n_test, "test", cfg.data.seed, synth_config(cfg), geometry=True,
                      cache_dir=data_cache_dir(cfg))
    gens = {n: load_generator(out / f"{n}.pt", model=model) for n in names}
    labels = {n: f"{ZOO[n][1]}" for n in names}
    rows, preds = evaluate_methods(model, test, gens, labels=labels)
    table = format_table(rows)
    log(table)
    header = (f"Held-out synthetic faces: {n_test} (split 'test', seed {cfg.data.seed}, UV {cfg.data.uv_size}); "
              "visible = texels seen in the image, all = every texel of the UV layout.\n\n")
    atomic_write_bytes(report_dir / "evaluation.md", (header + table + "\n").encode())
    atomic_write_bytes(report_dir / "evaluation.json",
                       (json.dumps({"n_test": n_test, "rows": rows}, indent=1) + "\n").encode())
    fig = comparison_figure(test, preds, indices=range(min(4, n_test)),
                            columns=["pca_fit"] + names)
    import io

    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(report_dir / "comparison.png", buf.getvalue())
    log(f"[texture evaluate] wrote evaluation.md, evaluation.json, comparison.png into {report_dir}")
    return rows


def _child_defaults(overrides) -> list[str]:
    """``run.threads=1`` and ``run.progress=false`` for a side-by-side child, unless the user set those keys."""
    given = {o.split("=", 1)[0] for o in overrides}
    return [d for d in ("run.threads=1", "run.progress=false") if d.split("=", 1)[0] not in given]


def train_zoo(out=None, config="cpu", overrides=(), only=None, runs_dir="runs/texture_zoo",
              fresh: bool = False, jobs: int = 1, evaluate: bool = True, n_test: int = 200, log=print,
              update_shipped: bool = False) -> dict:
    """Train (or resume) the zoo entries ``only`` (default :data:`DEFAULT_ENTRIES`), export them into
    ``out``, then evaluate; ``jobs`` > 1 trains that many entries side by side in subprocesses
    (one torch thread each). ``out`` defaults to :data:`DEFAULT_OUT`; the shipped
    :func:`m3lrn_lib.paths.texture_checkpoints_dir` (default with ``update_shipped``) and any folder
    inside ``data/`` need ``update_shipped``. Returns the ``zoo.json`` index."""
    names = list(only or DEFAULT_ENTRIES)
    bad = [n for n in names if n not in ZOO]
    if bad:
        raise UserError(f"unknown texture zoo entries {bad}", subject="--only", hint=f"choose from {','.join(ZOO)}")
    if jobs < 1 or n_test < 1:
        raise UserError(f"must be >= 1, got {jobs if jobs < 1 else n_test}", subject="--jobs" if jobs < 1 else "--n")
    out = output_folder(out, update_shipped=update_shipped, default=DEFAULT_OUT,
                        shipped=paths.texture_checkpoints_dir() if update_shipped else None)
    runs = Path(runs_dir)
    out.mkdir(parents=True, exist_ok=True)
    if jobs > 1 and len(names) > 1:
        from ..morphable import load_face_model
        from .config import load_texture_config
        from .synth import make_pairs
        from .train import data_cache_dir, synth_config
        cfg = load_texture_config(config, overrides)
        if cfg.data.cache:  # generate the shared data once, before the workers start
            model = load_face_model(cfg.data.face_model or None)
            make_pairs(model, cfg.data.n_train, "train", cfg.data.seed, synth_config(cfg), cache_dir=data_cache_dir(cfg))
            if cfg.data.n_val:
                make_pairs(model, cfg.data.n_val, "val", cfg.data.seed, synth_config(cfg), cache_dir=data_cache_dir(cfg))
        pending, procs = list(names), []
        while pending or procs:
            while pending and len(procs) < jobs:
                n = pending.pop(0)
                cmd = [sys.executable, "-m", "m3lrn_lib.texture", "zoo", "--only", n, "--out", str(out), "--runs",
                       str(runs), "--config", str(config), "--no-eval", *(["--fresh"] if fresh else []),
                       *([UPDATE_SHIPPED] if update_shipped else []),
                       *overrides, *_child_defaults(overrides)]
                env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
                log(f"[texture zoo] starting {n}: {shlex.join(cmd)}")
                procs.append((n, subprocess.Popen(cmd, env=env)))
            n, p = procs.pop(0)
            if p.wait() != 0:
                for _, q in procs:
                    q.wait()
                raise UserError(f"training failed (exit status {p.returncode})", subject=f"texture zoo entry {n}",
                                hint="its error is printed above")
    else:
        for n in names:
            _train_one(n, out, runs, config, list(overrides), fresh, log)
    total = sum((out / f"{n}.pt").stat().st_size for n in ZOO if (out / f"{n}.pt").is_file())
    flag = "" if total <= MAX_TOTAL_BYTES else f" -- over the {MAX_TOTAL_BYTES / 2**20:.0f} MiB budget!"
    log(f"[texture zoo] checkpoints in {out}: {total / 2**20:.2f} MiB together{flag}")
    if evaluate:
        evaluate_zoo(out, n_test, log=log, report_dir=out, update_shipped=update_shipped)
    return zoo_index(out)
