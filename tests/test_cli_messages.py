"""First contact (issue 26): what a newcomer's first commands say and write.

Every hint names an option of the command it comes from, every message names a file once and
as the user gave it, and the names other separators use for the stems are understood.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import synth
from helpers import leftovers, run

SR = 8000


def wav(path: Path, *, seconds: float = 6.0, sr: int = SR) -> Path:
    """A loop under a melody, as a 16-bit WAV."""
    return synth.write_song(path, sr=sr, seconds=seconds, period=1.5)


def mp3(path: Path, *, seconds: float = 6.0, bitrate: int = 64_000, sr: int = SR) -> Path:
    """A loop under a melody, as an MP3 at ``bitrate`` (PyAV's encoder, as `--format mp3`)."""
    from repet_cli.pyav_encode import MediaWriter

    background = synth.loop(period=1.5, sr=sr, duration=seconds, channels=2)
    mixture, _ = synth.mix(
        background, synth.melody(sr=sr, duration=seconds, channels=2), ratio_db=-3
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with MediaWriter(path, format="mp3", sr=sr, channels=2, bitrate=bitrate) as writer:
        writer.write(0.8 * mixture)
    return path


def repet_command() -> list[str]:
    """The installed ``repet`` script beside this Python."""
    return [str(Path(sys.executable).parent / "repet")]


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("vocals", "foreground"),
        ("Voice", "foreground"),
        ("instrumental", "background"),
        ("accompaniment", "background"),
        ("karaoke", "background"),
    ],
)
def test_other_separators_stem_names_are_aliases(tmp_path, name, stem):
    source = wav(tmp_path / "song.wav")
    result = run("separate", source, "--stems", name, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out" / "song").iterdir()) == [
        f"{stem}.wav",
        "repet.json",
    ]


def test_the_readme_shows_karaoke_and_vocals_in_its_first_examples():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    first = readme[: readme.index("\n## ", readme.index("## Usage"))]  # through "Usage"
    assert "--stems karaoke" in first and "--stems vocals" in first


def test_standard_output_on_a_terminal_is_refused(tmp_path):
    """`-o -` with standard output on a terminal (a pseudo-terminal here) writes no audio to
    it: a usage error, as gzip refuses."""
    import pty
    import threading

    source = wav(tmp_path / "song.wav")
    leader, follower = pty.openpty()
    shown = bytearray()

    def drain():  # what the terminal shows, until the command closes it
        while True:
            try:
                chunk = os.read(leader, 1 << 16)
            except OSError:  # EIO: the other side is closed
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    with open(source, "rb") as f:
        done = subprocess.run(
            [*repet_command(), "separate", "-", "--stems", "foreground", "-o", "-"],
            stdin=f,
            stdout=follower,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            timeout=300,
        )
    os.close(follower)
    reader.join(timeout=60)
    os.close(leader)
    assert done.returncode == 2, done.stderr.decode()
    assert b"RIFF" not in shown and len(shown) == 0
    message = done.stderr.decode()
    assert "standard output" in message and "terminal" in message
    assert "Traceback" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.wav"]  # nothing written


