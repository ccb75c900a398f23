"""What a `repet separate` run tells its user, as text: a line per input as it finishes, the
closing lines, the SiSEC table, the JSON summary, the listening report. Nothing here prints:
each line comes with its kind, and the command decides where it goes (and what ``quiet``
leaves out).

Kinds: ``"info"`` (what was found and written: the report stream), ``"warning"``, ``"error"``
and ``"trace"`` (a bug's traceback): standard error, where ``quiet`` keeps errors and traces
only. Options are named in backticks (`` `fail_fast` ``), as in the library's errors.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator

from ..errors import STANDARD_OUTPUT, shown_path
from ..params import RepetParams
from .planning import Job
from .request import Prepared, renamed
from .settings import Outcome, Summary

#: A line of text and its kind: "info", "warning", "error" or "trace".
Line = tuple[str, str]

#: The listening report's index, in the output folder.
REPORT = "report.html"


def options_text(params: RepetParams) -> str:
    """The options that differ from the defaults, as the command line gives them
    (``--mask soft --period 2.0``), or ``"defaults"``."""
    shared = [
        (f.name, getattr(params, f.name))
        for f in dataclasses.fields(RepetParams)
        if f.name != "options" and getattr(params, f.name) != f.default
    ]
    given = [f"--{name.replace('_', '-')} {value}" for name, value in shared]
    given += [f"--{k.replace('_', '-')} {v}" for k, v in params.options.given().items()]
    return " ".join(given) or "defaults"


def outcome_lines(
    outcome: Outcome, job: Job, *, verbose: bool = False, to_stdout: bool = False
) -> list[Line]:
    """What became of one input, as (kind, text) lines: its result (what was found, the
    scores, where it went), its warnings, or its error (with the traceback of a bug where
    ``verbose``). ``to_stdout``:
    its stem went to standard output, from a temporary file the user never sees."""
    source = shown_path(job.source)
    if outcome.status == "failed":
        trace = [("trace", outcome.trace)] if outcome.trace and verbose else []
        hint = "; `verbose` shows the traceback" if outcome.trace and not verbose else ""
        return trace + [("error", f"error: {outcome.error}{hint}")]
    warnings = [("warning", f"warning: {warning}") for warning in outcome.warnings]
    if outcome.status == "skipped":
        targets = ", ".join(map(str, job.targets))
        return [("info", f"{source}: skipped, outputs exist ({targets})")] + warnings
    scored = ""
    if outcome.scores is not None:
        bg, fg = outcome.scores["background"], outcome.scores["foreground"]
        scored = f"; SDR bg {bg['sdr']:.2f} dB, fg {fg['sdr']:.2f} dB"
    written = STANDARD_OUTPUT if to_stdout else ", ".join(outcome.outputs)
    lines = [("info", f"{source}: {outcome.found}{scored} -> {written}")]
    if verbose:
        lines.append(("info", f"  {outcome.details}"))
    return lines + warnings


def interrupted_line(summary: Summary, *, planned: int, what: str) -> str:
    """The line of a batch stopped by Ctrl-C or SIGTERM (``what``, in words)."""
    return (
        f"{what}: stopped; {summary.ok} of {planned} inputs were separated and written whole; "
        "nothing partial was left behind"
    )


def closing_lines(prepared: Prepared, outcomes: list[Outcome]) -> list[Line]:
    """What a batch of several inputs did: how many were separated (and skipped) where, and
    the mean scores over the inputs scored."""
    planned = len(prepared.jobs)
    if planned <= 1:
        return []
    summary = Summary.of(outcomes, planned=planned)
    skipped = f", {summary.skipped} skipped (outputs exist)" if summary.skipped else ""
    lines = [("info", f"separated {summary.ok} of {planned} inputs into {prepared.out}/{skipped}")]
    scored = [o.scores for o in outcomes if o.scores is not None]
    if scored:
        from ..evaluate import average

        mean = average(scored)
        lines.append(
            (
                "info",
                f"mean over {len(scored)} scored inputs: SDR bg {mean['background']['sdr']:.2f} "
                f"dB, fg {mean['foreground']['sdr']:.2f} dB",
            )
        )
    return lines


#: The failures repeated together at the end of a batch, at most (each was told as it
#: happened): a list of a million missing names does not print them all twice.
FAILURES_REPEATED = 100


def failure_lines(prepared: Prepared, outcomes: list[Outcome]) -> list[Line]:
    """The errors of a batch together at its end (each was told as it happened), and why it
    stopped early, if it did."""
    planned = len(prepared.jobs)
    summary = Summary.of(outcomes, planned=planned)
    if not summary.failed:
        return []
    lines = []
    if planned > 1:
        failed = (o.error for o in outcomes if o.status == "failed")
        failures = "\n".join(f"  {error}" for error in itertools.islice(failed, FAILURES_REPEATED))
        if summary.failed > FAILURES_REPEATED:
            failures += (
                f"\n  ... and {summary.failed - FAILURES_REPEATED} more (each was told as it "
                "happened; `json` lists every input)"
            )
        lines.append(("error", f"{summary.failed} of {planned} inputs failed:\n{failures}"))
    if summary.not_started and outcomes[-1].stops_batch:
        lines.append(
            (
                "error",
                f"stopped: nothing more can be written there; {summary.not_started} inputs "
                "not started",
            )
        )
    elif summary.not_started:
        lines.append(
            (
                "error",
                f"stopped at the first failure (`fail_fast`): {summary.not_started} inputs not "
                "started",
            )
        )
    return lines


def sisec_table(jobs: list[Job], outcomes: list[Outcome]) -> list[str]:
    """The SiSEC 2018-style table: each track's medians over 1-s windows, then the median
    and the mean over tracks (no lines where no track was scored framewise)."""
    from .. import evaluate as ev
    from .scoring import track_name

    rows = [
        (track_name(job.source), o.framewise)
        for job, o in zip(jobs, outcomes, strict=False)
        if o.framewise is not None
    ]
    if not rows:
        return []
    medians = [m for _, m in rows]
    table = rows + [("median over tracks", ev.median_over_tracks(medians))]
    table.append(("mean over tracks", ev.mean_over_tracks(medians)))
    return [
        "SiSEC 2018 figures (BSS Eval v4, median over 1-s windows):",
        ev.format_table(table, metrics=ev.FRAME_METRICS),
    ]


def json_summary(
    prepared: Prepared, outcomes: list[Outcome], *, interrupted: str | None = None
) -> dict:
    """The JSON summary of a run: repet's version, the options and their hash, each input's
    outcome (those not started too), the counts, and what interrupted it, if anything."""
    from .. import __version__
    from .provenance import options_hash

    jobs = prepared.jobs
    record = {
        "repet": __version__,
        "options": options_text(prepared.request.params),
        "options_hash": options_hash(prepared.settings),
        "inputs": [o.as_dict() for o in outcomes]
        + [{"input": str(job.source), "status": "not started"} for job in jobs[len(outcomes) :]],
        "summary": Summary.of(outcomes, planned=len(jobs)).as_dict(),
    }
    if interrupted is not None:
        record["interrupted"] = interrupted
    return record


def json_chunks(
    prepared: Prepared, outcomes: list[Outcome], *, interrupted: str | None = None
) -> Iterator[str]:
    """:func:`json_summary` as ``json.dumps(record, indent=2)`` writes it, in pieces: the
    inputs one at a time (a million of them are not one string of 300 MB in memory)."""
    import json

    from .. import __version__
    from .provenance import options_hash

    jobs = prepared.jobs
    record = {  # as json_summary makes it, the inputs apart
        "repet": __version__,
        "options": options_text(prepared.request.params),
        "options_hash": options_hash(prepared.settings),
        "inputs": None,
        "summary": Summary.of(outcomes, planned=len(jobs)).as_dict(),
    }
    if interrupted is not None:
        record["interrupted"] = interrupted

    def inputs() -> Iterator[dict]:
        for outcome in outcomes:
            yield outcome.as_dict()
        for job in jobs[len(outcomes) :]:
            yield {"input": str(job.source), "status": "not started"}

    yield "{"
    for n, (key, value) in enumerate(record.items()):
        yield ("," if n else "") + "\n  " + json.dumps(key) + ": "
        if key != "inputs":
            yield json.dumps(value, indent=2).replace("\n", "\n  ")
            continue
        empty = True
        for item in inputs():
            text = json.dumps(item, indent=2).replace("\n", "\n    ")
            yield ("[\n    " if empty else ",\n    ") + text
            empty = False
        yield "[]" if empty else "\n  ]"
    yield "\n}"


def write_batch_report(
    prepared: Prepared, outcomes: list[Outcome], *, rename: Callable[[str], str] = str
):
    """Write the listening report (:data:`REPORT` in the output folder) of the inputs a run
    got to, each as it is on disk now (:func:`~repet_cli.batch.on_disk`); its path."""
    from ..parallel import cpu_threads
    from ..report import write_report
    from .provenance import on_disk

    done = prepared.jobs[: len(outcomes)]
    return write_report(
        prepared.out / REPORT,
        done,
        [renamed(on_disk(job, o), rename) for job, o in zip(done, outcomes, strict=True)],
        options=options_text(prepared.request.params),
        references=prepared.settings.references,
        threads=cpu_threads(),
    )
