"""The ``repet`` command: click options -> library calls -> messages and exit codes.

No DSP, no audio I/O, no processes or signal handlers here: :mod:`repet_cli.batch` plans and
runs the jobs, :mod:`repet_cli.signals` owns Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sys
from pathlib import Path

import click

from . import signals
from ._version import __version__
from .algorithms import ALGORITHMS
from .batch import Settings
from .errors import STANDARD_OUTPUT, ParameterError, RepetError, shown_path
from .options import (
    PATH,
    Sectioned,
    analysis_options,
    batch_options,
    ext_option,
    input_options,
    output_options,
    segment_option,
    separation_options,
    shared_separation_options,
)
from .params import ALGORITHM_OPTIONS, RepetParams

REPORT = "report.html"
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: Library parameter names that messages may quote, besides the separation options.
_COMMAND_NAMES = ("overwrite", "skip_existing", "segment", "subtype", "format", "filename", "out")
_COMMAND_NAMES += ("shard", "stems", "ext", "video", "stream", "bitrate", "ledger")
_COMMAND_NAMES += ("cluster", "scheduler", "scheduler_file")


def _option_names(message: str) -> str:
    """Name parameters in a library message as the options that set them.

    The library quotes parameter names in backticks (`` `min_period` ``); here they become
    ``--min-period``.
    """
    names = [f.name for f in dataclasses.fields(RepetParams)] + list(ALGORITHM_OPTIONS)
    fields = "|".join(names + list(_COMMAND_NAMES))
    return re.sub(rf"`({fields})`", lambda m: "--" + m.group(1).replace("_", "-"), message)


def _usage(exc: RepetError) -> click.UsageError:
    return click.UsageError(_option_names(str(exc)))


class _Commands(click.Group):
    """The command group; an unexpected exception (a bug) is one line and exit 1, no traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except RepetError as exc:
            click.echo(f"error: {_option_names(str(exc))}", err=True)
            ctx.exit(1)
        except Exception as exc:
            click.echo(
                f"error: unexpected error ({type(exc).__name__}: {exc}); this is a bug in repet, "
                "please report it",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=_Commands, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="repet")
def cli() -> None:
    """Split songs into their repeating background and non-repeating foreground (REPET).

    \b
    Quick start:
      repet separate song.wav                 # -> separated/song/{background,foreground}.wav
      repet separate music/*.wav -o stems/    # many songs at once
    """


def _params_from(options: dict) -> RepetParams:
    """Build the parameters from the separation options (removed from ``options``)."""
    values = {name: options.pop(name) for name in _SEPARATION_NAMES if name in options}
    if values.pop("no_phase", False):
        if values["phase"] == "mixture":
            raise click.UsageError("--no-phase contradicts --phase mixture; give one of them")
        values["phase"] = "none"
    values["phase"] = values.get("phase") or "mixture"
    try:
        return RepetParams.build(**values)
    except ParameterError as exc:
        raise _usage(exc) from None


_SEPARATION_NAMES = ["algorithm", "mask", "threshold", "foreground_gain", "phase", "no_phase"]
_SEPARATION_NAMES += ["high_pass", "high_pass_ramp", "voice_gate", "voice_model", "n_fft", "hop"]
_SEPARATION_NAMES += list(ALGORITHM_OPTIONS)


