"""Batches of inputs: plan the outputs, run the jobs on an executor, collect the outcomes.

The ``repet`` command is a thin layer over this module, and a Python program can do what it
does without it::

    from repet_cli import RepetParams
    from repet_cli.batch import Settings, plan, run

    jobs = plan(["a.wav", "b.flac"], "stems")          # stems/a/background.wav, ...
    for outcome in run(jobs, settings=Settings(params=RepetParams())):
        print(outcome.source, outcome.status, outcome.found or outcome.error)

- :func:`find_inputs` turns folders into the files under them; :func:`plan` decides every
  output path (a ``filename`` template), refuses inputs that would write the same file or
  overwrite an input, and opens no input (each job reads its own).
- :func:`run_job` separates one input and writes its stems atomically (both or neither), with
  optional scoring against true stems and a figure; every failure becomes an :class:`Outcome`,
  so a batch goes on.
- :func:`run` runs many jobs on an executor, :class:`InProcess` or :class:`ProcessPool`, and
  yields their outcomes in input order; the outputs are the same whichever runs them.

Messages name library parameters in backticks (`` `overwrite` ``); the command line shows
them as its options (``--overwrite``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import string
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import remote, signals
from .errors import (
    AudioWriteError,
    EvaluationError,
    OutputExistsError,
    ParameterError,
    RepetError,
    shown_path,
    write_error,
)
from .files import STDIN, replace_file
from .formats import AudioInfo
from .io import probe
from .parallel import cpu_threads
from .params import RepetParams
from .segments import DEFAULT_SEGMENT, describe, segment_warnings

STEMS = ("background", "foreground")
#: What other separators call the stems: the names accepted for them (the files keep REPET's).
STEM_ALIASES = {
    "vocals": "foreground",
    "voice": "foreground",
    "instrumental": "background",
    "accompaniment": "background",
    "karaoke": "background",
}
DEFAULT_FILENAME = "{track}/{stem}.{ext}"
FILENAME_FIELDS = ("track", "trackext", "parent", "stem", "ext")

#: Extensions a folder given as input is searched for (audio, and video whose audio track is
#: separated), lower case without the dot.
PCM_EXTENSIONS = ("wav", "wave", "aif", "aiff", "aifc", "w64", "rf64", "caf", "au", "snd")
LOSSLESS_EXTENSIONS = ("flac", "alac", "ape", "wv")
LOSSY_EXTENSIONS = ("mp3", "ogg", "oga", "opus", "m4a", "m4b", "aac", "wma", "ac3", "mp2", "amr")
VIDEO_EXTENSIONS = ("mp4", "m4v", "mov", "mkv", "webm", "avi", "wmv", "mpg", "mpeg", "ts", "3gp")
MEDIA_EXTENSIONS = PCM_EXTENSIONS + LOSSLESS_EXTENSIONS + LOSSY_EXTENSIONS + VIDEO_EXTENSIONS


def default_format(source: str | os.PathLike) -> str:
    """The output format of an input when none is asked for, from its extension alone.

    WAV for uncompressed inputs (WAV, AIFF, ...: the outputs keep their sample format); FLAC
    for everything else: FLAC inputs, and lossy or video inputs (MP3, M4A, MP4, ...), whose
    stems would otherwise be 32-bit float WAV files many times the input's size. FLAC is
    lossless, so the stems lose nothing more than the input had lost already.
    """
    ext = os.path.splitext(os.fspath(source))[1].lower().lstrip(".")
    return "wav" if ext in PCM_EXTENSIONS or not ext else "flac"


FIGURE = "repet.png"
#: The record of how a track's stems were made, beside them; each set of stems has its own
#: (:func:`sidecar_name`), so that stems of another format in the same folder keep theirs.
SIDECAR = "repet.json"
STATUSES = ("ok", "skipped", "failed")

#: Called with seconds of audio done (a whole number, > 0) as a batch progresses.
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Job:
    """One input, the files it will produce (None: that stem is not written), and what its
    header said (None: not read yet, or unreadable)."""

    source: Path | str  # a str: a URL (see repet_cli.remote)
    background: Path | str | None
    foreground: Path | str | None
    info: AudioInfo | None = None
    #: Where the record of how the stems were made goes (:data:`SIDECAR`); None: nowhere.
    sidecar: Path | None = None
    #: A job that writes no stem but the copy of its video input with the stem
    #: ``Settings.video`` as its sound: that copy (the stem goes through a temporary file).
    video: Path | None = None

    @property
    def remote(self) -> bool:
        """True if the input or the outputs are URLs."""
        return any(isinstance(p, str) for p in (self.source, *self.targets))

    @property
    def targets(self) -> tuple[Path, ...]:
        """The files written, background first (or the video copy alone)."""
        return tuple(p for p in (self.background, self.foreground, self.video) if p is not None)

    @property
    def figure(self) -> Path:
        """Where the input's figure goes: ``repet.png`` beside its (first) stem."""
        return self.targets[0].parent / FIGURE

    @property
    def duration(self) -> float:
        """The input's length in seconds (0 when its header cannot be read)."""
        return 0.0 if self.info is None else self.info.duration

    @classmethod
    def in_folder(cls, source, folder, *, ext: str = "wav") -> Job:
        """The job writing ``folder/background.<ext>`` and ``folder/foreground.<ext>``."""
        source, folder = Path(source), Path(folder)
        return cls(source, *(folder / f"{stem}.{ext}" for stem in STEMS), info=probe(source))


