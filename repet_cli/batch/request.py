"""A `repet separate` run as data: what it was asked (:class:`Request`, its options in the
groups the command's help shows, checked together on construction), the batch that follows
from it (:func:`prepare`: inputs found, every output planned, before any work) and its run
(:func:`outcomes`, with the ledger).

A Python program does what the command does without it::

    from repet_cli.batch.request import Inputs, Outputs, Request, executor_of, outcomes, prepare

    request = Request(inputs=Inputs(names=("a.wav", "music/")), outputs=Outputs(out="stems"))
    prepared = prepare(request)
    for job, outcome in outcomes(prepared, executor=executor_of(prepared)):
        print(outcome.source, outcome.status, outcome.found or outcome.error)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ParameterError, RepetError, shown_path
from ..files import STDIN
from ..formats import check_requested_subtype, requested_bitrate
from ..params import RepetParams
from ..segments import DEFAULT_SEGMENT, check_segment
from .planning import DEFAULT_FILENAME, STEMS, Job, stem_named
from .provenance import Ledger
from .settings import Outcome, Settings

#: The ``filename`` of a dataset's stems: ``<track>/<stem>.<ext>``, MUSDB18's layout.
DATASET_FILENAME = "{stem}.{ext}"


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """What to separate.

    Attributes
    ----------
    names : tuple of str
        Audio or video files, folders (searched at any depth; the outputs keep their layout),
        URLs, or ``"-"`` for standard input.
    files_from : path, optional
        A file naming more inputs, one a line (``"-"``: standard input).
    null : bool
        The names in ``files_from`` end with NUL, not newline.
    ext : str, optional
        Comma-separated extensions a folder is searched for (default: audio and video).
    stream : int, optional
        The audio stream of each input to separate (0: the first, the default).
    """

    names: tuple[str | os.PathLike, ...] = ()
    files_from: str | os.PathLike | None = None
    null: bool = False
    ext: str | None = None
    stream: int | None = None


@dataclass(frozen=True, kw_only=True)
class Outputs:
    """Where and how the stems are written.

    Attributes
    ----------
    out : path or str
        The output folder, a URL (object storage), or ``"-"``: the one stem chosen with
        ``stems`` goes to standard output.
    filename : str
        Output paths inside ``out`` (see :func:`~repet_cli.batch.plan`).
    format, subtype, bitrate : optional
        Output format, sample format and bit rate (``"192k"``); defaults by input.
    stems : str
        ``"both"``, ``"background"``, ``"foreground"`` (or another separator's name for one)
        or ``"none"``: only the ``video`` copy.
    video : str, optional
        The stem a video input's copy gets as its sound.
    """

    out: str | os.PathLike = "separated"
    filename: str = DEFAULT_FILENAME
    format: str | None = None
    bitrate: str | int | None = None
    stems: str = "both"
    video: str | None = None
    subtype: str | None = None


@dataclass(frozen=True, kw_only=True)
class Running:
    """How the batch runs: its processes or Dask cluster, retries, share, ledger, and what
    becomes of outputs that exist already.

    ``jobs`` None: as many processes as the inputs and the memory allow; 0: one per core. The
    others are :class:`~repet_cli.batch.Settings`' and the Dask executor's.
    """

    jobs: int | None = None
    cluster: str | None = None
    scheduler: str | None = None
    scheduler_file: str | os.PathLike | None = None
    retries: int = 0
    shard: str | None = None
    ledger: str | os.PathLike | None = None
    overwrite: bool = False
    skip_existing: bool = False
    fail_fast: bool = False


@dataclass(frozen=True, kw_only=True)
class Extras:
    """What a run makes besides the stems: figures, scores against true stems (``dataset``:
    a MUSDB18(-HQ)-style folder holds the inputs and their true stems), the listening report,
    and a JSON summary (``json``: which takes standard output)."""

    plot: bool = False
    references: str | os.PathLike | None = None
    framewise: bool = False
    dataset: str | os.PathLike | None = None
    report: bool = False
    json: bool = False


@dataclass(frozen=True, kw_only=True)
class Request:
    """Everything a `repet separate` run was asked, its options checked together.

    Raises
    ------
    ParameterError
        Options that contradict each other, or a value no input can make right (a bit rate
        without a lossy format, a segment too short for the period range...).
    """

    inputs: Inputs = field(default_factory=Inputs)
    outputs: Outputs = field(default_factory=Outputs)
    params: RepetParams = field(default_factory=RepetParams)
    segment: float = DEFAULT_SEGMENT
    running: Running = field(default_factory=Running)
    extras: Extras = field(default_factory=Extras)

    def __post_init__(self) -> None:
        inputs, outputs, running, extras = self.inputs, self.outputs, self.running, self.extras
        check_segment(self.segment, self.params)
        if running.overwrite and running.skip_existing:
            raise ParameterError("`overwrite` and `skip_existing` contradict each other")
        if outputs.subtype is not None:
            check_requested_subtype(outputs.subtype, self.format)
        requested_bitrate(outputs.bitrate, self.format)
        if not self.stems:
            if self.video is None:
                raise ParameterError(
                    "`stems` none writes no audio: give `video` foreground or background to "
                    "write only the video"
                )
            for name in ("plot", "report", "references"):
                if getattr(extras, name):
                    raise ParameterError(f"`{name}` needs the stems: leave out `stems` none")
        elif self.video is not None and self.video not in self.stems:
            raise ParameterError(
                f"`video` {self.video} needs that stem: `stems` {self.video}, both or none"
            )
        if extras.dataset is not None and (
            inputs.names or inputs.files_from or extras.references is not None
        ):
            raise ParameterError(
                "`dataset` DIR finds the inputs and references itself: give no `inputs`, "
                "`files_from` or `references` with it"
            )
        if self.framewise and self.references is None:
            raise ParameterError("`framewise` scores against true stems: give `references` DIR")
        if self.references is not None and len(self.stems) < 2:
            raise ParameterError("`references` scores both stems: leave out `stems`")

    # The values the run uses: the options as given, a dataset's in their place.

    @property
    def format(self) -> str | None:
        return self.outputs.format.lower() if self.outputs.format else None

    @property
    def bitrate(self) -> int | None:
        return requested_bitrate(self.outputs.bitrate, self.format)

    @property
    def stems(self) -> tuple[str, ...]:
        """The stems written, by their own names."""
        named = {"both": STEMS, "none": ()}
        stems = self.outputs.stems.lower()
        return named[stems] if stems in named else (stem_named(stems),)

    @property
    def video(self) -> str | None:
        return stem_named(self.outputs.video) if self.outputs.video else None

    @property
    def references(self) -> str | os.PathLike | None:
        """The true stems' folder: a dataset's own."""
        return self.extras.dataset if self.extras.dataset is not None else self.extras.references

    @property
    def framewise(self) -> bool:
        return self.extras.framewise or self.extras.dataset is not None

    @property
    def skip_existing(self) -> bool:
        """A dataset's run resumes unless ``overwrite``."""
        if self.extras.dataset is not None:
            return not self.running.overwrite
        return self.running.skip_existing

    @property
    def filename(self) -> str:
        dataset = self.extras.dataset is not None and self.outputs.filename == DEFAULT_FILENAME
        return DATASET_FILENAME if dataset else self.outputs.filename


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """A request's batch, planned: its jobs in input order, the settings every job gets, and
    the inputs the ledger vouches for (done with these options, their outputs there).

    ``out`` is the output folder; for ``"-"`` (``to_stdout``), the new temporary folder the
    stem is written into first (:func:`~repet_cli.batch.piping.emit` copies it out).
    """

    request: Request
    jobs: list[Job]
    settings: Settings
    out: Path | str
    to_stdout: bool = False
    vouched: frozenset[int] = frozenset()
    ledger: Ledger | None = None

    @property
    def workers(self) -> int:
        """Processes for the batch on this machine (``jobs`` None: as many as the inputs
        and the memory allow)."""
        from ..parallel import auto_jobs, cpu_threads

        jobs = self.request.running.jobs
        if jobs is None:
            return auto_jobs(len(self.jobs))
        return max(1, min(len(self.jobs), jobs or cpu_threads()))


def input_names(request: Request) -> tuple[list, list[tuple[Path, Path]]]:
    """The names of a request's inputs (read from ``files_from`` too) and, for a dataset, its
    tracks (:func:`~repet_cli.batch.planning.dataset_inputs`).

    Raises
    ------
    ParameterError
        No input, standard input twice, an unreadable list, a dataset without tracks.
    """
    from .planning import dataset_inputs, names_from

    inputs = request.inputs
    dataset = [] if request.extras.dataset is None else dataset_inputs(request.extras.dataset)
    names = list(inputs.names)
    if inputs.files_from:
        names += names_from(inputs.files_from, null=inputs.null)
    names += [path for path, _ in dataset]
    if not names:
        raise ParameterError("no `inputs`: give audio or video files, folders, '-' or `files_from`")
    if sum(os.fspath(n) == STDIN for n in names) > 1:
        raise ParameterError("'-' (standard input) can be given once")
    return names, dataset


def prepare(request: Request, *, warn: Callable[[str], None] | None = None) -> Prepared:
    """Find a request's inputs and plan every output, before any work: what the options
    alone could not check (matplotlib for ``plot``, URLs, the output folder writable, the
    outputs of two inputs apart) is checked here. ``warn`` is told of inputs named twice
    (separated once).

    Raises
    ------
    ParameterError
        A usage error (a command line's exit status 2).
    AudioWriteError
        The output folder cannot be written.
    """
    from .. import remote
    from .folders import check_output_folder
    from .planning import check_figures, plan, shard

    if request.extras.plot:
        from ..plot import require_matplotlib

        try:
            require_matplotlib()
        except RepetError as exc:
            raise ParameterError(f"`plot`: {exc}") from None
    names, dataset = input_names(request)
    out, to_stdout, fmt = _destination(request, names)
    found = dataset or _found(names, ext=request.inputs.ext, warn=warn)
    jobs = plan(
        found, out, template=request.filename, format=fmt, stems=request.stems, video=request.video
    )
    if request.extras.plot:
        check_figures(jobs)
    if request.running.shard is not None:
        jobs = shard(jobs, request.running.shard)
    if not to_stdout and not remote.is_url(out):
        check_output_folder(out)  # read-only or forbidden: one error now, not one per input
    if to_stdout:
        out.mkdir()  # removed again by piping.emit
    settings = _settings(request, fmt=fmt, to_stdout=to_stdout)
    ledger = None
    vouched: frozenset[int] = frozenset()
    if request.running.ledger is not None:
        ledger = Ledger(request.running.ledger, settings=settings)
        if settings.skip_existing:
            vouched = _vouched(ledger, jobs)
            # The ledger decides: outputs it has no record of (other options?) are not kept.
            settings = dataclasses.replace(settings, skip_existing=False)
    return Prepared(
        request=request,
        jobs=jobs,
        settings=settings,
        out=out,
        to_stdout=to_stdout,
        vouched=vouched,
        ledger=ledger,
    )


def _destination(request: Request, names: list) -> tuple[Path | str, bool, str | None]:
    """Where the outputs go, whether that is standard output (then a temporary folder, not
    made yet), and their format; what a URL or standard output cannot take is refused."""
    from .. import remote
    from .piping import STDOUT, check_stdout, temporary_folder

    out, fmt, extras = request.outputs.out, request.format, request.extras
    if remote.is_url(out) or any(remote.is_url(n) for n in names):
        local = ("plot", extras.plot), ("video", request.video)
        for name, used in local + (("references", request.references is not None),):
            if used:
                raise ParameterError(f"`{name}` needs local files, not URLs")
        return out, False, fmt
    if os.fspath(out) != STDOUT:
        return Path(out), False, fmt
    check_stdout(names, request.stems, plot=extras.plot, report=extras.report or extras.json)
    return temporary_folder(), True, fmt or "wav"


def _found(names: list, *, ext: str | None, warn) -> list:
    """The files to separate (folders searched), each once; ``warn`` is told of the others."""
    from .planning import found_inputs, once_each

    found, repeated = once_each(found_inputs(names, extensions=ext.split(",") if ext else None))
    for source, times in repeated if warn is not None else ():
        given = "twice" if times == 2 else f"{times} times"
        warn(f"{shown_path(source)} is given {given}; separated once")
    return found


def _settings(request: Request, *, fmt: str | None, to_stdout: bool) -> Settings:
    """What every job of a request is told (a stem for standard output goes into a new
    folder: nothing there to keep)."""
    running, extras = request.running, request.extras
    return Settings(
        params=request.params,
        overwrite=running.overwrite or to_stdout,
        skip_existing=request.skip_existing,
        segment=request.segment,
        format=fmt,
        subtype=request.outputs.subtype,
        bitrate=request.bitrate,
        stream=request.inputs.stream,
        video=request.video,
        retries=running.retries,
        plot=extras.plot,
        references=request.references,
        framewise=request.framewise,
    )


def _vouched(ledger: Ledger, jobs: list[Job]) -> frozenset[int]:
    """The jobs the ledger records as done with these options, their outputs all there."""
    done = ledger.done()
    if not done:
        return frozenset()
    source = getattr(jobs, "source", lambda i: jobs[i].source)  # a Plan's, without its job
    return frozenset(
        i
        for i in range(len(jobs))
        if os.path.abspath(source(i)) in done and all(os.path.lexists(p) for p in jobs[i].targets)
    )


def executor_of(
    prepared: Prepared,
    *,
    log: Callable[[str], None] | None = None,
    notice: Callable[[str], None] | None = None,
):
    """What runs a prepared batch: the Dask cluster or scheduler asked for (``log`` hears of
    its workers, ``notice`` of a wait for them), else a process pool of
    :attr:`Prepared.workers`, else this process.

    Raises
    ------
    RepetError
        Dask is missing, or its scheduler cannot be reached.
    """
    from .executors import InProcess, ProcessPool

    running = prepared.request.running
    if running.cluster or running.scheduler or running.scheduler_file:
        from .dask import Dask, require_dask

        require_dask()
        return Dask(
            scheduler=running.scheduler,
            scheduler_file=running.scheduler_file,
            cluster=running.cluster.lower() if running.cluster else None,
            workers=running.jobs or None,
            log=log,
            notice=notice,
        )
    workers = prepared.workers
    return ProcessPool(workers) if workers > 1 else InProcess()


def renamed(outcome: Outcome, rename: Callable[[str], str]) -> Outcome:
    """An outcome with its error and warnings passed through ``rename``."""
    return dataclasses.replace(
        outcome,
        error=None if outcome.error is None else rename(outcome.error),
        warnings=tuple(rename(w) for w in outcome.warnings),
    )


def outcomes(
    prepared: Prepared,
    *,
    executor=None,
    progress: Callable[[int], None] | None = None,
    rename: Callable[[str], str] = str,
) -> Iterator[tuple[Job, Outcome]]:
    """Run a prepared batch: each job with its outcome, in input order, as each is known.

    The jobs the ledger vouches for are skipped without running; the others run on
    ``executor`` (default: this process), and each of their outcomes, its messages passed
    through ``rename`` (a command line names its options there), goes to the ledger. The run
    stops after a failure with ``fail_fast``, or one after which nothing more can be written;
    stopping the iteration stops the executor.
    """
    from .executors import InProcess, run

    executor = InProcess() if executor is None else executor
    todo = _Todo(prepared)
    running = iter(run(todo, settings=prepared.settings, executor=executor, progress=progress))
    return _paired(prepared, running, rename, getattr(executor, "stop", None), todo.handed)


class _Todo:
    """The jobs to run, made one at a time as the executor takes them (a plan of a million
    inputs is not a million jobs in memory); each is kept until its outcome comes back."""

    def __init__(self, prepared: Prepared):
        import collections

        self.prepared = prepared
        self.handed: collections.deque[Job] = collections.deque()

    def __len__(self) -> int:
        return len(self.prepared.jobs) - len(self.prepared.vouched)

    def __iter__(self) -> Iterator[Job]:
        vouched = self.prepared.vouched
        for i, job in enumerate(self.prepared.jobs):
            if i not in vouched:
                self.handed.append(job)
                yield job


def _paired(prepared: Prepared, running, rename, stop, handed) -> Iterator[tuple[Job, Outcome]]:
    try:
        for i in range(len(prepared.jobs)):
            if i in prepared.vouched:
                job = prepared.jobs[i]
                targets = tuple(map(str, job.targets))
                outcome = Outcome(source=str(job.source), status="skipped", outputs=targets)
            else:
                outcome = next(running, None)
                if outcome is None:  # the executor was stopped: nothing more comes
                    return
                job = handed.popleft()  # the executor hands outcomes back in input order
                outcome = renamed(outcome, rename)
                if prepared.ledger is not None:
                    prepared.ledger.append(outcome)
                if prepared.to_stdout and outcome.outputs:  # not the temporary file
                    outcome = dataclasses.replace(outcome, outputs=("-",))
            yield job, outcome
            if outcome.status == "failed" and (
                prepared.request.running.fail_fast or outcome.stops_batch
            ):
                if stop is None:
                    return
                stop()  # no job starts now; what had finished still comes, then the end
    finally:
        running.close()  # the executor stops here, where an interruption is still handled
