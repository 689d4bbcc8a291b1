"""The shipped texture-GAN checkpoints (``data/checkpoints/texture/``) and the command that re-makes them.

    python -m m3lrn_lib.texture zoo                    # uv_gan + uv_gan_no_template, `cpu` preset, one after the other
    python -m m3lrn_lib.texture zoo --jobs 2           # the two side by side, one thread each (2 cores: ~30 min)
    python -m m3lrn_lib.texture zoo --only uv_gan_adversarial   # the paper's adversarial-only set-up too

Each entry trains a run (resumable: ``--runs``, default ``runs/texture_zoo``) and writes into
``--out``: ``NAME.pt`` (fp16 generator, :func:`~m3lrn_lib.texture.checkpoint.export_generator`),
``NAME.toml`` (resolved configuration), ``NAME.log.jsonl`` and ``zoo.json`` (index: size, wall
time, mode, validation L1). Afterwards the held-out evaluation (PCA fit vs the GANs) is written to
``evaluation.md`` / ``evaluation.json`` and a Fig. S5/S6-style figure to ``comparison.png``.
"""
from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ..fileio import atomic_write_bytes

__all__ = ["ZOO", "DEFAULT_ENTRIES", "CHECKPOINT_DIR", "MAX_TOTAL_BYTES", "zoo_index", "load_texture_zoo",
           "train_zoo", "evaluate_zoo"]

CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "data" / "checkpoints" / "texture"
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


