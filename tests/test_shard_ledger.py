"""Batches shared by independent runs (--shard) and recorded for resuming (--ledger)."""

import hashlib
import json

import pytest

from helpers import run
from repet_cli import RepetParams
from synth import write_song

SR = 16000


def songs(folder, count):
    return [write_song(folder / f"s{k}.wav", sr=SR, seconds=4.0) for k in range(count)]


def test_shards_cover_every_input_exactly_once(tmp_path):
    inputs = songs(tmp_path / "in", 5)
    seen = []
    for k in range(3):
        out = tmp_path / f"out{k}"
        result = run("separate", *inputs, "-o", out, "--shard", f"{k}/3", "--json")
        assert result.exit_code == 0, result.output
        seen += [r["input"] for r in json.loads(result.stdout)["inputs"]]
    assert sorted(seen) == sorted(map(str, inputs))


@pytest.mark.parametrize("spec", ["3/3", "-1/3", "1", "a/b", "0/0"])
def test_a_bad_shard_is_a_usage_error(tmp_path, spec):
    (song,) = songs(tmp_path, 1)
    result = run("separate", song, "-o", tmp_path / "out", "--shard", spec)
    assert result.exit_code == 2 and "--shard" in result.stderr


def test_the_ledger_records_and_resumes_only_with_the_same_options(tmp_path):
    inputs = songs(tmp_path / "in", 2)
    out, ledger = tmp_path / "out", tmp_path / "ledger.jsonl"
    assert run("separate", *inputs, "-o", out, "--ledger", ledger).exit_code == 0
    records = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok", "ok"]
    for record in records:
        for output in record["outputs"]:
            with open(output["path"], "rb") as f:
                assert output["sha256"] == hashlib.sha256(f.read()).hexdigest()
        assert record["version"] and record["host"] and record["options"]
    again = run("separate", *inputs, "-o", out, "--ledger", ledger, "--skip-existing", "--json")
    assert again.exit_code == 0
    assert [r["status"] for r in json.loads(again.stdout)["inputs"]] == ["skipped", "skipped"]
    assert len(ledger.read_text().splitlines()) == 2  # nothing new to record
    # Other options: the stems on disk were not made with them, so they are not kept quietly.
    other = run(
        "separate", *inputs, "-o", out, "--ledger", ledger, "--skip-existing", "--mask", "soft"
    )
    assert other.exit_code == 1 and "exists already" in other.stderr
    # A line cut short by a crash is passed over, not an error.
    with open(ledger, "a") as f:
        f.write('{"input": "cut')
    resumed = run("separate", *inputs, "-o", out, "--ledger", ledger, "--skip-existing")
    assert resumed.exit_code == 0


def test_json_says_how_the_stems_were_made(tmp_path):
    from repet_cli import __version__

    song = write_song(tmp_path / "song.wav", sr=SR, seconds=8.0)  # its 1.5-s period fits
    result = run("separate", song, "-o", tmp_path / "out", "--mask", "soft", "--json")
    record = json.loads(result.stdout)
    assert record["repet"] == __version__ and "--mask soft" in record["options"]
    (entry,) = record["inputs"]
    assert len(entry["confidences"]) == 1 and 0 < entry["confidences"][0] <= 1
    ledger = tmp_path / "ledger.jsonl"
    again = run("separate", song, "-o", tmp_path / "o2", "--mask", "soft", "--ledger", ledger)
    assert again.exit_code == 0
    assert json.loads(ledger.read_text())["options"] == record["options_hash"]


def _append_many(path: str, tag: int, count: int) -> None:
    from repet_cli.batch import Ledger, Outcome, Settings

    ledger = Ledger(path, settings=Settings(params=RepetParams()))
    for k in range(count):
        # a long input name, so that a line is several kilobytes
        ledger.append(Outcome(source=f"/in/{tag}/{k}/" + "x" * 3000 + ".wav", status="failed"))


def test_a_ledger_shared_by_concurrent_runs_keeps_every_line_whole(tmp_path):
    # The runs of a job array may append to one ledger at the same time.
    import multiprocessing

    path = str(tmp_path / "ledger.jsonl")
    context = multiprocessing.get_context("fork")
    runs = [context.Process(target=_append_many, args=(path, t, 300)) for t in range(4)]
    for run_ in runs:
        run_.start()
    for run_ in runs:
        run_.join(120)
        assert run_.exitcode == 0
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line whole JSON
    assert len(records) == 4 * 300
    assert {r["input"].split("/")[2] for r in records} == {"0", "1", "2", "3"}