@cli.command(cls=Sectioned, context_settings=CONTEXT)
@click.argument("inputs", nargs=-1)
@input_options
@output_options
@separation_options
@segment_option
@batch_options
@click.pass_context
def separate(
    ctx: click.Context,
    inputs: tuple[str, ...],
    files_from: Path | None,
    null: bool,
    ext: str | None,
    stream: int | None,
    out: str | Path,
    filename: str,
    out_format: str | None,
    bitrate: str | None,
    stems: str,
    video: str | None,
    subtype: str | None,
    segment: float,
    jobs: int | None,
    cluster: str | None,
    retries: int,
    scheduler: str | None,
    scheduler_file: Path | None,
    shard: str | None,
    ledger: Path | None,
    overwrite: bool,
    skip_existing: bool,
    fail_fast: bool,
    plot: bool,
    references: Path | None,
    framewise: bool,
    dataset: Path | None,
    report: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
    **options,
) -> None:
    """Separate each INPUT into background (repeating) and foreground (non-repeating).

    An INPUT is an audio or video file, a folder (searched at any depth; the outputs keep its
    layout) or '-' for standard input. The repeating period is detected from the beat
    spectrum unless --period is given. Outputs keep the input's sample rate, channels, length
    and (where the format holds it) sample format. Exit status: 0 all done (or skipped), 1 some
    input failed, 2 usage error, 130 / 143 interrupted (Ctrl-C / SIGTERM).
    """
    from . import batch
    from .parallel import auto_jobs, cpu_threads

    params = _params_from(options)
    _check_segment(segment, params)
    if overwrite and skip_existing:
        raise click.UsageError("--overwrite and --skip-existing contradict each other")
    out_format = out_format.lower() if out_format else None
    if subtype is not None:
        _check_subtype(subtype, out_format)
    rate = _check_bitrate(bitrate, out_format)
    stems = stems.lower()
    named = {"both": batch.STEMS, "none": ()}
    chosen = named[stems] if stems in named else (batch.stem_named(stems),)
    video = batch.stem_named(video) if video else None
    if not chosen:
        if video is None:
            raise click.UsageError(
                "--stems none writes no audio: give --video foreground or background to write "
                "only the video"
            )
        for flag, used in (("--plot", plot), ("--report", report), ("--references", references)):
            if used:
                raise click.UsageError(f"{flag} needs the stems: leave out --stems none")
    elif video is not None and video not in chosen:
        raise click.UsageError(f"--video {video} needs that stem: --stems {video}, both or none")
    if plot:
        _require_plotting()
    dataset_inputs: list[tuple[Path, Path]] = []
    if dataset is not None:
        if inputs or files_from or references is not None:
            raise click.UsageError(
                "--dataset DIR finds the inputs and references itself: give "
                "no INPUT, --files-from or --references with it"
            )
        dataset_inputs = _dataset_inputs(dataset)
        references, framewise = dataset, True
        skip_existing = not overwrite
        filename = "{stem}.{ext}" if filename == batch.DEFAULT_FILENAME else filename
    if framewise and references is None:
        raise click.UsageError("--framewise scores against true stems: give --references DIR")
    if references is not None:
        if len(chosen) < 2:
            raise click.UsageError("--references scores both stems: leave out --stems")
    names = list(inputs) + (_names_from(files_from, null=null) if files_from else [])
    names += [path for path, _ in dataset_inputs]
    if not names:
        raise click.UsageError("no INPUT: give audio or video files, folders, '-' or --files-from")
    if sum(os.fspath(n) == "-" for n in names) > 1:
        raise click.UsageError("'-' (standard input) can be given once")
    from .remote import is_url

    if is_url(out) or any(is_url(n) for n in names):
        for flag, used in (("--plot", plot), ("--video", video), ("--references", references)):
            if used:
                raise click.UsageError(f"{flag} needs local files, not URLs")
    else:
        out = Path(out)
    to_stdout = os.fspath(out) == "-"
    if to_stdout:
        out, out_format = _stdout_plan_checks(
            names, chosen, plot=plot, report=report or as_json, fmt=out_format
        )
    try:
        if dataset_inputs:  # each track's stems in OUT/<track>/, its layout kept
            found = dataset_inputs
        else:
            found = batch.find_inputs(names, extensions=ext.split(",") if ext else None)
            found, repeated = batch.once_each(found)
            for source, times in [] if quiet else repeated:
                given = "twice" if times == 2 else f"{times} times"
                click.echo(
                    f"warning: {shown_path(source)} is given {given}; separated once", err=True
                )
        plan = batch.plan(
            found, out, template=filename, format=out_format, stems=chosen, video=video
        )
        if plot:
            batch.check_figures(plan)
    except ParameterError as exc:
        raise _usage(exc) from None
    if shard is not None:
        try:
            plan = batch.shard(plan, shard)
        except ParameterError as exc:
            raise _usage(exc) from None
    if not to_stdout and not is_url(out):
        try:  # a read-only or forbidden output folder: one error now, not one per input
            batch.check_output_folder(out)
        except RepetError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
    if to_stdout:
        out.mkdir()  # a new temporary folder, removed below
    if jobs is None:
        workers = auto_jobs(len(plan))
    else:
        workers = max(1, min(len(plan), jobs or cpu_threads()))
    settings = Settings(
        params=params,
        overwrite=overwrite or to_stdout,
        skip_existing=skip_existing,
        segment=segment,
        format=out_format,
        subtype=subtype,
        bitrate=rate,
        stream=stream,
        video=video,
        retries=retries,
        plot=plot,
        references=references,
        framewise=framewise,
    )
    vouched: set[int] = set()  # inputs the ledger has done with these options
    record = batch.Ledger(ledger, settings=settings) if ledger is not None else None
    if record is not None and skip_existing:
        done = record.done()
        vouched = {
            i
            for i, job in enumerate(plan)
            if os.path.abspath(job.source) in done and all(os.path.lexists(p) for p in job.targets)
        }
        # The ledger decides: outputs it has no record of (other options?) are not kept.
        settings = dataclasses.replace(settings, skip_existing=False)
    report_file = sys.stderr if as_json or to_stdout else sys.stdout
    show = not quiet and sys.stderr.isatty()
    if show and len(plan) <= HEADERS_READ_FOR_PROGRESS:
        plan = batch.with_headers(plan, stream=stream)
    # The bar counts seconds of audio, so it moves during a long input too; for a batch too
    # large to read every header first, it counts the seconds done without a total.
    total = sum(job.duration for job in plan)
    bar, write = _progress_bar(round(total) if total else None, enabled=show)

    def say(message: str) -> None:
        if not quiet:
            write(message, file=report_file)

    if cluster or scheduler or scheduler_file:
        from .batch.dask import Dask, require_dask

        try:
            require_dask()
            executor = Dask(
                scheduler=scheduler,
                scheduler_file=scheduler_file,
                cluster=cluster.lower() if cluster else None,
                workers=jobs or None,
                log=say if verbose else None,
            )
        except RepetError as exc:
            raise _usage(exc) from None
    else:
        executor = batch.ProcessPool(workers) if workers > 1 else batch.InProcess()
    outcomes: list[batch.Outcome] = []
    interrupted = None
    with signals.handled():
        try:
            todo = [job for i, job in enumerate(plan) if i not in vouched]
            running = iter(
                batch.run(todo, settings=settings, executor=executor, progress=bar.update)
            )
            for i, job in enumerate(plan):
                if i in vouched:
                    outcome = batch.Outcome(
                        source=str(job.source),
                        status="skipped",
                        outputs=tuple(map(str, job.targets)),
                    )
                else:
                    outcome = next(running, None)
                    if outcome is None:  # the executor was stopped (--fail-fast): no more
                        break
                    outcome = _for_user(outcome)
                    if record is not None:
                        record.append(outcome)
                    if to_stdout and outcome.outputs:  # not the temporary file copied there
                        outcome = dataclasses.replace(outcome, outputs=("-",))
                outcomes.append(outcome)
                _report(
                    outcome,
                    job,
                    say=say,
                    verbose=verbose,
                    quiet=quiet,
                    write=write,
                    to_stdout=to_stdout,
                )
                if outcome.interruption is not None:  # stopped: what is whole still comes
                    interrupted = outcome.interruption
                if outcome.status == "failed" and (fail_fast or outcome.stops_batch):
                    if getattr(executor, "stop", None) is None:
                        break
                    executor.stop()  # what had finished still comes, then the end
            running.close()  # the executor stops here, where an interruption is still handled
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM
            interrupted = exc
    bar.close()

    summary = batch.Summary.of(outcomes, planned=len(plan))
    if report and outcomes:
        from .report import write_report

        done = plan[: len(outcomes)]  # each input as it is on disk now
        path = write_report(
            out / REPORT,
            done,
            [_for_user(batch.on_disk(job, o)) for job, o in zip(done, outcomes, strict=True)],
            options=_options_text(params),
            references=references,
            threads=cpu_threads(),
        )
        say(f"report: {path}")
    if as_json:
        from . import __version__

        record = {
            "repet": __version__,
            "options": _options_text(params),
            "options_hash": batch.options_hash(settings),
            "inputs": [o.as_dict() for o in outcomes]
            + [
                {"input": str(job.source), "status": "not started"} for job in plan[len(outcomes) :]
            ],
            "summary": summary.as_dict(),
        }
        if interrupted is not None:
            record["interrupted"] = signals.describe(interrupted)
        click.echo(json.dumps(record, indent=2))
    if to_stdout:
        _emit(plan[0], outcomes, folder=out)
    if interrupted is not None:
        click.echo(
            f"{signals.describe(interrupted)}: stopped; {summary.ok} of {len(plan)} inputs were "
            "separated and written whole; nothing partial was left behind",
            err=True,
        )
        ctx.exit(signals.exit_status(interrupted))
    if len(plan) > 1:
        skipped = f", {summary.skipped} skipped (outputs exist)" if summary.skipped else ""
        say(f"separated {summary.ok} of {len(plan)} inputs into {out}/{skipped}")
        scored = [o.scores for o in outcomes if o.scores is not None]
        if scored:
            from .evaluate import average

            mean = average(scored)
            say(
                f"mean over {len(scored)} scored inputs: SDR bg {mean['background']['sdr']:.2f} "
                f"dB, fg {mean['foreground']['sdr']:.2f} dB"
            )
    if framewise and not as_json and not quiet:
        _sisec_table(plan, outcomes, echo=lambda line: write(line, file=report_file))
    if summary.failed:
        failures = [o.error for o in outcomes if o.status == "failed"]
        if len(plan) > 1:  # each error was printed as it happened; repeat them together
            lines = "\n".join(f"  {message}" for message in failures)
            click.echo(f"{len(failures)} of {len(plan)} inputs failed:\n{lines}", err=True)
        if summary.not_started and outcomes[-1].stops_batch:
            click.echo(
                f"stopped: nothing more can be written there; {summary.not_started} inputs "
                "not started",
                err=True,
            )
        elif summary.not_started:
            click.echo(
                f"stopped at the first failure (--fail-fast): {summary.not_started} inputs not "
                "started",
                err=True,
            )
        ctx.exit(1)


