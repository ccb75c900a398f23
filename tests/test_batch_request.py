"""A `repet separate` run as data, without click: its request checked on construction, its
batch prepared before any work, its run with the ledger."""

from __future__ import annotations

import dataclasses
import functools
import json

import pytest

import synth
from repet_cli import AudioWriteError, ParameterError, RepetParams
from repet_cli.batch import Ledger, Outcome, Settings
from repet_cli.batch.request import (
    DATASET_FILENAME,
    Extras,
    Inputs,
    Outputs,
    Request,
    Running,
    outcomes,
    prepare,
)

SR = 8000
write_song = functools.partial(synth.write_song, sr=SR, seconds=4.0, period=1.2)


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ({"running": Running(overwrite=True, skip_existing=True)}, "`overwrite` and"),
        ({"outputs": Outputs(format="mp3", subtype="PCM_16")}, "`subtype` is for wav"),
        ({"outputs": Outputs(bitrate="192k")}, "`bitrate` is for `format` mp3"),
        ({"outputs": Outputs(stems="none")}, "`stems` none writes no audio"),
        (
            {"outputs": Outputs(stems="none", video="foreground"), "extras": Extras(plot=True)},
            "`plot` needs the stems",
        ),
        (
            {"outputs": Outputs(stems="background", video="vocals")},
            "`video` foreground needs that stem",
        ),
        (
            {"inputs": Inputs(names=("a.wav",)), "extras": Extras(dataset="ds")},
            "`dataset` DIR finds the inputs",
        ),
        ({"extras": Extras(framewise=True)}, "`framewise` scores against true stems"),
        (
            {"outputs": Outputs(stems="vocals"), "extras": Extras(dataset="ds")},
            "`references` scores both stems",
        ),
        ({"segment": 5.0}, "`segment` must be 0"),
    ],
)
def test_a_request_refuses_options_that_contradict_each_other(groups, message):
    """Checked on construction, named as library parameters (the command line renames them)."""
    with pytest.raises(ParameterError) as info:
        Request(**groups)
    assert message in str(info.value) and "--" not in str(info.value)


def test_a_request_gives_the_values_the_run_uses():
    request = Request(
        outputs=Outputs(format="MP3", bitrate="128k", stems="Karaoke", video="instrumental"),
    )
    assert request.format == "mp3" and request.bitrate == 128_000
    assert request.stems == ("background",) and request.video == "background"
    assert Request().stems == ("background", "foreground") and Request().video is None


def test_a_dataset_scores_framewise_resumes_and_keeps_musdbs_layout(tmp_path):
    request = Request(extras=Extras(dataset=tmp_path))
    assert request.references == tmp_path and request.framewise and request.skip_existing
    assert request.filename == DATASET_FILENAME
    again = Request(extras=Extras(dataset=tmp_path), running=Running(overwrite=True))
    assert not again.skip_existing
    named = Request(extras=Extras(dataset=tmp_path), outputs=Outputs(filename="{track}.{ext}"))
    assert named.filename == "{track}.{ext}"


def test_prepare_reads_lists_and_plans_before_any_work(tmp_path):
    songs = [write_song(tmp_path / "in" / f"{n}.wav") for n in ("a", "b")]
    listing = tmp_path / "list.txt"
    listing.write_text(f"{songs[1]}\n\n{songs[0]}\n")
    told = []
    request = Request(
        inputs=Inputs(names=(str(songs[0]),), files_from=listing),
        outputs=Outputs(out=tmp_path / "out", format="flac"),
        running=Running(retries=2),
    )
    prepared = prepare(request, warn=told.append)
    assert [job.source for job in prepared.jobs] == [songs[0], songs[1]]
    assert told == [f"{songs[0]} is given twice; separated once"]
    assert prepared.jobs[0].background == tmp_path / "out" / "a" / "background.flac"
    assert prepared.settings == Settings(params=RepetParams(), format="flac", retries=2)
    assert not (tmp_path / "out").exists()  # nothing written yet
    assert not prepared.to_stdout and prepared.vouched == frozenset()


@pytest.mark.parametrize(
    ("inputs", "out", "extras", "message"),
    [
        (Inputs(), "out", Extras(), "no `inputs`"),
        (Inputs(names=("-", "-")), "out", Extras(), "'-' (standard input) can be given once"),
        (Inputs(names=("a.wav",)), "s3://bucket/stems", Extras(plot=True), "`plot` needs local"),
        (Inputs(files_from="missing.txt"), "out", Extras(), "`files_from` missing.txt"),
        (Inputs(names=("a.wav", "b.wav")), "-", Extras(), "`out='-'` writes one input's stem"),
    ],
)
def test_prepare_refuses_what_no_input_can_make_right(
    tmp_path, monkeypatch, inputs, out, extras, message
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParameterError) as info:
        prepare(Request(inputs=inputs, outputs=Outputs(out=out), extras=extras))
    assert message in str(info.value)