def zoo_index(out=CHECKPOINT_DIR) -> dict:
    """The ``zoo.json`` of a checkpoint folder ({} when absent)."""
    p = Path(out) / "zoo.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def load_texture_zoo(name: str = "uv_gan", out=CHECKPOINT_DIR, model=None, uv_size=None):
    """The shipped generator ``name`` (eval mode); FileNotFoundError naming the command that makes it."""
    from .checkpoint import load_generator
    if name not in ZOO:
        raise ValueError(f"unknown texture zoo entry {name!r}; choose one of {list(ZOO)}")
    path = Path(out) / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; make it with `python -m m3lrn_lib.texture zoo --only {name}`")
    return load_generator(path, uv_size=uv_size, model=model)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive advisory lock on ``path`` (no-op where ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _train_one(name, out: Path, runs: Path, config, overrides, fresh, log) -> dict:
    from .config import load_texture_config
    from .train import TextureTrainer, read_log
    extra, row = ZOO[name]
    run_dir = runs / name
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    cfg = load_texture_config(config, [*overrides, *extra, f"run.name=zoo-{name}", f"run.out_dir={run_dir}"])
    log(f"[texture zoo] {name}: {row}")
    tr = TextureTrainer(cfg, resume="auto", log=log)
    s = tr.fit()
    cmd = "python -m m3lrn_lib.texture zoo " + shlex.join(["--config", str(config), "--only", name, *overrides])
    from .checkpoint import atomic_save, load_file
    obj = load_file(run_dir / "generator.pt")
    obj.update(zoo_name=name, paper_row=row, command=cmd)
    size = atomic_save(obj, out / f"{name}.pt")
    shutil.copyfile(run_dir / "config.toml", out / f"{name}.toml")
    shutil.copyfile(tr.log_path, out / f"{name}.log.jsonl")
    entry = {"file": f"{name}.pt", "bytes": size, "variant": cfg.model.variant, "mode": cfg.loss.mode,
             "uv_size": cfg.data.uv_size, "row": row, "epochs": s["epoch"], "steps": s["step"],
             "wall_time_s": s["wall_time_s"], "val_l1_all": s["metrics"].get("val_l1_all"),
             "val_l1_visible": s["metrics"].get("val_l1_visible"), "command": cmd,
             "train_records": len(read_log(tr.log_path))}
    runs.mkdir(parents=True, exist_ok=True)
    with _locked(runs / ".zoo.lock"):  # parallel jobs (--jobs) update the index one at a time
        index = zoo_index(out)
        index[name] = entry
        atomic_write_bytes(out / "zoo.json", (json.dumps(index, indent=1) + "\n").encode())
    log(f"[texture zoo] {name}: {size / 2**20:.2f} MiB -> {out / (name + '.pt')}; {s['wall_time_s'] / 60:.1f} min; "
        f"val L1 {entry['val_l1_all']}")
    return entry


def evaluate_zoo(out=CHECKPOINT_DIR, n_test: int = 200, names=None, log=print) -> list[dict]:
    """Evaluate the checkpoints of ``out`` (PCA fit vs GANs) on ``n_test`` held-out synthetic faces;
    writes ``evaluation.md``, ``evaluation.json`` and ``comparison.png`` there; returns the rows."""
    from ..morphable import load_face_model
    from .checkpoint import load_file, load_generator
    from .config import config_from_dict
    from .evaluate import comparison_figure, evaluate_methods, format_table
    from .synth import make_pairs
    from .train import cache_dir, synth_config
    out = Path(out)
    names = [n for n in (names or ZOO) if (out / f"{n}.pt").is_file()]
    if not names:
        raise FileNotFoundError(f"no texture checkpoints in {out}; make them with `python -m m3lrn_lib.texture zoo`")
    cfgs = {n: config_from_dict(load_file(out / f"{n}.pt")["config"]) for n in names}
    sizes = {c.data.uv_size for c in cfgs.values()}
    if len(sizes) > 1:
        raise ValueError(f"the checkpoints in {out} have different UV sizes {sorted(sizes)}; evaluate them separately")
    cfg = cfgs[names[0]]
    model = load_face_model(cfg.data.face_model or None)
    test = make_pairs(model, n_test, "test", cfg.data.seed, synth_config(cfg), geometry=True,
                      cache_dir=cache_dir(cfg))
    gens = {n: load_generator(out / f"{n}.pt", model=model) for n in names}
    labels = {n: f"{ZOO[n][1]}" for n in names}
    rows, preds = evaluate_methods(model, test, gens, labels=labels)
    table = format_table(rows)
    log(table)
    header = (f"Held-out synthetic faces: {n_test} (split 'test', seed {cfg.data.seed}, UV {cfg.data.uv_size}); "
              "visible = texels seen in the image, all = every texel of the UV layout.\n\n")
    atomic_write_bytes(out / "evaluation.md", (header + table + "\n").encode())
    atomic_write_bytes(out / "evaluation.json", (json.dumps({"n_test": n_test, "rows": rows}, indent=1) + "\n").encode())
    fig = comparison_figure(test, preds, indices=range(min(4, n_test)),
                            columns=["pca_fit"] + names)
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    atomic_write_bytes(out / "comparison.png", buf.getvalue())
    return rows


def train_zoo(out=CHECKPOINT_DIR, config="cpu", overrides=(), only=None, runs_dir="runs/texture_zoo",
              fresh: bool = False, jobs: int = 1, evaluate: bool = True, n_test: int = 200, log=print) -> dict:
    """Train (or resume) the zoo entries ``only`` (default :data:`DEFAULT_ENTRIES`), export them into
    ``out``, then evaluate; ``jobs`` > 1 trains that many entries side by side in subprocesses
    (one torch thread each). Returns the ``zoo.json`` index."""
    names = list(only or DEFAULT_ENTRIES)
    bad = [n for n in names if n not in ZOO]
    if bad:
        raise ValueError(f"unknown texture zoo entries {bad}; choose from {list(ZOO)}")
    out, runs = Path(out), Path(runs_dir)
    out.mkdir(parents=True, exist_ok=True)
    if jobs > 1 and len(names) > 1:
        from ..morphable import load_face_model
        from .config import load_texture_config
        from .synth import make_pairs
        from .train import cache_dir, synth_config
        cfg = load_texture_config(config, overrides)
        if cfg.data.cache:  # generate the shared data once, before the workers start
            model = load_face_model(cfg.data.face_model or None)
            make_pairs(model, cfg.data.n_train, "train", cfg.data.seed, synth_config(cfg), cache_dir=cache_dir(cfg))
            if cfg.data.n_val:
                make_pairs(model, cfg.data.n_val, "val", cfg.data.seed, synth_config(cfg), cache_dir=cache_dir(cfg))
        pending, procs = list(names), []
        while pending or procs:
            while pending and len(procs) < jobs:
                n = pending.pop(0)
                cmd = [sys.executable, "-m", "m3lrn_lib.texture", "zoo", "--only", n, "--out", str(out), "--runs",
                       str(runs), "--config", str(config), "--no-eval", *(["--fresh"] if fresh else []),
                       *overrides, "run.threads=1", "run.progress=false"]
                env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
                log(f"[texture zoo] starting {n}: {shlex.join(cmd)}")
                procs.append((n, subprocess.Popen(cmd, env=env)))
            n, p = procs.pop(0)
            if p.wait() != 0:
                for _, q in procs:
                    q.wait()
                raise RuntimeError(f"texture zoo entry {n} failed (exit status {p.returncode})")
    else:
        for n in names:
            _train_one(n, out, runs, config, list(overrides), fresh, log)
    total = sum((out / f"{n}.pt").stat().st_size for n in ZOO if (out / f"{n}.pt").is_file())
    flag = "" if total <= MAX_TOTAL_BYTES else f" -- over the {MAX_TOTAL_BYTES / 2**20:.0f} MiB budget!"
    log(f"[texture zoo] checkpoints in {out}: {total / 2**20:.2f} MiB together{flag}")
    if evaluate:
        evaluate_zoo(out, n_test, log=log)
    return zoo_index(out)