#: Batches up to this many inputs have every header read first, for a progress bar with a
#: total in seconds of audio; larger ones start at once.
HEADERS_READ_FOR_PROGRESS = 2000


def _names_from(path: Path, *, null: bool) -> list[str]:
    """The input names listed in a file (or standard input for '-'), one per line or NUL."""
    try:
        if os.fspath(path) == "-":
            data = sys.stdin.buffer.read()
        else:
            data = Path(path).read_bytes()
    except OSError as exc:
        raise click.UsageError(f"--files-from {path}: {exc.strerror or exc}") from None
    text = os.fsdecode(data)
    names = text.split("\0") if null else text.splitlines()
    return [n for n in names if n and (null or n.strip())]


def _check_bitrate(bitrate: str | None, out_format: str | None) -> int | None:
    from .formats import LOSSY_FORMATS

    if bitrate is None:
        return None
    if out_format not in LOSSY_FORMATS:
        raise click.UsageError(
            f"--bitrate is for --format {', '.join(LOSSY_FORMATS)} (the others are lossless, "
            "or Vorbis)"
        )
    from .formats import parse_bitrate

    try:
        return parse_bitrate(bitrate)
    except ParameterError as exc:
        raise _usage(exc) from None


def _stdout_plan_checks(names, stems, *, plot: bool, report: bool, fmt: str | None):
    """For ``-o -``: one input, one stem, no figures; a temporary folder to write into first."""
    import tempfile

    if len(names) != 1 or Path(names[0]).is_dir():
        raise click.UsageError("-o - writes one input's stem: give one INPUT")
    if len(stems) != 1:
        raise click.UsageError("-o - writes one stem: add --stems foreground or background")
    if plot or report:
        raise click.UsageError("-o - writes audio only: leave out --plot, --report and --json")
    if sys.stdout.isatty():  # as gzip: audio bytes would flood the terminal
        raise click.UsageError(
            "-o - writes audio to standard output, which is a terminal; redirect it to a file "
            "or a pipe ('> stem.wav', '| ffmpeg -i - ...') or give an output folder"
        )
    folder = Path(tempfile.gettempdir()) / f"repet-{os.getpid()}-{os.urandom(4).hex()}"
    return folder, fmt or "wav"


