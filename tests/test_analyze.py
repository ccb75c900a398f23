import json

import numpy as np
import pytest

import synth
from helpers import invoke
from repet_cli import InputTooShortError
from repet_cli.algorithms import RepetOptions
from repet_cli.analyze import analyze, tempi

SR = 16000


def loop_under_melody(period, seconds=20.0, channels=2):
    background = synth.loop(period=period, sr=SR, duration=seconds, channels=channels)
    melody = synth.melody(sr=SR, duration=seconds, channels=channels)
    return synth.mix(background, melody, ratio_db=-3)[0]


@pytest.mark.parametrize("period", [1.1, 1.5, 2.0, 3.2])
def test_finds_the_period_of_a_loop_with_high_confidence(period):
    found = analyze(loop_under_melody(period), sr=SR)
    assert found.period == pytest.approx(period, rel=0.01)
    assert found.confidence > 0.3 and found.warnings == ()
    # Its multiples repeat as well and are candidates too: every candidate is one of them.
    for candidate in found.candidates:
        assert candidate.period / period == pytest.approx(
            round(candidate.period / period), abs=0.02
        )
    confidences = [c.confidence for c in found.candidates]
    assert confidences == sorted(confidences, reverse=True)


def test_flags_a_signal_that_does_not_repeat():
    noise = np.random.default_rng(3).uniform(-0.5, 0.5, (2, 10 * SR)).astype(np.float32)
    found = analyze(noise, sr=SR)
    assert found.confidence < 0.02
    assert len(found.warnings) == 1 and "does not repeat clearly" in found.warnings[0]


def test_too_short_is_refused_as_separation_would():
    with pytest.raises(InputTooShortError):
        analyze(np.zeros(SR), sr=SR)


def test_tempi_read_a_period_as_common_bar_lengths():
    readings = {(beats, bars): bpm for beats, bars, bpm in tempi(2.0)}
    assert readings[(4, 1)] == pytest.approx(120.0) and readings[(3, 1)] == pytest.approx(90.0)
    assert all(50 <= bpm <= 200 for bpm in readings.values())


def test_a_four_bar_cycle_reads_as_its_tempo_not_a_crawl():
    # Four bars of 4/4 at 90 bpm last 10.67 s: within the default search range, and read as
    # 90 bpm (four bars) or 180 (eight), not as 45 (two bars) or 22.5 (one).
    readings = {(beats, bars): bpm for beats, bars, bpm in tempi(240.0 * 4 / 90)}
    assert readings == {(4, 4): pytest.approx(90.0), (4, 8): pytest.approx(180.0)}
    assert RepetOptions().period_range[1] >= 240.0 * 4 / 60  # four bars at 60 bpm


def test_the_command_prints_period_tempo_and_candidates_and_json(tmp_path):
    path = synth.write_song(tmp_path / "song.wav", sr=SR, seconds=12.0, period=2.0)
    text = invoke(["analyze", str(path)])
    assert text.exit_code == 0, text.output
    assert f"{path}: period 2.000 s" in text.stdout and "repetition confidence" in text.stdout
    assert "120.0 bpm if one bar of 4/4" in text.stdout and "candidates: 2.000 s" in text.stdout
    assert not (tmp_path / "separated").exists()  # no separation, no files
    data = json.loads(invoke(["analyze", str(path), "--json"]).stdout)
    (part,) = data["inputs"][0]["segments"]
    assert part["period"] == pytest.approx(2.0, rel=0.01) and part["candidates"]


def test_the_command_warns_about_noise_and_fails_a_missing_file_alone(tmp_path):
    import soundfile as sf

    noise = tmp_path / "noise.wav"
    sf.write(noise, np.random.default_rng(0).uniform(-0.5, 0.5, (8 * SR, 2)), SR)
    result = invoke(["analyze", str(tmp_path / "missing.wav"), str(noise)])
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'missing.wav'}: no such file" in result.stderr
    assert f"warning: {noise}: the input does not repeat clearly" in result.stderr
    assert "--algorithm" in result.stderr and "`" not in result.stderr