def stem_named(name: str) -> str:
    """The stem a name stands for: "background" or "foreground", or one of their
    :data:`STEM_ALIASES` ("vocals" is the foreground, "karaoke" the background), any case.

    Raises
    ------
    ParameterError
    """
    key = name.lower()
    if key in STEMS:
        return key
    if key in STEM_ALIASES:
        return STEM_ALIASES[key]
    known = ", ".join(STEMS + tuple(STEM_ALIASES))
    raise ParameterError(f"`stems` {name!r} is not a stem; name one of {known}")


def check_template(template: str) -> None:
    """Refuse a ``filename`` template that cannot name two distinct stems of every input.

    Raises
    ------
    ParameterError
    """
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ParameterError(f"`filename` {template!r}: {exc}") from None
    allowed = ", ".join("{" + f + "}" for f in FILENAME_FIELDS)
    unknown = fields - set(FILENAME_FIELDS)
    if unknown or "" in fields:
        bad = ", ".join(sorted("{" + f + "}" for f in unknown)) or "{}"
        raise ParameterError(f"`filename` {template!r}: unknown field {bad}; use {allowed}")
    if "stem" not in fields:
        raise ParameterError(
            f"`filename` {template!r} must contain {{stem}}, or both stems get one name"
        )
    if os.path.isabs(template):
        raise ParameterError(f"`filename` {template!r} must be relative to `out`")


def find_inputs(
    inputs: Iterable[str | os.PathLike], *, extensions: Iterable[str] | None = None
) -> list[tuple[Path, Path]]:
    """The files to separate: ``(file, folder inside out)`` for each.

    A file stands for itself (folder ``.``); a folder stands for the files under it, at any
    depth, whose extension is one of ``extensions`` (default :data:`MEDIA_EXTENSIONS`), in
    sorted order, each with its folder relative to the one given, so the outputs keep the
    input's layout. Nothing is opened.

    A folder holding no such file stands for itself, and its job fails, saying so.
    """
    wanted = {e.lower().lstrip(".") for e in (extensions or MEDIA_EXTENSIONS)}
    found = []
    for item in inputs:
        if remote.is_url(item):  # an object: no folder search
            found.append((item, Path(".")))
            continue
        path = Path(item)
        if not path.is_dir():
            found.append((path, Path(".")))
            continue
        files = []
        for folder, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(names):
                if os.path.splitext(name)[1].lower().lstrip(".") in wanted:
                    here = Path(folder) / name
                    files.append((here, here.parent.relative_to(path)))
        found += files or [(path, Path("."))]  # its job says what is wrong with it
    return found


def plan(
    inputs: Iterable[str | os.PathLike | tuple[str | os.PathLike, str | os.PathLike]],
    out: str | os.PathLike,
    *,
    template: str = DEFAULT_FILENAME,
    format: str | None = None,
    stems: Iterable[str] = STEMS,
    video: str | None = None,
) -> list[Job]:
    """One job per input, before any work; no input is opened (that is each job's first step).

    Parameters
    ----------
    inputs : paths, or (path, folder) pairs
        The audio or video files, in order; a pair's folder (from :func:`find_inputs`) is put
        between ``out`` and the ``template``.
    out : path
        The folder the outputs go into.
    template : str
        Output paths inside ``out`` from ``{track}`` (the input's name without extension),
        ``{trackext}`` (its extension, without the dot), ``{parent}`` (its folder's name),
        ``{stem}`` (background or foreground) and ``{ext}`` (the output's extension).
    format : str, optional
        Output format; by default :func:`default_format` of each input.
    stems : names
        The stems written: "background", "foreground" or both (or :data:`STEM_ALIASES` of
        them: "vocals", "karaoke", ...); none, with ``video``, for jobs that write only a
        video.
    video : str, optional
        With no ``stems``: each job writes only the copy of its video input with this stem as
        its sound (:attr:`Job.video`), named by the template with the input's extension
        (``talk/foreground.mp4``); run it with ``Settings(video=...)`` of the same stem. (With
        stems, ``Settings.video`` alone asks for the copy beside them.)

    Raises
    ------
    ParameterError
        A bad template, an input given twice, two inputs that would write the same file, or
        an output that is an input.
    """
    check_template(template)
    stems = tuple(dict.fromkeys(stem_named(s) for s in stems))
    only_video = not stems
    if only_video:
        if video is None:
            raise ParameterError(
                "`stems` must name background, foreground or both, or none with `video`"
            )
        stems = (stem_named(video),)
    out_url = remote.is_url(out)
    out = out if out_url else Path(out)
    real_out = None if out_url else os.path.realpath(out)
    pairs = [item if isinstance(item, tuple) else (item, ".") for item in inputs]
    sources = [s if remote.is_url(s) else Path(s) for s, _ in pairs]
    owners: dict[str, Path | str] = {}
    real_targets: dict[str, Path] = {}
    jobs = []
    for source, (_, folder) in zip(sources, pairs, strict=True):
        ext = format or default_format(source)
        if only_video:  # the copy keeps the video's container
            ext = remote.name_of(source) if isinstance(source, str) else source.name
            ext = os.path.splitext(ext)[1].lower().lstrip(".") or "mp4"
        if isinstance(source, str):  # a URL
            absolute = source
            name = Path(remote.name_of(source))
            fields = {
                "track": name.stem,
                "trackext": name.suffix.lstrip("."),
                "parent": remote.parent_name(source),
            }
        else:
            absolute = os.path.abspath(source)
            fields = {
                "track": "stdin" if os.fspath(source) == STDIN else source.stem,
                "trackext": source.suffix.lstrip("."),
                "parent": os.path.basename(os.path.dirname(absolute)),
            }
        inside = {
            stem: os.path.join(folder, template.format(stem=stem, ext=ext, **fields))
            for stem in stems
        }
        if out_url:
            paths = {stem: remote.join(out, *Path(part).parts) for stem, part in inside.items()}
        else:
            paths = {stem: out / part for stem, part in inside.items()}
        for part, path in zip(inside.values(), paths.values(), strict=True):
            if out_url:
                key = path
            else:
                # Where it really goes: the folders under `out` are made by the jobs.
                real_targets[os.path.normpath(os.path.join(real_out, part))] = path
                key = os.path.normcase(os.path.abspath(path)).casefold()
            first = owners.setdefault(key, source)
            if first is source:
                continue
            if (first if isinstance(first, str) else os.path.abspath(first)) == absolute:
                raise ParameterError(f"{source} is given twice")
            better = _resolving(template, first, source)
            hint = f"tell them apart with `filename` '{better}' or " if better else ""
            raise ParameterError(
                f"{first} and {source} would both write {path}; {hint}separate them into "
                "different `out` folders (or give their common folder as the input, which "
                "keeps its layout)"
            )
        if only_video:
            jobs.append(Job(source, None, None, video=paths[stems[0]]))
        else:
            jobs.append(Job(source, paths.get("background"), paths.get("foreground")))
    jobs = _with_sidecars(jobs)
    folders: dict[str, str] = {}  # the real path of each input's folder, looked up once
    for source in sources if real_targets else ():
        if isinstance(source, str):
            continue
        name = os.path.abspath(source)
        head, tail = os.path.split(name)
        if head not in folders:
            folders[head] = os.path.realpath(head)
        real = os.path.realpath(name) if os.path.islink(name) else os.path.join(folders[head], tail)
        if real in real_targets:
            raise ParameterError(
                f"{real_targets[real]} is both an input and an output; choose another `out` "
                "folder or `filename`"
            )
    return jobs