def _emit(job, outcomes, *, folder: Path) -> None:
    """Copy the stem written for ``-o -`` to standard output, then remove its folder."""
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


def _for_user(outcome):
    """An outcome whose messages name command-line options instead of parameters."""
    return dataclasses.replace(
        outcome,
        error=None if outcome.error is None else _option_names(outcome.error),
        warnings=tuple(_option_names(w) for w in outcome.warnings),
    )


def _options_text(params: RepetParams) -> str:
    """The options that differ from the defaults, as flags (for the report)."""
    shared = [
        (f.name, getattr(params, f.name))
        for f in dataclasses.fields(RepetParams)
        if f.name != "options" and getattr(params, f.name) != f.default
    ]
    given = [f"--{name.replace('_', '-')} {value}" for name, value in shared]
    given += [f"--{k.replace('_', '-')} {v}" for k, v in params.options.given().items()]
    return " ".join(given) or "defaults"


def _check_subtype(subtype: str, out_format: str | None) -> None:
    from .formats import LOSSY_FORMATS, OUTPUT_SUBTYPES

    if out_format in LOSSY_FORMATS or out_format == "ogg":
        raise click.UsageError(
            f"--subtype is for wav and flac; {out_format} has its codec (set --bitrate)"
        )
    formats = [out_format] if out_format else ["wav", "flac"]
    if not any(subtype.upper() in OUTPUT_SUBTYPES[f] for f in formats):
        known = sorted({s for f in formats for s in OUTPUT_SUBTYPES[f]})
        raise click.UsageError(
            f"--subtype {subtype} is not one of {', '.join(known)}"
            + (f" (for {out_format})" if out_format else "")
        )


