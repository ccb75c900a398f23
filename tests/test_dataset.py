"""A MUSDB18(-HQ)-style dataset in one command: separated, scored framewise, resumable."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

import synth
from helpers import run

SR = 16000


def make_track(folder, *, seconds: float, seed: int, split: bool):
    """<folder>/mixture.wav with vocals.wav and accompaniment.wav, or MUSDB18-HQ's drums,
    bass and other (which sum to the accompaniment)."""
    rng = np.random.default_rng(seed)
    bg = synth.loop(period=0.8, sr=SR, duration=seconds, channels=2, seed=seed)
    _, fg = synth.mix(bg, synth.melody(sr=SR, duration=seconds, channels=2, seed=seed), ratio_db=-3)
    bg = bg + 0.01 * rng.standard_normal(bg.shape)  # channels of their own
    fg = fg + 0.01 * rng.standard_normal(fg.shape)
    folder.mkdir(parents=True)
    sf.write(folder / "vocals.wav", fg.T, SR, subtype="FLOAT")
    if split:
        for name, share in (("drums", 0.5), ("bass", 0.3), ("other", 0.2)):
            sf.write(folder / f"{name}.wav", (share * bg).T, SR, subtype="FLOAT")
    else:
        sf.write(folder / "accompaniment.wav", bg.T, SR, subtype="FLOAT")
    sf.write(folder / "mixture.wav", (bg + fg).T, SR, subtype="FLOAT")


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "musdb"
    make_track(root / "test" / "Alpha", seconds=4.5, seed=1, split=False)
    make_track(root / "test" / "Beta", seconds=3.2, seed=2, split=True)
    return root


def test_a_dataset_is_separated_and_scored_in_museval_layout(dataset, tmp_path):
    out = tmp_path / "out"
    result = run("separate", "--dataset", dataset, "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    inputs = json.loads(result.stdout)["inputs"]
    assert [i["status"] for i in inputs] == ["ok", "ok"]
    for name, windows in (("Alpha", 4), ("Beta", 3)):
        folder = out / "test" / name
        assert (folder / "background.wav").is_file() and (folder / "foreground.wav").is_file()
        record = json.loads((folder / "scores.json").read_text())
        assert [t["name"] for t in record["targets"]] == ["accompaniment", "vocals"]
        frames = record["targets"][1]["frames"]
        assert len(frames) == windows
        assert [f["time"] for f in frames] == [float(t) for t in range(windows)]
        assert set(frames[0]["metrics"]) == {"SDR", "SIR", "SAR", "ISR"}
        median = np.median([f["metrics"]["SDR"] for f in frames])
        entry = next(i for i in inputs if f"/{name}/" in i["input"])
        assert entry["framewise_median"]["foreground"]["sdr"] == pytest.approx(median)
        assert entry["scores"]["foreground"]["sdr"] > 0


def test_the_table_has_each_track_then_the_median_and_mean_over_tracks(dataset, tmp_path):
    result = run("separate", "--dataset", dataset, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("SiSEC 2018 figures (BSS Eval v4, median over 1-s windows):")
    assert "fg ISR" in lines[start + 1]
    assert [line.split("  ")[0] for line in lines[start + 2 : start + 6]] == [
        "Alpha",
        "Beta",
        "median over tracks",
        "mean over tracks",
    ]


def test_a_second_run_resumes_and_reads_the_kept_scores(dataset, tmp_path):
    out = tmp_path / "out"
    first = run("separate", "--dataset", dataset, "-o", out, "--json")
    kept = out / "test" / "Alpha" / "scores.json"
    stamp = kept.stat().st_mtime_ns
    second = run("separate", "--dataset", dataset, "-o", out, "--json")
    assert second.exit_code == 0, second.stderr
    again = json.loads(second.stdout)["inputs"]
    assert [i["status"] for i in again] == ["skipped", "skipped"]
    before = json.loads(first.stdout)["inputs"]
    assert [i["framewise_median"] for i in again] == [i["framewise_median"] for i in before]
    assert kept.stat().st_mtime_ns == stamp  # read, not computed again


def test_other_options_score_nothing_until_overwrite_separates_again(dataset, tmp_path):
    out = tmp_path / "out"
    assert run("separate", "--dataset", dataset, "-o", out).exit_code == 0
    stems = out / "test" / "Beta" / "foreground.wav"
    before = stems.read_bytes()
    result = run("separate", "--dataset", dataset, "-o", out, "--mask", "wiener", "--json")
    assert result.exit_code == 1  # stems of other options are neither replaced nor scored
    inputs = json.loads(result.stdout)["inputs"]
    assert [i["status"] for i in inputs] == ["failed", "failed"]
    assert "made with other options (see repet.json)" in inputs[1]["error"]
    assert "pass --overwrite to separate it again" in inputs[1]["error"]
    assert stems.read_bytes() == before
    args = ("--dataset", dataset, "-o", out, "--mask", "wiener", "--overwrite", "--json")
    result = run("separate", *args)
    assert result.exit_code == 0, result.stderr
    assert [i["status"] for i in json.loads(result.stdout)["inputs"]] == ["ok", "ok"]
    assert stems.read_bytes() != before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--framewise"], "--framewise scores against true stems"),
        (["--dataset", "DATA", "song.wav"], "--dataset DIR finds the inputs"),
        (["--dataset", "EMPTY"], "no <track>/mixture.wav (MUSDB18-HQ) or <track>.stem.mp4"),
    ],
)
def test_usage_errors(tmp_path, args, message):
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "DATA").mkdir()
    song = synth.write_song(tmp_path / "song.wav", sr=SR, seconds=3.0)
    args = [str(tmp_path / a) if a in ("DATA", "EMPTY") else a for a in args]
    args = [str(song) if a == "song.wav" else a for a in args]
    if args == ["--framewise"]:
        args = [str(song), "--framewise"]
    result = run("separate", *args, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "out").exists()
    assert os.listdir(tmp_path / "EMPTY") == []


def write_stem_mp4(path, *, seconds: float, seed: int):
    """A MUSDB18-style .stem.mp4: AAC streams mixture, drums, bass, other, vocals."""
    from fractions import Fraction

    av = pytest.importorskip("av")
    sr = 44100
    rng = np.random.default_rng(seed)
    bg = synth.loop(period=0.8, sr=sr, duration=seconds, channels=2, seed=seed)
    _, fg = synth.mix(bg, synth.melody(sr=sr, duration=seconds, channels=2, seed=seed), ratio_db=-3)
    bg = (bg + 0.01 * rng.standard_normal(bg.shape)).astype(np.float32)
    fg = (fg + 0.01 * rng.standard_normal(fg.shape)).astype(np.float32)
    tracks = [bg + fg, 0.5 * bg, 0.3 * bg, 0.2 * bg, fg]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mp4") as out:
        streams = []
        for _ in tracks:
            stream = out.add_stream("aac", rate=sr)
            stream.layout = "stereo"
            stream.bit_rate = 256000
            streams.append(stream)
        for stream, y in zip(streams, tracks, strict=True):
            for start in range(0, y.shape[1], 4096):
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(y[:, start : start + 4096]), format="fltp", layout="stereo"
                )
                frame.sample_rate, frame.time_base, frame.pts = sr, Fraction(1, sr), start
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))


def test_musdb18_stem_mp4_files_are_read_with_their_stems_inside(tmp_path):
    root = tmp_path / "musdb18"
    write_stem_mp4(root / "test" / "Gamma.stem.mp4", seconds=4.0, seed=5)
    out = tmp_path / "out"
    result = run("separate", "--dataset", root, "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    (entry,) = json.loads(result.stdout)["inputs"]
    assert entry["status"] == "ok"
    folder = out / "test" / "Gamma"
    assert (folder / "background.flac").is_file() and (folder / "foreground.flac").is_file()
    record = json.loads((folder / "scores.json").read_text())
    assert record["name"] == "Gamma"
    # scored against the vocals stream (not the mixture, which would score near 0 dB or less)
    assert entry["scores"]["foreground"]["sdr"] > 3
    assert entry["scores"]["background"]["sdr"] > 6
