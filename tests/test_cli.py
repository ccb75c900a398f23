import functools
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import synth
from helpers import invoke, run
from repet_cli import __version__

SR = 22050


write_song = functools.partial(synth.write_song, sr=SR)


def test_separates_many_inputs_into_one_folder_each(tmp_path):
    a = write_song(tmp_path / "in" / "first.wav")
    b = write_song(tmp_path / "in" / "second.wav", period=1.2)
    out = tmp_path / "out"
    result = run("separate", a, b, "-o", out)
    assert result.exit_code == 0, result.output
    for track in ("first", "second"):
        assert sorted(p.name for p in (out / track).iterdir()) == [
            "background.wav",
            "foreground.wav",
            "repet.json",  # how they were made
        ]
    assert "period 1.50" in result.stdout and "period 1.20" in result.stdout
    assert str(out / "first" / "background.wav") in result.stdout
    assert "separated 2 of 2 inputs" in result.stdout


@pytest.mark.parametrize(
    ("sr", "channels", "subtype"),
    [(22050, 1, "PCM_16"), (44100, 2, "PCM_24"), (48000, 3, "FLOAT"), (16000, 2, "PCM_U8")],
)
def test_outputs_keep_rate_channels_length_and_format(tmp_path, sr, channels, subtype):
    song = write_song(tmp_path / "song.wav", sr=sr, channels=channels, subtype=subtype, seconds=4.0)
    result = run("separate", song, "-o", tmp_path / "out", "--period", "1.5")
    assert result.exit_code == 0, result.output
    source = sf.info(song)
    for stem in ("background", "foreground"):
        info = sf.info(tmp_path / "out" / "song" / f"{stem}.wav")
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (
            source.samplerate,
            source.channels,
            source.frames,
            source.subtype,
        )


def test_stems_add_up_to_the_input(tmp_path):
    song = write_song(tmp_path / "song.wav", subtype="FLOAT")
    assert run("separate", song, "-o", tmp_path / "out").exit_code == 0
    mixture = sf.read(song, dtype="float32")[0]
    background = sf.read(tmp_path / "out" / "song" / "background.wav", dtype="float32")[0]
    foreground = sf.read(tmp_path / "out" / "song" / "foreground.wav", dtype="float32")[0]
    np.testing.assert_allclose(background + foreground, mixture, rtol=0, atol=1e-5)


def test_existing_outputs_are_refused_then_replaced_with_overwrite(tmp_path):
    song = write_song(tmp_path / "song.wav")
    out = tmp_path / "out"
    assert run("separate", song, "-o", out).exit_code == 0
    background = out / "song" / "background.wav"
    background.write_bytes(b"keep me")
    refused = run("separate", song, "-o", out)
    assert refused.exit_code == 1
    assert "exists already" in refused.stderr and "--overwrite" in refused.stderr
    assert background.read_bytes() == b"keep me"
    assert run("separate", song, "-o", out, "--overwrite").exit_code == 0
    assert sf.info(background).frames == sf.info(song).frames


def test_one_failing_input_does_not_stop_the_batch(tmp_path):
    good = write_song(tmp_path / "good.wav")
    short = write_song(tmp_path / "short.wav", seconds=1.0)
    junk = tmp_path / "junk.wav"
    junk.write_text("not audio")
    out = tmp_path / "out"
    result = run("separate", tmp_path / "missing.wav", junk, good, short, "-o", out)
    assert result.exit_code == 1
    assert (out / "good" / "background.wav").exists() and (out / "good" / "foreground.wav").exists()
    for name in ("missing", "junk", "short"):
        assert not (out / name).exists()
    assert "3 of 4 inputs failed" in result.stderr
    assert "missing.wav: no such file" in result.stderr
    assert "junk.wav: not a readable audio file" in result.stderr
    assert "short.wav: the input is 1.00 s long, too short" in result.stderr
    assert "--period" in result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--period", "2", "--min-period", "1"], "--period"),
        (["--period", "2", "--max-period", "4"], "--period"),
        (["--threshold", "0.3"], "binary"),
        (["--mask", "binary", "--threshold", "2"], "--threshold"),
        (["--no-phase", "--phase", "mixture"], "--no-phase"),
        (["--min-period", "5", "--max-period", "2"], "--min-period"),
        (["--mask", "fuzzy"], "fuzzy"),
        (["--n-fft", "1024", "--hop", "1000"], "--hop"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path, args, words):
    song = write_song(tmp_path / "song.wav")
    result = run("separate", song, "-o", tmp_path / "out", *args)
    assert result.exit_code == 2
    assert words in result.stderr
    assert not (tmp_path / "out").exists()


