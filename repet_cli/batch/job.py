"""One job of a batch: read its input, separate it, write its stems atomically (both or
neither) with their record, then the extras (the video copy, the scores, the figure).

:func:`run_job` turns every failure into an :class:`~repet_cli.batch.settings.Outcome`, so
a batch goes on; :func:`separate_job` raises, for callers that want the error.
"""

from __future__ import annotations

import dataclasses
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from .. import remote, signals
from ..errors import AudioReadError, AudioWriteError, OutputExistsError, RepetError, shown_path
from ..files import STDIN
from ..formats import AudioInfo
from ..segments import describe, segment_warnings
from .folders import (
    identity,
    make_folders,
    remove_empty_folders,
    remove_stale_parts,
    remove_written,
)
from .planning import Job
from .provenance import SCORES_FILE, input_sha256, made_otherwise, write_sidecar
from .scoring import score
from .settings import Outcome, Settings
from .video import separate_into_video, write_video


def run_job(job: Job, *, settings: Settings, progress: Callable[[int], None] | None = None):
    """Separate one input and write its stems and their record (:data:`SIDECAR`); every error
    becomes an :class:`Outcome` too.

    The stems and their record are one unit (:func:`separate_job`'s ``on_written``): stopped
    by Ctrl-C or SIGTERM before the record is in place, the job removes the stems it wrote
    and the interruption goes on up; stopped after it, the job returns its outcome with
    :attr:`Outcome.interruption` set, so that the batch stops and counts the input as done.
    ``progress`` is called with the number of input samples done after each segment.
    """
    start = time.perf_counter()
    name = shown_path(job.source)  # as messages name it
    base = {"source": str(job.source), "duration": job.duration}
    if settings.skip_existing and all(_exists(p) for p in job.targets):
        return _kept(job, settings=settings, base=base)
    # What an earlier run killed while writing left (SIGKILL: the OOM killer, a SLURM task
    # past its time limit and KillWait, a node lost): its temporary files go before the work.
    with signals.deferred():
        remove_stale_parts([*job.targets, *([job.sidecar] if job.sidecar is not None else [])])
    digest = input_sha256(job)
    done: dict = {}  # the outcome (and reports) once the stems and their record are in place
    attempt = 1

    def finish(reports, info, written) -> None:  # interruptions are held back meanwhile
        outcome = _separated(job, reports, info, written, settings=settings)
        outcome = dataclasses.replace(
            outcome,
            attempts=attempt,
            input_sha256=digest,
            seconds=time.perf_counter() - start,
            **base | {"duration": info.duration},
        )
        if job.sidecar is not None:
            write_sidecar(job, outcome, settings=settings)
        done.update(outcome=outcome, reports=reports)

    while True:
        try:
            separate_job(job, settings=settings, progress=progress, on_written=finish)
            break
        except RepetError as exc:
            if exc.transient and attempt <= settings.retries:
                attempt += 1
                continue
            stops = getattr(exc, "stops_batch", False)
            return Outcome(
                status="failed", error=str(exc), attempts=attempt, stops_batch=stops, **base
            )
        except KeyboardInterrupt as exc:
            if "outcome" not in done:  # the stems this job wrote are gone again
                raise
            return dataclasses.replace(done["outcome"], interruption=exc)
        except Exception as exc:  # a bug: report it, keep going with the batch
            return Outcome(
                status="failed",
                error=f"{name}: unexpected error ({type(exc).__name__}: {exc})",
                trace=traceback.format_exc(),
                **base,
            )
    outcome = done["outcome"]
    try:
        outcome = _extras(job, outcome, done["reports"], settings=settings)
    except KeyboardInterrupt as exc:  # the stems and their record are whole: done
        return dataclasses.replace(outcome, interruption=exc)
    return dataclasses.replace(outcome, seconds=time.perf_counter() - start)


def _separated(job: Job, reports, info: AudioInfo, written, *, settings: Settings) -> Outcome:
    """The outcome of a job whose stems are written: what was found, and the warnings."""
    first = reports[0]
    details = (
        f"{info.channels} ch, {info.samplerate} Hz, {info.duration:.2f} s, {info.subtype}; "
        f"n_fft {first.n_fft}, hop {first.hop}"
    )
    name = shown_path(job.source)  # as messages name it
    segments = segment_warnings(reports, sr=info.samplerate)
    warnings = tuple(f"{name}: {w}" for w in segments) + tuple(
        f"{w.path}: {w.clipped} samples beyond full scale were clipped by the "
        f"{w.subtype} output format (`subtype` FLOAT keeps them)"
        for w in written
        if w.clipped
    )
    return Outcome(
        source=str(job.source),
        status="ok",
        found=describe(reports),
        periods=tuple(r.period for r in reports),
        confidences=tuple(r.confidence for r in reports),
        details=details,
        warnings=warnings,
        outputs=tuple(str(p) for p in job.targets),
        samplerate=info.samplerate,
    )


