"""The ``repet`` command: parse, validate, plan outputs, report. No DSP and no soundfile here."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from . import ft2d as ft2d_defaults
from . import similarity as similarity_defaults
from .errors import AudioWriteError, OutputExistsError, ParameterError, RepetError
from .parallel import cpu_threads
from .params import (
    ALGORITHM_OPTIONS,
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    DEFAULT_ANALYSIS_STEP,
    DEFAULT_ANALYSIS_WINDOW,
    DEFAULT_HIGH_PASS,
    DEFAULT_MAX_PERIOD,
    DEFAULT_MIN_PERIOD,
    DEFAULT_REPETITIONS,
    RepetParams,
)
from .stream import CROSSFADE, DEFAULT_SEGMENT

STEMS = ("background", "foreground")
DEFAULT_FILENAME = "{track}/{stem}.{ext}"
FIGURE = "repet.png"
REPORT = "report.html"
FILENAME_FIELDS = ("track", "parent", "stem", "ext")

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: Paths are checked by the commands themselves, one file at a time (click's own readability
#: check would stop a whole batch at one unreadable file).
PATH = click.Path(path_type=Path, readable=False)


@dataclass(frozen=True)
class Job:
    """One input and the files it will produce."""

    source: Path
    background: Path
    foreground: Path

    @property
    def targets(self) -> tuple[Path, Path]:
        return self.background, self.foreground

    @classmethod
    def in_folder(cls, source: Path, folder: Path, *, ext: str = "wav") -> Job:
        """The job writing ``folder/background.<ext>`` and ``folder/foreground.<ext>``."""
        return cls(source, *(folder / f"{stem}.{ext}" for stem in STEMS))


def _option_names(message: str) -> str:
    """Name parameters in a library message as the options that set them.

    The library quotes parameter names in backticks (`` `min_period` ``); here they become
    ``--min-period``.
    """
    fields = "|".join(f.name for f in dataclasses.fields(RepetParams))
    return re.sub(rf"`({fields})`", lambda m: "--" + m.group(1).replace("_", "-"), message)


def _check_template(template: str) -> None:
    """Refuse a --filename template that cannot name two distinct stems of every input."""
    import string

    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise click.UsageError(f"--filename {template!r}: {exc}") from None
    allowed = ", ".join("{" + f + "}" for f in FILENAME_FIELDS)
    unknown = fields - set(FILENAME_FIELDS)
    if unknown or "" in fields:
        bad = ", ".join(sorted("{" + f + "}" for f in unknown)) or "{}"
        raise click.UsageError(f"--filename {template!r}: unknown field {bad}; use {allowed}")
    if "stem" not in fields:
        raise click.UsageError(
            f"--filename {template!r} must contain {{stem}}, or both stems get one name"
        )
    if os.path.isabs(template):
        raise click.UsageError(f"--filename {template!r} must be relative to --out")


def _extension(source: Path, format: str | None) -> str:
    """File extension of the outputs: ``format``, or FLAC for FLAC inputs, else WAV."""
    if format:
        return format
    import soundfile as sf

    try:
        return "flac" if sf.info(str(source)).format == "FLAC" else "wav"
    except Exception:  # unreadable: the job itself reports it
        return "wav"


def _plan(
    inputs: tuple[Path, ...],
    out: Path,
    *,
    template: str = DEFAULT_FILENAME,
    format: str | None = None,
) -> list[Job]:
    """One job per input; refuses, before any work, inputs that would write the same files."""
    _check_template(template)
    owners: dict[str, Path] = {}
    jobs = []
    for source in inputs:
        fields = {
            "track": source.stem,
            "parent": Path(os.path.abspath(source)).parent.name,
            "ext": _extension(source, format),
        }
        paths = [out / template.format(stem=stem, **fields) for stem in STEMS]
        for path in paths:
            key = os.path.normcase(os.path.abspath(path)).casefold()
            first = owners.setdefault(key, source)
            if first is source:
                continue
            if os.path.abspath(first) == os.path.abspath(source):
                raise click.UsageError(f"{source} is given twice")
            raise click.UsageError(
                f"{first} and {source} would both write {path}; tell them apart with "
                "--filename (e.g. --filename '{parent}/{track}/{stem}.{ext}') or separate "
                "them into different --out folders"
            )
        jobs.append(Job(source, *paths))
    sources = {os.path.realpath(s) for s in inputs}
    for job in jobs:
        for target in job.targets:
            if os.path.realpath(target) in sources:
                raise click.UsageError(
                    f"{target} is both an input and an output; choose another --out folder "
                    "or --filename"
                )
    return jobs


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="repet", prog_name="repet")
def cli() -> None:
    """Split songs into their repeating background and non-repeating foreground (REPET).

    \b
    Quick start:
      repet separate song.wav                 # -> separated/song/{background,foreground}.wav
      repet separate music/*.wav -o stems/    # many songs at once
    """


SEPARATION_OPTIONS: list = [
    click.option(
        "--algorithm",
        type=click.Choice(list(ALGORITHMS)),
        default=DEFAULT_ALGORITHM,
        show_default=True,
        help="repet: one repeating period. repet-sim: similar frames anywhere (verse/chorus "
        "structure, no fixed period). adaptive: a period that changes over time. 2dft: "
        "peaks of the 2-D Fourier transform of the spectrogram.",
    ),
    click.option(
        "--period",
        type=float,
        metavar="SECONDS",
        help="Force the repeating period instead of detecting it.",
    ),
    click.option(
        "--min-period",
        type=float,
        metavar="SECONDS",
        help=f"Shortest period to detect  [default: {DEFAULT_MIN_PERIOD:g}]",
    ),
    click.option(
        "--max-period",
        type=float,
        metavar="SECONDS",
        help="Longest period to detect, at most a third of the input  "
        f"[default: {DEFAULT_MAX_PERIOD:g}]",
    ),
    click.option(
        "--mask",
        type=click.Choice(["wiener", "soft", "binary"]),
        default="wiener",
        show_default=True,
        help="wiener: soft mask refined by a multichannel Wiener filter (stereo placement "
        "helps). soft: REPET's ratio mask. binary: each bin goes wholly to one stem.",
    ),
    click.option(
        "--threshold",
        type=float,
        help="Binary mask only: a bin is background when model/mixture >= this  [default: 0.5]",
    ),
    click.option(
        "--phase",
        type=click.Choice(["mixture", "none"]),
        help="mixture: masks applied to the complex spectrum, stems add up to the input. "
        "none: each stem rebuilt from its magnitude alone (Griffin-Lim)  [default: mixture]",
    ),
    click.option("--no-phase", is_flag=True, help="Shorthand for --phase none."),
    click.option(
        "--high-pass",
        type=float,
        default=DEFAULT_HIGH_PASS,
        show_default=True,
        metavar="HZ",
        help="Everything below this frequency goes to the background; 0 turns it off "
        "(REPET as published: 100).",
    ),
    click.option(
        "--n-fft", type=int, help="STFT size in samples  [default: power of two >= 40 ms]"
    ),
    click.option("--hop", type=int, help="STFT hop in samples  [default: n-fft / 4]"),
    click.option(
        "--analysis-window",
        type=float,
        metavar="SECONDS",
        help=f"adaptive: beat-spectrogram window  [default: {DEFAULT_ANALYSIS_WINDOW:g}]",
    ),
    click.option(
        "--analysis-step",
        type=float,
        metavar="SECONDS",
        help=f"adaptive: beat-spectrogram step  [default: {DEFAULT_ANALYSIS_STEP:g}]",
    ),
    click.option(
        "--repetitions",
        type=int,
        help="adaptive: median over the frames up to this many local periods before and "
        f"after each frame  [default: {DEFAULT_REPETITIONS}]",
    ),
    click.option(
        "--neighbors",
        type=int,
        help="repet-sim: how many similar frames the median of each frame's model takes  "
        f"[default: {similarity_defaults.DEFAULT_NEIGHBORS}]",
    ),
    click.option(
        "--min-separation",
        type=float,
        metavar="SECONDS",
        help="repet-sim: least time between two frames chosen for the same frame  "
        f"[default: {similarity_defaults.DEFAULT_MIN_SEPARATION:g}]",
    ),
    click.option(
        "--similarity-threshold",
        type=float,
        help="repet-sim: least cosine similarity of a chosen frame, in [-1, 1]  "
        f"[default: {similarity_defaults.DEFAULT_THRESHOLD:g}]",
    ),
    click.option(
        "--rate-width",
        type=float,
        metavar="HZ",
        help="2dft: a peak must top this much of the rate (modulation) axis  "
        f"[default: {ft2d_defaults.DEFAULT_RATE_WIDTH:g}]",
    ),
    click.option(
        "--peak-threshold",
        type=float,
        help="2dft: a peak keeps 1 - (this x neighbourhood mean / peak)^2 of its energy  "
        f"[default: {ft2d_defaults.DEFAULT_THRESHOLD:g}]",
    ),
]


segment_option = click.option(
    "--segment",
    type=float,
    default=DEFAULT_SEGMENT,
    show_default=True,
    metavar="SECONDS",
    help="Inputs longer than 1.5 segments are separated in segments of about this length, "
    f"crossfaded over {CROSSFADE:g} s (memory stays flat however long the input); 0: always "
    "the whole input at once.",
)


def separation_options(command):
    """The options that choose how to separate (`separate`)."""
    for option in reversed(SEPARATION_OPTIONS):
        command = option(command)
    return command


def shared_separation_options(command):
    """The separation options without --algorithm (`compare` runs several algorithms)."""
    for option in reversed(SEPARATION_OPTIONS[1:]):
        command = option(command)
    return command


def _params_from(options: dict) -> RepetParams:
    """Build the parameters from the separation options (removed from ``options``)."""
    values = {name: options.pop(name) for name in _SEPARATION_NAMES}
    no_phase = values.pop("no_phase")
    if no_phase:
        if values["phase"] == "mixture":
            raise click.UsageError("--no-phase contradicts --phase mixture; give one of them")
        values["phase"] = "none"
    values["phase"] = values["phase"] or "mixture"
    try:
        return RepetParams(**values)
    except ParameterError as exc:
        raise click.UsageError(_option_names(str(exc))) from None


_SEPARATION_NAMES = [f.name for f in dataclasses.fields(RepetParams)] + ["no_phase"]


@cli.command(context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, type=PATH)
@click.option(
    "-o",
    "--out",
    default="separated",
    show_default=True,
    type=PATH,
    help="Output folder; each input gets OUT/<name>/background.wav and foreground.wav.",
)
@click.option(
    "--filename",
    default=DEFAULT_FILENAME,
    show_default=True,
    metavar="TEMPLATE",
    help="Output paths inside --out, from {track} (the input's name), {parent} (its folder's "
    "name), {stem} (background or foreground) and {ext}; e.g. '{parent}/{track}/{stem}.{ext}' "
    "for MUSDB-style folders of mixture.wav files.",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["wav", "flac"], case_sensitive=False),
    help="Output format  [default: flac for FLAC inputs, wav otherwise]",
)
@click.option(
    "--subtype",
    metavar="SUBTYPE",
    help="Output sample format, e.g. PCM_16, PCM_24, FLOAT  [default: the input's where the "
    "format holds it, else FLOAT (wav) or PCM_24 (flac)]",
)
@separation_options
@segment_option
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Inputs separated in parallel (0: one per core). The outputs are the same for any number.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option(
    "--skip-existing",
    is_flag=True,
    help="Leave inputs whose outputs exist alone (resume a batch that was stopped).",
)
@click.option("--fail-fast", is_flag=True, help="Stop at the first input that fails.")
@click.option(
    "--plot",
    is_flag=True,
    help="Also draw each input's figure (spectrograms, beat spectrum, mask) as repet.png next to "
    "its stems; needs matplotlib (pip install 'repet[plot]').",
)
@click.option(
    "--references",
    type=PATH,
    metavar="DIR",
    help="Score each input's stems against the true ones in DIR/<name>/ (the input's name, "
    "else its folder's name): background.wav and foreground.wav, or MUSDB18's "
    "accompaniment.wav and vocals.wav. SDR and SI-SDR go into the summary, --json and "
    "--report; needs mir_eval (pip install 'repet[eval]').",
)
@click.option(
    "--report",
    is_flag=True,
    help="Also write OUT/report.html: every input with its figure and players for the mixture "
    "and both stems, to open from disk in a browser (implies --plot).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON summary on stdout (reports go to stderr)."
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Print STFT details and, on a crash, the traceback."
)
@click.pass_context
def separate(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    out: Path,
    filename: str,
    out_format: str | None,
    subtype: str | None,
    segment: float,
    jobs: int,
    overwrite: bool,
    skip_existing: bool,
    fail_fast: bool,
    plot: bool,
    references: Path | None,
    report: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
    **options,
) -> None:
    """Separate each INPUT into background (repeating) and foreground (non-repeating).

    The repeating period is detected from the beat spectrum unless --period is given. Outputs
    keep the input's sample rate, channels, length and (where the format holds it) sample
    format. Exit status: 0 all done (or skipped), 1 some input failed, 2 usage error,
    130 / 143 interrupted (Ctrl-C / SIGTERM).
    """
    params = _params_from(options)
    _check_segment(segment, params)
    if overwrite and skip_existing:
        raise click.UsageError("--overwrite and --skip-existing contradict each other")
    out_format = out_format.lower() if out_format else None
    if subtype is not None:
        _check_subtype(subtype, out_format)
    plot = plot or report
    if plot:
        _require_plotting()
    if references is not None:
        from . import evaluate as ev

        try:
            ev.require_mir_eval()
        except RepetError as exc:
            raise click.UsageError(f"--references: {exc}") from None
    plan = _plan(inputs, out, template=filename, format=out_format)
    if plot:
        figures = {}
        for job in plan:
            other = figures.setdefault(figure_path(job), job.source)
            if other is not job.source:
                raise click.UsageError(
                    f"{other} and {job.source} would draw the same figure "
                    f"{figure_path(job)}; give each track its own folder in --filename"
                )
    workers = min(len(plan), jobs or cpu_threads())

    report_file = sys.stderr if as_json else sys.stdout
    # The bar counts seconds of audio, so it moves during a long input too.
    durations = [_duration(job.source) for job in plan]
    bar, write = _progress_bar(round(sum(durations)), enabled=not quiet and sys.stderr.isatty())

    def say(message: str) -> None:
        if not quiet:
            write(message, file=report_file)

    task = functools.partial(
        _work,
        settings=Settings(
            params=params,
            overwrite=overwrite,
            skip_existing=skip_existing,
            segment=segment,
            threads=max(1, cpu_threads() // workers),
            format=out_format,
            subtype=subtype,
            plot=plot,
            references=references,
        ),
    )
    outcomes: list[Outcome] = []
    interrupted = None
    with _signals_raise():
        try:
            for job, outcome in zip(
                plan, _outcomes(task, plan, workers=workers, bar=bar), strict=False
            ):
                bar.update(max(0, round(outcome.duration) - outcome.progressed))
                outcomes.append(outcome)
                _report(outcome, job, say=say, verbose=verbose, quiet=quiet, write=write)
                if fail_fast and outcome.status == "failed":
                    break
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM via _signals_raise
            interrupted = exc
    bar.close()

    counts = {status: sum(o.status == status for o in outcomes) for status in STATUSES}
    if report and outcomes:
        from .report import write_report

        path = write_report(
            out / REPORT, plan[: len(outcomes)], outcomes, options=_options_text(params)
        )
        say(f"report: {path}")
    not_started = len(plan) - len(outcomes)
    if as_json:
        summary = {
            "inputs": [o.as_dict() for o in outcomes]
            + [
                {"input": str(job.source), "status": "not started"} for job in plan[len(outcomes) :]
            ],
            "summary": {**counts, "not started": not_started},
        }
        if interrupted is not None:
            summary["interrupted"] = _signal_name(interrupted)
        click.echo(json.dumps(summary, indent=2))
    if interrupted is not None:
        click.echo(
            f"{_signal_name(interrupted)}: stopped; {counts['ok']} of {len(plan)} inputs were "
            "separated and written whole; nothing partial was left behind",
            err=True,
        )
        ctx.exit(143 if isinstance(interrupted, Terminated) else 130)
    if len(plan) > 1:
        skipped = f", {counts['skipped']} skipped (outputs exist)" if counts["skipped"] else ""
        say(f"separated {counts['ok']} of {len(plan)} inputs into {out}/{skipped}")
        scored = [o.scores for o in outcomes if o.scores is not None]
        if scored:
            from .evaluate import average

            mean = average(scored)
            say(
                f"mean over {len(scored)} scored inputs: SDR bg {mean['background']['sdr']:.2f} "
                f"dB, fg {mean['foreground']['sdr']:.2f} dB"
            )
    if counts["failed"]:
        failures = [o.error for o in outcomes if o.status == "failed"]
        if len(plan) > 1:  # each error was printed as it happened; repeat them together
            lines = "\n".join(f"  {message}" for message in failures)
            click.echo(f"{len(failures)} of {len(plan)} inputs failed:\n{lines}", err=True)
        if not_started:
            click.echo(
                f"stopped at the first failure (--fail-fast): {not_started} inputs not started",
                err=True,
            )
        ctx.exit(1)


STATUSES = ("ok", "skipped", "failed")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that the same clean-up runs."""


def _signal_name(exc: BaseException) -> str:
    return "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"


@contextlib.contextmanager
def _signals_raise():
    """Within the block, SIGTERM raises :class:`Terminated` (restored afterwards)."""
    import signal

    def terminate(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _options_text(params: RepetParams) -> str:
    """The options that differ from the defaults, as flags (for the report)."""
    given = [
        f"--{f.name.replace('_', '-')} {getattr(params, f.name)}"
        for f in dataclasses.fields(RepetParams)
        if getattr(params, f.name) != f.default
    ]
    return " ".join(given) or "defaults"


def _check_subtype(subtype: str, out_format: str | None) -> None:
    from .io import OUTPUT_SUBTYPES

    formats = [out_format] if out_format else list(OUTPUT_SUBTYPES)
    if not any(subtype.upper() in OUTPUT_SUBTYPES[f] for f in formats):
        known = sorted({s for f in formats for s in OUTPUT_SUBTYPES[f]})
        raise click.UsageError(
            f"--subtype {subtype} is not one of {', '.join(known)}"
            + (f" (for {out_format})" if out_format else "")
        )


def _report(outcome, job: Job, *, say, verbose: bool, quiet: bool, write) -> None:
    """Print what became of one input: its result, warnings or error."""
    if outcome.status == "failed":
        if outcome.trace and verbose:
            write(outcome.trace, file=sys.stderr)
        hint = "; -v shows the traceback" if outcome.trace and not verbose else ""
        write(f"error: {outcome.error}{hint}", file=sys.stderr)
        return
    if outcome.status == "skipped":
        say(f"{job.source}: skipped, outputs exist ({job.background}, {job.foreground})")
        return
    scored = ""
    if outcome.scores is not None:
        bg, fg = outcome.scores["background"], outcome.scores["foreground"]
        scored = f"; SDR bg {bg['sdr']:.2f} dB, fg {fg['sdr']:.2f} dB"
    say(f"{job.source}: {outcome.found}{scored} -> {job.background}, {job.foreground}")
    if verbose:
        say(f"  {outcome.details}")
    for warning in outcome.warnings:
        if not quiet:
            write(f"warning: {warning}", file=sys.stderr)


class _NoBar:
    """The progress bar when there is none to show (no terminal, or -q)."""

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, *, enabled: bool):
    """A progress bar in seconds of audio on stderr, and the function that prints around it.

    tqdm is imported only when the bar is shown (scripts and batches do not pay for it).
    """
    if not enabled:
        return _NoBar(), lambda message, file: click.echo(message, file=file)
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        unit="s",
        desc="audio",
        file=sys.stderr,
        dynamic_ncols=True,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} s of audio [{elapsed}<{remaining}]",
    )
    return bar, tqdm.write


def _check_segment(segment: float, params: RepetParams) -> None:
    from .stream import shortest_segment

    if segment and segment < shortest_segment(params):
        raise click.UsageError(
            f"--segment must be 0 (no segments) or at least {shortest_segment(params):g} s "
            f"for these options, got {segment:g}"
        )


def _duration(path: Path) -> float:
    """The input's length in seconds from its header; 0 when it cannot be read (yet)."""
    import soundfile as sf

    try:
        return sf.info(str(path)).duration
    except Exception:  # the job itself reports what is wrong with the file
        return 0.0


@dataclass(frozen=True)
class Settings:
    """How every input of a batch is separated and written (picklable, for worker processes)."""

    params: RepetParams
    overwrite: bool = False
    skip_existing: bool = False
    segment: float = 0.0
    threads: int | None = None
    format: str | None = None
    subtype: str | None = None
    plot: bool = False
    references: Path | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one input (picklable: it comes back from worker processes)."""

    source: str
    status: str  # one of STATUSES
    error: str | None = None
    trace: str | None = None
    found: str = ""
    periods: tuple[float | None, ...] = ()
    details: str = ""
    warnings: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    figure: str | None = None
    scores: dict | None = None  # stem -> metric -> dB, with --references
    duration: float = 0.0
    seconds: float = 0.0
    progressed: int = 0  # seconds of audio already counted on the progress bar

    def as_dict(self) -> dict:
        """The JSON form of ``--json``."""
        record = {"input": self.source, "status": self.status}
        if self.error is not None:
            record["error"] = self.error
        if self.status == "ok":
            record.update(
                found=self.found, periods=list(self.periods), warnings=list(self.warnings)
            )
        record.update(outputs=list(self.outputs), duration=self.duration, seconds=self.seconds)
        if self.figure is not None:
            record["figure"] = self.figure
        if self.scores is not None:
            record["scores"] = self.scores
        return record


def _work(job: Job, *, settings: Settings, progress=None) -> Outcome:
    """Separate one input; errors become an :class:`Outcome` too (batches go on)."""
    import time

    start = time.perf_counter()
    base = {"source": str(job.source), "duration": _duration(job.source)}
    outputs = tuple(str(p) for p in job.targets)
    if settings.skip_existing and all(os.path.lexists(p) for p in job.targets):
        return Outcome(status="skipped", outputs=outputs, **base)
    try:
        reports, info, written = _process(job, settings=settings, progress=progress)
    except RepetError as exc:
        return Outcome(status="failed", error=_option_names(str(exc)), **base)
    except Exception as exc:  # a bug: report it, keep going with the batch
        return Outcome(
            status="failed",
            error=f"{job.source}: unexpected error ({type(exc).__name__}: {exc})",
            trace=traceback.format_exc(),
            **base,
        )
    first = reports[0]
    details = (
        f"{info.channels} ch, {info.samplerate} Hz, {info.duration:.2f} s, {info.subtype}; "
        f"n_fft {first.n_fft}, hop {first.hop}"
    )
    from .stream import segment_warnings

    warnings = tuple(
        f"{job.source}: {_option_names(w)}" for w in segment_warnings(reports, sr=info.samplerate)
    ) + tuple(
        f"{w.path}: {w.clipped} samples beyond full scale were clipped by the "
        f"{w.subtype} output format (--subtype FLOAT keeps them)"
        for w in written
        if w.clipped
    )
    scores = None
    if settings.references is not None:
        try:
            scores = _score(job, settings.references)
        except RepetError as exc:
            warnings += (f"{job.source}: not scored: {exc}",)
    figure = None
    if settings.plot:
        try:
            figure = str(_draw_figure(job, reports, settings=settings))
        except Exception as exc:  # the stems are written; the figure is extra
            warnings += (f"{job.source}: no figure ({type(exc).__name__}: {exc})",)
    return Outcome(
        status="ok",
        figure=figure,
        scores=scores,
        found=describe(reports),
        periods=tuple(r.period for r in reports),
        details=details,
        warnings=warnings,
        outputs=outputs,
        seconds=time.perf_counter() - start,
        progressed=round(info.duration) if progress is not None else 0,
        **base,
    )


def _score(job: Job, references: Path) -> dict:
    """SDR, SIR, SAR and SI-SDR of a job's stems against its true ones (`repet evaluate`)."""
    from . import evaluate as ev

    names = [job.source.stem, Path(os.path.abspath(job.source)).parent.name]
    folder = next((references / n for n in names if (references / n).is_dir()), None)
    if folder is None:
        raise ev.EvaluationError(
            f"no reference folder {' or '.join(str(references / n) for n in names)}"
        )
    estimates = dict(zip(ev.STEMS, job.targets, strict=True))
    return ev.evaluate_files(ev.reference_files(folder), estimates)


def _require_plotting() -> None:
    from .plot import require_matplotlib

    try:
        require_matplotlib()
    except RepetError as exc:
        raise click.UsageError(f"--plot: {exc}") from None


def figure_path(job: Job) -> Path:
    """Where an input's figure goes: ``repet.png`` beside its background stem."""
    return job.background.parent / FIGURE


def _draw_figure(job: Job, reports, *, settings: Settings) -> Path:
    from .plot import draw, panels_from_files

    first = reports[0]
    panels = panels_from_files(
        job.source,
        *job.targets,
        params=settings.params,
        period=first.period,
        segment=settings.segment,
        title=f"{job.source}: {describe(reports)}, {first.algorithm}",
    )
    path = figure_path(job)
    draw(panels, path)
    return path


def _outcomes(task, plan: list[Job], *, workers: int, bar):
    """The :class:`Outcome` of every job, in input order, from ``workers`` processes.

    With one worker the jobs run here, and the bar moves after every segment. With more,
    stopping early (an interrupt, --fail-fast) cancels the jobs not started and stops the
    running ones, which remove their temporary files.
    """
    if workers <= 1:
        for job in plan:
            counted, rate = 0, None

            def advance(samples_done: int, job=job):
                nonlocal counted, rate
                rate = rate or _rate(job.source)  # the header is read once per input
                seconds = round(samples_done / rate)
                bar.update(seconds - counted)
                counted = seconds

            outcome = task(job, progress=advance)
            yield dataclasses.replace(outcome, progressed=counted)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_signals)
    try:
        futures = [pool.submit(_in_worker, task, job) for job in plan]
        for future in futures:
            yield future.result()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        children = multiprocessing.active_children()
        for child in children:
            child.terminate()  # SIGTERM: a busy worker cleans up (see _worker_signals)
        for child in children:
            child.join(timeout=30)
        raise
    pool.shutdown()


def _worker_signals() -> None:
    """In a worker process: Ctrl-C is the parent's to handle; SIGTERM ends the worker.

    A busy worker raises :class:`Terminated` so that the job's writer removes its temporary
    files on the way out (:func:`_in_worker`); an idle one just exits.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def terminate(signum, frame):
        if _WORKER_BUSY:
            raise Terminated()
        os._exit(143)

    signal.signal(signal.SIGTERM, terminate)


#: In a worker process: whether a job is running (read by its SIGTERM handler).
_WORKER_BUSY = False


def _in_worker(task, job: Job) -> Outcome:
    """Run ``task(job)`` in a worker process; a SIGTERM cleans up, then ends the process."""
    global _WORKER_BUSY
    _WORKER_BUSY = True
    try:
        return task(job)
    except Terminated:
        os._exit(143)  # the job's temporary files are gone; nobody waits for a result
    finally:
        _WORKER_BUSY = False


def _rate(path: Path) -> int:
    import soundfile as sf

    return sf.info(str(path)).samplerate


def _process(job: Job, *, settings: Settings, progress=None):
    """Separate one input and write its two stems; every error names the file it is about.

    Returns a :class:`~repet_cli.stream.SegmentReport` per segment, the input's
    :class:`~repet_cli.io.AudioInfo` and the :class:`~repet_cli.io.WriteResult` of each stem.
    ``progress`` is called with the number of input samples done after each segment.
    """
    from .stream import separate_file

    if not settings.overwrite:  # before the work, not after it
        for target in job.targets:
            if os.path.lexists(target):
                raise OutputExistsError(
                    "exists already; pass --overwrite to replace it or --skip-existing to keep it",
                    path=target,
                )
    created = _make_folders(job.targets)
    try:
        return separate_file(
            job.source,
            *job.targets,
            params=settings.params,
            segment=settings.segment,
            format=settings.format,
            subtype=settings.subtype,
            overwrite=settings.overwrite,
            threads=settings.threads,
            progress=progress,
        )
    except BaseException:
        for folder in reversed(created):  # the folders this job made, if left empty
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise


def describe(reports) -> str:
    """What a separation found, in a few words: the period for the algorithms that have one."""
    segments = f" in {len(reports)} segments" if len(reports) > 1 else ""
    first = reports[0]
    if first.local_periods is not None:
        lo = min(float(r.local_periods.min()) for r in reports)
        hi = max(float(r.local_periods.max()) for r in reports)
        median = float(np.median(np.concatenate([r.local_periods for r in reports])))
        return f"period {lo:.2f}-{hi:.2f} s (adaptive, median {median:.3f} s){segments}"
    if first.period is not None:
        how = "forced" if first.period_forced else "detected"
        found = [r.period for r in reports]
        if len(set(found)) == 1:
            return f"period {first.period:.3f} s ({how}){segments}"
        return f"period {min(found):.3f}-{max(found):.3f} s ({how}){segments}"
    return f"{first.algorithm} (no single period){segments}"


def _make_folders(paths) -> list[Path]:
    """Create the folders of ``paths`` (and parents); the ones created, outermost first."""
    created: list[Path] = []
    for folder in dict.fromkeys(Path(p).parent for p in paths):
        missing = [f for f in [folder, *folder.parents] if not f.exists()][::-1]
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise AudioWriteError(
                "cannot create the output folder: a file has that name", path=folder
            ) from None
        except OSError as exc:
            raise AudioWriteError(
                f"cannot create the output folder ({exc.strerror or exc})", path=folder
            ) from None
        created += [f for f in missing if f not in created]
    return created


ANALYSIS_OPTIONS = ("min_period", "max_period", "n_fft", "hop")


def analysis_options(command):
    """The separation options an analysis uses: the period range and the STFT sizes."""
    chosen = [o for o in SEPARATION_OPTIONS if _option_name(o) in ANALYSIS_OPTIONS]
    for option in reversed(chosen):
        command = option(command)
    return command


def _option_name(decorator) -> str:
    """The parameter name a click option decorator declares."""

    @decorator
    def probe(**kwargs):  # pragma: no cover - never called
        pass

    return probe.__click_params__[0].name


@cli.command(context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, type=PATH)
@analysis_options
@segment_option
@click.option("--candidates", default=5, show_default=True, help="Period candidates to list.")
@click.option(
    "--plot",
    is_flag=True,
    help="Also draw each input's spectrogram and beat spectrum as OUT/<name>/repet.png.",
)
@click.option(
    "-o", "--out", default="separated", show_default=True, type=PATH, help="Folder for --plot."
)
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as JSON on stdout.")
@click.pass_context
def analyze(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    segment: float,
    candidates: int,
    plot: bool,
    out: Path,
    as_json: bool,
    **options,
) -> None:
    """Show how each INPUT repeats, without separating it: the period, the tempo it implies,
    the other period candidates and how clearly the song repeats (0 to 1).

    A song that does not repeat clearly gets a warning: try --algorithm repet-sim or a
    forced --period when separating it.
    """
    from .analyze import analyze_file, tempi

    try:
        params = RepetParams(**{k: v for k, v in options.items() if v is not None})
    except ParameterError as exc:
        raise click.UsageError(_option_names(str(exc))) from None
    if plot:
        _require_plotting()
    records, failures = [], 0
    for source in inputs:
        try:
            info, parts = analyze_file(source, params=params, segment=segment, count=candidates)
        except RepetError as exc:
            failures += 1
            message = _option_names(str(exc))
            click.echo(f"error: {message}", err=True)
            records.append({"input": str(source), "status": "failed", "error": message})
            continue
        segments = []
        for start, stop, found in parts:
            segments.append(
                {
                    "start": start / info.samplerate,
                    "stop": stop / info.samplerate,
                    "period": found.period,
                    "period_frames": found.period_frames,
                    "confidence": found.confidence,
                    "tempi": [
                        {"beats_per_bar": b, "bars": n, "bpm": bpm}
                        for b, n, bpm in tempi(found.period)
                    ],
                    "candidates": [
                        {"period": c.period, "frames": c.frames, "confidence": c.confidence}
                        for c in found.candidates
                    ],
                    "warnings": [_option_names(w) for w in found.warnings],
                }
            )
        record = {"input": str(source), "status": "ok", "segments": segments}
        if plot:
            from .plot import draw, panels_from_files

            figure = out / source.stem / FIGURE
            figure.parent.mkdir(parents=True, exist_ok=True)
            first = parts[0][2]
            draw(
                panels_from_files(
                    source,
                    params=params,
                    period=first.period,
                    segment=segment,
                    title=f"{source.name}: period {first.period:.3f} s, "
                    f"confidence {first.confidence:.2f}",
                ),
                figure,
            )
            record["figure"] = str(figure)
        records.append(record)
        if not as_json:
            click.echo(_analysis_text(source, record))
        for part in segments:
            for warning in part["warnings"]:
                click.echo(f"warning: {source}: {warning}", err=True)
    if as_json:
        click.echo(json.dumps({"inputs": records}, indent=2))
    if failures:
        ctx.exit(1)


def _analysis_text(source: Path, record: dict) -> str:
    """The human-readable lines of one input's analysis."""
    lines = []
    several = len(record["segments"]) > 1
    for part in record["segments"]:
        where = f"  {part['start']:.0f}-{part['stop']:.0f} s: " if several else f"{source}: "
        lines.append(
            f"{where}period {part['period']:.3f} s ({part['period_frames']:.2f} frames), "
            f"repetition confidence {part['confidence']:.2f}"
        )
        indent = "    " if several else "  "
        if part["tempi"]:
            readings = ", ".join(
                f"{t['bpm']:.1f} bpm if {_bars(t['bars'])} of {t['beats_per_bar']}/4"
                for t in part["tempi"]
            )
            lines.append(f"{indent}tempo: {readings}")
        listed = ", ".join(
            f"{c['period']:.3f} s ({c['confidence']:.2f})" for c in part["candidates"]
        )
        lines.append(f"{indent}candidates: {listed}")
    if several:
        lines.insert(0, f"{source}: {len(record['segments'])} segments")
    if "figure" in record:
        lines.append(f"  figure: {record['figure']}")
    return "\n".join(lines)


def _bars(n: int) -> str:
    return "one bar" if n == 1 else f"{n} bars"


def main() -> None:
    """Entry point of the ``repet`` console script; Ctrl-C and SIGTERM exit 130 and 143."""
    with _signals_raise():
        try:
            code = cli.main(prog_name="repet", standalone_mode=False)
        except click.exceptions.Abort as exc:  # interrupted outside a batch's own handling
            cause = exc.__cause__ or exc.__context__
            click.echo(f"{_signal_name(cause)}: stopped", err=True)
            sys.exit(143 if isinstance(cause, Terminated) else 130)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
    sys.exit(code or 0)


@cli.command(context_settings=CONTEXT)
@click.argument("estimates", nargs=-1, required=True, type=PATH)
@click.option(
    "--reference-background",
    type=PATH,
    help="True background of a single track (with --reference-foreground).",
)
@click.option(
    "--reference-foreground",
    type=PATH,
    help="True foreground of a single track (with --reference-background).",
)
@click.option(
    "--references",
    type=PATH,
    help="Folder with one folder per track holding background.wav and foreground.wav "
    "(or MUSDB18's accompaniment.wav and vocals.wav), named like the estimate folders.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors (and --json).")
@click.pass_context
def evaluate(
    ctx: click.Context,
    estimates: tuple[Path, ...],
    reference_background: Path | None,
    reference_foreground: Path | None,
    references: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Score separated stems against the true ones: SDR, SIR, SAR and SI-SDR in dB.

    ESTIMATES are folders written by `repet separate`: one track's folder (holding
    background.wav and foreground.wav) or the output folder holding many. BSS Eval comes from
    mir_eval (512-tap filter), computed per channel and averaged over channels.

    \b
      repet evaluate separated/song --reference-background bg.wav --reference-foreground fg.wav
      repet evaluate separated/ --references truth/     # truth/<track>/{background,foreground}.wav
    """
    single = reference_background is not None or reference_foreground is not None
    if single and (reference_background is None or reference_foreground is None):
        raise click.UsageError("give both --reference-background and --reference-foreground")
    if single == (references is not None):
        raise click.UsageError(
            "give either --reference-background/--reference-foreground (one track) or "
            "--references DIR (many tracks)"
        )

    from tqdm import tqdm

    from . import evaluate as ev

    try:
        ev.require_mir_eval()
        tracks = ev.find_estimates(list(estimates))
    except RepetError as exc:
        raise click.ClickException(str(exc)) from None
    if single and len(tracks) != 1:
        raise click.UsageError(
            f"--reference-background/--reference-foreground describe one track, but "
            f"{len(tracks)} estimate folders were found; use --references DIR for many"
        )

    rows: list[tuple[str, dict]] = []
    failures: list[str] = []
    bar = tqdm(
        tracks.items(), unit="track", file=sys.stderr, disable=quiet or not sys.stderr.isatty()
    )
    for name, folder in bar:
        try:
            if single:
                refs = {"background": reference_background, "foreground": reference_foreground}
            else:
                refs = ev.reference_files(references / name)
            ests = {stem: folder / ev.ESTIMATE_NAMES[stem] for stem in ev.STEMS}
            rows.append((name, ev.evaluate_files(refs, ests)))
        except RepetError as exc:
            tqdm.write(f"error: {name}: {exc}", file=sys.stderr)
            failures.append(f"{name}: {exc}")
    bar.close()

    mean = ev.average([scores for _, scores in rows]) if rows else None
    if as_json:
        summary = {"tracks": dict(rows), "mean": mean, "failed": failures}
        click.echo(json.dumps(summary, indent=2))
    elif not quiet and rows:
        table = rows + ([("mean", mean)] if len(rows) > 1 else [])
        click.echo(ev.format_table(table))
    if failures:
        ctx.exit(1)


@cli.command(context_settings=CONTEXT)
@click.argument("song", type=PATH)
@click.option(
    "--algorithm",
    "algorithms",
    type=click.Choice(list(ALGORITHMS)),
    multiple=True,
    help="An algorithm to run; repeat the option for several  [default: all of them]",
)
@click.option(
    "-o",
    "--out",
    default="separated",
    show_default=True,
    type=PATH,
    help="Output folder: OUT/<name>/<algorithm>/background.wav and foreground.wav.",
)
@click.option("--reference-background", type=PATH, help="True background.")
@click.option("--reference-foreground", type=PATH, help="True foreground.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON on stdout.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@shared_separation_options
@segment_option
@click.pass_context
def compare(
    ctx: click.Context,
    song: Path,
    algorithms: tuple[str, ...],
    out: Path,
    reference_background: Path | None,
    reference_foreground: Path | None,
    as_json: bool,
    overwrite: bool,
    segment: float,
    **options,
) -> None:
    """Run several algorithms on one SONG and print them side by side.

    Each algorithm gets the shared options (mask, phase, high-pass, STFT) and those of its own
    options that were given. With --reference-background and --reference-foreground the table
    adds SDR and SI-SDR of both stems, computed on the files written (as `repet evaluate`).

    \b
      repet compare song.wav
      repet compare song.wav --algorithm repet --algorithm adaptive \\
          --reference-background bg.wav --reference-foreground fg.wav
    """
    import json
    import time

    from . import evaluate as ev

    if (reference_background is None) != (reference_foreground is None):
        raise click.UsageError("give both --reference-background and --reference-foreground")
    chosen = list(dict.fromkeys(algorithms)) or list(ALGORITHMS)
    given = {k: v for k, v in options.items() if ctx.get_parameter_source(k).name != "DEFAULT"}
    for name, value in given.items():
        owners = ALGORITHM_OPTIONS.get(name)
        if owners and value is not None and not set(owners) & set(chosen):
            raise click.UsageError(
                _option_names(f"`{name}` applies to {' or '.join(owners)}, which is not run")
            )
    per_algorithm = {}
    for algorithm in chosen:
        values = dict(options, algorithm=algorithm)
        for name, owners in ALGORITHM_OPTIONS.items():
            if algorithm not in owners:
                values[name] = None
        per_algorithm[algorithm] = _params_from(values)
    references = None
    if reference_background is not None:
        references = {"background": reference_background, "foreground": reference_foreground}
        try:
            ev.require_mir_eval()
        except RepetError as exc:
            raise click.ClickException(str(exc)) from None

    from .spectral import warm_up

    warm_up()  # so that the first algorithm's time does not include library start-up
    rows, failures = [], []
    for algorithm, params in per_algorithm.items():
        job = Job.in_folder(song, out / song.stem / algorithm)
        start = time.perf_counter()
        try:
            settings = Settings(params=params, overwrite=overwrite, segment=segment, format="wav")
            reports, _, _ = _process(job, settings=settings)
            seconds = time.perf_counter() - start
            row = {
                "algorithm": algorithm,
                "found": describe(reports),
                "period": reports[0].period if len(reports) == 1 else [r.period for r in reports],
                "seconds": seconds,
                "outputs": [str(job.background), str(job.foreground)],
            }
            if references is not None:
                estimates = {"background": job.background, "foreground": job.foreground}
                row["scores"] = ev.evaluate_files(references, estimates)
        except RepetError as exc:
            message = _option_names(str(exc))
            click.echo(f"error: {algorithm}: {message}", err=True)
            failures.append(f"{algorithm}: {message}")
            continue
        rows.append(row)

    if as_json:
        click.echo(json.dumps({"song": str(song), "results": rows, "failed": failures}, indent=2))
    elif rows:
        click.echo(_compare_table(rows))
        click.echo(f"stems in {out / song.stem}/<algorithm>/")
    if failures:
        ctx.exit(1)


def _compare_table(rows: list[dict]) -> str:
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
