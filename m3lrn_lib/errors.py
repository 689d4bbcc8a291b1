"""The one base class of the errors a user can fix: a bad file, argument or setting.

Every such error of the library derives from :class:`UserError` (``FaceModelError``,
``DatasetError``, ``InputError``, ``ConfigError``, ``CheckpointError``, ...). The command lines
(:func:`m3lrn_lib.cli.run_main`) print them as one line, ``error: <file or argument>: <what is wrong>
(<what to do>)``, and exit with status 2; any other exception is an internal error and keeps its
traceback. ``UserError`` is a ``ValueError``, so ``except ValueError`` keeps working.
"""
from __future__ import annotations


class UserError(ValueError):
    """Something the user gave cannot be used; the message names it and says what to do.

    Args:
        message: the whole message, or with ``subject`` the part after it.
        subject: the file or argument at fault (optional; put first in the message).
        hint: what to do about it (optional; appended in parentheses).
    """

    def __init__(self, message: str, subject: str | None = None, hint: str | None = None):
        text = f"{subject}: {message}" if subject else str(message)
        if hint:
            text = f"{text} ({hint})"
        super().__init__(text)
        self.subject, self.hint = subject, hint