def _extras(job: Job, outcome: Outcome, reports, *, settings: Settings) -> Outcome:
    """What comes after the stems: the video copy, the scores and the figure, each optional
    and each failing alone (a warning); the record is written again if they add to it.
    (A job that writes only a video, :attr:`Job.video`, made its copy with the stem.)"""
    name = shown_path(job.source)  # as messages name it
    before = outcome
    if settings.video is not None and job.video is None:
        try:
            video = str(write_video(job, settings=settings))
            outcome = dataclasses.replace(outcome, outputs=outcome.outputs + (video,))
        except RepetError as exc:
            outcome = _warn(outcome, f"{name}: no video written ({_reason(exc, job.source)})")
    if settings.references is not None:
        try:
            scores, framewise = score(job, settings=settings)
            outcome = dataclasses.replace(outcome, scores=scores, framewise=framewise)
        except RepetError as exc:
            outcome = _warn(outcome, f"{name}: not scored: {_reason(exc, job.source)}")
    if settings.plot:
        from ..plot import draw_file

        first = reports[0]
        try:
            title = f"{name}: {describe(reports)}, {first.algorithm}"
            figure = draw_file(
                job.figure,
                job.source,
                job.background,
                job.foreground,
                params=settings.params,
                period=first.period,
                segment=settings.segment,
                title=title,
            )
            outcome = dataclasses.replace(outcome, figure=str(figure))
        except Exception as exc:  # the stems are written; the figure is extra
            outcome = _warn(outcome, f"{name}: no figure ({type(exc).__name__}: {exc})")
    if outcome != before and job.sidecar is not None:
        try:
            write_sidecar(job, outcome, settings=settings)
        except RepetError as exc:  # the record of the stems is there; this adds to it
            reason = _reason(exc, job.source)
            outcome = _warn(outcome, f"{name}: its record lacks the extras ({reason})")
    return outcome


def _reason(exc: RepetError, source) -> str:
    """An error's message for a line that already names ``source``: without the path when
    the error is about that file (the file is named once)."""
    if exc.path is not None and exc.path == os.fspath(source):
        return exc.message
    return str(exc)


def _warn(outcome: Outcome, warning: str) -> Outcome:
    return dataclasses.replace(outcome, warnings=outcome.warnings + (warning,))


def _kept(job: Job, *, settings: Settings, base: dict) -> Outcome:
    """The outcome of a job whose outputs all exist, with `skip_existing`: skipped, since
    outputs are never replaced without `overwrite`; with `references`, their scores.

    Stems whose record says other options made them are kept too, with a warning; they are
    not scored as if these options had made them (the job fails, saying so).
    """
    outputs = tuple(str(p) for p in job.targets)
    if made_otherwise(job, settings):
        record = job.sidecar.name if job.sidecar is not None else SCORES_FILE
        name = shown_path(job.source)  # as messages name it
        made = f"{name}: its stems were made with other options (see {record})"
        if settings.references is not None:
            return Outcome(
                status="failed",
                error=f"{made}; not scored: pass `overwrite` to separate it again",
                **base,
            )
        warning = f"{made}; kept, as `overwrite` was not given"
        return Outcome(status="skipped", outputs=outputs, warnings=(warning,), **base)
    if settings.references is None:
        return Outcome(status="skipped", outputs=outputs, **base)
    try:  # a resumed evaluation: the stems there are scored (or their scores read)
        scores, framewise = score(job, settings=settings)
    except RepetError as exc:
        return Outcome(status="failed", error=f"{exc} (stems kept from before)", **base)
    return Outcome(status="skipped", outputs=outputs, scores=scores, framewise=framewise, **base)


def _exists(target: Path | str) -> bool:
    return remote.exists(target) if isinstance(target, str) else os.path.lexists(target)