def test_reports_the_spectral_recurrence_of_a_bed_under_a_voice(tmp_path):
    import soundfile as sf

    bed = synth.chord_bed(sr=8000, duration=120, loops=True)
    path = tmp_path / "podcast.wav"
    sf.write(path, synth.talk_over(bed, sr=8000).T * 0.3, 8000)
    found = analyze(sf.read(path, dtype="float32")[0], sr=8000)
    assert found.recurrence > 0.15 and found.recurrence_period == pytest.approx(4.0, abs=0.02)
    assert found.confidence < 0.1 and found.period == pytest.approx(4.0, abs=0.02)
    result = invoke(["analyze", str(path), "--json"])
    (segment,) = json.loads(result.stdout)["inputs"][0]["segments"]
    assert segment["recurrence_period"] == pytest.approx(4.0, abs=0.02)
    assert "spectral recurrence" in invoke(["analyze", str(path)]).stdout
    # Under a minute it is not measured.
    assert analyze(loop_under_melody(1.5), sr=SR).recurrence is None


def test_shows_where_the_lead_sings_and_at_what_pitch(tmp_path):
    # A loop, and a line at 330 Hz sung over it from 4 to 10 s only.
    sr = 22050
    t = np.arange(int(14.0 * sr)) / sr
    sung = (t > 4.0) & (t < 10.0)
    line = sum(np.sin(2 * np.pi * 330.0 * k * t) / k for k in range(1, 7)) * sung
    y = synth.loop(period=1.0, sr=sr, duration=14.0) + (0.25 * line).astype(np.float32)
    found = analyze(y, sr=sr)
    assert len(found.voice.passages) == 1
    start, stop = found.voice.passages[0]
    assert abs(start - 4.0) < 0.5 and abs(stop - 10.0) < 0.5
    sung_f0 = found.voice.f0[found.voice.f0 > 0]
    assert abs(1200 * np.log2(np.median(sung_f0) / 330.0)) < 50
    from repet_cli import RepetParams

    assert analyze(y, sr=sr, params=RepetParams(voice_model=False)).voice is None
    path = tmp_path / "song.wav"
    import soundfile as sf

    sf.write(path, y.T, sr)
    result = invoke(["analyze", str(path)])
    assert result.exit_code == 0
    assert "voice: a pitched lead in" in result.stdout and "sings at 0:04" in result.stdout
    without = invoke(["analyze", str(path), "--no-voice-model"])
    assert without.exit_code == 0 and "voice:" not in without.stdout
    record = json.loads(invoke(["analyze", str(path), "--json"]).stdout)
    voice = record["inputs"][0]["segments"][0]["voice"]
    assert len(voice["passages"]) == 1 and abs(voice["f0_median"] - 330.0) < 10


def test_figures_go_where_separate_puts_a_folders_files_and_never_on_each_other(tmp_path):
    from pathlib import Path

    from repet_cli import ParameterError
    from repet_cli.analyze import figure_paths

    a, b = Path("music/live/a.wav"), Path("b.wav")
    found = [(a, Path("live")), (b, Path("."))]
    assert figure_paths(found, tmp_path) == {
        a: tmp_path / "live" / "a" / "repet.png",
        b: tmp_path / "b" / "repet.png",
    }
    twins = [(Path("x/mixture.wav"), Path(".")), (Path("y/mixture.wav"), Path("."))]
    with pytest.raises(ParameterError, match="would both draw .*different `out` folders"):
        figure_paths(twins, tmp_path)


def test_analyze_files_gives_a_record_per_input_and_a_failure_its_own(tmp_path):
    from repet_cli.analyze import analyze_files

    song = synth.write_song(tmp_path / "song.wav", sr=8000, seconds=8.0, period=1.5)
    missing = tmp_path / "missing.wav"
    (failed, none), (record, found) = analyze_files([missing, song], rename=str.upper)
    assert none is None and failed == {
        "input": str(missing),
        "status": "failed",
        "error": f"{missing}: no such file".upper(),
    }
    info, parts = found
    assert record["status"] == "ok" and info.samplerate == 8000 and len(parts) == 1
    assert abs(record["segments"][0]["period"] - 1.5) < 0.05
