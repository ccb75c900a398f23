"""What a run tells its user, as text with its kind (the command prints it)."""

from __future__ import annotations

from pathlib import Path

from repet_cli import RepetParams
from repet_cli.batch import Job, Outcome, Settings
from repet_cli.batch.messages import (
    closing_lines,
    failure_lines,
    interrupted_line,
    json_summary,
    options_text,
    outcome_lines,
    sisec_table,
)
from repet_cli.batch.request import Prepared, Request, Running
from repet_cli.batch.settings import Summary

SCORES = {stem: {"sdr": 6.0, "sir": 1.0, "sar": 2.0, "si_sdr": 3.0} for stem in ("background",)}
SCORES |= {"foreground": {"sdr": 2.5, "sir": 1.0, "sar": 2.0, "si_sdr": 3.0}}
MEDIANS = {stem: {"sdr": 4.0, "isr": 1.0, "sir": 2.0, "sar": 3.0} for stem in SCORES}


def job(name: str) -> Job:
    return Job.in_folder(Path(f"{name}.wav"), Path("out"))


def prepared(names, *, fail_fast: bool = False) -> Prepared:
    return Prepared(
        request=Request(running=Running(fail_fast=fail_fast)),
        jobs=[job(n) for n in names],
        settings=Settings(),
        out=Path("out"),
    )


def test_options_text_gives_what_differs_from_the_defaults_as_flags():
    assert options_text(RepetParams()) == "defaults"
    given = RepetParams.build(mask="soft", period=2.0, high_pass=100.0)
    assert options_text(given) == "--mask soft --high-pass 100.0 --period 2.0"


def test_an_input_done_says_what_was_found_scored_and_written():
    done = Outcome(
        source="a.wav",
        status="ok",
        found="period 1.200 s (detected)",
        outputs=("out/a/background.wav", "out/a/foreground.wav"),
        scores=SCORES,
        details="2 ch",
        warnings=("a.wav: clipped",),
    )
    assert outcome_lines(done, job("a")) == [
        (
            "info",
            "a.wav: period 1.200 s (detected); SDR bg 6.00 dB, fg 2.50 dB -> "
            "out/a/background.wav, out/a/foreground.wav",
        ),
        ("warning", "warning: a.wav: clipped"),
    ]
    verbose = outcome_lines(done, job("a"), verbose=True, to_stdout=True)
    assert verbose[0][1].endswith("-> standard output") and verbose[1] == ("info", "  2 ch")


def test_a_skipped_input_names_its_outputs_and_a_failed_one_its_error():
    skipped = Outcome(source="a.wav", status="skipped", warnings=("made otherwise",))
    assert outcome_lines(skipped, job("a")) == [
        ("info", "a.wav: skipped, outputs exist (out/background.wav, out/foreground.wav)"),
        ("warning", "warning: made otherwise"),
    ]
    bug = Outcome(source="a.wav", status="failed", error="a.wav: boom", trace="Traceback...\n")
    assert outcome_lines(bug, job("a")) == [
        ("error", "error: a.wav: boom; `verbose` shows the traceback")
    ]
    assert outcome_lines(bug, job("a"), verbose=True) == [
        ("trace", "Traceback...\n"),
        ("error", "error: a.wav: boom"),
    ]


def test_a_batch_ends_with_its_counts_mean_scores_and_failures():
    ok = Outcome(source="a.wav", status="ok", scores=SCORES)
    failed = Outcome(source="b.wav", status="failed", error="b.wav: no such file")
    batch = prepared(["a", "b", "c"], fail_fast=True)
    assert closing_lines(batch, [ok, failed]) == [
        ("info", "separated 1 of 3 inputs into out/"),
        ("info", "mean over 1 scored inputs: SDR bg 6.00 dB, fg 2.50 dB"),
    ]
    assert failure_lines(batch, [ok, failed]) == [
        ("error", "1 of 3 inputs failed:\n  b.wav: no such file"),
        ("error", "stopped at the first failure (`fail_fast`): 1 inputs not started"),
    ]
    full = Outcome(source="b.wav", status="failed", error="disk full", stops_batch=True)
    assert failure_lines(batch, [ok, full])[1] == (
        "error",
        "stopped: nothing more can be written there; 1 inputs not started",
    )
    one = prepared(["b"])
    assert closing_lines(one, [failed]) == [] and failure_lines(one, [failed]) == []
    assert failure_lines(batch, [ok]) == []


def test_the_interruption_line_counts_what_was_written_whole():
    summary = Summary(ok=2, skipped=0, failed=0, not_started=3)
    assert interrupted_line(summary, planned=5, what="interrupted (Ctrl-C)") == (
        "interrupted (Ctrl-C): stopped; 2 of 5 inputs were separated and written whole; "
        "nothing partial was left behind"
    )


def test_the_sisec_table_has_a_row_per_track_scored_framewise_and_their_median_and_mean():
    jobs = [job("a"), job("b")]
    outcomes = [
        Outcome(source="a.wav", status="ok", framewise=MEDIANS),
        Outcome(source="b.wav", status="ok"),
    ]
    title, table = sisec_table(jobs, outcomes)
    assert title.startswith("SiSEC 2018 figures")
    rows = [line.split()[0] for line in table.splitlines()]
    assert rows == ["track", "a", "median", "mean"]
    assert sisec_table(jobs, [Outcome(source="a.wav", status="ok")]) == []


def test_the_json_summary_lists_every_input_started_or_not():
    batch = prepared(["a", "b"])
    record = json_summary(batch, [Outcome(source="a.wav", status="ok")], interrupted="SIGTERM")
    assert record["options"] == "defaults" and len(record["options_hash"]) == 16
    assert [i["status"] for i in record["inputs"]] == ["ok", "not started"]
    assert record["summary"] == {"ok": 1, "skipped": 0, "failed": 0, "not started": 1}
    assert record["interrupted"] == "SIGTERM"
    assert "interrupted" not in json_summary(batch, [])
