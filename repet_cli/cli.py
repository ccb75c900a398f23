"""The ``repet`` command: parse, validate, plan outputs, report. No DSP and no soundfile here."""

from __future__ import annotations

import dataclasses
import functools
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
from .errors import AudioWriteError, ParameterError, RepetError
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

BACKGROUND = "background.wav"
FOREGROUND = "foreground.wav"

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass(frozen=True)
class Job:
    """One input and the files it will produce."""

    source: Path
    folder: Path

    @property
    def background(self) -> Path:
        return self.folder / BACKGROUND

    @property
    def foreground(self) -> Path:
        return self.folder / FOREGROUND


def _option_names(message: str) -> str:
    """Name parameters in a library message as the options that set them.

    The library quotes parameter names in backticks (`` `min_period` ``); here they become
    ``--min-period``.
    """
    fields = "|".join(f.name for f in dataclasses.fields(RepetParams))
    return re.sub(rf"`({fields})`", lambda m: "--" + m.group(1).replace("_", "-"), message)


def _plan(inputs: tuple[Path, ...], out: Path) -> list[Job]:
    """One job per input; refuses, before any work, inputs that would write the same files."""
    seen: dict[str, Path] = {}
    jobs = []
    for source in inputs:
        key = source.stem.casefold()
        if key in seen:
            first = seen[key]
            if os.path.abspath(first) == os.path.abspath(source):
                raise click.UsageError(f"{source} is given twice")
            raise click.UsageError(
                f"{first} and {source} would both write to {out / source.stem}/; "
                "rename one of them or separate them into different --out folders"
            )
        seen[key] = source
        jobs.append(Job(source=source, folder=out / source.stem))
    sources = {os.path.realpath(s) for s in inputs}
    for job in jobs:
        for target in (job.background, job.foreground):
            if os.path.realpath(target) in sources:
                raise click.UsageError(
                    f"{target} is both an input and an output; choose another --out folder"
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
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    default="separated",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Output folder; each input gets OUT/<name>/background.wav and foreground.wav.",
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
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Print STFT details and, on a crash, the traceback."
)
@click.pass_context
def separate(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    out: Path,
    segment: float,
    jobs: int,
    overwrite: bool,
    quiet: bool,
    verbose: bool,
    **options,
) -> None:
    """Separate each INPUT into background (repeating) and foreground (non-repeating).

    The repeating period is detected from the beat spectrum unless --period is given. Outputs
    keep the input's sample rate, channels, length and (for WAV-compatible inputs) sample
    format. Exit status: 0 all done, 1 some input failed, 2 usage error.
    """
    params = _params_from(options)
    _check_segment(segment, params)
    plan = _plan(inputs, out)
    workers = min(len(plan), jobs or cpu_threads())
    threads = max(1, cpu_threads() // workers)

    from tqdm import tqdm

    def say(message: str) -> None:
        if not quiet:
            tqdm.write(message, file=sys.stdout)

    # The bar counts seconds of audio, so it moves during a long input too.
    durations = [_duration(job.source) for job in plan]
    bar = tqdm(
        total=round(sum(durations)),
        unit="s",
        desc="audio",
        file=sys.stderr,
        disable=quiet or not sys.stderr.isatty(),
        dynamic_ncols=True,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} s of audio [{elapsed}<{remaining}]",
    )
    task = functools.partial(
        _work, params=params, overwrite=overwrite, segment=segment, threads=threads
    )
    failures: list[str] = []
    for job, duration, outcome in zip(
        plan, durations, _outcomes(task, plan, workers=workers, bar=bar), strict=True
    ):
        bar.update(max(0, round(duration) - outcome.progressed))
        if outcome.error is not None:
            if outcome.trace and verbose:
                tqdm.write(outcome.trace, file=sys.stderr)
            hint = "; -v shows the traceback" if outcome.trace and not verbose else ""
            tqdm.write(f"error: {outcome.error}{hint}", file=sys.stderr)
            failures.append(outcome.error)
            continue
        say(f"{job.source}: {outcome.found} -> {job.background}, {job.foreground}")
        if verbose:
            say(f"  {outcome.details}")
        for warning in outcome.warnings:
            if not quiet:
                tqdm.write(f"warning: {warning}", file=sys.stderr)
    bar.close()

    done = len(plan) - len(failures)
    if len(plan) > 1:
        say(f"separated {done} of {len(plan)} inputs into {out}/")
    if failures:
        if len(plan) > 1:  # each error was printed as it happened; repeat them together
            lines = "\n".join(f"  {message}" for message in failures)
            click.echo(f"{len(failures)} of {len(plan)} inputs failed:\n{lines}", err=True)
        ctx.exit(1)


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
class Outcome:
    """What became of one input (picklable: it comes back from worker processes)."""

    error: str | None = None
    trace: str | None = None
    found: str = ""
    details: str = ""
    warnings: tuple[str, ...] = ()
    progressed: int = 0  # seconds of audio already counted on the progress bar