def test_standard_input_and_output_are_named_in_words(tmp_path):
    """`-` in and `-o -` out: the line says "standard input" and "standard output", not a
    temporary file that is gone by the time it is read."""
    source = wav(tmp_path / "song.wav")
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    command = [*repet_command(), "separate", "-", "--stems", "foreground", "-o", "-"]
    with open(source, "rb") as f:
        done = subprocess.run(command, stdin=f, capture_output=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout[:4] == b"RIFF"
    (line,) = done.stderr.decode().splitlines()
    assert line.startswith("standard input: period 1.5") and line.endswith("-> standard output")
    with open(source, "rb") as f:  # the JSON summary would be mixed with the audio
        done = subprocess.run([*command, "--json"], stdin=f, capture_output=True, env=env)
    assert done.returncode == 2 and done.stdout == b""
    assert "--json" in done.stderr.decode()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_an_empty_standard_input_is_named_in_words(tmp_path):
    result = subprocess.run(
        [*repet_command(), "separate", "-", "-o", tmp_path / "out"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        "error: standard input: nothing came in (0 bytes): not an audio file"
    ]


def test_a_video_that_cannot_be_written_names_the_file_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mp3(tmp_path / "song.mp3")
    result = run("separate", "song.mp3", "--video", "foreground")
    assert result.exit_code == 0, result.output
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("warning: song.mp3: no video written")
    assert warning.count("song.mp3") == 1 and "holds no video stream" in warning


def test_a_bad_bitrate_names_the_option_not_the_library_parameter(tmp_path):
    source = wav(tmp_path / "song.wav")
    result = run("separate", source, "--format", "mp3", "--bitrate", "999")
    assert result.exit_code == 2
    assert "Error: --bitrate '999' is in bits per second" in result.stderr
    assert "`" not in result.stderr and "--bitrate: " not in result.stderr


@pytest.mark.parametrize("out", ["outfile", "outfile/deeper", "./outfile"])
def test_an_output_folder_that_is_a_file_is_named_as_given(tmp_path, monkeypatch, out):
    """The path is the one the user typed (relative stays relative), as in every message."""
    monkeypatch.chdir(tmp_path)
    wav(tmp_path / "song.wav")
    (tmp_path / "outfile").write_text("a file, not a folder\n")
    result = run("separate", "song.wav", "-o", out)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: outfile: cannot create the output folder: a file has that name"
    ]
    assert str(tmp_path) not in result.stderr


def test_analyze_searches_a_folder_as_separate_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b", "c"):
        mp3(tmp_path / "music" / f"{name}.mp3")
    wav(tmp_path / "music" / "live" / "d.wav")
    result = run("analyze", "music")
    assert result.exit_code == 0, result.output
    analysed = [line.split(":")[0] for line in result.stdout.splitlines() if "period" in line]
    assert analysed == ["music/a.mp3", "music/b.mp3", "music/c.mp3", "music/live/d.wav"]
    only = run("analyze", "music", "--ext", "wav")
    assert only.exit_code == 0, only.output
    assert [line for line in only.stdout.splitlines() if "period" in line][0].startswith(
        "music/live/d.wav: period 1.5"
    )
    empty = run("analyze", "music", "--ext", "flac")
    assert empty.exit_code == 1
    assert empty.stderr.startswith("error: music: is a folder with no audio or video file")
    assert "--ext" in empty.stderr


def test_compare_refuses_a_folder_with_a_hint_it_can_follow(tmp_path):
    mp3(tmp_path / "music" / "a.mp3")
    result = run("compare", tmp_path / "music", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "is a folder" in result.stderr and "--ext" not in result.stderr
    assert not (tmp_path / "out").exists()


def options_named(text: str) -> set[str]:
    """The long options a message names."""
    import re

    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))


def options_of(command: str) -> set[str]:
    """The long options `repet COMMAND` has."""
    return options_named(run(command, "--help").stdout)


