"""The copy of a video input with a stem as its sound, beside the stems or (``--stems
none``) alone.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from .. import signals
from ..errors import ParameterError
from ..files import STDIN
from .planning import STEMS, Job, default_format
from .settings import Settings


def video_target(job: Job, stem: str) -> Path:
    """Where the copy of a video input with ``stem`` as its audio goes: beside the stems."""
    return job.targets[0].parent / f"{stem}{job.source.suffix.lower()}"


def write_video(job: Job, *, settings: Settings, audio: Path | None = None) -> Path:
    """Write the copy of a video input with the stem ``settings.video`` as its audio track
    (:func:`repet_cli.pyav_remux.replace_audio`), atomically; its path (:attr:`Job.video`, else
    beside the stems). ``audio``: the stem's file, if not the job's own.

    Raises
    ------
    RepetError
        The input has no video stream, or the file cannot be written.
    """
    from ..files import refuse_existing, whole_or_nothing
    from ..pyav_remux import replace_audio

    stem = settings.video
    audio = getattr(job, stem) if audio is None else audio
    if audio is None:
        raise ParameterError(f"`video` {stem} needs the {stem} stem written (`stems`)")
    target = job.video if job.video is not None else video_target(job, stem)
    refuse = None if settings.overwrite else (lambda: refuse_existing([target]))
    if refuse is not None:
        refuse()
    with whole_or_nothing(target, before_rename=refuse) as (tmp, fd):
        os.close(fd)  # the muxer opens the file by its name
        replace_audio(job.source, audio, tmp, bitrate=settings.bitrate, stream=settings.stream)
    return target


def separate_into_video(job: Job, *, settings: Settings, progress=None):
    """Separate a job that writes only a video (:attr:`Job.video`): the stem goes to a
    temporary file, then under the picture; the temporary folder is removed whatever happens.

    The temporary stem is written as the stem itself would be with these settings (the format
    and subtype of :func:`_separate_file`), so the video's sound is the same, sample for
    sample, with or without the stems beside it: an encoder such as AAC turns differences of
    one part in 2^24 into audible ones. A lossy stem format gives a float WAV instead (the
    sound is encoded once). Returns what :func:`separate_job` does, with samples a PCM
    format clipped counted against the video."""
    import shutil
    import tempfile

    from ..formats import LOSSY_FORMATS
    from ..segments import separate_file

    stem = settings.video
    if stem not in STEMS:
        raise ParameterError("a job that writes only a video needs `video`: the stem it sounds")
    if os.fspath(job.source) != STDIN:  # before separating: a video only, or nothing
        from ..pyav_remux import check_replaceable

        check_replaceable(job.source, stream=settings.stream)
    fmt = (settings.format or default_format(job.source)).lower()
    fmt, subtype = ("wav", "FLOAT") if fmt in LOSSY_FORMATS else (fmt, settings.subtype)
    with signals.deferred():  # removed below, even when interrupted
        scratch = Path(tempfile.mkdtemp(prefix="repet-"))
    try:
        audio = scratch / f"{stem}.{fmt}"
        reports, info, written = separate_file(
            job.source,
            audio if stem == "background" else None,
            audio if stem == "foreground" else None,
            params=settings.params,
            segment=settings.segment,
            format=fmt,
            subtype=subtype,
            stream=settings.stream,
            threads=settings.threads,
            progress=progress,
        )
        write_video(job, settings=settings, audio=audio)
        return reports, info, [dataclasses.replace(w, path=job.video) for w in written]
    finally:
        with signals.deferred():
            shutil.rmtree(scratch, ignore_errors=True)