def _work(
    job: Job,
    *,
    params: RepetParams,
    overwrite: bool,
    segment: float,
    threads: int,
    progress=None,
) -> Outcome:
    """Separate one input; errors become an :class:`Outcome` too (batches go on)."""
    try:
        reports, info, written = _process(
            job,
            params=params,
            overwrite=overwrite,
            segment=segment,
            threads=threads,
            progress=progress,
        )
    except RepetError as exc:
        return Outcome(error=_option_names(str(exc)))
    except Exception as exc:  # a bug: report it, keep going with the batch
        return Outcome(
            error=f"{job.source}: unexpected error ({type(exc).__name__}: {exc})",
            trace=traceback.format_exc(),
        )
    first = reports[0]
    details = (
        f"{info.channels} ch, {info.samplerate} Hz, {info.duration:.2f} s, {info.subtype}; "
        f"n_fft {first.n_fft}, hop {first.hop}"
    )
    warnings = tuple(
        f"{w.path}: {w.clipped} samples beyond full scale were clipped by the "
        f"{w.subtype} output format"
        for w in written
        if w.clipped
    )
    done = round(info.duration) if progress is not None else 0
    return Outcome(found=describe(reports), details=details, warnings=warnings, progressed=done)


def _outcomes(task, plan: list[Job], *, workers: int, bar):
    """The :class:`Outcome` of every job, in input order, from ``workers`` processes.

    With one worker the jobs run here, and the bar moves after every segment.
    """
    if workers <= 1:
        for job in plan:
            counted = 0

            def advance(samples_done: int, rate=None, job=job):
                nonlocal counted
                seconds = round(samples_done / (rate or _rate(job.source)))
                bar.update(seconds - counted)
                counted = seconds

            outcome = task(job, progress=advance)
            yield dataclasses.replace(outcome, progressed=counted)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield from pool.map(task, plan)


def _rate(path: Path) -> int:
    import soundfile as sf

    return sf.info(str(path)).samplerate


def _process(
    job: Job,
    *,
    params: RepetParams,
    overwrite: bool,
    segment: float = 0.0,
    threads: int | None = None,
    progress=None,
):
    """Separate one input and write its two stems; every error names the file it is about.

    Returns a :class:`~repet_cli.stream.SegmentReport` per segment, the input's
    :class:`~repet_cli.io.AudioInfo` and the :class:`~repet_cli.io.WriteResult` of each stem.
    ``progress`` is called with the number of input samples done after each segment.
    """
    from .io import AudioReader, AudioWriter, output_subtype, refuse_existing
    from .stream import separate_segments

    targets = (job.background, job.foreground)
    if not overwrite:  # before the work, not after it
        refuse_existing(targets)
    with AudioReader(job.source) as reader:
        info = reader.info
        created = _make_folder(job.folder)
        try:
            with AudioWriter(
                targets,
                sr=info.samplerate,
                channels=info.channels,
                subtype=output_subtype(info),
                overwrite=overwrite,
            ) as writer:
                reports = separate_segments(
                    reader.read,
                    writer.write,
                    n_samples=info.frames,
                    sr=info.samplerate,
                    params=params,
                    segment=segment,
                    threads=threads,
                    progress=progress,
                )
                written = writer.commit()
        except RepetError as exc:
            exc.path = exc.path or str(job.source)
            if created and not any(job.folder.iterdir()):
                job.folder.rmdir()
            raise
        except BaseException:
            if created and not any(job.folder.iterdir()):
                job.folder.rmdir()
            raise
    return reports, info, written


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


def _make_folder(folder: Path) -> bool:
    """Create an output folder (and parents); True if it did not exist before."""
    if folder.is_dir():
        return False
    try:
        folder.mkdir(parents=True)
    except FileExistsError:
        raise AudioWriteError(
            "cannot create the output folder: a file has that name", path=folder
        ) from None
    except OSError as exc:
        raise AudioWriteError(
            f"cannot create the output folder ({exc.strerror or exc})", path=folder
        ) from None
    return True


def main() -> None:
    """Entry point of the ``repet`` console script."""
    cli(prog_name="repet")


@cli.command(context_settings=CONTEXT)
@click.argument("estimates", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--reference-background",
    type=click.Path(path_type=Path),
    help="True background of a single track (with --reference-foreground).",
)
@click.option(
    "--reference-foreground",
    type=click.Path(path_type=Path),
    help="True foreground of a single track (with --reference-background).",
)
@click.option(
    "--references",
    type=click.Path(path_type=Path),
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

    import json

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
@click.argument("song", type=click.Path(path_type=Path))
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
    type=click.Path(path_type=Path),
    help="Output folder: OUT/<name>/<algorithm>/background.wav and foreground.wav.",
)
@click.option("--reference-background", type=click.Path(path_type=Path), help="True background.")
@click.option("--reference-foreground", type=click.Path(path_type=Path), help="True foreground.")
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
        job = Job(source=song, folder=out / song.stem / algorithm)
        start = time.perf_counter()
        try:
            reports, _, _ = _process(job, params=params, overwrite=overwrite, segment=segment)
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