def sidecar_name(first: Path, source, *, alone: bool) -> str:
    """The name of the record (:data:`SIDECAR`) of the stems whose first is ``first``.

    ``repet.json`` for a track alone in its folder, ``<first stem>.repet.json`` where the
    folder holds several tracks' stems; stems in another format than the input's default
    (:func:`default_format`) add their extension (``mp3.repet.json``,
    ``a-background.mp3.repet.json``): the MP3 and the FLAC stems of one song, written into
    one folder by two runs, each keep the record of how they were made.
    """
    name = remote.name_of(source) if isinstance(source, str) else os.fspath(source)
    ext = first.suffix.lower().lstrip(".")
    parts = ([] if alone else [first.stem]) + ([] if ext == default_format(name) else [ext])
    return ".".join([*parts, SIDECAR])


def _with_sidecars(jobs: list[Job]) -> list[Job]:
    """Each local job with its record's path (:func:`sidecar_name`), beside its first stem."""
    import collections

    def local(job: Job) -> bool:
        return bool(job.targets) and not isinstance(job.targets[0], str)

    sharing = collections.Counter(Path(j.targets[0]).parent for j in jobs if local(j))
    out = []
    for job in jobs:
        if local(job):
            first = Path(job.targets[0])
            name = sidecar_name(first, job.source, alone=sharing[first.parent] == 1)
            job = dataclasses.replace(job, sidecar=first.parent / name)
        out.append(job)
    return out


def shard(jobs: list[Job], spec: str) -> list[Job]:
    """The jobs of shard ``"K/N"``: every N-th job from the K-th (0-based), so that N runs with
    K = 0 .. N-1 (a job array) process every job exactly once between them.

    Raises
    ------
    ParameterError
        A spec that is not ``K/N`` with ``0 <= K < N``.
    """
    try:
        k, n = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ParameterError(f"`shard` must be K/N, e.g. 3/100, got {spec!r}") from None
    if not (n >= 1 and 0 <= k < n):
        raise ParameterError(f"`shard` {spec}: K must be 0 to N-1 (0/{n} .. {max(n, 1) - 1}/{n})")
    return jobs[k::n]


