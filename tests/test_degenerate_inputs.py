"""Valid but degenerate audio separates without error, and says so where the result means little."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import synth
from helpers import invoke
from repet_cli import RepetError, RepetParams
from repet_cli.segments import separate_file

SR = 8000
N = 5 * SR


def tone(channels=2):
    t = np.arange(N) / SR
    return np.tile(0.5 * np.sin(2 * np.pi * 440 * t), (channels, 1))


def loop_and_melody(channels=2, sr=SR, seconds=5.0):
    background = synth.loop(period=1.2, sr=sr, duration=seconds, channels=channels)
    melody = synth.melody(sr=sr, duration=seconds, channels=channels)
    return 0.8 * synth.mix(background, melody, ratio_db=-3)[0]


def one_channel_silent():
    y = loop_and_melody()
    y[1] = 0
    return y


CASES = {
    "silence": (lambda: np.zeros((2, N)), "digital silence"),
    "dc": (lambda: np.full((2, N), 0.25), "constant"),
    "pure-tone": (tone, "does not repeat clearly"),
    "white-noise": (
        lambda: np.random.default_rng(0).uniform(-0.5, 0.5, (2, N)),
        "does not repeat clearly",
    ),
    "one-channel-silent": (one_channel_silent, "channel 2 of 2 is silent"),
    # Clipped, full-scale audio: a stem may reach beyond full scale where the other one
    # cancels part of it, and a 16-bit output must clip it: the warning says how often.
    "full-scale": (
        lambda: np.clip(4 * loop_and_melody(), -1, 1),
        "samples beyond full scale were clipped by the PCM_16 output format",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_degenerate_audio_separates_and_warns_honestly(tmp_path, case):
    make, words = CASES[case]
    y = make()
    path = tmp_path / "in.wav"
    sf.write(path, y.T, SR, subtype="PCM_16")
    result = invoke(["separate", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    mixture, _ = sf.read(path)
    background, _ = sf.read(tmp_path / "out" / "in" / "background.wav")
    foreground, _ = sf.read(tmp_path / "out" / "in" / "foreground.wav")
    assert background.shape == mixture.shape and np.all(np.isfinite(background))
    inside = (np.abs(background) < 0.999) & (np.abs(foreground) < 0.999)  # not clipped
    np.testing.assert_allclose((background + foreground)[inside], mixture[inside], atol=2.5 / 32768)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert words in " ".join(warnings) and str(tmp_path) in " ".join(warnings)
    assert 1 <= len(warnings) <= (2 if case == "full-scale" else 1)  # one per clipped stem
    assert "`" not in "".join(warnings)  # option names as the command spells them


def test_float_beyond_full_scale_is_kept_in_float_and_counted_in_pcm(tmp_path):
    y = 3.0 * loop_and_melody()
    path = tmp_path / "loud.wav"
    sf.write(path, y.T, SR, subtype="FLOAT")
    kept = invoke(["separate", str(path), "-o", str(tmp_path / "a")])
    assert kept.exit_code == 0 and "clipped" not in kept.stderr
    background, _ = sf.read(tmp_path / "a" / "loud" / "background.wav")
    foreground, _ = sf.read(tmp_path / "a" / "loud" / "foreground.wav")
    peak = float(np.abs(y).max())
    assert peak > 1.2  # the input goes beyond full scale, and so do the stems: not clipped
    assert np.abs(background + foreground).max() == pytest.approx(peak, abs=1e-4)
    pcm = invoke(["separate", str(path), "-o", str(tmp_path / "b"), "--subtype", "PCM_16"])
    assert pcm.exit_code == 0
    assert "samples beyond full scale were clipped by the PCM_16 output format" in pcm.stderr


@pytest.mark.parametrize(("sr", "channels"), [(192000, 1), (8000, 8), (96000, 2)])
def test_odd_rates_and_many_channels_are_kept(tmp_path, sr, channels):
    y = loop_and_melody(channels=channels, sr=sr, seconds=4.0)
    path = tmp_path / "in.wav"
    sf.write(path, y.T, sr, subtype="PCM_24")
    result = invoke(["separate", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    info = sf.info(tmp_path / "out" / "in" / "foreground.wav")
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (
        sr,
        channels,
        y.shape[1],
        "PCM_24",
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.sampled_from([b"", b"RIFF\x00\x10\x00\x00WAVEfmt ", b"fLaC", b"OggS", b"FORM"]),
    body=st.binary(max_size=3000),
)
def test_arbitrary_bytes_give_a_clean_error_or_a_correct_result(tmp_path, header, body):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # one per example
    path = folder / "fuzz.wav"
    path.write_bytes(header + body)
    outputs = folder / "bg.wav", folder / "fg.wav"
    try:
        separate_file(path, *outputs)
    except RepetError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        assert list(folder.iterdir()) == [path]  # nothing written, nothing left over
        return
    mixture, _ = sf.read(path, always_2d=True)
    background, _ = sf.read(outputs[0], always_2d=True)
    assert background.shape == mixture.shape


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    channels=st.integers(1, 4),
    samples=st.integers(0, 3 * 8000),
    sr=st.sampled_from([8000, 11025, 16000, 22050]),
    subtype=st.sampled_from(["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]),
    kind=st.sampled_from(["noise", "silence", "loud", "tone"]),
    algorithm=st.sampled_from(["repet", "repet-sim", "adaptive", "2dft"]),
)
def test_any_small_valid_file_gives_a_clean_error_or_a_correct_result(
    tmp_path, channels, samples, sr, subtype, kind, algorithm
):
    rng = np.random.default_rng(samples)
    y = {
        "noise": lambda: rng.uniform(-1, 1, (samples, channels)),
        "silence": lambda: np.zeros((samples, channels)),
        "loud": lambda: rng.uniform(-8, 8, (samples, channels)),
        "tone": lambda: np.sin(np.arange(samples) / 5.0)[:, None].repeat(channels, 1),
    }[kind]()
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # one per example
    path = folder / "in.wav"
    sf.write(path, y, sr, subtype=subtype)
    outputs = folder / "bg.wav", folder / "fg.wav"
    periodic = algorithm in ("repet", "adaptive")
    params = RepetParams.build(algorithm=algorithm, **({"min_period": 0.1} if periodic else {}))
    try:
        separate_file(path, *outputs, params=params, segment=0)
    except RepetError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        assert list(folder.iterdir()) == [path]  # nothing written, nothing left over
        return
    mixture, _ = sf.read(path, always_2d=True, dtype="float32")
    background, _ = sf.read(outputs[0], always_2d=True, dtype="float32")
    foreground, _ = sf.read(outputs[1], always_2d=True, dtype="float32")
    assert background.shape == mixture.shape == foreground.shape
    assert np.all(np.isfinite(background)) and np.all(np.isfinite(foreground))
    assert sf.info(outputs[0]).subtype == subtype and sf.info(outputs[0]).samplerate == sr


FORMATS = [
    ("WAV", "PCM_U8", "wav", "wav", "PCM_U8"),
    ("WAV", "DOUBLE", "wav", "wav", "DOUBLE"),
    ("WAVEX", "PCM_24", "wav", "wav", "PCM_24"),
    ("FLAC", "PCM_16", "flac", "flac", "PCM_16"),
    ("AIFF", "PCM_16", "aiff", "wav", "PCM_16"),
    ("W64", "FLOAT", "w64", "wav", "FLOAT"),
    # Lossy inputs get lossless FLAC stems (not float WAV many times the input's size).
    ("OGG", "VORBIS", "ogg", "flac", "PCM_24"),
    ("OGG", "OPUS", "opus", "flac", "PCM_24"),
    ("MP3", "MPEG_LAYER_III", "mp3", "flac", "PCM_24"),
]


@pytest.mark.parametrize(("fmt", "subtype", "ext", "out_ext", "out_subtype"), FORMATS)
def test_every_format_libsndfile_reads_is_separated(
    tmp_path, fmt, subtype, ext, out_ext, out_subtype
):
    if fmt not in sf.available_formats() or subtype not in sf.available_subtypes(fmt):
        pytest.skip(
            f"the installed libsndfile ({sf.__libsndfile_version__}) has no {fmt} {subtype}"
        )
    path = tmp_path / f"song.{ext}"
    sf.write(path, loop_and_melody(sr=48000).T, 48000, format=fmt, subtype=subtype)
    result = invoke(["separate", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    info = sf.info(tmp_path / "out" / "song" / f"background.{out_ext}")
    assert (info.subtype, info.frames, info.channels) == (out_subtype, sf.info(path).frames, 2)
