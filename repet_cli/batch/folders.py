"""The output folders of a batch's jobs: made before a job writes, removed again (when
empty) after it fails, and checked before a batch starts; files a failed job renamed into
place removed. Jobs of one batch share folders, so nothing here checks and then acts.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import AudioWriteError, write_error


def make_folders(paths, created: list[Path]) -> None:
    """Create the folders of ``paths`` (and parents), adding those created to ``created``.

    Raises
    ------
    AudioWriteError
        A folder cannot be created (a file has its name, permissions, a read-only disk).
    """
    for folder in dict.fromkeys(Path(p).parent for p in paths):
        missing = [f for f in [folder, *folder.parents] if not f.exists()][::-1]
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise AudioWriteError(
                "cannot create the output folder: a file has that name", path=folder
            ) from None
        except OSError as exc:
            raise write_error(exc, path=folder, doing="cannot create the output folder") from None
        created += [f for f in missing if f not in created]


def check_output_folder(out: str | os.PathLike) -> None:
    """Raise :class:`AudioWriteError` unless files can be created in ``out`` (or, where it
    does not exist yet, in its nearest existing parent), before a batch starts: a read-only
    disk or a folder without write permission then gives one error, not one per input.
    """
    folder = Path(out)  # as given: messages name it so
    existing = next((f for f in [folder, *folder.parents] if f.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        raise AudioWriteError(
            "cannot create the output folder: a file has that name", path=existing
        )
    if os.access(existing, os.W_OK | os.X_OK):
        return
    read_only = False
    try:
        read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
    except OSError:
        pass
    code = errno.EROFS if read_only else errno.EACCES
    raise write_error(OSError(code, os.strerror(code)), path=existing)


def identity(path) -> tuple[int, int, int] | None:
    """Which file is at ``path`` (device, inode, change time), or None: a file renamed onto
    it since has another."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_ctime_ns


def remove_written(targets, before: dict) -> None:
    """Remove each of ``targets`` that is another file than ``before`` said (one this job
    renamed into place): stems whose record was never written."""
    for target in targets:
        if identity(target) not in (None, before.get(target)):
            with contextlib.suppress(OSError):
                os.unlink(target)


def remove_empty_folders(folders: Iterable[Path]) -> None:
    """Remove each of ``folders`` that is empty, in the order given (inner ones first). One
    that is not empty, because another job of the batch writes into it, or that is gone,
    stays as it is: a bare ``rmdir``, with no check before it that another job could outrun.
    """
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            pass


def remove_stale_parts(targets) -> list[Path]:
    """Remove the temporary files (``.<name>.<hex>.part``) that an earlier, killed attempt
    left beside ``targets``; the paths removed."""
    from ..files import temporaries_of

    removed = []
    for target in targets:
        if isinstance(target, str):  # a URL: its stems were uploaded whole, or not at all
            continue
        for stale in temporaries_of(target):
            stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


def clean_up_after(targets) -> None:
    """Remove what a killed job left: its temporary files and the folders they leave empty
    (where this process sees its outputs)."""
    remove_stale_parts(targets)
    remove_empty_folders(dict.fromkeys(Path(t).parent for t in targets if not isinstance(t, str)))