def options_hash(settings: Settings) -> str:
    """A short hash of everything in ``settings`` that changes the stems' content or format
    (not where they go, nor how the batch runs), for the ledger."""
    import hashlib
    import json

    what = {
        "params": repr(settings.params),
        "segment": settings.segment,
        "format": settings.format,
        "subtype": settings.subtype,
        "bitrate": settings.bitrate,
        "stream": settings.stream,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


class Ledger:
    """An append-only JSON-lines record of a batch, one line per finished input.

    Each line: input, status, error, outputs (path and sha256 of each), duration, seconds,
    attempt, host, repet version, the hash of the options (:func:`options_hash`) and the time.
    Written by the process that runs the batch only (workers return outcomes), each line
    flushed as it is written, so a batch stopped at any point leaves whole lines.
    """

    def __init__(self, path: str | os.PathLike, *, settings: Settings):
        self.path = Path(path)
        self.options = options_hash(settings)

    def done(self) -> dict[str, dict]:
        """The last ``ok`` record of each input made with the same options, by input path;
        lines that are not whole JSON records (a line cut by a crash) are passed over."""
        import json

        found: dict[str, dict] = {}
        if not self.path.is_file():
            return found
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("status") == "ok" and record.get("options") == self.options:
                    found[os.path.abspath(record["input"])] = record
        return found

    def append(self, outcome: Outcome) -> None:
        """Add the record of one outcome.

        Raises
        ------
        AudioWriteError
            The ledger cannot be written.
        """
        import json
        import socket

        from . import __version__

        record = {
            "input": outcome.source,
            "status": outcome.status,
            "error": outcome.error,
            "outputs": [{"path": p, "sha256": _sha256(p)} for p in outcome.outputs]
            if outcome.status == "ok"
            else [],
            "duration": outcome.duration,
            "seconds": round(outcome.seconds, 3),
            "attempt": outcome.attempts,
            "host": socket.gethostname(),
            "version": __version__,
            "options": self.options,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        try:
            with signals.deferred(), open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as exc:
            raise write_error(exc, path=self.path) from None


def _sha256(path: str) -> str | None:
    import hashlib

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def with_headers(jobs: list[Job], *, stream: int | None = None) -> list[Job]:
    """The same jobs with what each input's header says (:func:`~repet_cli.io.probe`), for a
    progress bar in seconds of audio; opens every input, so large batches go without."""
    return [dataclasses.replace(job, info=probe(job.source, stream=stream)) for job in jobs]


def _resolving(template: str, first: Path, second: Path) -> str | None:
    """A ``filename`` template that tells ``first`` and ``second`` apart, built on ``template``:
    by extension where theirs differ (song.wav, song.mp3), else by folder name; None if
    neither tells them apart."""
    if first.suffix.lower() != second.suffix.lower() and "{trackext}" not in template:
        if "{track}" in template:
            return template.replace("{track}", "{track}.{trackext}", 1)
        return "{trackext}/" + template
    parents = [os.path.basename(os.path.dirname(os.path.abspath(p))) for p in (first, second)]
    if "{parent}" not in template and parents[0] != parents[1]:
        return "{parent}/" + template
    return None


def check_figures(jobs: list[Job]) -> None:
    """Refuse jobs whose figures would overwrite each other (two tracks in one folder).

    Raises
    ------
    ParameterError
    """
    drawn: dict[Path, Path] = {}
    for job in jobs:
        other = drawn.setdefault(job.figure, job.source)
        if other is not job.source:
            raise ParameterError(
                f"{other} and {job.source} would draw the same figure {job.figure}; give each "
                "track its own folder in `filename`"
            )


@dataclass(frozen=True)
class Settings:
    """How every input of a batch is separated and written (picklable, for worker processes).

    Attributes
    ----------
    params : RepetParams
        The separation options.
    overwrite, skip_existing : bool
        Replace existing outputs; or leave inputs whose outputs all exist alone.
    segment : float
        Long inputs are separated in segments of about this many seconds (0: whole).
    threads : int, optional
        Threads for each job (default: one per core).
    format, subtype : str, optional
        Output format and sample format (see :func:`~repet_cli.formats.output_format`).
    bitrate : int, optional
        Bits per second of a lossy output format (MP3, Opus, M4A); by default a lossy input's
        own (:func:`output_bitrate`), else the format's default.
    stream : int, optional
        The audio stream of each input to separate (0: the first, the default).
    video : str, optional
        "background" or "foreground": for a video input, also write a copy of the video with
        that stem as its audio (the picture copied, not re-encoded), beside the stems as
        ``<stem>.<the video's extension>``.
    retries : int
        Times an input is tried again after a transient failure (a network transfer of
        object storage); a bad input is never retried.
    plot : bool
        Also draw each input's figure (needs matplotlib).
    references : path, optional
        Score each input against its true stems in ``references/<name>/``.
    framewise : bool
        With ``references``, also the SiSEC 2018 figures (BSS Eval v4 on 1-s windows), kept
        with every window's values in ``scores.json`` beside the stems (museval's layout).
    """

    params: RepetParams = dataclasses.field(default_factory=RepetParams)
    overwrite: bool = False
    skip_existing: bool = False
    segment: float = DEFAULT_SEGMENT
    threads: int | None = None
    format: str | None = None
    subtype: str | None = None
    bitrate: int | None = None
    stream: int | None = None
    video: str | None = None
    retries: int = 0
    plot: bool = False
    references: Path | None = None
    framewise: bool = False


@dataclass(frozen=True)
class Outcome:
    """What became of one input (picklable: it comes back from worker processes)."""

    source: str
    status: str  # one of STATUSES
    error: str | None = None
    trace: str | None = None  # for an unexpected error (a bug): its traceback
    found: str = ""
    periods: tuple[float | None, ...] = ()
    confidences: tuple[float | None, ...] = ()  # how clearly each segment repeats (0 to 1)
    details: str = ""
    warnings: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    figure: str | None = None
    scores: dict | None = None  # stem -> metric -> dB, with references
    framewise: dict | None = None  # stem -> metric -> median dB over 1-s windows
    input_sha256: str | None = None
    duration: float = 0.0
    seconds: float = 0.0
    attempts: int = 1
    #: The output disk cannot take more (read-only, full): the inputs after it would fail too.
    stops_batch: bool = False
    #: Ctrl-C or SIGTERM came once this input's stems and record were whole: it is done, and
    #: the batch stops after it.
    interruption: KeyboardInterrupt | None = None

    def as_dict(self) -> dict:
        """A JSON-ready record."""
        record = {"input": self.source, "status": self.status}
        if self.error is not None:
            record["error"] = self.error
        if self.status == "ok":
            record.update(
                found=self.found,
                periods=list(self.periods),
                confidences=list(self.confidences),
                warnings=list(self.warnings),
            )
        elif self.warnings:
            record["warnings"] = list(self.warnings)
        record.update(outputs=list(self.outputs), duration=self.duration, seconds=self.seconds)
        if self.attempts > 1:
            record["attempts"] = self.attempts
        if self.figure is not None:
            record["figure"] = self.figure
        if self.scores is not None:
            record["scores"] = self.scores
        if self.framewise is not None:
            record["framewise_median"] = self.framewise
        if self.input_sha256 is not None:
            record["input_sha256"] = self.input_sha256
        return record


@dataclass(frozen=True)
class Summary:
    """Counts of a batch's outcomes."""

    ok: int
    skipped: int
    failed: int
    not_started: int

    @classmethod
    def of(cls, outcomes: list[Outcome], *, planned: int) -> Summary:
        count = {s: sum(o.status == s for o in outcomes) for s in STATUSES}
        return cls(**count, not_started=planned - len(outcomes))

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "skipped": self.skipped,
            "failed": self.failed,
            "not started": self.not_started,
        }


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
    digest = _input_sha256(job)
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
        from .plot import draw_file

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


def _input_sha256(job: Job) -> str | None:
    """The checksum of a job's input for its record: a local regular file only (a named pipe
    is read once, standard input is not a file, a URL is downloaded by the job)."""
    if job.sidecar is None or isinstance(job.source, str) or str(job.source) == STDIN:
        return None
    return _sha256(os.fspath(job.source)) if os.path.isfile(job.source) else None


def _kept(job: Job, *, settings: Settings, base: dict) -> Outcome:
    """The outcome of a job whose outputs all exist, with `skip_existing`: skipped, since
    outputs are never replaced without `overwrite`; with `references`, their scores.

    Stems whose record says other options made them are kept too, with a warning; they are
    not scored as if these options had made them (the job fails, saying so).
    """
    outputs = tuple(str(p) for p in job.targets)
    if _made_otherwise(job, settings):
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
    created: list[Path] = []
    before = {target: _identity(target) for target in job.targets}
    whole = False  # the stems and their record are in place
    try:
        for again in (False, True):
            with signals.deferred():
                make_folders(job.targets, created)
            try:
                if job.video is not None:  # the stem goes under the picture only
                    result = _separate_into_video(job, settings=settings, progress=progress)
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


def _identity(path) -> tuple[int, int, int] | None:
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
        if _identity(target) not in (None, before.get(target)):
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
    from .files import refuse_existing, whole_or_nothing
    from .pyav_remux import replace_audio

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


def _separate_into_video(job: Job, *, settings: Settings, progress=None):
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

    from .formats import LOSSY_FORMATS
    from .segments import separate_file

    stem = settings.video
    if stem not in STEMS:
        raise ParameterError("a job that writes only a video needs `video`: the stem it sounds")
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


def output_bitrate(source, target, *, settings: Settings) -> int | None:
    """The bit rate of a job's outputs: ``settings.bitrate``, or for a lossy output format
    (MP3, Opus, M4A) of a lossy input, the input's (:func:`repet_cli.pyav_probe.lossy_bitrate`),
    so a 128 kbit/s MP3 does not give 192 kbit/s stems, larger than itself; None otherwise
    (the format's default)."""
    from .formats import LOSSY_FORMATS, default_bitrate

    if settings.bitrate is not None:
        return settings.bitrate
    fmt = settings.format or os.path.splitext(os.fspath(target))[1].lower().lstrip(".")
    if fmt not in LOSSY_FORMATS or os.fspath(source) == STDIN:
        return None
    from .pyav_probe import lossy_bitrate

    found = lossy_bitrate(source, stream=settings.stream)
    return None if found is None else default_bitrate(fmt, source_bitrate=found)


def _separate_file(source, background, foreground, *, settings: Settings, progress=None):
    """:func:`repet_cli.segments.separate_file` with the settings of a batch."""
    from .segments import separate_file

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


#: The sidecar beside a job's stems that holds its scores with ``framewise`` (museval's
#: layout: ``targets`` -> ``frames`` -> ``metrics``, plus the whole-signal figures).
SCORES_FILE = "scores.json"


def references_of(job: Job, references: Path) -> dict:
    """A job's true stems (:func:`~repet_cli.evaluate.load_stems`'s entries): those inside
    its input for a MUSDB18 ``.stem.mp4`` in ``references``, else the files of
    :func:`reference_folder`."""
    from . import evaluate as ev

    source = Path(os.path.abspath(job.source))
    inside = Path(os.path.abspath(references)) in source.parents
    if inside and source.name.lower().endswith(ev.STEM_MP4):
        return ev.stem_mp4_references(source)
    return ev.reference_files(reference_folder(job, references))


def reference_folder(job: Job, references: Path) -> Path:
    """Where a job's true stems are: ``references/<input name>/``, else
    ``references/<input's folder name>/``, else, for an input inside ``references`` (a
    dataset's ``<track>/mixture.wav``), the input's own folder."""
    from . import evaluate as ev

    source = Path(os.path.abspath(job.source))
    candidates = [references / job.source.stem, references / source.parent.name]
    if Path(os.path.abspath(references)) in source.parents:
        candidates.append(source.parent)
    folder = next((c for c in candidates if c.is_dir() and _has_references(c, ev)), None)
    if folder is None:
        raise EvaluationError(
            f"no reference folder {' or '.join(str(c) for c in dict.fromkeys(candidates))}"
        )
    return folder


def track_name(source) -> str:
    """A track's name: the file's, without ``.stem.mp4`` or the extension, or its folder's
    for a dataset's ``<track>/mixture.wav``."""
    from .evaluate import STEM_MP4

    name = os.path.basename(os.fspath(source))
    if name.lower().endswith(STEM_MP4):
        return name[: -len(STEM_MP4)]
    stem, _ = os.path.splitext(name)
    parent = os.path.basename(os.path.dirname(os.path.abspath(source)))
    return parent if stem == "mixture" and parent else stem


def _has_references(folder: Path, ev) -> bool:
    try:
        ev.reference_files(folder)
    except EvaluationError:
        return False
    return True


def _made_otherwise(job: Job, settings: Settings) -> bool:
    """True if the record of a job's stems (:func:`read_record`, else the scores kept with
    ``framewise``) says that options other than these made them."""
    if isinstance(job.targets[0], str):
        return False
    records = [read_record(job)]
    if settings.framewise:
        try:
            records.append(json.loads((Path(job.targets[0]).parent / SCORES_FILE).read_text()))
        except (OSError, ValueError):
            pass
    for record in records:
        if isinstance(record, dict) and record.get("options_hash") is not None:
            return record["options_hash"] != options_hash(settings)
    return False


def write_sidecar(job: Job, outcome: Outcome, *, settings: Settings) -> None:
    """Record beside the stems how they were made: repet's version, every option, the
    algorithm, the periods and confidences found, the warnings, the input's checksum and
    duration, the time taken, the outputs with their sizes (which tie the record to these
    files), and the scores and figure when there are some (a file written whole, or not at
    all)."""
    from . import __version__

    record = {
        "repet": __version__,
        "input": os.path.abspath(job.source),
        "input_sha256": outcome.input_sha256,
        "duration": outcome.duration,
        "options_hash": options_hash(settings),
        "options": {
            "params": dataclasses.asdict(settings.params),
            "segment": settings.segment,
            "format": settings.format,
            "subtype": settings.subtype,
            "bitrate": settings.bitrate,
            "stream": settings.stream,
        },
        "algorithm": settings.params.algorithm,
        "found": outcome.found,
        "periods": list(outcome.periods),
        "confidences": list(outcome.confidences),
        "warnings": list(outcome.warnings),
        "outputs": [os.path.basename(p) for p in outcome.outputs],
        "output_bytes": [_size(p) for p in outcome.outputs],
        "seconds": round(outcome.seconds, 3),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if outcome.figure is not None:
        record["figure"] = os.path.basename(outcome.figure)
    if outcome.scores is not None:
        record["scores"] = outcome.scores
    if outcome.framewise is not None:
        record["framewise_median"] = outcome.framewise
    replace_file(job.sidecar, json.dumps(record, indent=1) + "\n")


def _size(path) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def read_record(job: Job) -> dict | None:
    """The record of a job's stems (:func:`write_sidecar`) if it describes the files there
    now: it names them, and they have the sizes it gives. None where there is no record, it
    cannot be read, or it is about other files (the stems were replaced, or removed)."""
    if job.sidecar is None or not job.targets:
        return None
    try:
        record = json.loads(job.sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("outputs"), list):
        return None
    stems = [os.path.basename(p) for p in job.targets]
    if record["outputs"][: len(stems)] != stems:
        return None
    sizes = [_size(p) for p in job.targets]
    if None in sizes:
        return None
    recorded = record.get("output_bytes")
    if isinstance(recorded, list) and recorded[: len(sizes)] != sizes:
        return None
    return record


def on_disk(job: Job, outcome: Outcome) -> Outcome:
    """What a job's outputs are now, for a report: ``outcome`` where this run separated the
    input; else, where the job's stems are there with their record (:func:`read_record`),
    an outcome "skipped" that says what the record says (what was found, the confidences,
    the warnings, the scores and figure), with this run's error, if any, as a warning; else
    ``outcome`` (the input failed, and nothing of it is there)."""
    if outcome.status == "ok":
        return outcome
    record = read_record(job)
    if record is None:
        return outcome
    folder = Path(job.targets[0]).parent
    figure = folder / record["figure"] if isinstance(record.get("figure"), str) else None
    warnings = tuple(str(w) for w in record.get("warnings") or ())
    if outcome.error is not None:
        warnings += (f"this run: {outcome.error}",)
    return dataclasses.replace(
        outcome,
        status="skipped",
        error=None,
        found=str(record.get("found") or ""),
        periods=tuple(record.get("periods") or ()),
        confidences=tuple(record.get("confidences") or ()),
        warnings=warnings + outcome.warnings,
        outputs=tuple(str(p) for p in job.targets),
        figure=str(figure) if figure is not None and figure.is_file() else None,
        scores=outcome.scores or record.get("scores"),
        framewise=outcome.framewise or record.get("framewise_median"),
        duration=record.get("duration") or outcome.duration,
        input_sha256=record.get("input_sha256"),
    )


def score(job: Job, *, settings: Settings) -> tuple[dict, dict | None]:
    """A job's whole-signal scores (`repet evaluate`) against its true stems (see
    :func:`reference_folder`) and, with ``settings.framewise``, the medians of the SiSEC
    figures; those and every window's values also go into :data:`SCORES_FILE` beside the
    stems, which a later run with the same options reads instead of scoring again.
    """
    from . import evaluate as ev

    truth = references_of(job, settings.references)
    estimates = dict(zip(ev.STEMS, job.targets, strict=True))
    threads = settings.threads or cpu_threads()
    sidecar = Path(job.targets[0]).parent / SCORES_FILE
    if not settings.framewise:
        return ev.evaluate_files(truth, estimates, workers=threads), None
    digest = options_hash(settings)
    kept = ev.read_scores(sidecar, options_hash=digest, estimates=estimates)
    if kept is not None:
        return kept
    ref, est, sr = ev.load_stems(truth, estimates)
    whole, frames, medians = ev.framewise_scores_of(ref, est, sr, workers=threads)
    del ref, est
    record = ev.museval_record(
        track_name(job.source), frames, whole=whole, extra={"options_hash": digest}
    )
    replace_file(sidecar, json.dumps(record, indent=1))
    return whole, medians


# -- Executors -------------------------------------------------------------------------------


class InProcess:
    """Runs the jobs one after the other in this process; progress moves after every segment.

    An outcome is handed over with Ctrl-C and SIGTERM held back until the consumer asks for
    the next one (or closes the iterator): an interruption just after an input is done never
    loses its outcome between this generator and the consumer's list.
    """

    def outcomes(self, task, jobs: list[Job], progress: Progress | None) -> Iterator[Outcome]:
        for job in jobs:
            counted = 0
            info = job.info or (probe(job.source) if progress is not None else None)

            def advance(samples_done: int, sr=info.samplerate if info else 0) -> None:
                nonlocal counted
                seconds = round(samples_done / sr)
                if progress is not None and seconds > counted:
                    progress(seconds - counted)
                counted = max(counted, seconds)

            outcome = task(job, progress=advance if info is not None else None)
            if progress is not None and round(outcome.duration) > counted:
                progress(round(outcome.duration) - counted)
            with signals.deferred():  # held back until the consumer has taken it
                yield outcome
            if outcome.interruption is not None:  # the job was stopped once it was whole
                raise outcome.interruption


class ProcessPool:
    """Runs the jobs in ``workers`` processes; progress moves as each job finishes.

    Stopping early (an interrupt, closing the iterator) cancels the jobs not started and stops
    the running ones, which remove their temporary files and folders before they exit.
    """

    def __init__(self, workers: int):
        self.workers = max(1, workers)

    def outcomes(self, task, jobs: list[Job], progress: Progress | None) -> Iterator[Outcome]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # On Linux the workers are forked: they start in milliseconds with what this process
        # has imported, where spawned ones take 0.3-0.4 s each to start Python and import
        # numpy, scipy and the package (16 thirty-second songs on 2 cores: 3.98 s instead of
        # 4.27, medians of 5). The pool forks all of them at its first submit, before it
        # starts any thread of its own, and this process runs no separation then; output
        # still buffered here is flushed so that no child writes it again.
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        context = multiprocessing.get_context(method)
        sys.stdout.flush()
        sys.stderr.flush()
        with signals.blocked():
            pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=signals.worker_handlers
            )
            futures = [pool.submit(_in_worker, task, job) for job in jobs[:1]]
        given = 0  # outcomes yielded
        closing = False
        try:
            futures += [pool.submit(_in_worker, task, job) for job in jobs[1:]]
            for future in futures:
                outcome = _result(future)
                if progress is not None and round(outcome.duration) > 0:
                    progress(round(outcome.duration))
                with signals.deferred():  # handed over as InProcess does
                    given += 1
                    closing = True  # until the consumer comes back for more
                    yield outcome
                    closing = False
        except BaseException as exc:
            with signals.deferred():
                pool.shutdown(wait=False, cancel_futures=True)
                children = multiprocessing.active_children()
                for child in children:
                    child.terminate()  # SIGTERM: a busy worker cleans up, then exits
                for child in children:
                    child.join(timeout=60)
            if isinstance(exc, KeyboardInterrupt) and not closing:
                # What the workers had finished when they stopped is on disk: it is counted.
                yield from _finished(futures[given:], jobs[given:], exc)
            raise
        pool.shutdown()


#: Seconds between the main thread's checks for a signal while it waits for a worker's result.
SIGNAL_POLL = 0.1


def _result(future):
    """``future.result()``, waking every :data:`SIGNAL_POLL` seconds so that a Ctrl-C or SIGTERM
    is acted on at once: Linux may deliver the signal to one of this process's other threads
    (the progress bar's, the pool's), and then a wait without a timeout is not interrupted, and
    Python runs its handler only once the result is in (a whole input later)."""
    while True:
        try:
            return future.result(timeout=SIGNAL_POLL)
        except TimeoutError:
            continue


def _finished(futures, jobs: list[Job], interruption: KeyboardInterrupt) -> Iterator[Outcome]:
    """After an interruption, the outcomes of the jobs whose futures came back, in input
    order, each with ``interruption`` set; a job before the last of them that did not come
    back was stopped, and left nothing (its outcome says so)."""
    from concurrent.futures import wait

    wait([f for f in futures if not f.cancelled()], timeout=SIGNAL_POLL * 50)
    back = [
        f.done() and not f.cancelled() and f.exception() is None and f.result() is not None
        for f in futures
    ]
    last = max((i for i, ok in enumerate(back) if ok), default=-1)
    for future, job, ok in zip(futures[: last + 1], jobs, back, strict=False):
        if ok:
            yield dataclasses.replace(future.result(), interruption=interruption)
        else:
            yield Outcome(
                source=str(job.source),
                status="failed",
                error=f"{shown_path(job.source)}: {signals.describe(interruption)} before its "
                "stems were whole; nothing of it was left",
                interruption=interruption,
            )


def _in_worker(task, job: Job) -> Outcome:
    """Run ``task(job)`` in a worker process; a SIGTERM cleans up, then ends the process."""
    try:
        with signals.busy():
            return task(job)
    except KeyboardInterrupt:
        os._exit(143)  # the job's temporary files are gone; nobody waits for a result


def run(
    jobs: list[Job],
    *,
    settings: Settings,
    executor: InProcess | ProcessPool | None = None,
    progress: Progress | None = None,
) -> Iterator[Outcome]:
    """The :class:`Outcome` of every job, in input order, as each is known.

    Stopping the iteration early (``--fail-fast``) or an interruption stops the executor.

    Parameters
    ----------
    jobs : list of Job
        From :func:`plan`.
    settings : Settings
        How to separate and write.
    executor : InProcess or ProcessPool, optional
        What runs the jobs (default: this process). With a pool and ``settings.threads``
        unset, each job gets an equal share of the cores.
    progress : callable, optional
        Called with seconds of audio done, as the batch progresses.
    """
    import functools

    executor = InProcess() if executor is None else executor
    if settings.threads is None:
        workers = getattr(executor, "workers", 1)
        share = max(1, cpu_threads() // max(1, min(workers, len(jobs))))
        share = getattr(executor, "threads_per_job", None) or share
        settings = dataclasses.replace(settings, threads=share)
    task = functools.partial(run_job, settings=settings)
    return executor.outcomes(task, jobs, progress)


def compare(
    song: str | os.PathLike,
    params: dict[str, RepetParams],
    *,
    out: str | os.PathLike,
    segment: float = DEFAULT_SEGMENT,
    overwrite: bool = False,
    references: dict[str, Path] | None = None,
    progress: Callable[[float], None] | None = None,
) -> Iterator[tuple[str, dict | RepetError]]:
    """Separate one song with several algorithms into ``out/<track>/<algorithm>/``.

    Existing outputs are refused before any work unless ``overwrite``
    (:class:`~repet_cli.errors.OutputExistsError`, raised by the first step).

    Yields ``(algorithm, row)`` per entry of ``params``: the row holds what was found, the
    period, the time taken, the outputs and, with ``references`` (``{"background": path,
    "foreground": path}``), the scores of the files written; or ``(algorithm, error)``.
    ``progress`` is called with seconds of the song done, within each separation and each
    scoring (a scoring counts as :data:`SCORING_WEIGHT` times the song's length).
    """
    from . import evaluate as ev
    from .files import refuse_existing
    from .spectral import warm_up

    song = Path(song)
    jobs = {
        algorithm: Job(song, *(Path(out) / song.stem / algorithm / f"{s}.wav" for s in STEMS))
        for algorithm in params
    }
    if not overwrite:  # before any work: "exists already; pass `overwrite` to replace it"
        refuse_existing(path for job in jobs.values() for path in job.targets)
    warm_up()  # so that the first algorithm's time does not include library start-up
    info = probe(song)
    for algorithm, p in params.items():
        job = dataclasses.replace(jobs[algorithm], info=info)
        start = time.perf_counter()
        try:
            settings = Settings(params=p, overwrite=overwrite, segment=segment, format="wav")
            samples = None
            if progress is not None and info is not None and info.samplerate:
                samples = _increments(progress, rate=info.samplerate)
            reports, _, _ = separate_job(job, settings=settings, progress=samples)
            row = {
                "algorithm": algorithm,
                "found": describe(reports),
                "period": reports[0].period if len(reports) == 1 else [r.period for r in reports],
                "seconds": time.perf_counter() - start,
                "outputs": [str(job.background), str(job.foreground)],
            }
            if references is not None:
                estimates = {"background": job.background, "foreground": job.foreground}
                scored = None
                if progress is not None and info is not None:
                    share = SCORING_WEIGHT * info.duration
                    scored = lambda f, share=share: progress(f * share)  # noqa: E731
                row["scores"] = ev.evaluate_files(
                    references, estimates, workers=cpu_threads(), progress=scored
                )
        except RepetError as exc:
            yield algorithm, exc
            continue
        yield algorithm, row


def _increments(progress: Callable[[float], None], *, rate: int) -> Callable[[int], None]:
    """A job's progress (samples done so far) as seconds done since the last call."""
    done = 0

    def advance(samples: int) -> None:
        nonlocal done
        if samples > done:
            progress((samples - done) / rate)
            done = samples

    return advance


#: The time a scoring takes against a separation of the same song, for progress bars.
SCORING_WEIGHT = 0.5


def compare_table(rows: list[dict]) -> str:
    """The table `repet compare` prints: one row per algorithm, scores where there are some."""
    header = ["algorithm", "found", "time (s)"]
    scored = all("scores" in r for r in rows)
    if scored:
        header += ["bg SDR", "bg SI-SDR", "fg SDR", "fg SI-SDR"]
    body = []
    for r in rows:
        line = [r["algorithm"], r["found"], f"{r['seconds']:.2f}"]
        if scored:
            s = r["scores"]
            line += [
                f"{s[stem][metric]:.2f}"
                for stem in ("background", "foreground")
                for metric in ("sdr", "si_sdr")
            ]
        body.append(line)
    widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(x, widths, strict=True))
        )
        for x in [header, *body]
    )