def test_hop_too_long_for_the_default_window_of_a_file_fails_that_file(tmp_path):
    song = write_song(tmp_path / "song.wav")  # 22.05 kHz: default n_fft 1024
    result = run("separate", song, "-o", tmp_path / "out", "--hop", "600")
    assert result.exit_code == 1
    assert "song.wav: --hop (600) must be at most half of --n-fft (1024)" in result.stderr


def test_two_inputs_with_the_same_name_are_refused_before_any_work(tmp_path):
    a = write_song(tmp_path / "a" / "song.wav")
    b = write_song(tmp_path / "b" / "song.wav")
    result = run("separate", a, b, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "would both write" in result.stderr
    assert not (tmp_path / "out").exists()


def test_no_inputs_is_a_usage_error():
    assert run("separate").exit_code == 2


def test_no_phase_output_has_the_right_length_and_differs(tmp_path):
    song = write_song(tmp_path / "song.wav", subtype="FLOAT")
    assert run("separate", song, "-o", tmp_path / "a").exit_code == 0
    assert run("separate", song, "-o", tmp_path / "b", "--no-phase").exit_code == 0
    with_phase = sf.read(tmp_path / "a" / "song" / "background.wav")[0]
    without = sf.read(tmp_path / "b" / "song" / "background.wav")[0]
    assert without.shape == with_phase.shape
    assert not np.allclose(without, with_phase, atol=1e-3)


def test_output_is_byte_identical_across_runs(tmp_path):
    song = write_song(tmp_path / "song.wav")
    run("separate", song, "-o", tmp_path / "a")
    run("separate", song, "-o", tmp_path / "b")
    for stem in ("background.wav", "foreground.wav"):
        first = (tmp_path / "a" / "song" / stem).read_bytes()
        assert first == (tmp_path / "b" / "song" / stem).read_bytes()


def test_quiet_prints_nothing_on_success(tmp_path):
    song = write_song(tmp_path / "song.wav")
    result = run("separate", song, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0 and result.output == ""


def test_forced_period_is_reported(tmp_path):
    song = write_song(tmp_path / "song.wav")
    result = run("separate", song, "-o", tmp_path / "out", "--period", "1.25")
    assert "period 1.250 s (forced)" in result.stdout


def test_version_and_help():
    version = run("--version")
    assert version.exit_code == 0 and __version__ in version.output
    for args in (["--help"], ["-h"], ["separate", "--help"]):
        result = run(*args)
        assert result.exit_code == 0
    text = run("separate", "--help").output
    for option in (
        "--out",
        "--period",
        "--min-period",
        "--max-period",
        "--mask",
        "--threshold",
        "--phase",
        "--no-phase",
        "--high-pass",
        "--n-fft",
        "--hop",
        "--overwrite",
        "-q",
    ):
        assert option in text


def test_python_dash_m_runs_the_command():
    result = subprocess.run(
        [sys.executable, "-m", "repet_cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and __version__ in result.stdout


def test_compare_writes_each_algorithm_and_prints_one_table(tmp_path):
    truth = tmp_path / "truth"
    truth.mkdir()
    background = synth.loop(period=1.5, sr=SR, duration=6.0, channels=2)
    mixture, foreground = synth.mix(
        background, synth.melody(sr=SR, duration=6.0, channels=2), ratio_db=-3
    )
    sf.write(truth / "background.wav", background.T, SR, subtype="FLOAT")
    sf.write(truth / "foreground.wav", foreground.T, SR, subtype="FLOAT")
    song = tmp_path / "song.wav"
    sf.write(song, mixture.T, SR, subtype="FLOAT")
    out = tmp_path / "out"
    args = ["compare", song, "-o", out, "--algorithm", "repet", "--algorithm", "adaptive"]
    refs = ["--reference-background", truth / "background.wav"]
    refs += ["--reference-foreground", truth / "foreground.wav"]
    result = run(*args, *refs)
    assert result.exit_code == 0, result.output
    for algorithm in ("repet", "adaptive"):
        for stem in ("background.wav", "foreground.wav"):
            assert (out / "song" / algorithm / stem).exists()
    lines = result.stdout.splitlines()
    assert "bg SDR" in lines[0] and "fg SI-SDR" in lines[0]
    assert lines[1].startswith("repet ") and "period 1.50" in lines[1]
    assert lines[2].startswith("adaptive ")
    data = json.loads(run(*args, *refs, "--json", "--overwrite").stdout)
    assert [r["algorithm"] for r in data["results"]] == ["repet", "adaptive"]
    assert data["results"][0]["scores"]["background"]["sdr"] > 10


def test_compare_refuses_an_option_of_an_algorithm_it_does_not_run(tmp_path):
    song = write_song(tmp_path / "song.wav")
    result = run("compare", song, "--algorithm", "repet", "--repetitions", "2")
    assert result.exit_code == 2 and "--repetitions" in result.stderr


def test_compare_says_a_song_is_missing_as_each_separation_finds_it(tmp_path):
    """Not a crash before the first separation (the progress bar's length): each algorithm's
    run fails on the missing file, naming it."""
    missing = tmp_path / "missing.wav"
    out = tmp_path / "out"
    result = run("compare", missing, "-o", out, "--algorithm", "repet", "--algorithm", "2dft")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {algorithm}: {missing}: no such file" for algorithm in ("repet", "2dft")
    ]
    assert not out.exists()  # the folders the failed runs made are gone again


def test_algorithm_options_belong_to_their_algorithm(tmp_path):
    song = write_song(tmp_path / "song.wav")
    result = run("separate", song, "-o", tmp_path / "out", "--analysis-window", "6")
    assert result.exit_code == 2
    assert "--analysis-window applies to --algorithm 'adaptive' only" in result.stderr
    result = run("separate", song, "-o", tmp_path / "out", "--algorithm", "adaptive")
    assert result.exit_code == 0, result.output
    assert "(adaptive, median" in result.stdout


def test_repet_sim_runs_and_takes_its_own_options(tmp_path):
    song = write_song(tmp_path / "song.wav")
    result = run("separate", song, "-o", tmp_path / "a", "--neighbors", "5")
    assert (
        result.exit_code == 2 and "--neighbors applies to --algorithm 'repet-sim'" in result.stderr
    )
    result = run(
        "separate", song, "-o", tmp_path / "b", "--algorithm", "repet-sim", "--neighbors", "5"
    )
    assert result.exit_code == 0, result.output
    assert "repet-sim (no single period)" in result.stdout
    bad = run("separate", song, "--algorithm", "repet-sim", "--similarity-threshold", "2")
    assert bad.exit_code == 2 and "--similarity-threshold" in bad.stderr


def test_2dft_runs_and_takes_its_own_options(tmp_path):
    song = write_song(tmp_path / "song.wav")
    result = run("separate", song, "-o", tmp_path / "a", "--rate-width", "2")
    assert result.exit_code == 2 and "--rate-width applies to --algorithm '2dft'" in result.stderr
    result = run("separate", song, "-o", tmp_path / "b", "--algorithm", "2dft", "--rate-width", "2")
    assert result.exit_code == 0, result.output
    assert "2dft (no single period)" in result.stdout


def test_a_long_input_is_separated_in_segments_and_said_so(tmp_path):
    song = write_song(tmp_path / "long.wav", seconds=40.0, sr=8000)
    result = run("separate", song, "-o", tmp_path / "out", "--segment", "12")
    assert result.exit_code == 0, result.output
    assert "in 3 segments" in result.stdout
    mixture, _ = sf.read(song)
    background, _ = sf.read(tmp_path / "out" / "long" / "background.wav")
    foreground, _ = sf.read(tmp_path / "out" / "long" / "foreground.wav")
    assert background.shape == mixture.shape
    np.testing.assert_allclose(background + foreground, mixture, atol=2.5 / 32768)


def test_a_segment_too_short_for_the_options_is_a_usage_error(tmp_path):
    song = write_song(tmp_path / "song.wav")
    result = run("separate", song, "--period", "9", "--segment", "12")
    assert result.exit_code == 2
    assert "--segment must be 0 (no segments) or at least 24 s" in result.stderr


def test_jobs_give_the_same_bytes_and_keep_going_past_a_bad_input(tmp_path):
    songs = [write_song(tmp_path / "in" / f"s{i}.wav", period=1.0 + 0.2 * i) for i in range(3)]
    bad = tmp_path / "in" / "bad.wav"
    bad.write_bytes(b"not audio at all")
    one = run("separate", *songs, bad, "-o", tmp_path / "one", "-j", "1")
    two = run("separate", *songs, bad, "-o", tmp_path / "two", "-j", "2")
    for result in (one, two):
        assert result.exit_code == 1
        assert "bad.wav: not a readable audio file" in result.stderr
        assert "separated 3 of 4 inputs" in result.stdout
    assert one.stdout.replace("one", "two") == two.stdout  # same report, same order
    for song in songs:
        for stem in ("background.wav", "foreground.wav"):
            first = (tmp_path / "one" / song.stem / stem).read_bytes()
            assert first == (tmp_path / "two" / song.stem / stem).read_bytes()
    assert not (tmp_path / "two" / "bad").exists()


def test_analyze_plot_refuses_two_inputs_that_would_draw_one_figure(tmp_path):
    a = write_song(tmp_path / "a" / "mixture.wav")
    b = write_song(tmp_path / "b" / "mixture.wav")
    result = run("analyze", a, b, "--plot", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "would both draw" in result.stderr and "--out" in result.stderr
    assert not (tmp_path / "out").exists()  # refused before any work


@pytest.mark.parametrize(
    ("command", "target"),
    [
        (["analyze"], "repet_cli.analyze.analyze_file"),
        (["compare"], "repet_cli.batch.comparison.separate_job"),
        (["evaluate", "--references", "."], "repet_cli.evaluate.find_estimates"),
    ],
)
def test_an_unexpected_error_is_one_line_and_exit_1_in_every_command(
    tmp_path, monkeypatch, command, target
):
    song = write_song(tmp_path / "song.wav")

    def broken(*args, **kwargs):
        raise ValueError("something nobody expected")

    monkeypatch.setattr(target, broken)
    result = run(*command, song)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: unexpected error (ValueError: something nobody expected)")


def test_separate_help_lists_its_options_by_section():
    text = invoke(["separate", "--help"]).output
    titles = [line for line in text.splitlines() if line and not line[0].isspace()]
    for title in ("Input:", "Output:", "Separation:", "With --algorithm repet-sim:", "Batches:"):
        assert title in titles
    assert text.index("--neighbors") > text.index("With --algorithm repet-sim:")


def test_choices_ignore_case_and_unknown_options_get_only_look_alikes(tmp_path):
    song = write_song(tmp_path / "song.wav", sr=16000, seconds=6.0)
    upper = ["--algorithm", "REPET-SIM", "--format", "FLAC", "--mask", "KAM"]
    result = invoke(["separate", str(song), "-o", str(tmp_path / "out"), *upper])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "song" / "background.flac").is_file()
    typo = invoke(["separate", str(song), "--algoritm", "repet"])
    assert typo.exit_code == 2 and "Did you mean '--algorithm'?" in typo.stderr
    assert "--plot" not in typo.stderr
