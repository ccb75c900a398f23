"""Outputs to standard output (``out`` ``"-"``): one input's one stem, written into a new
temporary folder as any output is (atomically, whole), then copied to standard output."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import ParameterError
from .planning import Job
from .settings import Outcome

#: The ``out`` that means standard output.
STDOUT = "-"


def check_stdout(names, stems, *, plot: bool, report: bool) -> None:
    """Refuse what standard output cannot take: more than one input or stem, figures or a
    report (or a JSON summary: ``report``), or a terminal (audio bytes would flood it).

    Raises
    ------
    ParameterError
    """
    if len(names) != 1 or Path(names[0]).is_dir():
        raise ParameterError("`out='-'` writes one input's stem: give one `inputs`")
    if len(stems) != 1:
        raise ParameterError("`out='-'` writes one stem: add `stems` foreground or background")
    if plot or report:
        raise ParameterError("`out='-'` writes audio only: leave out `plot`, `report` and `json`")
    if sys.stdout.isatty():  # as gzip does
        raise ParameterError(
            "`out='-'` writes audio to standard output, which is a terminal; redirect it to a "
            "file or a pipe ('> stem.wav', '| ffmpeg -i - ...') or give an output folder"
        )


def temporary_folder() -> Path:
    """A new name for the temporary folder the stem is written into (not made yet)."""
    import tempfile

    return Path(tempfile.gettempdir()) / f"repet-{os.getpid()}-{os.urandom(4).hex()}"


def emit(job: Job, outcomes: list[Outcome], *, folder: Path) -> None:
    """Copy the stem written for standard output there (where it was written), then remove
    the temporary ``folder``; a reader that stops early (``| head``) is no error."""
    import shutil

    try:
        if outcomes and outcomes[0].status == "ok":
            with open(job.targets[0], "rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
    except BrokenPipeError:  # the reader stopped early (| head): not our error
        pass
    finally:
        shutil.rmtree(folder, ignore_errors=True)
