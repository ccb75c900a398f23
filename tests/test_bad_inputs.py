"""Every kind of bad input gets one clear line, exit status 1, and costs the batch nothing."""

import errno
import os

import numpy as np
import pytest
import soundfile as sf

import synth
from helpers import invoke, leftovers

SR = 8000


def song(path, *, seconds=5.0, subtype="PCM_16", sr=SR, channels=2):
    background = synth.loop(period=1.2, sr=sr, duration=seconds, channels=channels)
    mixture, _ = synth.mix(
        background, synth.melody(sr=sr, duration=seconds, channels=channels), ratio_db=-3
    )
    sf.write(path, 0.8 * mixture.T, sr, subtype=subtype)
    return path


def truncated_wav(path):
    whole = song(path.with_name("whole.wav"))
    path.write_bytes(whole.read_bytes()[:30000])


def corrupt_flac(path):
    whole = song(path.with_name("whole.flac"))
    data = bytearray(whole.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 2]))


def float_wav_with(value):
    def make(path):
        y = np.zeros((SR * 5, 2), dtype=np.float32)
        y[1234, 1] = value
        sf.write(path, y, SR, subtype="FLOAT")

    return make


# A PNG header and a few bytes: an image, not audio.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))

CASES = {
    "missing": (lambda p: None, "no such file"),
    "folder": (lambda p: p.mkdir(), "is a folder with no audio or video file in it"),
    "text": (lambda p: p.write_text("not audio\n" * 50), "not a readable audio"),
    "image": (lambda p: p.write_bytes(PNG), "holds no audio stream"),
    "random-bytes": (
        lambda p: p.write_bytes(np.random.default_rng(1).bytes(4096)),
        "not a readable audio",
    ),
    "empty-file": (lambda p: p.write_bytes(b""), "the file is empty (0 bytes)"),
    "zero-frames": (
        lambda p: sf.write(p, np.zeros((0, 2)), SR, subtype="PCM_16"),
        "holds no audio samples (0 frames)",
    ),
    "truncated-wav": (truncated_wav, "the file is truncated"),
    "corrupt-flac": (corrupt_flac, "not a readable audio"),
    "too-short": (
        lambda p: song(p, seconds=2.0),
        "the input is 2.00 s long, too short to detect a repeating period of 0.8 s or more "
        "(that needs 2.4 s: three repetitions); force a period (--period)",
    ),
    "nan": (float_wav_with(np.nan), "the file holds NaN or infinite samples"),
    "infinite": (float_wav_with(np.inf), "the file holds NaN or infinite samples"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_input_fails_alone_with_one_clear_line(tmp_path, case):
    make, words = CASES[case]
    suffix = ".flac" if case == "corrupt-flac" else ".wav"
    bad = tmp_path / "in" / f"bad{suffix}"
    bad.parent.mkdir()
    make(bad)
    good = song(tmp_path / "in" / "good.wav")
    out = tmp_path / "out"
    result = invoke(["separate", str(bad), str(good), "-o", str(out)])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {bad}: ")
    assert words in errors[0]
    assert (out / "good" / "background.wav").exists() and (out / "good" / "foreground.wav").exists()
    assert not (out / "bad").exists()
    assert leftovers(tmp_path) == []


def test_an_unreadable_input_is_named(tmp_path, monkeypatch):
    bad = song(tmp_path / "bad.wav")
    bad.chmod(0)
    if os.geteuid() == 0:  # root reads any file: let the permission check see what a user would
        from repet_cli import io

        real = io.os.access
        monkeypatch.setattr(io.os, "access", lambda p, mode: str(p) != str(bad) and real(p, mode))
    result = invoke(["separate", str(bad), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"{bad}: permission denied: the file is not readable" in result.stderr


def test_an_output_folder_that_is_a_file_fails_that_input_only(tmp_path):
    a = song(tmp_path / "a.wav")
    b = song(tmp_path / "b.wav")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_text("in the way")
    result = invoke(["separate", str(a), str(b), "-o", str(out)])
    assert result.exit_code == 1
    assert f"error: {out / 'a'}: cannot create the output folder: a file has that name" in (
        result.stderr
    )
    assert (out / "a").read_text() == "in the way"
    assert (out / "b" / "foreground.wav").exists()


def test_an_unwritable_output_folder_is_named(tmp_path, monkeypatch):
    a = song(tmp_path / "a.wav")
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    (out / "a").chmod(0o500)
    if os.geteuid() == 0:  # root writes anywhere: refuse as the system would refuse a user
        from repet_cli import io

        real = io.os.open

        def refuse(path, *args, **kwargs):
            if str(path).startswith(str(out / "a")):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real(path, *args, **kwargs)

        monkeypatch.setattr(io.os, "open", refuse)
    result = invoke(["separate", str(a), "-o", str(out)])
    assert result.exit_code == 1
    assert f"error: {out / 'a' / 'background.wav'}: cannot write (Permission denied)" in (
        result.stderr
    )
    assert list((out / "a").iterdir()) == []


def test_a_full_disk_leaves_no_truncated_output(tmp_path, monkeypatch):
    from repet_cli import soundfile_io

    real = soundfile_io.write_blocks
    calls = []

    def fill_up(f, frames, **kwargs):
        calls.append(1)
        if len(calls) > 1:  # the first stem's first block goes through, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(f, frames, **kwargs)

    monkeypatch.setattr(soundfile_io, "write_blocks", fill_up)
    a = song(tmp_path / "a.wav")
    out = tmp_path / "out"
    result = invoke(["separate", str(a), "-o", str(out)])
    assert result.exit_code == 1
    assert "cannot write (No space left on device)" in result.stderr
    assert list(out.rglob("*.wav")) == [] and leftovers(tmp_path) == []


def test_an_input_is_never_overwritten(tmp_path):
    a = song(tmp_path / "background.wav")
    result = invoke(["separate", str(a), "-o", str(tmp_path), "--filename", "{stem}.{ext}"])
    assert result.exit_code == 2 and "is both an input and an output" in result.stderr