def _dataset_inputs(folder: Path) -> list[tuple[Path, Path]]:
    """A dataset's mixtures, ``(…/<track>/mixture.wav, folder of <track> under OUT)``, in
    sorted order; a usage error where there are none."""
    if not folder.is_dir():
        raise click.UsageError(f"--dataset: {folder} is not a folder")
    found = []
    for here, dirs, files in os.walk(folder):
        dirs.sort()
        if "mixture.wav" in files:
            track = Path(here)
            found.append((track / "mixture.wav", track.relative_to(folder)))
        for name in sorted(files):  # MUSDB18: <subset>/<track>.stem.mp4, all stems inside
            if name.lower().endswith(".stem.mp4"):
                path = Path(here) / name
                found.append((path, path.parent.relative_to(folder) / name[: -len(".stem.mp4")]))
    if not found:
        raise click.UsageError(
            f"--dataset: no <track>/mixture.wav (MUSDB18-HQ) or <track>.stem.mp4 (MUSDB18) "
            f"under {folder}"
        )
    return found


def _sisec_table(plan, outcomes, *, echo) -> None:
    """The SiSEC 2018-style table: each track's medians over 1-s windows, then the median
    and the mean over tracks."""
    from . import evaluate as ev

    rows = [
        (_track_name(job), o.framewise)
        for job, o in zip(plan, outcomes, strict=False)
        if o.framewise is not None
    ]
    if not rows:
        return
    medians = [m for _, m in rows]
    table = rows + [("median over tracks", ev.median_over_tracks(medians))]
    table.append(("mean over tracks", ev.mean_over_tracks(medians)))
    echo("SiSEC 2018 figures (BSS Eval v4, median over 1-s windows):")
    echo(ev.format_table(table, metrics=ev.FRAME_METRICS))


def _track_name(job) -> str:
    from .batch import track_name

    return track_name(job.source)


def _check_segment(segment: float, params: RepetParams) -> None:
    from .segments import check_segment

    try:
        check_segment(segment, params)
    except ParameterError as exc:
        raise _usage(exc) from None


