"""The ``repet`` command: click options -> library calls -> messages and exit codes.

No DSP, no audio I/O, no processes or signal handlers here: :mod:`repet_cli.batch` plans and
runs the jobs, :mod:`repet_cli.signals` owns Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from . import signals
from ._version import __version__
from .algorithms import ALGORITHMS
from .batch.request import Extras, Inputs, Outputs, Running
from .errors import ParameterError, RepetError
from .options import (
    PATH,
    Shown,
    analysis_options,
    batch_options,
    ext_option,
    input_options,
    option_names,
    output_options,
    params_from,
    segment_option,
    separation_options,
    shared_separation_options,
    usage,
)
from .params import RepetParams
from .sections import Sectioned

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: Batches up to this many inputs have every header read first, for a progress bar with a
#: total in seconds of audio; larger ones start at once.
HEADERS_READ_FOR_PROGRESS = 2000


class _Commands(click.Group):
    """The command group; an unexpected exception (a bug) is one line and exit 1, no traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except RepetError as exc:
            click.echo(f"error: {option_names(str(exc))}", err=True)
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
    inputs: Inputs,
    outputs: Outputs,
    params: RepetParams,
    segment: float,
    running: Running,
    extras: Extras,
    shown: Shown,
) -> None:
    """Separate each INPUT into background (repeating) and foreground (non-repeating).

    An INPUT is an audio or video file, a folder (searched at any depth; the outputs keep its
    layout) or '-' for standard input. The repeating period is detected from the beat
    spectrum unless --period is given. Outputs keep the input's sample rate, channels, length
    and (where the format holds it) sample format. Exit status: 0 all done (or skipped), 1 some
    input failed, 2 usage error, 130 / 143 interrupted (Ctrl-C / SIGTERM).
    """
    prepared = _prepare(
        shown,
        inputs=inputs,
        outputs=outputs,
        params=params,
        segment=segment,
        running=running,
        extras=extras,
    )
    prepared, bar, tell = _progress(prepared, shown)
    outcomes, interrupted = _run(prepared, shown, bar=bar, tell=tell)
    _tell_the_end(ctx, prepared, outcomes, interrupted, shown=shown, tell=tell)


def _prepare(shown: Shown, **options):
    """The batch the options ask for (:class:`~repet_cli.batch.request.Request`), planned; a
    usage error where they contradict each other or it cannot be planned."""
    from .batch.request import Request, prepare

    warn = None if shown.quiet else lambda text: click.echo(f"warning: {text}", err=True)
    try:
        return prepare(Request(**options), warn=warn)
    except ParameterError as exc:
        raise usage(exc) from None


def _progress(prepared, shown: Shown):
    """A progress bar on a terminal (each input's header read first, where they are not too
    many, for a total in seconds of audio), and the function that prints library lines
    (:mod:`repet_cli.batch.messages`) around it: what was found to standard output (standard
    error where a JSON summary or audio takes standard output), warnings and errors to
    standard error; ``quiet`` keeps the errors only."""
    from .batch import with_headers

    show = not shown.quiet and sys.stderr.isatty()
    if show and len(prepared.jobs) <= HEADERS_READ_FOR_PROGRESS:
        jobs = with_headers(prepared.jobs, stream=prepared.request.inputs.stream)
        prepared = dataclasses.replace(prepared, jobs=jobs)
    # The bar counts seconds of audio, so it moves during a long input too; for a batch too
    # large to read every header first, it counts the seconds done without a total.
    total = sum(job.duration for job in prepared.jobs)
    bar, write = _progress_bar(round(total) if total else None, enabled=show)
    stdout_taken = prepared.request.extras.json or prepared.to_stdout
    report = sys.stderr if stdout_taken else sys.stdout

    def tell(lines) -> None:
        for kind, text in lines:
            if kind == "trace":  # as Python wrote it
                write(text, file=sys.stderr)
            elif kind == "error" or not shown.quiet:
                write(option_names(text), file=report if kind == "info" else sys.stderr)

    return prepared, bar, tell


def _run(prepared, shown: Shown, *, bar, tell):
    """Run a prepared batch, telling of each input as it finishes: the outcomes, and the
    interruption (Ctrl-C or SIGTERM) that stopped it, if any."""
    from .batch.messages import outcome_lines
    from .batch.request import executor_of, outcomes

    try:

        def notice(message):
            tell([("info", message)])

        executor = executor_of(prepared, log=notice if shown.verbose else None, notice=notice)
    except RepetError as exc:
        raise usage(exc) from None
    done: list = []
    interrupted = None
    with signals.handled():
        try:
            running = outcomes(
                prepared, executor=executor, progress=bar.update, rename=option_names
            )
            for job, outcome in running:
                done.append(outcome)
                tell(
                    outcome_lines(outcome, job, verbose=shown.verbose, to_stdout=prepared.to_stdout)
                )
                if outcome.interruption is not None:  # stopped: what is whole still comes
                    interrupted = outcome.interruption
            running.close()
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM
            interrupted = exc
    bar.close()
    return done, interrupted