def separate_job(job: Job, *, settings: Settings, progress=None, on_written=None):
    """Separate one input and write its two stems, creating their folders; raises on error.
    A job that writes only a video (:attr:`Job.video`) writes that copy instead, as one unit
    with its record in the same way.

    ``on_written(reports, info, written)``, if given, runs as soon as the stems are in place,
    with Ctrl-C and SIGTERM held back; the stems and what it writes (their record) are one
    unit: if it raises, or an interruption comes before it has run (even one held back while
    the stems were renamed into place), the stems this job wrote are removed again.

    Folders this job creates are removed again if it fails or is interrupted (when empty);
    creating and removing them is never cut short by Ctrl-C or SIGTERM.

    Returns
    -------
    reports, info, written
        As :func:`~repet_cli.segments.separate_file` returns them.
    """

    if job.remote:
        return _separate_remote(job, settings=settings, progress=progress, on_written=on_written)
    if not settings.overwrite:  # before the work, not after it
        for target in job.targets:
            if os.path.lexists(target):
                raise OutputExistsError(
                    "exists already; pass `overwrite` to replace it or `skip_existing` to keep it",
                    path=target,
                )
    if os.fspath(job.source) != STDIN and not os.path.lexists(job.source):
        # As reading it would say, without making and removing its folders first (a list of
        # a million names, most of them gone, spent half its time on those).
        raise AudioReadError("no such file", path=job.source)
    created: list[Path] = []
    before = {target: identity(target) for target in job.targets}
    whole = False  # the stems and their record are in place
    try:
        for again in (False, True):
            with signals.deferred():
                make_folders(job.targets, created)
            try:
                if job.video is not None:  # the stem goes under the picture only
                    result = separate_into_video(job, settings=settings, progress=progress)
                else:
                    result = _separate_file(
                        job.source,
                        job.background,
                        job.foreground,
                        settings=settings,
                        progress=progress,
                    )
            except AudioWriteError:
                # A job of the same batch (or another run writing into the same folder) that
                # failed may have removed a folder this one found there, while it was still
                # empty: make it again and start over, once.
                if again or all(Path(t).parent.is_dir() for t in job.targets):
                    raise
                continue
            with signals.deferred():
                if on_written is not None:
                    on_written(*result)
                whole = True
            return result
    except BaseException:
        with signals.deferred():
            if not whole:
                remove_written(job.targets, before)
            remove_empty_folders(reversed(created))  # the folders this job made
        raise


def output_bitrate(source, target, *, settings: Settings) -> int | None:
    """The bit rate of a job's outputs: ``settings.bitrate``, or for a lossy output format
    (MP3, Opus, M4A) of a lossy input, the input's (:func:`repet_cli.pyav_probe.lossy_bitrate`),
    so a 128 kbit/s MP3 does not give 192 kbit/s stems, larger than itself; None otherwise
    (the format's default)."""
    from ..formats import LOSSY_FORMATS, default_bitrate

    if settings.bitrate is not None:
        return settings.bitrate
    fmt = settings.format or os.path.splitext(os.fspath(target))[1].lower().lstrip(".")
    if fmt not in LOSSY_FORMATS or os.fspath(source) == STDIN:
        return None
    from ..pyav_probe import lossy_bitrate

    found = lossy_bitrate(source, stream=settings.stream)
    return None if found is None else default_bitrate(fmt, source_bitrate=found)


def _separate_file(source, background, foreground, *, settings: Settings, progress=None):
    """:func:`repet_cli.segments.separate_file` with the settings of a batch."""
    from ..segments import separate_file

    target = background if background is not None else foreground
    return separate_file(
        source,
        background,
        foreground,
        params=settings.params,
        segment=settings.segment,
        format=settings.format,
        subtype=settings.subtype,
        bitrate=output_bitrate(source, target, settings=settings),
        stream=settings.stream,
        overwrite=settings.overwrite,
        threads=settings.threads,
        progress=progress,
    )


def _separate_remote(job: Job, *, settings: Settings, progress=None, on_written=None):
    """:func:`separate_job` for an input or outputs in object storage: download the input,
    separate (into a temporary folder for URL outputs), upload each stem whole (create-only
    unless ``overwrite``); if an upload fails, the stems already uploaded are deleted again."""
    import shutil
    import tempfile

    uploads = [t for t in job.targets if isinstance(t, str)]
    if not settings.overwrite:
        for target in uploads:
            if remote.exists(target):
                raise OutputExistsError(
                    "exists already; pass `overwrite` to replace it or `skip_existing` to keep it",
                    path=target,
                )
    with signals.deferred():
        folder = Path(tempfile.mkdtemp(prefix="repet-"))
    try:
        source = job.source
        if isinstance(source, str):
            source = remote.download(source, folder / remote.name_of(source))
        if not uploads:  # local outputs: written in place, atomically, as always
            local_job = dataclasses.replace(job, source=source)
            return separate_job(
                local_job, settings=settings, progress=progress, on_written=on_written
            )
        local = {
            t: folder / "out" / f"{stem}{Path(remote.name_of(t)).suffix}"
            for stem, t in (("background", job.background), ("foreground", job.foreground))
            if t is not None
        }
        (folder / "out").mkdir()
        result = _separate_file(
            source,
            local.get(job.background),
            local.get(job.foreground),
            settings=dataclasses.replace(settings, overwrite=True),  # a new, private folder
            progress=progress,
        )
        done: list[str] = []
        try:
            for target in job.targets:
                remote.upload(local[target], target, overwrite=settings.overwrite)
                done.append(target)
        except BaseException:
            for url in done:  # both or neither
                remote.remove(url)
            raise
        if on_written is not None:  # objects have no record beside them: nothing to undo
            on_written(*result)
        return result
    except RepetError as exc:
        exc.path = exc.path or str(job.source)
        raise
    finally:
        with signals.deferred():
            shutil.rmtree(folder, ignore_errors=True)
