"""Files on disk, whole or not at all: temporary names beside a destination, renamed into place.

No audio here: the writers of audio (:mod:`repet_cli.io`), of pages and pictures
(:mod:`repet_cli.report`, :mod:`repet_cli.thumbnail`) and of records (:mod:`repet_cli.batch`)
all make their files through these functions, so an interruption never leaves half a file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from . import signals
from .errors import OutputExistsError, write_error

#: The input name that stands for standard input.
STDIN = "-"


def refuse_existing(paths: Iterable[str | os.PathLike]) -> None:
    """Raise :class:`OutputExistsError` for the first of ``paths`` that exists."""
    for p in paths:
        if os.path.lexists(p):
            raise OutputExistsError("exists already; pass `overwrite` to replace it", path=p)


#: The end of the temporary files' names: ``.<name>.<8 hex digits>.part`` beside ``<name>``.
TEMPORARY_SUFFIX = ".part"


def temporaries_of(p: str | os.PathLike) -> list[Path]:
    """The temporary files beside ``p`` that writers of ``p`` made (:func:`open_temp`), left
    behind by a process that was killed before it could remove them."""
    p = Path(p)
    if not p.parent.is_dir():
        return []
    return sorted(p.parent.glob(f".{p.name}.*{TEMPORARY_SUFFIX}"))


def open_temp(p: Path) -> tuple[Path, int]:
    """Create a new, empty temporary file beside ``p`` (umask permissions); its descriptor.

    libsndfile writes through the descriptor itself: no Python callbacks run during a write,
    so an interruption is raised in Python code, never swallowed inside a C callback.
    """
    for _ in range(100):
        tmp = p.parent / f".{p.name}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}"
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        return tmp, fd
    raise FileExistsError(f"no free temporary name beside {p}")


@contextlib.contextmanager
def whole_or_nothing(path: str | os.PathLike, *, before_rename=None):
    """Make ``path`` whole or not at all: yields a new temporary file beside it (its path and
    an open descriptor, from :func:`open_temp`) for the caller to fill; when the block ends
    without an error the temporary file is renamed over ``path`` (after ``before_rename()``,
    if given, which may still refuse), else it is removed. Creating it and renaming it are
    done with interruptions held back.

    Raises
    ------
    AudioWriteError
        An ``OSError`` while writing (the message says what to do, see ``write_error``).
    """
    path = Path(path)
    tmp = None
    try:
        with signals.deferred():
            tmp, fd = open_temp(path)
        yield tmp, fd
        with signals.deferred():
            if before_rename is not None:
                before_rename()
            os.replace(tmp, path)
            tmp = None
    except OSError as exc:
        raise write_error(exc, path=path) from None
    finally:
        if tmp is not None:
            with signals.deferred():
                tmp.unlink(missing_ok=True)


def replace_file(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all (:func:`whole_or_nothing`);
    an interruption is held back over the write too. Returns ``path``.

    Raises
    ------
    AudioWriteError
        The file cannot be written (the message says what to do, see ``write_error``).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with whole_or_nothing(path) as (_, fd), signals.deferred(), os.fdopen(fd, "wb") as f:
        f.write(raw)
    return Path(path)