def _report(
    outcome, job, *, say, verbose: bool, quiet: bool, write, to_stdout: bool = False
) -> None:
    """Print what became of one input: its result, warnings or error (``to_stdout``: its
    stem goes to standard output, from a temporary file the user never sees)."""
    source = shown_path(job.source)
    if outcome.status == "failed":
        if outcome.trace and verbose:
            write(outcome.trace, file=sys.stderr)
        hint = "; -v shows the traceback" if outcome.trace and not verbose else ""
        write(f"error: {outcome.error}{hint}", file=sys.stderr)
        return
    if outcome.status == "skipped":
        say(f"{source}: skipped, outputs exist ({', '.join(map(str, job.targets))})")
        for warning in () if quiet else outcome.warnings:
            write(f"warning: {warning}", file=sys.stderr)
        return
    scored = ""
    if outcome.scores is not None:
        bg, fg = outcome.scores["background"], outcome.scores["foreground"]
        scored = f"; SDR bg {bg['sdr']:.2f} dB, fg {fg['sdr']:.2f} dB"
    written = STANDARD_OUTPUT if to_stdout else ", ".join(outcome.outputs)
    say(f"{source}: {outcome.found}{scored} -> {written}")
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


def _progress_bar(total: int | None, *, enabled: bool, unit: str = "s of audio"):
    """A progress bar on stderr (in seconds of audio, or ``unit``), and the function that
    prints around it.

    Without a ``total`` (a batch too large to read every header first) it counts the seconds
    done. tqdm is imported only when the bar is shown (scripts and batches do not pay for it).
    """
    if not enabled:
        return _NoBar(), lambda message, file: click.echo(message, file=file)
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        unit=unit.split()[0],
        desc="audio" if unit == "s of audio" else "",
        file=sys.stderr,
        dynamic_ncols=True,
        bar_format=(
            f"{{l_bar}}{{bar}}| {{n_fmt}}/{{total_fmt}} {unit} [{{elapsed}}<{{remaining}}]"
            if total
            else f"{{desc}}: {{n_fmt}} {unit} done [{{elapsed}}, {{rate_fmt}}]"
        ),
    )
    return bar, tqdm.write


def _require_plotting() -> None:
    from .plot import require_matplotlib

    try:
        require_matplotlib()
    except RepetError as exc:
        raise click.UsageError(f"--plot: {exc}") from None


@cli.command(cls=Sectioned, context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, type=PATH)
@ext_option
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
    ext: str | None,
    segment: float,
    candidates: int,
    plot: bool,
    out: Path,
    as_json: bool,
    **options,
) -> None:
    """Show how each INPUT repeats: the period, the tempo it implies, the other period
    candidates and how clearly the song repeats (0 to 1); and where its lead voice sings and at
    what pitch, as the separation's voice model follows it (drawn over the spectrogram with
    --plot; --no-voice-model leaves it out and costs a fraction of a separation).

    An INPUT is an audio or video file or a folder, searched at any depth as `repet separate`
    searches it (--ext).

    A song that does not repeat clearly gets a warning: try --algorithm repet-sim or a
    forced --period when separating it.
    """
    from .analyze import analyze_file, as_record, as_text, pitch_curve
    from .batch import find_inputs

    try:
        params = RepetParams.build(**options)
    except ParameterError as exc:
        raise _usage(exc) from None
    found = find_inputs(inputs, extensions=ext.split(",") if ext else None)
    inputs = tuple(source for source, _ in found)
    # As separate lays out a folder's files: OUT/<folder inside the input>/<name>/.
    figures = {source: out / folder / source.stem / "repet.png" for source, folder in found}
    if plot:
        _require_plotting()
        drawn: dict[Path, Path] = {}
        for source, figure in figures.items():
            other = drawn.setdefault(figure, source)
            if other != source:
                raise click.UsageError(
                    f"{other} and {source} would both draw {figure}; analyze them into "
                    "different --out folders"
                )
    records, failures = [], 0
    # Many inputs: a bar in files on a terminal (one input takes about 0.2 s a minute).
    show = len(inputs) > 1 and sys.stderr.isatty()
    bar, write = _progress_bar(len(inputs), enabled=show, unit="files")

    def echo(message: str, *, err: bool = False) -> None:
        write(message, file=sys.stderr if err else sys.stdout)

    for source in inputs:
        try:
            info, parts = analyze_file(source, params=params, segment=segment, count=candidates)
        except RepetError as exc:
            failures += 1
            message = _option_names(str(exc))
            echo(f"error: {message}", err=True)
            records.append({"input": str(source), "status": "failed", "error": message})
            bar.update(1)
            continue
        record = as_record(source, info, parts, rename=_option_names)
        if plot:
            from .plot import draw_file

            first = parts[0][2]
            title = f"{source.name}: period {first.period:.3f} s, confidence {first.confidence:.2f}"
            draw_file(
                figures[source],
                source,
                params=params,
                period=first.period,
                segment=segment,
                title=title,
                pitch=pitch_curve(parts, info),
            )
            record["figure"] = str(figures[source])
        records.append(record)
        if not as_json:
            echo(as_text(source, record))
        for part in record["segments"]:
            for warning in part["warnings"]:
                echo(f"warning: {source}: {warning}", err=True)
        bar.update(1)
    bar.close()
    if as_json:
        click.echo(json.dumps({"inputs": records}, indent=2))
    if failures:
        ctx.exit(1)


