"""One error convention for every command line of the package.

- A user error (:class:`m3lrn_lib.errors.UserError`, a bad argument, an ``OSError`` on a path the
  user gave) prints one line, ``error: <file or argument>: <what is wrong> (<what to do>)``, on
  standard error and exits with status 2.
- ``--debug`` (anywhere on the command line) also prints the traceback of a user error.
- Any other exception is an internal error: its traceback is kept (exit status 1).
- Ctrl-C exits with status 130 after the command's own clean-up (``finally`` blocks) ran.

Use :class:`ArgumentParser` for the parser and :func:`run_main` around the command's ``main``::

    def main(argv=None) -> int: ...
    if __name__ == "__main__":
        sys.exit(run_main(main))
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from .errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` with one-line errors (``error: argument --x: ... (see --help)``), exit status 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self.add_argument("--debug", action="store_true", help="show the traceback of user errors too")

    def error(self, message: str):
        raise UserError(message.replace("\n", " "), hint=f"see {self.prog} --help")


def bad_argument(name: str, problem: str, hint: str | None = None) -> UserError:
    """A :class:`UserError` about a command-line argument ``name`` (e.g. ``--n-train``)."""
    return UserError(problem, subject=name, hint=hint)


def require(ok: bool, name: str, problem: str, hint: str | None = None) -> None:
    """Raise :func:`bad_argument` unless ``ok``."""
    if not ok:
        raise bad_argument(name, problem, hint)


def check_output_folder(path, arg: str = "--out") -> Path:
    """Check, writing nothing, that ``path`` is (or can be created as) a writable folder;
    :class:`~m3lrn_lib.errors.UserError` naming ``arg`` and the path at fault otherwise."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"{p} exists and is a file, not a folder", subject=arg, hint="give a folder path")
    anc = p if p.exists() else p.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise UserError(f"{anc} is a file, so the folder {p} cannot be created", subject=arg,
                        hint="give a path inside a folder")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise UserError(f"{anc} is not writable" + ("" if anc == p else f", so {p} cannot be created"),
                        subject=arg, hint="choose a folder you can write to")
    return p



def _os_error_line(exc: OSError) -> str:
    what = exc.strerror or str(exc)
    where = exc.filename if exc.filename is not None else "file system"
    return f"{where}: {what} (check the path and its permissions)"


def run_main(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Call ``main(argv)`` under the convention above; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        return int(main(args) or 0)
    except UserError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_USER_ERROR
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {_os_error_line(exc)}", file=sys.stderr, flush=True)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
