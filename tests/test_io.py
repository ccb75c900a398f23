import os

import numpy as np
import pytest
import soundfile as sf

from repet_cli import AudioReadError, AudioWriteError, OutputExistsError, load_audio, write_audio
from repet_cli.io import output_subtype, write_audio_files


def pcm_file(path, subtype, *, channels=2, frames=1000, sr=44100, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.uniform(-1, 1, (frames, channels))
    sf.write(path, data, sr, subtype=subtype)
    return path


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "FLOAT", "DOUBLE"])
def test_read_write_round_trip_is_bit_exact(tmp_path, subtype):
    source = pcm_file(tmp_path / "in.wav", subtype)
    y, sr, info = load_audio(source)
    assert info.subtype == subtype and output_subtype(info) == subtype
    assert y.shape == (2, 1000) and y.dtype == np.float32
    out = write_audio(tmp_path / "out.wav", y, sr=sr, subtype=output_subtype(info)).path
    if subtype == "DOUBLE":  # float32 inside: exact to float32 precision
        np.testing.assert_allclose(sf.read(out)[0], sf.read(source)[0], rtol=0, atol=1e-7)
    else:
        dtype = "int32" if subtype.startswith("PCM") else "float32"
        assert np.array_equal(sf.read(out, dtype=dtype)[0], sf.read(source, dtype=dtype)[0])
    assert sf.info(out).subtype == subtype


@pytest.mark.parametrize("channels", [1, 2, 3, 8])
def test_channel_count_and_length_are_kept(tmp_path, channels):
    source = pcm_file(tmp_path / "in.wav", "PCM_16", channels=channels, frames=777, sr=16000)
    y, sr, info = load_audio(source)
    assert y.shape == (channels, 777) and sr == 16000
    assert (info.channels, info.frames, info.samplerate) == (channels, 777, 16000)
    out = write_audio(tmp_path / "out.wav", y, sr=sr, subtype="PCM_16").path
    written = sf.info(out)
    assert (written.channels, written.frames, written.samplerate) == (channels, 777, 16000)


def test_flac_input_keeps_its_bit_depth_in_the_wav_output(tmp_path):
    source = pcm_file(tmp_path / "in.flac", "PCM_24")
    _, _, info = load_audio(source)
    assert info.format == "FLAC" and output_subtype(info) == "PCM_24"


def test_lossy_subtype_falls_back_to_float(tmp_path):
    source = tmp_path / "in.ogg"
    sf.write(source, np.zeros((4000, 1)), 44100, format="OGG", subtype="VORBIS")
    _, _, info = load_audio(source)
    assert output_subtype(info) == "FLOAT"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_bytes(b""), "the file is empty (0 bytes)"),
        (lambda p: p.write_text("hello, this is text\n" * 20), "not a readable audio file"),
        (
            lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)),
            "not a readable audio file",
        ),
    ],
    ids=["missing", "folder", "empty", "text", "random-bytes"],
)
def test_unreadable_inputs_raise_one_clear_error(tmp_path, make, words):
    path = tmp_path / "song.wav"
    make(path)
    with pytest.raises(AudioReadError) as info:
        load_audio(path)
    message = str(info.value)
    assert message.startswith(str(path)) and words in message and "\n" not in message


def test_truncated_wav_is_refused_not_read_short(tmp_path):
    whole = pcm_file(tmp_path / "whole.wav", "PCM_16", frames=10000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[:20000])
    with pytest.raises(AudioReadError, match="truncated"):
        load_audio(cut)


def test_corrupt_flac_is_refused(tmp_path):
    whole = pcm_file(tmp_path / "whole.flac", "PCM_16", frames=100000)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(AudioReadError, match="cut.flac: not a readable audio file"):
        load_audio(cut)


def test_zero_frames_is_refused(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 2)), 44100)
    with pytest.raises(AudioReadError, match="0 frames"):
        load_audio(path)


def test_non_finite_samples_are_refused(tmp_path):
    path = tmp_path / "nan.wav"
    data = np.zeros((100, 1), dtype=np.float32)
    data[50] = np.nan
    sf.write(path, data, 8000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match="NaN or infinite"):
        load_audio(path)


def test_existing_output_is_not_overwritten_without_asking(tmp_path):
    target = tmp_path / "out.wav"
    target.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="`overwrite`"):
        write_audio(target, np.zeros(100, dtype=np.float32), sr=8000)
    assert target.read_bytes() == b"precious"
    write_audio(target, np.zeros(100, dtype=np.float32), sr=8000, overwrite=True)
    assert sf.info(target).frames == 100