def main() -> None:
    """Entry point of the ``repet`` console script; Ctrl-C and SIGTERM exit 130 and 143."""
    # Once the command is over, a Ctrl-C ends the process as the system does, with no
    # traceback from the interpreter's exit (nothing is left to clean up by then).
    signals.default_after()
    with signals.handled():
        try:
            code = cli.main(prog_name="repet", standalone_mode=False)
        except click.exceptions.Abort as exc:  # interrupted outside a batch's own handling
            cause = exc.__cause__ or exc.__context__ or KeyboardInterrupt()
            click.echo(f"{signals.describe(cause)}: stopped", err=True)
            sys.exit(signals.exit_status(cause))
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
    sys.exit(code or 0)


@cli.command(cls=Sectioned, context_settings=CONTEXT)
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
@click.option(
    "--framewise",
    is_flag=True,
    help="Also the SiSEC 2018 figures: BSS Eval v4 (museval's) on 1-s windows, median over "
    "the windows; the table shows these, --json has both and every window.",
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
    framewise: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Score separated stems against the true ones: SDR, SIR, SAR and SI-SDR in dB.

    ESTIMATES are folders written by `repet separate`: one track's folder (holding
    background.wav and foreground.wav) or the output folder holding many. BSS Eval is
    mir_eval's bss_eval_sources (512-tap filter; same figures, computed faster), per channel
    and averaged over channels; --framewise adds museval's SiSEC figures.

    \b
      repet evaluate separated/song --reference-background bg.wav --reference-foreground fg.wav
      repet evaluate separated/ --references truth/     # truth/<track>/{background,foreground}.wav
      repet evaluate separated/ --references truth/ --framewise

    To separate and score a whole MUSDB18-HQ-style dataset in one go (resumable):
    repet separate --dataset musdb18hq/test -o results/
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
        tracks = ev.find_estimates(list(estimates))
    except RepetError as exc:
        raise click.ClickException(str(exc)) from None
    if single and len(tracks) != 1:
        raise click.UsageError(
            f"--reference-background/--reference-foreground describe one track, but "
            f"{len(tracks)} estimate folders were found; use --references DIR for many"
        )

    from .parallel import cpu_threads

    rows: list[tuple[str, dict]] = []
    sisec: list[tuple[str, dict]] = []
    windows: dict[str, dict] = {}
    failures: list[str] = []
    bar = tqdm(
        total=len(tracks),
        unit="track",
        bar_format="{l_bar}{bar}| {n:.1f}/{total} tracks [{elapsed}<{remaining}]",
        file=sys.stderr,
        disable=quiet or not sys.stderr.isatty(),
    )
    for k, (name, folder) in enumerate(tracks.items()):
        bar.set_description(name[:30])
        try:
            if single:
                refs = {"background": reference_background, "foreground": reference_foreground}
            else:
                refs = ev.reference_files(references / name)
            ests = {stem: folder / ev.ESTIMATE_NAMES[stem] for stem in ev.STEMS}
            ref, est, sr = ev.load_stems(refs, ests)
            bar.update(0.1)
            options = dict(workers=cpu_threads(), progress=lambda f: bar.update(0.9 * f))
            if framewise:
                whole, frames, medians = ev.framewise_scores_of(ref, est, sr, **options)
                sisec.append((name, medians))
                windows[name] = frames
            else:
                whole = ev.scores_of(ref, est, **options)
            del ref, est
            rows.append((name, whole))
        except RepetError as exc:
            tqdm.write(f"error: {name}: {exc}", file=sys.stderr)
            failures.append(f"{name}: {exc}")
        bar.n = k + 1  # exactly, whatever the fractions added up to
        bar.refresh()
    bar.close()

    mean = ev.average([scores for _, scores in rows]) if rows else None
    if as_json:
        summary = {"tracks": dict(rows), "mean": mean, "failed": failures}
        if framewise:
            summary["framewise"] = {
                "window_s": ev.FRAME_SECONDS,
                "tracks": {name: {"median": m, "frames": windows[name]} for name, m in sisec},
                "median": ev.median_over_tracks([m for _, m in sisec]) if sisec else None,
            }
        click.echo(json.dumps(_finite(summary), indent=2))
    elif not quiet and framewise and sisec:
        median = ev.median_over_tracks([m for _, m in sisec])
        table = sisec + ([("median", median)] if len(sisec) > 1 else [])
        click.echo("SiSEC 2018 (BSS Eval v4, median over 1-s windows):")
        click.echo(ev.format_table(table, metrics=ev.FRAME_METRICS))
    elif not quiet and rows:
        table = rows + ([("mean", mean)] if len(rows) > 1 else [])
        click.echo(ev.format_table(table))
    if failures:
        ctx.exit(1)


