"""Batch behaviour of `repet separate`: resuming, naming, formats, stopping, JSON, signals."""

import functools
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

import synth
from helpers import leftovers, run

SR = 8000


write_song = functools.partial(synth.write_song, sr=SR, period=1.2)


def test_existing_outputs_are_refused_naming_both_ways_out(tmp_path):
    song = write_song(tmp_path / "song.wav")
    assert run("separate", song, "-o", tmp_path / "out").exit_code == 0
    again = run("separate", song, "-o", tmp_path / "out")
    assert again.exit_code == 1
    assert "exists already; pass --overwrite to replace it or --skip-existing" in again.stderr


def test_skip_existing_resumes_a_batch_without_touching_finished_outputs(tmp_path):
    first = write_song(tmp_path / "in" / "first.wav")
    second = write_song(tmp_path / "in" / "second.wav", period=1.0)
    assert run("separate", first, "-o", tmp_path / "out").exit_code == 0
    done = tmp_path / "out" / "first" / "background.wav"
    before = (done.stat().st_mtime_ns, done.read_bytes())
    result = run("separate", first, second, "-o", tmp_path / "out", "--skip-existing")
    assert result.exit_code == 0, result.output
    assert "first.wav: skipped, outputs exist" in result.stdout
    assert "separated 1 of 2 inputs" in result.stdout and "1 skipped" in result.stdout
    assert (done.stat().st_mtime_ns, done.read_bytes()) == before
    assert (tmp_path / "out" / "second" / "foreground.wav").exists()


def test_an_input_in_a_list_and_in_a_folder_is_separated_once_with_a_warning(tmp_path):
    """A file named by --files-from and found again in a folder given as INPUT: one job (the
    first naming's, which keeps the folder's layout) and one warning line per such file; at the
    folder's top it would otherwise be a usage error ("given twice"), deeper down separated
    twice into two places."""
    music = tmp_path / "music"
    top = write_song(music / "a.wav")
    deep = write_song(music / "live" / "b.wav", period=1.0)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{top}\n{deep}\n")
    out = tmp_path / "out"
    result = run("separate", music, "--files-from", listing, "-o", out, "-j", "1")
    assert result.exit_code == 0, result.output
    twice = [line for line in result.stderr.splitlines() if "twice" in line]
    assert twice == [
        f"warning: {top} is given twice; separated once",
        f"warning: {deep} is given twice; separated once",
    ]
    assert "separated 2 of 2 inputs" in result.stdout
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav")) == [
        "a/background.wav",
        "a/foreground.wav",
        "live/b/background.wav",
        "live/b/foreground.wav",
    ]
    quiet = run("separate", music, "--files-from", listing, "-o", out, "--skip-existing", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_overwrite_and_skip_existing_exclude_each_other(tmp_path):
    song = write_song(tmp_path / "song.wav")
    result = run("separate", song, "--overwrite", "--skip-existing")
    assert result.exit_code == 2 and "contradict" in result.stderr


def test_same_names_in_different_folders_need_a_filename_template(tmp_path):
    a = write_song(tmp_path / "a" / "mixture.wav")
    b = write_song(tmp_path / "b" / "mixture.wav", period=1.0)
    clash = run("separate", a, b, "-o", tmp_path / "out")
    assert clash.exit_code == 2
    assert "would both write" in clash.stderr and "--filename" in clash.stderr
    assert not (tmp_path / "out").exists()  # refused before any work
    result = run("separate", a, b, "-o", tmp_path / "out", "--filename", "{parent}/{stem}.{ext}")
    assert result.exit_code == 0, result.output
    for folder in ("a", "b"):
        for stem in ("background", "foreground"):
            assert (tmp_path / "out" / folder / f"{stem}.wav").exists()


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{track}/{nope}.{ext}", "unknown field {nope}"),
        ("{track}.{ext}", "must contain {stem}"),
        ("/abs/{stem}.{ext}", "must be relative"),
        ("{track}/{stem", "--filename"),
    ],
)
def test_bad_filename_templates_are_usage_errors(tmp_path, template, words):
    song = write_song(tmp_path / "song.wav")
    result = run("separate", song, "-o", tmp_path / "out", "--filename", template)
    assert result.exit_code == 2 and words in result.stderr