def _tell_the_end(ctx: click.Context, prepared, outcomes, interrupted, *, shown: Shown, tell):
    """The report, the JSON summary, the stem for standard output, the closing lines; the
    exit status."""
    from .batch import Summary, messages, piping

    extras = prepared.request.extras
    planned = len(prepared.jobs)
    summary = Summary.of(outcomes, planned=planned)
    if extras.report and outcomes:
        path = messages.write_batch_report(prepared, outcomes, rename=option_names)
        tell([("info", f"report: {path}")])
    what = None if interrupted is None else signals.describe(interrupted)
    if extras.json:
        pieces, size = [], 0
        for piece in messages.json_chunks(prepared, outcomes, interrupted=what):
            pieces.append(piece)
            size += len(piece)
            if size > 1 << 20:  # written a megabyte at a time
                click.echo("".join(pieces), nl=False)
                pieces, size = [], 0
        click.echo("".join(pieces))
    if prepared.to_stdout:
        piping.emit(prepared.jobs[0], outcomes, folder=prepared.out)
    if interrupted is not None:
        click.echo(messages.interrupted_line(summary, planned=planned, what=what), err=True)
        ctx.exit(signals.exit_status(interrupted))
    tell(messages.closing_lines(prepared, outcomes))
    if prepared.settings.framewise and not extras.json:
        tell([("info", line) for line in messages.sisec_table(prepared.jobs, outcomes)])
    tell(messages.failure_lines(prepared, outcomes))
    if summary.failed:
        ctx.exit(1)


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
    from .analyze import analyze_files, as_text, figure_paths
    from .batch import find_inputs

    try:
        params = RepetParams.build(**options)
    except ParameterError as exc:
        raise usage(exc) from None
    found = find_inputs(inputs, extensions=ext.split(",") if ext else None)
    figures = None
    if plot:
        _require_plotting()
        try:
            figures = figure_paths(found, out)
        except ParameterError as exc:
            raise usage(exc) from None
    sources = [source for source, _ in found]
    # Many inputs: a bar in files on a terminal (one input takes about 0.2 s a minute).
    show = len(sources) > 1 and sys.stderr.isatty()
    bar, write = _progress_bar(len(sources), enabled=show, unit="files")
    records = []
    analyses = analyze_files(
        sources, params=params, segment=segment, count=candidates, rename=option_names
    )
    for source, (record, analysis) in zip(sources, analyses, strict=True):
        records.append(record)
        if analysis is None:
            write(f"error: {record['error']}", file=sys.stderr)
            bar.update(1)
            continue
        if figures is not None:
            from .plot import draw_analysis

            draw_analysis(figures[source], source, *analysis, params=params, segment=segment)
            record["figure"] = str(figures[source])
        if not as_json:
            write(as_text(source, record), file=sys.stdout)
        for part in record["segments"]:
            for warning in part["warnings"]:
                write(f"warning: {source}: {warning}", file=sys.stderr)
        bar.update(1)
    bar.close()
    if as_json:
        click.echo(json.dumps({"inputs": records}, indent=2))
    if any(record["status"] == "failed" for record in records):
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
    from tqdm import tqdm

    from . import scorecard
    from .evaluate import reference_files
    from .parallel import cpu_threads

    try:
        single = scorecard.single_track(
            background=reference_background, foreground=reference_foreground, folder=references
        )
        tracks = scorecard.tracks_of(estimates, single=single is not None)
    except ParameterError as exc:
        raise usage(exc) from None
    except RepetError as exc:
        raise click.ClickException(str(exc)) from None
    scored: dict[str, scorecard.TrackScores] = {}
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
            truth = single or reference_files(references / name)
            scored[name] = scorecard.score_track(
                folder, truth, framewise=framewise, workers=cpu_threads(), progress=bar.update
            )
        except RepetError as exc:
            tqdm.write(f"error: {name}: {exc}", file=sys.stderr)
            failures.append(f"{name}: {exc}")
        bar.n = k + 1  # exactly, whatever the fractions added up to
        bar.refresh()
    bar.close()
    if as_json:
        click.echo(json.dumps(scorecard.summary(scored, failures, framewise=framewise), indent=2))
    elif not quiet:
        for line in scorecard.table_lines(scored, framewise=framewise):
            click.echo(line)
    if failures:
        ctx.exit(1)


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
    given = [k for k in options if ctx.get_parameter_source(k).name != "DEFAULT"]
    try:
        values = batch.comparison.algorithm_values(chosen, options, given=given)
    except ParameterError as exc:
        raise usage(exc) from None
    per_algorithm = {a: params_from(**v, algorithm=a) for a, v in values.items()}
    references = None
    if reference_background is not None:
        references = {"background": reference_background, "foreground": reference_foreground}
    rows, failures = [], []
    seconds = batch.comparison.expected_seconds(
        song, algorithms=len(per_algorithm), scored=references is not None
    )
    bar, write = _progress_bar(round(seconds) or None, enabled=sys.stderr.isatty())
    with signals.handled():
        found = batch.compare(
            song,
            per_algorithm,
            out=out,
            segment=segment,
            overwrite=overwrite,
            references=references,
            progress=batch.comparison.in_whole_seconds(bar.update),
        )
        for algorithm, row in found:
            if isinstance(row, RepetError):
                message = option_names(str(row))
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