def _finite(value):
    """JSON has no NaN or infinity: those become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


@cli.command(cls=Sectioned, context_settings=CONTEXT)
@click.argument("song", type=PATH)
@click.option(
    "--algorithm",
    "algorithms",
    type=click.Choice(list(ALGORITHMS), case_sensitive=False),
    multiple=True,
    help="An algorithm to run; repeat the option for several  [default: all of them]",
)
@click.option(
    "-o",
    "--out",
    default="compared",
    show_default=True,
    type=PATH,
    help="Output folder: OUT/<name>/<algorithm>/background.wav and foreground.wav (apart "
    "from repet separate's, in separated/ by default).",
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
    from . import batch

    if (reference_background is None) != (reference_foreground is None):
        raise click.UsageError("give both --reference-background and --reference-foreground")
    if song.is_dir():
        raise click.UsageError(
            f"{song} is a folder: repet compare runs on one song; give one of its files "
            "(repet separate and repet analyze take folders)"
        )
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
        values = {
            k: v
            for k, v in options.items()
            if k not in ALGORITHM_OPTIONS or algorithm in ALGORITHM_OPTIONS[k]
        }
        per_algorithm[algorithm] = _params_from(dict(values, algorithm=algorithm))
    references = None
    if reference_background is not None:
        references = {"background": reference_background, "foreground": reference_foreground}

    rows, failures = [], []
    from .io import probe

    try:
        duration = probe(song).duration
    except RepetError:
        duration = 0.0  # the first separation says what is wrong
    weight = 1 + (batch.SCORING_WEIGHT if references is not None else 0)
    total = round(duration * weight * len(per_algorithm)) or None
    bar, write = _progress_bar(total, enabled=sys.stderr.isatty())
    done = 0.0

    def moved(seconds: float) -> None:  # whole seconds to the bar, as they add up
        nonlocal done
        before = round(done)
        done += seconds
        if round(done) > before:
            bar.update(round(done) - before)

    with signals.handled():
        found = batch.compare(
            song,
            per_algorithm,
            out=out,
            segment=segment,
            overwrite=overwrite,
            references=references,
            progress=moved,
        )
        for algorithm, row in found:
            if isinstance(row, RepetError):
                message = _option_names(str(row))
                write(f"error: {algorithm}: {message}", file=sys.stderr)
                failures.append(f"{algorithm}: {message}")
            else:
                rows.append(row)
    bar.close()

    if as_json:
        click.echo(json.dumps({"song": str(song), "results": rows, "failed": failures}, indent=2))
    elif rows:
        click.echo(batch.compare_table(rows))
        click.echo(f"stems in {out / song.stem}/<algorithm>/")
    if failures:
        ctx.exit(1)