def test_flac_input_gives_flac_output_and_format_and_subtype_can_be_chosen(tmp_path):
    song = write_song(tmp_path / "song.flac", subtype="PCM_24")
    assert run("separate", song, "-o", tmp_path / "a").exit_code == 0
    info = sf.info(tmp_path / "a" / "song" / "background.flac")
    assert (info.format, info.subtype) == ("FLAC", "PCM_24")
    assert run("separate", song, "-o", tmp_path / "b", "--format", "wav").exit_code == 0
    info = sf.info(tmp_path / "b" / "song" / "foreground.wav")
    assert (info.format, info.subtype) == ("WAV", "PCM_24")
    wav = write_song(tmp_path / "float.wav", subtype="FLOAT")
    args = ("--format", "flac", "--subtype", "PCM_16")
    assert run("separate", wav, "-o", tmp_path / "c", *args).exit_code == 0
    info = sf.info(tmp_path / "c" / "float" / "background.flac")
    assert (info.format, info.subtype, info.frames) == ("FLAC", "PCM_16", sf.info(wav).frames)


@pytest.mark.parametrize("args", [("--subtype", "MP3"), ("--format", "flac", "--subtype", "FLOAT")])
def test_subtypes_the_format_cannot_hold_are_usage_errors(tmp_path, args):
    song = write_song(tmp_path / "song.wav")
    result = run("separate", song, "-o", tmp_path / "out", *args)
    assert result.exit_code == 2 and "--subtype" in result.stderr