def test_pcm_output_reports_clipping_and_float_output_keeps_values(tmp_path):
    y = np.array([[0.5, 1.5, -2.0, 0.0]], dtype=np.float32)
    pcm = write_audio(tmp_path / "pcm.wav", y, sr=8000, subtype="PCM_16")
    assert pcm.clipped == 2
    assert sf.read(pcm.path)[0].max() <= 1.0
    flt = write_audio(tmp_path / "float.wav", y, sr=8000, subtype="FLOAT")
    assert flt.clipped == 0
    np.testing.assert_array_equal(sf.read(flt.path, dtype="float32")[0], y[0])


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    good = tmp_path / "good.wav"
    missing_folder = tmp_path / "nope" / "bad.wav"
    y = np.zeros((2, 100), dtype=np.float32)
    with pytest.raises(AudioWriteError) as info:
        write_audio_files({good: y, missing_folder: y}, sr=8000)
    assert str(missing_folder) in str(info.value)
    assert os.listdir(tmp_path) == []  # neither the good file nor a temporary one


def test_write_into_a_path_that_is_a_file_fails_cleanly(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(AudioWriteError, match="cannot write"):
        write_audio(blocker / "x.wav", np.zeros(10, dtype=np.float32), sr=8000)
    assert sorted(os.listdir(tmp_path)) == ["not-a-folder"]


def test_16_bit_samples_are_rounded_as_libsndfile_rounds_them(tmp_path):
    rng = np.random.default_rng(7)
    steps = np.arange(-50, 50) / 32768  # exact 16-bit values and the half-way points between
    y = np.concatenate([rng.uniform(-1, 1, 30000), steps, steps + 0.5 / 32768, [1.0, -1.0]])
    y = np.stack([y, -y]).astype(np.float32)
    write_audio(tmp_path / "ours.wav", y, sr=8000, subtype="PCM_16")
    sf.write(tmp_path / "libsndfile.wav", y.T, 8000, subtype="PCM_16")
    ours, _ = sf.read(tmp_path / "ours.wav", dtype="int16")
    theirs, _ = sf.read(tmp_path / "libsndfile.wav", dtype="int16")
    np.testing.assert_array_equal(ours, theirs)


def test_16_bit_samples_are_read_as_libsndfile_reads_them(tmp_path):
    rng = np.random.default_rng(8)
    q = rng.integers(-32768, 32768, (5000, 3), dtype=np.int16)
    q[:2] = [[-32768, 32767, 0], [1, -1, 12345]]
    sf.write(tmp_path / "pcm.wav", q, 8000, subtype="PCM_16")
    y, _, _ = load_audio(tmp_path / "pcm.wav")
    theirs, _ = sf.read(tmp_path / "pcm.wav", dtype="float32", always_2d=True)
    assert y.dtype == np.float32 and y.shape == (3, 5000)
    np.testing.assert_array_equal(y, theirs.T)


def test_a_signal_between_the_renames_waits_until_both_files_are_in_place(tmp_path, monkeypatch):
    import signal

    from repet_cli import io, signals

    real_replace = io.os.replace
    renamed = []

    def replace_then_signal(src, dst):
        real_replace(src, dst)
        renamed.append(dst)
        if len(renamed) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives between the two renames

    monkeypatch.setattr(io.os, "replace", replace_then_signal)
    y = np.zeros((2, 1000), dtype=np.float32)
    outputs = {tmp_path / "bg.wav": y, tmp_path / "fg.wav": y}
    with signals.handled(), pytest.raises(signals.Terminated):
        write_audio_files(outputs, sr=8000)
    assert len(renamed) == 2  # the second rename happened before the signal was delivered
    assert all(p.exists() for p in outputs) and list(tmp_path.glob(".*.part")) == []


def test_a_signal_just_after_a_temporary_file_is_made_leaves_nothing_behind(tmp_path, monkeypatch):
    import signal

    from repet_cli import files, signals

    real_open_temp = files.open_temp

    def open_then_signal(p):
        made = real_open_temp(p)
        os.kill(os.getpid(), signal.SIGTERM)  # lands before the writer has noted the file
        return made

    monkeypatch.setattr(files, "open_temp", open_then_signal)
    y = np.zeros((2, 1000), dtype=np.float32)
    with signals.handled(), pytest.raises(signals.Terminated):
        write_audio_files({tmp_path / "bg.wav": y, tmp_path / "fg.wav": y}, sr=8000)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_the_mp3_its_name_says_is_read_without_decoder_noise(tmp_path, capfd):
    """mpg123, inside libsndfile, prints "Note: Illegal Audio-MPEG-Header ..." to file
    descriptor 2 itself; opening and probing keep it off, and the error says what is wrong."""
    from repet_cli.io import probe

    path = tmp_path / "notes.mp3"
    path.write_text("these are my notes, not a song\n" * 40)
    assert probe(path) is None
    with pytest.raises(AudioReadError) as raised:
        load_audio(path)
    message = str(raised.value)
    assert "its contents are not MP3 audio" in message
    assert "does not exist" not in message and "regular file" not in message
    assert capfd.readouterr().err == ""
