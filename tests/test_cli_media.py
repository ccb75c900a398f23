"""The command with the files people have: M4A, MP3 out, video, folders, lists and pipes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import synth
from helpers import invoke, leftovers, run

av = pytest.importorskip("av")

SR = 22050


def song(path: Path, *, seconds: float = 6.0, channels: int = 2) -> Path:
    """A loop under a melody, written in the format the extension names (PyAV for M4A)."""
    background = synth.loop(period=1.5, sr=SR, duration=seconds, channels=channels)
    melody = synth.melody(sr=SR, duration=seconds, channels=channels)
    mixture, _ = synth.mix(background, melody, ratio_db=-3)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".m4a", ".mp4", ".mkv", ".mp3", ".opus"):
        from repet_cli.pyav_encode import MediaWriter

        fmt = {".mp4": "m4a", ".mkv": "m4a"}.get(path.suffix, path.suffix[1:])
        with MediaWriter(path, format=fmt, sr=SR, channels=channels) as writer:
            writer.write(0.8 * mixture)
    else:
        sf.write(path, 0.8 * mixture.T, SR)
    return path


def decoded(path: Path) -> tuple[np.ndarray, int]:
    """Samples and rate of any file, as the tool reads it."""
    from repet_cli.io import load_audio

    y, sr, _ = load_audio(path)
    return y, sr


@pytest.fixture(autouse=True)
def private_tempdir(tmp_path, monkeypatch):
    """Temporary files of the decoder go to a folder of the test's, checked empty after."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield
    assert list(folder.iterdir()) == []  # nothing left behind by decoding or spooling