def test_one_stem_to_standard_output_is_written_into_a_new_folder_first(tmp_path):
    song = write_song(tmp_path / "song.wav")
    request = Request(inputs=Inputs(names=(song,)), outputs=Outputs(out="-", stems="vocals"))
    with pytest.raises(ParameterError, match="`out='-'` writes one stem"):
        prepare(Request(inputs=Inputs(names=(song,)), outputs=Outputs(out="-")))
    prepared = prepare(request)
    try:
        assert prepared.to_stdout and prepared.out.is_dir() and not any(prepared.out.iterdir())
        (job,) = prepared.jobs
        assert job.targets == (prepared.out / "song" / "foreground.wav",)
        assert prepared.settings.format == "wav" and prepared.settings.overwrite
    finally:
        prepared.out.rmdir()


def test_an_output_folder_that_cannot_be_written_is_one_error_before_any_work(tmp_path):
    song = write_song(tmp_path / "song.wav")
    (tmp_path / "taken").write_text("a file")
    request = Request(inputs=Inputs(names=(song,)), outputs=Outputs(out=tmp_path / "taken"))
    with pytest.raises(AudioWriteError, match="a file has that name"):
        prepare(request)


def test_the_ledger_vouches_for_inputs_done_with_the_same_options(tmp_path):
    songs = [write_song(tmp_path / f"{n}.wav") for n in ("a", "b", "c")]
    ledger = tmp_path / "ledger.jsonl"
    request = Request(
        inputs=Inputs(names=tuple(songs)),
        outputs=Outputs(out=tmp_path / "out"),
        running=Running(ledger=ledger, skip_existing=True),
    )
    first = prepare(request)
    for job in first.jobs[:2]:  # a and b were done; only a's stems are still there
        for target in job.targets if job.source == songs[0] else ():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"stem")
        first.ledger.append(Outcome(source=str(job.source), status="ok"))
    other = Ledger(ledger, settings=Settings(params=RepetParams(mask="soft")))
    other.append(Outcome(source=str(songs[2]), status="ok"))  # made otherwise
    prepared = prepare(request)
    assert prepared.vouched == frozenset({0})
    assert not prepared.settings.skip_existing  # the ledger decides, not the files there


def test_outcomes_skip_what_the_ledger_vouches_for_and_record_the_rest(tmp_path):
    songs = [write_song(tmp_path / f"{n}.wav") for n in ("a", "b")]
    prepared = prepare(
        Request(
            inputs=Inputs(names=tuple(songs)),
            outputs=Outputs(out=tmp_path / "out"),
            running=Running(ledger=tmp_path / "ledger.jsonl"),
        )
    )
    prepared = dataclasses.replace(prepared, vouched=frozenset({0}))
    found = list(outcomes(prepared, rename=str.upper))
    assert [(job.source, o.status) for job, o in found] == [(songs[0], "skipped"), (songs[1], "ok")]
    assert found[0][1].outputs == tuple(map(str, prepared.jobs[0].targets))
    assert not prepared.jobs[0].background.exists()  # not run
    (line,) = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert json.loads(line)["input"] == str(songs[1])


def test_outcomes_stop_at_the_first_failure_with_fail_fast_and_rename_its_error(tmp_path):
    song = write_song(tmp_path / "song.wav")
    missing = tmp_path / "missing.wav"
    request = Request(
        inputs=Inputs(names=(missing, song)),
        outputs=Outputs(out=tmp_path / "out"),
        running=Running(fail_fast=True),
    )
    found = list(outcomes(prepare(request), rename=lambda m: m.replace("no such", "NO SUCH")))
    ((job, outcome),) = found
    assert job.source == missing and outcome.status == "failed"
    assert outcome.error == f"{missing}: NO SUCH file"
    every = list(outcomes(prepare(dataclasses.replace(request, running=Running()))))
    assert [o.status for _, o in every] == ["failed", "ok"]


class _TwoWorkers:
    """An executor whose second job finished while the first was failing (as with -j 2)."""

    def __init__(self):
        self.stopped = False

    def stop(self):
        self.stopped = True

    def outcomes(self, task, jobs, progress):
        jobs = list(jobs)
        yield Outcome(source=str(jobs[0].source), status="failed", error="bad")
        yield Outcome(source=str(jobs[1].source), status="ok")  # done before the stop
        assert self.stopped  # the third is never started


def test_fail_fast_still_reports_what_had_finished_as_done(tmp_path):
    songs = [write_song(tmp_path / f"{n}.wav") for n in "abc"]
    request = Request(
        inputs=Inputs(names=tuple(songs)),
        outputs=Outputs(out=tmp_path / "out"),
        running=Running(fail_fast=True),
    )
    executor = _TwoWorkers()
    found = list(outcomes(prepare(request), executor=executor))
    assert executor.stopped
    assert [(job.source, o.status) for job, o in found] == [
        (songs[0], "failed"),
        (songs[1], "ok"),  # not "not started": its stems are there
    ]