def test_fail_fast_stops_at_the_first_failure(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....garbage")
    good = write_song(tmp_path / "good.wav")
    result = run("separate", bad, good, "-o", tmp_path / "out", "--fail-fast", "-j", 1)
    assert result.exit_code == 1
    assert "bad.wav: not a readable audio file" in result.stderr
    assert "1 inputs not started" in result.stderr
    assert not (tmp_path / "out" / "good").exists()


def test_fail_fast_with_two_workers_leaves_the_other_input_whole_or_absent(tmp_path):
    # The second worker separates the good input meanwhile: it may finish before the failure
    # is known (its stems are then whole) or be stopped (nothing of it is left).
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....garbage")
    good = write_song(tmp_path / "good.wav")
    out = tmp_path / "out"
    result = run("separate", bad, good, "-o", out, "--fail-fast", "-j", 2)
    assert result.exit_code == 1
    assert "bad.wav: not a readable audio file" in result.stderr
    assert leftovers(out) == []
    if (out / "good").exists():
        mixture, _ = sf.read(good, dtype="float32")
        background, _ = sf.read(out / "good" / "background.wav", dtype="float32")
        foreground, _ = sf.read(out / "good" / "foreground.wav", dtype="float32")
        np.testing.assert_allclose(background + foreground, mixture, atol=2.5 / 32768)


def test_json_summary_lists_every_input_with_its_status(tmp_path):
    good = write_song(tmp_path / "good.wav")
    bad = tmp_path / "empty.wav"
    bad.write_bytes(b"")
    run("separate", good, "-o", tmp_path / "out")
    other = write_song(tmp_path / "other.wav", period=1.0)
    result = run("separate", good, bad, other, "-o", tmp_path / "out", "--skip-existing", "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)  # stdout is the JSON and nothing else
    statuses = [(r["input"], r["status"]) for r in summary["inputs"]]
    assert statuses == [(str(good), "skipped"), (str(bad), "failed"), (str(other), "ok")]
    ok = summary["inputs"][2]
    assert abs(ok["periods"][0] - 1.0) < 0.03 and ok["duration"] == pytest.approx(6.0)
    assert ok["outputs"] == [
        str(tmp_path / "out" / "other" / f"{stem}.wav") for stem in ("background", "foreground")
    ]
    assert "empty.wav" in summary["inputs"][1]["error"]
    assert summary["summary"] == {"ok": 1, "skipped": 1, "failed": 1, "not started": 0}


def _start(tmp_path, *extra):
    """A real `repet separate` on a short and then a long input; returns the process."""
    short = write_song(tmp_path / "in" / "a_short.wav", seconds=5.0, sr=44100)
    long = tmp_path / "in" / "b_long.wav"
    y = np.tile(sf.read(short, dtype="float32")[0], (40, 1))  # 200 s: several seconds of work
    sf.write(long, y, 44100, subtype="PCM_16")
    command = [sys.executable, "-m", "repet_cli", "separate", str(short), str(long)]
    command += ["-o", str(tmp_path / "out"), "--segment", "0", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path, process, timeout=120.0):
    """Wait until ``path`` exists (its name may be a glob pattern), while ``process`` runs."""
    deadline = time.monotonic() + timeout
    while not (path.parent.is_dir() and any(path.parent.glob(path.name))):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("sig", "status", "jobs"),
    [
        (signal.SIGINT, 130, "1"),
        (signal.SIGTERM, 143, "1"),
        (signal.SIGTERM, 143, "2"),
        (signal.SIGINT, 130, "2"),  # Ctrl-C with one process per core (the default here)
    ],
)
def test_an_interrupted_batch_leaves_finished_outputs_whole_and_nothing_partial(
    tmp_path, sig, status, jobs
):
    # REPET-SIM keeps a worker busy with the long input for about 5.5 s here (3.3 s with
    # REPET): the signal comes while it runs even when a loaded machine delays this test.
    process = _start(tmp_path, "-j", jobs, "--algorithm", "repet-sim")
    first = tmp_path / "out" / "a_short" / "foreground.wav"
    # The short input is finished once its record is there too: its stems alone may still
    # be removed by a signal that lands before it (test_ctrl_c_as_the_stems_land_...).
    _wait_for(first.parent / "repet.json", process)
    # The long input is being separated once its stems' temporary files are open.
    long = tmp_path / "out" / "b_long"
    _wait_for(long / ".background.wav.*.part", process)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr
    assert "nothing partial was left behind" in stderr
    assert not long.exists(), (sorted(p.name for p in long.iterdir()), stderr)
    assert leftovers(tmp_path / "out") == []
    mixture, _ = sf.read(tmp_path / "in" / "a_short.wav")
    background, _ = sf.read(tmp_path / "out" / "a_short" / "background.wav")
    foreground, _ = sf.read(first)
    np.testing.assert_allclose(background + foreground, mixture, atol=2.5 / 32768)
    assert sorted(p.name for p in first.parent.iterdir()) == [
        "background.wav",
        "foreground.wav",
        "repet.json",
    ]


def test_an_interrupted_compare_exits_143_and_leaves_nothing_partial(tmp_path):
    song = write_song(tmp_path / "song.wav", seconds=60.0, sr=44100)
    command = [sys.executable, "-m", "repet_cli", "compare", str(song), "-o", str(tmp_path / "o")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(tmp_path / "o" / "song" / "repet" / "foreground.wav", process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr and "terminated (SIGTERM)" in stderr
    assert leftovers(tmp_path / "o") == []


def test_references_score_each_input_in_the_summary_json_and_report(tmp_path):
    import soundfile as sf

    refs = tmp_path / "refs"
    songs = []
    for name, period in (("first", 1.5), ("second", 1.2)):
        background = synth.loop(period=period, sr=SR, duration=6.0, channels=2)
        mixture, foreground = synth.mix(
            background, synth.melody(sr=SR, duration=6.0, channels=2), ratio_db=-3
        )
        (refs / name).mkdir(parents=True)
        # MUSDB18's names for one track, ours for the other: both are understood.
        names = ("accompaniment", "vocals") if name == "first" else ("background", "foreground")
        for stem, audio in zip(names, (background, foreground), strict=True):
            sf.write(refs / name / f"{stem}.wav", audio.T, SR, subtype="FLOAT")
        sf.write(tmp_path / f"{name}.wav", mixture.T, SR, subtype="FLOAT")
        songs.append(tmp_path / f"{name}.wav")
    lonely = write_song(tmp_path / "lonely.wav")  # no references: separated, not scored
    out = tmp_path / "out"
    result = run("separate", *songs, lonely, "-o", out, "--references", refs, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    first, second, third = summary["inputs"]
    for record in (first, second):
        assert record["scores"]["background"]["sdr"] > 8  # a clean loop under a melody
        assert set(record["scores"]["foreground"]) == {"sdr", "sir", "sar", "si_sdr"}
    assert "scores" not in third and "not scored: no reference folder" in result.stderr
    assert "mean over 2 scored inputs: SDR bg" in result.stderr  # --json: reports on stderr
    report = run("separate", *songs, "-o", out, "--references", refs, "--report", "--overwrite")
    assert report.exit_code == 0, report.output
    index = (out / "report.html").read_text(encoding="utf-8")
    assert "Mean over the 2 scored inputs" in index and "fg SI-SDR" in index
    for name in ("first", "second"):  # each track's page has its scores
        page = (out / "report" / f"{name}.html").read_text(encoding="utf-8")
        assert page.count('<table class="scores">') == 1 and "SI-SDR" in page


def _interrupt_after(monkeypatch, moment: str) -> None:
    """Send this process SIGINT at ``moment`` of writing a track: while its two stems are
    renamed into place (held back until both are), just after they are in place, or just
    after their record is."""
    import os

    from repet_cli import batch, io

    def kill() -> None:
        os.kill(os.getpid(), signal.SIGINT)

    if moment == "renaming the stems":
        real_replace = os.replace

        def replace(source, target):
            real_replace(source, target)
            if str(target).endswith("foreground.wav"):
                kill()

        monkeypatch.setattr(io.os, "replace", replace)
    elif moment == "stems in place":
        real_commit = io.AudioWriter.commit

        def commit(self):
            written = real_commit(self)
            kill()
            return written

        monkeypatch.setattr(io.AudioWriter, "commit", commit)
    else:
        real_write = batch.write_sidecar

        def write_sidecar(*args, **kwargs):
            real_write(*args, **kwargs)
            kill()

        monkeypatch.setattr(batch.job, "write_sidecar", write_sidecar)


@pytest.mark.parametrize(
    ("moment", "whole"),
    [("renaming the stems", False), ("stems in place", False), ("record in place", True)],
)
def test_ctrl_c_as_the_stems_land_leaves_stems_and_record_together_or_neither(
    tmp_path, monkeypatch, moment, whole
):
    song = write_song(tmp_path / "song.wav", seconds=4.0)
    out = tmp_path / "out"
    _interrupt_after(monkeypatch, moment)
    result = run("separate", song, "-o", out, "-j", "1")
    monkeypatch.undo()
    assert result.exit_code == 130, result.stderr
    folder = out / "song"
    if whole:
        assert sorted(p.name for p in folder.iterdir()) == [
            "background.wav",
            "foreground.wav",
            "repet.json",
        ]
        assert "1 of 1 inputs were separated and written whole" in result.stderr
        again = run("separate", song, "-o", out, "--skip-existing", "--json")
        assert json.loads(again.stdout)["inputs"][0]["status"] == "skipped"
    else:
        assert not folder.exists(), sorted(p.name for p in folder.iterdir())
        assert "0 of 1 inputs were separated and written whole" in result.stderr
        assert run("separate", song, "-o", out).exit_code == 0  # nothing refused as existing
    assert leftovers(out) == []


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_just_after_the_stems_appear_leaves_what_the_summary_says(tmp_path, jobs):
    """A real Ctrl-C as soon as the last stem is there: the stems and their record are both
    there, and counted, or neither is, whatever the moment the signal lands."""
    songs = [write_song(tmp_path / "in" / f"{n}.wav", seconds=6.0) for n in ("a", "b")]
    out = tmp_path / "out"
    command = [sys.executable, "-m", "repet_cli", "separate", *map(str, songs), "-o", str(out)]
    process = subprocess.Popen(
        [*command, "-j", jobs], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    last = out / "b" / "foreground.wav"
    deadline = time.monotonic() + 120
    while not last.exists() and process.poll() is None:
        assert time.monotonic() < deadline, "the stems never appeared"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr
    whole = []
    for name in ("a", "b"):
        files = sorted(p.name for p in (out / name).iterdir()) if (out / name).exists() else []
        assert files in ([], ["background.wav", "foreground.wav", "repet.json"]), (name, files)
        whole.append(bool(files))
    if process.returncode == 130:
        counted = f"{sum(whole)} of 2 inputs were separated and written whole"
        assert counted in stderr, (whole, stderr)
    else:  # the batch was over before the signal came (or it came as the process exited)
        assert process.returncode in (0, -signal.SIGINT) and all(whole), stderr
    assert leftovers(out) == []