def test_an_m4a_input_gives_flac_stems_of_its_exact_length(tmp_path):
    source = song(tmp_path / "in" / "track.m4a")
    result = run("separate", source, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    mixture, sr = decoded(source)
    for stem in ("background", "foreground"):
        info = sf.info(tmp_path / "out" / "track" / f"{stem}.flac")
        assert (info.samplerate, info.channels, info.frames) == (sr, 2, mixture.shape[-1])
        assert info.subtype == "PCM_24"
    assert mixture.shape[-1] == round(6.0 * SR)  # the AAC priming is not in the length


@pytest.mark.parametrize(
    ("fmt", "rate", "codec"), [("mp3", SR, "mp3"), ("opus", 48000, "opus"), ("m4a", SR, "aac")]
)
def test_lossy_outputs_at_a_bitrate_and_one_stem_only(tmp_path, fmt, rate, codec):
    source = song(tmp_path / "song.wav")
    args = ("--format", fmt, "--bitrate", "96k", "--stems", "foreground")
    result = run("separate", source, "-o", tmp_path / "out", *args)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "song"
    # its record is named after its format, which is not a WAV input's default
    assert sorted(p.name for p in folder.iterdir()) == [f"foreground.{fmt}", f"{fmt}.repet.json"]
    with av.open(str(folder / f"foreground.{fmt}")) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name.startswith(codec) and stream.sample_rate == rate
    y, sr = decoded(folder / f"foreground.{fmt}")
    assert sr == rate and abs(y.shape[-1] - round(6.0 * rate)) <= 1
    size = (folder / f"foreground.{fmt}").stat().st_size
    assert size < 1.3 * 96_000 / 8 * 6.0  # bytes: the bit rate was applied


def test_float_wav_stems_of_an_m4a_are_the_same_bytes_in_every_run(tmp_path):
    """libsndfile stamps float WAVs with the time they were written (their PEAK chunk): two
    runs a second apart must still give the same files."""
    import time

    source = song(tmp_path / "song.m4a", seconds=3.0)
    outputs = []
    for k in (1, 2):
        out = tmp_path / f"out{k}"
        result = run("separate", source, "-o", out, "--format", "wav")
        assert result.exit_code == 0, result.output
        outputs.append(out / "song")
        second = int(time.time())
        while int(time.time()) == second:  # the clock moves on: the next run is a second later
            time.sleep(0.01)
    for stem in ("background.wav", "foreground.wav"):
        assert sf.info(outputs[0] / stem).subtype == "FLOAT"
        assert (outputs[0] / stem).read_bytes() == (outputs[1] / stem).read_bytes(), stem


def test_ogg_vorbis_output(tmp_path):
    source = song(tmp_path / "song.wav")
    assert run("separate", source, "-o", tmp_path / "out", "--format", "ogg").exit_code == 0
    info = sf.info(tmp_path / "out" / "song" / "background.ogg")
    assert (info.format, info.subtype, info.frames) == ("OGG", "VORBIS", round(6.0 * SR))


@pytest.mark.parametrize(
    "args",
    [
        ("--bitrate", "192k"),  # for a lossless format
        ("--format", "mp3", "--bitrate", "fast"),
        ("--format", "mp3", "--subtype", "PCM_16"),
        ("--stems", "foreground", "--video", "background"),
        ("--stems", "foreground", "--references", "refs"),
    ],
)
def test_contradictory_output_options_are_usage_errors(tmp_path, args):
    source = song(tmp_path / "song.wav")
    result = run("separate", source, "-o", tmp_path / "out", *args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_folder_is_searched_and_its_layout_kept(tmp_path):
    song(tmp_path / "lib" / "a" / "one.wav")
    song(tmp_path / "lib" / "b" / "deep" / "two.m4a")
    (tmp_path / "lib" / "notes.txt").write_text("not audio")
    result = run("separate", tmp_path / "lib", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    stems = (tmp_path / "out").rglob("*ground.*")
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in stems)
    assert written == [
        "a/one/background.wav",
        "a/one/foreground.wav",
        "b/deep/two/background.flac",
        "b/deep/two/foreground.flac",
    ]
    only_wav = run("separate", tmp_path / "lib", "-o", tmp_path / "wav", "--ext", "wav")
    assert only_wav.exit_code == 0 and not (tmp_path / "wav" / "b").exists()


def test_an_empty_folder_fails_alone(tmp_path):
    (tmp_path / "empty").mkdir()
    good = song(tmp_path / "good.wav")
    result = run("separate", tmp_path / "empty", good, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'empty'}: is a folder with no audio or video file" in result.stderr
    assert (tmp_path / "out" / "good" / "background.wav").is_file(), result.stderr


@pytest.mark.parametrize("null", [False, True])
def test_files_from_a_list_or_standard_input(tmp_path, null):
    names = [song(tmp_path / "in" / f"song {k}.wav", seconds=4.0) for k in range(3)]
    sep = "\0" if null else "\n"
    listing = tmp_path / "list"
    listing.write_text(sep.join(map(str, names)) + sep)
    extra = ("-0",) if null else ()
    result = run("separate", "--files-from", listing, *extra, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").rglob("background.wav"))) == 3
    from click.testing import CliRunner

    from repet_cli.cli import cli

    piped = CliRunner().invoke(
        cli,
        ["separate", "--files-from", "-", *extra, "-o", str(tmp_path / "piped")],
        input=sep.join(map(str, names)),
    )
    assert piped.exit_code == 0, piped.output
    assert len(list((tmp_path / "piped").rglob("foreground.wav"))) == 3


def test_no_input_at_all_is_a_usage_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert run("separate", "--files-from", empty).exit_code == 2
    assert run("separate").exit_code == 2


def test_the_collision_hint_resolves_the_collision(tmp_path):
    wav, mp3 = song(tmp_path / "song.wav"), song(tmp_path / "song.mp3")
    out = tmp_path / "out"
    clash = run("separate", wav, mp3, "-o", out, "--format", "wav")
    assert clash.exit_code == 2 and "--filename '" in clash.stderr
    template = clash.stderr.split("--filename '")[1].split("'")[0]
    fixed = run("separate", wav, mp3, "-o", out, "--format", "wav", "--filename", template)
    assert fixed.exit_code == 0, fixed.output
    assert len([p for p in out.rglob("*.wav") if p.is_file()]) == 4
    # Same name, same extension, two folders: told apart by the folder's name.
    a, b = song(tmp_path / "a" / "x.wav"), song(tmp_path / "b" / "x.wav")
    clash = run("separate", a, b, "-o", tmp_path / "o2")
    template = clash.stderr.split("--filename '")[1].split("'")[0]
    fixed = run("separate", a, b, "-o", tmp_path / "o2", "--filename", template)
    assert fixed.exit_code == 0 and len(list((tmp_path / "o2").rglob("*/*/*.wav"))) == 4


def test_trackext_names_outputs_by_the_input_extension(tmp_path):
    source = song(tmp_path / "take.m4a")
    template = "{track}-{trackext}/{stem}.{ext}"
    assert run("separate", source, "-o", tmp_path / "o", "--filename", template).exit_code == 0
    assert (tmp_path / "o" / "take-m4a" / "background.flac").is_file()


def repet_command() -> list[str]:
    """The installed ``repet`` script beside this Python."""
    return [str(Path(sys.executable).parent / "repet")]


def test_a_pipeline_from_standard_input_to_standard_output(tmp_path):
    source = song(tmp_path / "song.flac")
    with open(source, "rb") as f:
        done = subprocess.run(
            [*repet_command(), "separate", "-", "--stems", "foreground", "-o", "-"],
            stdin=f,
            capture_output=True,
            env={**os.environ, "TMPDIR": str(tmp_path / "system-tmp")},
            timeout=300,
        )
    assert done.returncode == 0, done.stderr.decode()
    y, sr = sf.read(io.BytesIO(done.stdout), dtype="float32", always_2d=True)
    assert sr == SR and y.shape == (round(6.0 * SR), 2)
    assert not (tmp_path / "separated").exists() and not Path("-").exists()
    reference = tmp_path / "ref"
    assert run("separate", source, "--stems", "foreground", "-o", reference).exit_code == 0
    expected, _ = sf.read(reference / "song" / "foreground.flac", dtype="float32")
    assert np.max(np.abs(expected - y)) < 1e-4  # the same stem (24-bit FLAC against float)


@pytest.mark.parametrize(
    "args", [("--stems", "both"), ("--stems", "foreground", "--plot"), ("--stems", "foreground")]
)
def test_standard_output_takes_one_stem_of_one_input(tmp_path, args):
    first, second = song(tmp_path / "a.wav"), song(tmp_path / "b.wav")
    inputs = (first, second) if args == ("--stems", "foreground") else (first,)
    result = run("separate", *inputs, "-o", "-", *args)
    assert result.exit_code == 2 and "-o -" in result.stderr


def test_a_named_pipe_is_read_once(tmp_path):
    source = song(tmp_path / "song.wav")
    fifo = tmp_path / "live"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "wb") as pipe:
            pipe.write(source.read_bytes())

    writer = threading.Thread(target=feed)
    writer.start()
    result = run("separate", fifo, "-o", tmp_path / "out")
    writer.join()
    assert result.exit_code == 0, result.output
    assert sf.info(tmp_path / "out" / "live" / "background.wav").frames == round(6.0 * SR)


def test_a_video_gets_a_copy_with_the_foreground_as_its_sound(tmp_path):
    from test_media import make_video, video_packets

    clip = tmp_path / "talk.mp4"
    make_video(clip, audio=((SR, 2),), seconds=6)
    result = run("separate", clip, "-o", tmp_path / "out", "--video", "foreground")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "talk"
    assert sorted(p.name for p in folder.iterdir()) == [
        "background.flac",
        "foreground.flac",
        "foreground.mp4",
        "repet.json",
    ]
    assert video_packets(folder / "foreground.mp4") == video_packets(clip)  # not re-encoded
    sound, sr = decoded(folder / "foreground.mp4")
    stem, _ = decoded(folder / "foreground.flac")
    assert sr == SR and sound.shape == stem.shape


def test_a_video_copy_is_not_overwritten_unless_asked_and_leaves_nothing_partial(tmp_path):
    from test_media import make_video

    clip = tmp_path / "talk.mp4"
    make_video(clip, audio=((SR, 2),), seconds=6)
    copy = tmp_path / "out" / "talk" / "foreground.mp4"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"an earlier copy")
    refused = run("separate", clip, "-o", tmp_path / "out", "--video", "foreground")
    assert refused.exit_code == 0, refused.output  # the stems are written; the copy is not
    assert "no video written" in refused.output and "exists already" in refused.output
    assert copy.read_bytes() == b"an earlier copy"
    assert leftovers(tmp_path / "out") == []
    replaced = run("separate", clip, "-o", tmp_path / "out", "--video", "foreground", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert copy.read_bytes() != b"an earlier copy" and leftovers(tmp_path / "out") == []
    assert decoded(copy)[1] == SR


def test_a_video_input_without_video_gets_its_stems_and_a_warning(tmp_path):
    source = song(tmp_path / "song.m4a")
    result = run("separate", source, "-o", tmp_path / "out", "--video", "foreground")
    assert result.exit_code == 0
    assert "no video written" in result.stderr and "holds no video stream" in result.stderr
    assert (tmp_path / "out" / "song" / "foreground.flac").is_file()


def test_the_second_audio_stream_is_chosen_with_stream(tmp_path):
    from test_media import make_video

    clip = tmp_path / "two.mkv"
    make_video(clip, audio=((SR, 2), (SR, 1)), seconds=6)
    result = run("separate", clip, "-o", tmp_path / "out", "--stream", "1")
    assert result.exit_code == 0, result.output
    assert sf.info(tmp_path / "out" / "two" / "background.flac").channels == 1
    missing = run("separate", clip, "-o", tmp_path / "o2", "--stream", "2")
    assert missing.exit_code == 1 and "there is no audio stream 2" in missing.stderr


def test_a_corrupt_m4a_fails_alone_and_leaves_nothing(tmp_path):
    bad = song(tmp_path / "in" / "bad.m4a")
    data = bytearray(bad.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 4000] = os.urandom(4000)
    bad.write_bytes(bytes(data[: len(data) // 2]))
    good = song(tmp_path / "in" / "good.m4a")
    result = invoke(["separate", str(bad), str(good), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {bad}: ")
    assert not (tmp_path / "out" / "bad").exists() and leftovers(tmp_path / "out") == []
    assert (tmp_path / "out" / "good" / "foreground.flac").is_file()


def test_garbage_on_standard_input_fails_with_one_line_and_leaves_nothing(tmp_path):
    from click.testing import CliRunner

    from repet_cli.cli import cli

    result = CliRunner().invoke(
        cli, ["separate", "-", "-o", str(tmp_path / "out")], input=b"this is not audio\n" * 100
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("error: standard input: not a readable audio file")
    assert not (tmp_path / "out").exists() or leftovers(tmp_path / "out") == []


def test_a_missing_name_in_a_list_fails_alone(tmp_path):
    good = song(tmp_path / "good.wav")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{tmp_path / 'gone.wav'}\n{good}\n")
    result = run("separate", "--files-from", listing, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'gone.wav'}: no such file" in result.stderr
    assert (tmp_path / "out" / "good" / "foreground.wav").is_file()