def test_compare_twice_names_only_options_compare_has_and_writes_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wav(tmp_path / "song.wav")
    assert run("separate", "song.wav").exit_code == 0
    first = run("compare", "song.wav", "--algorithm", "repet", "--algorithm", "2dft")
    assert first.exit_code == 0, first.output
    # apart from separate's stems: separated/song/ holds only what separate wrote
    assert sorted(p.name for p in (tmp_path / "separated" / "song").iterdir()) == [
        "background.wav",
        "foreground.wav",
        "repet.json",
    ]
    assert "stems in compared/song/<algorithm>/" in first.stdout
    made = {p: p.stat().st_mtime_ns for p in (tmp_path / "compared").rglob("*.wav")}
    assert len(made) == 4
    again = run("compare", "song.wav", "--algorithm", "repet", "--algorithm", "2dft")
    assert again.exit_code == 1
    (line,) = again.stderr.splitlines()  # one line, before any work
    assert "exists already" in line and "--overwrite" in line
    assert options_named(line) <= options_of("compare"), line
    assert {p: p.stat().st_mtime_ns for p in made} == made
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_a_text_file_named_mp3_is_one_line_saying_what_is_wrong(tmp_path, quiet):
    """libsndfile's MP3 decoder prints notes straight to file descriptor 2; none reach the
    user, and the one error line does not claim that the file does not exist."""
    (tmp_path / "notes.mp3").write_text("these are my notes, not a song\n" * 40)
    done = subprocess.run(
        [*repet_command(), "separate", "notes.mp3", *quiet],
        capture_output=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 1
    assert done.stdout == b""
    assert done.stderr.decode().splitlines() == [
        "error: notes.mp3: not a readable audio file (its contents are not MP3 audio; nor "
        "audio or video that ffmpeg reads)"
    ]
    assert not (tmp_path / "separated").exists()


def bitrate_of(path: Path) -> int:
    from repet_cli import pyav_probe

    return pyav_probe.probe(path).audio[0].bitrate


def test_lossy_stems_of_a_lossy_input_keep_its_bit_rate(tmp_path):
    """A 128 kbit/s MP3 gives 128 kbit/s MP3 stems, not 192k ones larger than the input;
    --bitrate still decides, and a lossless input gets the format's default (192k)."""
    source = mp3(tmp_path / "song.mp3", bitrate=128_000, sr=44100)
    assert bitrate_of(source) == 128_000
    result = run("separate", source, "--format", "mp3", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    for stem in ("background", "foreground"):
        written = tmp_path / "out" / "song" / f"{stem}.mp3"
        assert bitrate_of(written) == 128_000
        assert written.stat().st_size <= source.stat().st_size * 1.02
    asked = run("separate", source, "--format", "mp3", "--bitrate", "96k", "-o", tmp_path / "a")
    assert asked.exit_code == 0, asked.output
    assert bitrate_of(tmp_path / "a" / "song" / "foreground.mp3") == 96_000
    lossless = wav(tmp_path / "clean.wav", sr=44100)
    result = run("separate", lossless, "--format", "mp3", "-o", tmp_path / "clean")
    assert result.exit_code == 0, result.output
    assert bitrate_of(tmp_path / "clean" / "clean" / "foreground.mp3") == 192_000


@pytest.fixture
def system_tmp(tmp_path, monkeypatch):
    """The system's temporary folder for this test, checked empty after it."""
    import tempfile

    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert list(folder.iterdir()) == []


def test_only_the_video_with_stems_none(tmp_path, system_tmp):
    """--video foreground --stems none writes the video copy and no audio stems; it is an
    output like the stems (refused when it exists, skipped with --skip-existing)."""
    from test_media import make_video, video_packets

    from repet_cli.io import load_audio

    clip = tmp_path / "talk.mp4"
    make_video(clip, audio=((22050, 2),), seconds=6)
    out = tmp_path / "out"
    result = run("separate", clip, "--video", "vocals", "--stems", "none", "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(f"-> {out / 'talk' / 'foreground.mp4'}")
    copy = out / "talk" / "foreground.mp4"
    # Its record is named after its format, as other stems' are: FLAC stems of the same talk
    # in this folder keep their repet.json.
    assert sorted(p.name for p in copy.parent.iterdir()) == ["foreground.mp4", "mp4.repet.json"]
    record = json.loads((copy.parent / "mp4.repet.json").read_text())
    assert record["outputs"] == ["foreground.mp4"]
    assert record["output_bytes"] == [copy.stat().st_size]
    assert video_packets(copy) == video_packets(clip)  # the picture copied
    with_stems = run("separate", clip, "--video", "foreground", "-o", tmp_path / "both")
    assert with_stems.exit_code == 0, with_stems.output
    sound, sr, _ = load_audio(copy)
    same, _, _ = load_audio(tmp_path / "both" / "talk" / "foreground.mp4")
    assert sr == 22050 and sound.shape == same.shape
    assert float(abs(sound - same).max()) < 0.05  # the same stem, encoded once either way
    again = run("separate", clip, "--video", "foreground", "--stems", "none", "-o", out)
    assert again.exit_code == 1 and "foreground.mp4: exists already" in again.stderr
    skipped = run(
        "separate", clip, "--video", "foreground", "--stems", "none", "-o", out, "--skip-existing"
    )
    assert skipped.exit_code == 0 and "skipped" in skipped.stdout
    assert leftovers(tmp_path) == []


def test_only_the_video_of_an_input_without_video_fails_and_leaves_nothing(
    tmp_path, system_tmp, monkeypatch
):
    # ... before separating it: the whole song's work was done, then thrown away.
    import repet_cli.segments

    def separating(*args, **kwargs):
        raise AssertionError("separated an input whose only output could not be made")

    monkeypatch.setattr(repet_cli.segments, "separate_file", separating)
    source = mp3(tmp_path / "song.mp3")
    result = run(
        "separate", source, "--video", "foreground", "--stems", "none", "-o", tmp_path / "o"
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {source}: holds no video stream, so there is no picture to put the audio under"
    ]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "args", [[], ["--video", "foreground", "--plot"], ["--video", "background", "--report"]]
)
def test_stems_none_without_a_video_to_write_is_a_usage_error(tmp_path, args):
    source = wav(tmp_path / "song.wav")
    result = run("separate", source, "--stems", "none", *args, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "--stems none" in result.stderr
    assert not (tmp_path / "o").exists()
