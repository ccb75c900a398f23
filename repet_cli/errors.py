"""The one exception tree of the library.

Every error the library raises on purpose is a :class:`RepetError`; its message names the bad
value and, where there is one, the fix. The CLI turns these into one-line messages.
"""

from __future__ import annotations

import errno
import os

#: How messages name the input ``-`` and the output ``-``.
STANDARD_INPUT = "standard input"
STANDARD_OUTPUT = "standard output"


def shown_path(path: str | os.PathLike) -> str:
    """A path as messages show it: as given, but ``-`` (standard input) in words."""
    name = os.fspath(path)
    return STANDARD_INPUT if name == "-" else name


class RepetError(Exception):
    """Base class of all errors raised on purpose by ``repet_cli``.

    Parameters
    ----------
    message : str
        What is wrong and what to do about it.
    path : str or os.PathLike, optional
        The file the error is about; shown before the message.
    """

    #: True for a failure that may not happen again (a network transfer): worth a retry.
    transient: bool = False

    def __init__(
        self, message: str, *, path: str | os.PathLike | None = None, transient: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else os.fspath(path)
        self.transient = transient

    def __str__(self) -> str:
        return self.message if self.path is None else f"{shown_path(self.path)}: {self.message}"


class ParameterError(RepetError, ValueError):
    """An option or argument has a bad value or a bad combination with another."""


class AudioReadError(RepetError):
    """An input cannot be read as audio (missing, unreadable, corrupt, empty, not finite)."""


class AudioWriteError(RepetError):
    """An output cannot be written (folder problem, disk full, permissions)."""

    #: True when no other output can be written there either (a read-only or full disk):
    #: a batch stops instead of failing every input that follows for the same reason.
    stops_batch: bool = False


#: What to do about the operating system's reasons for a failed write, by errno.
WRITE_ADVICE = {
    errno.EROFS: "the disk is read-only: choose an output folder on a writable disk",
    errno.ENOSPC: "the disk is full: free some space or choose an output folder on another disk",
    errno.EDQUOT: "the disk quota is used up: free some space or write elsewhere",
    errno.EACCES: "no permission to write there: choose an output folder you can write to",
    errno.EPERM: "no permission to write there: choose an output folder you can write to",
}
#: Reasons after which nothing more can be written on that disk.
DISK_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT})


def write_error(
    exc: OSError, *, path: str | os.PathLike, doing: str = "cannot write"
) -> AudioWriteError:
    """An :class:`AudioWriteError` for an OS error while writing ``path``: the reason, what
    to do about it, and whether the rest of a batch can still be written."""
    reason = exc.strerror or str(exc)
    advice = WRITE_ADVICE.get(exc.errno)
    error = AudioWriteError(f"{doing} ({reason})" + (f"; {advice}" if advice else ""), path=path)
    error.stops_batch = exc.errno in DISK_ERRNOS
    return error


class OutputExistsError(AudioWriteError):
    """An output file exists already and overwriting was not asked for."""


class InputTooShortError(RepetError):
    """The input is too short for the requested repeating-period range."""


class EvaluationError(RepetError):
    """References and estimates cannot be compared (shapes, rates, silent sources)."""


class MissingDependencyError(RepetError):
    """An optional package that a feature needs is not installed."""
