"""The mechanism of a checkpoint zoo, shared by the landmark zoo (:mod:`m3lrn_lib.train.zoo`) and
the texture-GAN zoo (:mod:`m3lrn_lib.texture.zoo`); each of those keeps its own row table.

A zoo folder holds, per row ``NAME``: ``NAME.pt`` (the exported checkpoint), ``NAME.toml`` (the
resolved configuration of its run), ``NAME.log.jsonl`` / ``.csv`` (the run's full log), and one
``zoo.json`` index (``{NAME: entry}``). A row is trained as a resumable run in
``<runs>/NAME`` (:func:`train_row`); index updates are read-modify-write under an advisory
lock, so parallel zoo processes (``--only``, ``--jobs``) do not lose each other's entries.
"""
from __future__ import annotations

import contextlib
import json
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

from ..errors import UserError
from ..fileio import atomic_write_bytes, remove_temp_files

__all__ = ["zoo_index", "locked", "write_entry", "zoo_file", "zoo_command", "train_row", "is_shipped",
           "output_folder", "UPDATE_SHIPPED", "SHIPPED_POLICY", "TEMP_AGE_S"]

INDEX = "zoo.json"
#: The flag that lets a command write into the shipped artefacts (``data/`` of the repository).
UPDATE_SHIPPED = "--update-shipped"
#: The policy, as the commands' help text states it.
SHIPPED_POLICY = ("Shipped artefacts (data/ of the repository: data/checkpoints, data/checkpoints/texture) are "
                  "never overwritten by a command run with its default arguments: the default output is a "
                  "folder of the current directory outside data/, and writing into data/ (an --out there, or "
                  f"the shipped folder itself) needs {UPDATE_SHIPPED}.")
#: ``.tmp-*`` debris in a folder several processes may write into is removed once it is this old.
TEMP_AGE_S = 300.0


def _shipped_roots() -> list[Path]:
    from .. import paths
    roots = []
    root = paths.source_root()
    if root is not None:
        roots.append((root / "data").resolve())
    try:
        roots.append(paths.checkpoints_dir().resolve())
    except UserError:  # an installed package without M3LRN_CHECKPOINTS: nothing shipped
        pass
    return roots


def is_shipped(path) -> bool:
    """Whether ``path`` is (inside) the shipped artefacts: the repository's ``data/`` or the
    checkpoint zoo (:func:`m3lrn_lib.paths.checkpoints_dir`)."""
    p = Path(path).expanduser().resolve()
    return any(p == r or r in p.parents for r in _shipped_roots())


def output_folder(out, *, update_shipped: bool, shipped: Path, default, option: str = "--out") -> Path:
    """The output folder of a command that can (re-)make shipped artefacts (see :data:`SHIPPED_POLICY`).

    ``out`` None: ``shipped`` with ``update_shipped``, else ``default`` (outside ``data/``). An
    ``out`` inside the shipped artefacts without ``update_shipped`` raises a :class:`UserError`
    naming ``option``.
    """
    if out is None:
        return Path(shipped) if update_shipped else Path(default)
    out = Path(out)
    if is_shipped(out) and not update_shipped:
        raise UserError(f"{out} holds shipped artefacts, which a command never overwrites by default",
                        subject=f"{option} {out}", hint=f"add {UPDATE_SHIPPED} to regenerate them, or choose "
                                                         "another folder")
    return out


def zoo_index(out) -> dict:
    """The ``zoo.json`` index of a checkpoint folder ({} when there is none)."""
    p = Path(out) / INDEX
    return json.loads(p.read_text()) if p.is_file() else {}


@contextlib.contextmanager
def locked(path: Path):
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


def write_entry(out, name: str, entry: dict, lock: Path) -> dict:
    """Set ``index[name] = entry`` in ``out/zoo.json`` (re-read under the lock file ``lock``, then
    written atomically); returns the updated index."""
    lock = Path(lock)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with locked(lock):
        index = zoo_index(out)
        index[name] = entry
        atomic_write_bytes(Path(out) / INDEX, (json.dumps(index, indent=1) + "\n").encode())
    return index


def zoo_command(cli: str, config, name: str, overrides=()) -> str:
    """The command line that re-makes row ``name`` (``python -m CLI --config C --only NAME ...``)."""
    return f"python -m {cli} " + shlex.join(["--config", str(config), "--only", name, *overrides])


def zoo_file(out, name: str, rows, cli: str, what: str = "zoo entry") -> Path:
    """``out/NAME.pt`` of a known row; UserError (a ValueError) for an unknown ``name``,
    FileNotFoundError naming the command that makes it when the file is missing."""
    if name not in rows:
        raise UserError(f"unknown {what} {name!r}; choose one of {list(rows)}")
    path = Path(out) / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; make it with `python -m {cli} --only {name}`")
    return path


def train_row(name: str, row: str, *, out, runs, cli: str, config, overrides=(), extra=(), fresh: bool = False,
              load_config: Callable, run: Callable, export: Callable, log=print, tag: str = "zoo"):
    """Train (or resume) one row of a zoo and publish it in ``out``.

    Args:
        name, row: the row's name and what it reproduces (logged).
        out, runs: the zoo folder and the folder of the (resumable) training runs.
        cli: the module (and sub-command) whose ``--only NAME`` re-makes the row.
        config, overrides: the preset / file and the user's overrides (recorded in the command);
            extra: the row's own overrides.
        fresh: delete an earlier run of the row first (instead of resuming it).
        load_config: ``load_config(config, overrides)`` -> a validated configuration.
        run: ``run(cfg)`` -> ``(summary, log_path)``: trains the run folder ``<runs>/NAME``.
        export: ``export(cfg, summary, log_path, target, command)`` -> ``(size, entry)``: writes
            ``target`` (``out/NAME.pt``) and returns its size and the row's index entry.
        tag: the prefix of the log lines (``[tag] NAME: ...``).
    Returns:
        ``(cfg, summary, size, entry)``; ``NAME.toml``, ``NAME.log.<suffix>`` and the index entry
        are written.
    """
    out, runs = Path(out), Path(runs)
    run_dir = runs / name
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    remove_temp_files(out, older_than=TEMP_AGE_S)  # debris of a killed export (other processes may be writing)
    cfg = load_config(config, [*overrides, *extra, f"run.name=zoo-{name}", f"run.out_dir={run_dir}"])
    log(f"[{tag}] {name}: {row}")
    summary, log_path = run(cfg)
    log_path = Path(log_path)
    command = zoo_command(cli, config, name, overrides)
    out.mkdir(parents=True, exist_ok=True)
    size, entry = export(cfg, summary, log_path, out / f"{name}.pt", command)
    shutil.copyfile(run_dir / "config.toml", out / f"{name}.toml")
    shutil.copyfile(log_path, out / f"{name}.log{log_path.suffix}")
    write_entry(out, name, entry, runs / ".zoo.lock")
    return cfg, summary, size, entry
