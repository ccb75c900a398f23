"""The modules that talk to PyAV (repet_cli.pyav_probe, pyav_decode, pyav_encode, pyav_remux):
probing, decoding, encoding and a video's sound replaced, every file made here with PyAV."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from repet_cli.errors import AudioReadError, AudioWriteError, ParameterError
from repet_cli.formats import parse_bitrate
from repet_cli.pyav_decode import decode_to_wav
from repet_cli.pyav_encode import MediaWriter, encoder_rate
from repet_cli.pyav_probe import friendly_name, probe
from repet_cli.pyav_remux import replace_audio

av = pytest.importorskip("av")

SR = 44100
N = 88323  # 2.0028 s at 44.1 kHz: not a whole number of codec frames or milliseconds


def tones(n: int, sr: int, channels: int, *, base: float = 440.0) -> np.ndarray:
    """``y[channels, n]``: a different pair of tones in each channel, peak 0.5."""
    t = np.arange(n) / sr
    rows = [
        0.3 * np.sin(2 * np.pi * (base + 110 * c) * t) + 0.2 * np.sin(2 * np.pi * 1234 * t)
        for c in range(channels)
    ]
    return np.array(rows, dtype=np.float32)


def error_db(reference: np.ndarray, decoded: np.ndarray) -> float:
    """Energy of the difference relative to the reference's, in dB."""
    return float(10 * np.log10(np.sum((decoded - reference) ** 2) / np.sum(reference**2)))


def read_wav(path) -> tuple[np.ndarray, int]:
    data, sr = sf.read(path, dtype="float32", always_2d=True)
    return data.T, sr


def pyav_encode(path, codec, frames, *, sr, layout, fmt="fltp", muxer=None, pts=True, opts=None):
    """Encode ``frames[channels, samples]`` (dtype of ``fmt``) with PyAV directly."""
    with av.open(str(path), "w", format=muxer, container_options=opts or {}) as out:
        stream = out.add_stream(codec, rate=sr)
        stream.layout = layout
        stream.format = fmt
        for start in range(0, frames.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(frames[:, start : start + 4096]), format=fmt, layout=layout
            )
            frame.sample_rate = sr
            if pts:
                frame.pts, frame.time_base = start, Fraction(1, sr)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def make_video(
    path, *, audio=((SR, 2),), vcodec="mpeg4", acodec="aac", seconds=2, fps=10, delay=0.0
):
    """A 64x48 video at ``fps`` with one audio stream per ``(sr, channels)``, starting
    ``delay`` seconds after the picture; their samples."""
    tracks = []
    with av.open(str(path), "w") as out:
        video = out.add_stream(vcodec, rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        streams = []
        for k, (sr, channels) in enumerate(audio):
            stream = out.add_stream(acodec, rate=sr)
            stream.layout = "mono" if channels == 1 else "stereo"
            streams.append((stream, tones(seconds * sr, sr, channels, base=300 + 250 * k), sr))
        for i in range(seconds * fps):
            picture = np.full((48, 64, 3), (i * 23) % 256, np.uint8)
            picture[:, : 4 + 3 * i] = 255 - picture[0, 0]
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for stream, y, sr in streams:
            tracks.append(y)
            for start in range(0, y.shape[1], 4096):
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(y[:, start : start + 4096]),
                    format="fltp",
                    layout=stream.layout.name,
                )
                frame.sample_rate, frame.time_base = sr, Fraction(1, sr)
                frame.pts = start + round(delay * sr)
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    return tracks


def video_packets(path) -> list[tuple[bytes, int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(bytes(p), p.pts, p.dts) for p in container.demux(stream) if p.size]


# --- pure helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module", ["pyav_probe", "pyav_decode", "pyav_encode", "pyav_remux", "media", "io"]
)
def test_importing_the_module_does_not_import_av(module):
    code = f"import sys, repet_cli.{module}; print('av' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("text", "bits"),
    [("192k", 192000), ("192000", 192000), ("320K", 320000), (" 96.5k ", 96500), (128000, 128000)],
)
def test_parse_bitrate_reads_kilobits_and_bits(text, bits):
    assert parse_bitrate(text) == bits


@pytest.mark.parametrize("text", ["fast", "0", "0k", "-5", "-192k", "", "1e5", "192", True])
def test_parse_bitrate_refuses_what_is_not_a_bitrate(text):
    with pytest.raises(ParameterError, match="bitrate"):
        parse_bitrate(text)


def test_a_bitrate_in_kilobits_without_k_is_questioned():
    with pytest.raises(ParameterError, match="did you mean 192k"):
        parse_bitrate("192")


@pytest.mark.parametrize(
    ("container", "extensions", "suffix", "name"),
    [
        ("mov,mp4,m4a,3gp,3g2,mj2", {"mp4", "m4a", "mov"}, ".m4a", "M4A"),
        ("mov,mp4,m4a,3gp,3g2,mj2", {"mp4", "m4a", "mov"}, ".MP4", "MP4"),
        ("mov,mp4,m4a,3gp,3g2,mj2", {"mp4", "m4a", "mov"}, ".m4v", "M4V"),
        ("mov,mp4,m4a,3gp,3g2,mj2", {"mp4", "m4a", "mov"}, ".bin", "MP4"),
        ("matroska,webm", {"mkv", "webm", "mka"}, ".webm", "WEBM"),
        ("matroska,webm", {"mkv", "webm", "mka"}, "", "MKV"),
        ("ogg", {"ogg"}, ".opus", "OPUS"),
        ("mp3", {"mp3"}, ".m4a", "MP3"),  # an MP3 named .m4a is an MP3
        ("xwma", {"xwma"}, ".dat", "XWMA"),
    ],
)
def test_friendly_name_prefers_an_extension_that_names_the_format(
    container, extensions, suffix, name
):
    assert friendly_name(container, extensions, suffix) == name


def test_encoder_rate_keeps_a_rate_the_encoder_takes_else_the_next_higher():
    rates = [44100, 48000, 32000, 22050, 24000, 16000, 11025, 12000, 8000]
    assert encoder_rate(rates, 44100) == 44100
    assert encoder_rate(rates, 22000) == 22050
    assert encoder_rate(rates, 96000) == 48000
    assert encoder_rate(None, 12345) == 12345


# --- decoding ------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2])
def test_m4a_aac_round_trip_is_sample_exact_in_length(tmp_path, channels):
    y = tones(N, SR, channels)
    path = tmp_path / "in.m4a"
    with MediaWriter(path, sr=SR, channels=channels, bitrate="192k") as writer:
        writer.write(y[:, :50000])
        writer.write(y[:, 50000:])
    info = decode_to_wav(path, tmp_path / "out.wav")
    decoded, sr = read_wav(tmp_path / "out.wav")
    assert (info.samplerate, info.channels, info.frames) == (SR, channels, N)
    assert (info.format, info.subtype) == ("M4A", "AAC")
    assert sr == SR and decoded.shape == (channels, N)
    assert error_db(y, decoded) < -15
    assert sf.info(tmp_path / "out.wav").subtype == "FLOAT"


def test_aac_edit_list_at_millisecond_timescale_rounds_the_length_up(tmp_path):
    # FFmpeg's default movie timescale is 1/1000 s: the edit list says 2.003 s.
    pyav_encode(tmp_path / "a.m4a", "aac", tones(N, SR, 2), sr=SR, layout="stereo")
    info = decode_to_wav(tmp_path / "a.m4a", tmp_path / "out.wav")
    assert info.frames == round(2.003 * SR) == 88332


def test_aac_without_timestamps_has_no_edit_list_and_keeps_the_priming(tmp_path):
    y = tones(N, SR, 2)
    pyav_encode(tmp_path / "a.m4a", "aac", y, sr=SR, layout="stereo", pts=False)
    info = decode_to_wav(tmp_path / "a.m4a", tmp_path / "out.wav")
    decoded, _ = read_wav(tmp_path / "out.wav")
    assert info.frames == N + 1024
    assert error_db(y, decoded[:, 1024:]) < -15  # the source starts after the priming


def test_alac_16_bit_round_trip_is_bit_exact(tmp_path):
    rng = np.random.default_rng(1)
    pcm = (rng.uniform(-0.5, 0.5, (2, 30000)) * 32768).astype(np.int16)
    pyav_encode(tmp_path / "a.m4a", "alac", pcm, sr=SR, layout="stereo", fmt="s16p")
    info = decode_to_wav(tmp_path / "a.m4a", tmp_path / "out.wav")
    decoded, _ = read_wav(tmp_path / "out.wav")
    assert (info.subtype, info.frames, info.channels) == ("ALAC", 30000, 2)
    assert np.array_equal(decoded * 32768, pcm.astype(np.float32))


def test_alac_24_bit_round_trip_is_bit_exact(tmp_path):
    rng = np.random.default_rng(2)
    pcm24 = rng.integers(-(2**23), 2**23, (1, 20000), dtype=np.int32)
    pyav_encode(tmp_path / "a.m4a", "alac", pcm24 << 8, sr=48000, layout="mono", fmt="s32p")
    decode_to_wav(tmp_path / "a.m4a", tmp_path / "out.wav")
    decoded, sr = read_wav(tmp_path / "out.wav")
    assert sr == 48000
    assert np.array_equal(decoded * 2**23, pcm24.astype(np.float32))


def test_mp3_round_trip_length_is_exact_thanks_to_the_lame_header(tmp_path):
    y = tones(N, SR, 2)
    with MediaWriter(tmp_path / "a.mp3", sr=SR, channels=2) as writer:
        writer.write(y)
    info = decode_to_wav(tmp_path / "a.mp3", tmp_path / "out.wav")
    decoded, _ = read_wav(tmp_path / "out.wav")
    assert (info.format, info.subtype, info.frames, info.samplerate) == ("MP3", "MP3", N, SR)
    assert error_db(y, decoded) < -15


def test_mp3_bitrate_shows_in_the_file(tmp_path):
    y = tones(3 * SR, SR, 2)
    with MediaWriter(tmp_path / "a.mp3", sr=SR, channels=2, bitrate="128k") as writer:
        writer.write(y)
    info = probe(tmp_path / "a.mp3")
    assert info.audio[0].bitrate == 128000
    expected_bytes = 128000 * 3 / 8
    assert abs((tmp_path / "a.mp3").stat().st_size - expected_bytes) < 0.2 * expected_bytes


def test_opus_round_trip_at_48k_is_exact(tmp_path):
    y = tones(N, 48000, 2)
    with MediaWriter(tmp_path / "a.opus", sr=48000, channels=2) as writer:
        writer.write(y)
    info = decode_to_wav(tmp_path / "a.opus", tmp_path / "out.wav")
    decoded, _ = read_wav(tmp_path / "out.wav")
    assert (info.format, info.subtype, info.frames, info.samplerate) == ("OPUS", "OPUS", N, 48000)
    assert error_db(y, decoded) < -15


def test_opus_from_44k_comes_back_at_48k_with_the_length_scaled(tmp_path):
    y = tones(N, SR, 2)
    with MediaWriter(tmp_path / "a.opus", sr=SR, channels=2) as writer:
        writer.write(y)
    assert writer.samplerate == 48000
    info = decode_to_wav(tmp_path / "a.opus", tmp_path / "out.wav")
    decoded, _ = read_wav(tmp_path / "out.wav")
    assert info.samplerate == 48000
    assert info.frames == round(N * 48000 / SR) == 96134
    assert error_db(tones(info.frames, 48000, 2), decoded) < -15  # the same tones, resampled


def test_webm_opus_length_is_exact(tmp_path):
    y = tones(N, 48000, 1)
    pyav_encode(tmp_path / "a.webm", "libopus", y, sr=48000, layout="mono", fmt="flt")
    info = decode_to_wav(tmp_path / "a.webm", tmp_path / "out.wav")
    decoded, _ = read_wav(tmp_path / "out.wav")
    assert (info.format, info.frames, info.channels) == ("WEBM", N, 1)
    assert error_db(y, decoded) < -15


def test_eight_channels_decode_in_order(tmp_path):
    # Planar frames of 8 channels trip PyAV 18; they are converted through swresample.
    t = np.arange(48000) / 48000
    y = np.array([0.4 * np.sin(2 * np.pi * (50 + 7 * c) * t) for c in range(8)], np.float32)
    with MediaWriter(tmp_path / "a.m4a", sr=48000, channels=8, bitrate="512k") as writer:
        writer.write(y)
    info = decode_to_wav(tmp_path / "a.m4a", tmp_path / "out.wav")
    decoded, _ = read_wav(tmp_path / "out.wav")
    assert (info.channels, info.frames) == (8, 48000)
    correlation = np.corrcoef(np.vstack([y, decoded]))[8:, :8]
    assert np.array_equal(correlation.argmax(axis=1), np.arange(8))


def test_mp4_with_video_decodes_its_audio(tmp_path):
    (y,) = make_video(tmp_path / "v.mp4")
    media = probe(tmp_path / "v.mp4")
    assert media.format == "MP4" and media.has_video
    assert [(a.codec, a.samplerate, a.channels) for a in media.audio] == [("aac", SR, 2)]
    info = decode_to_wav(tmp_path / "v.mp4", tmp_path / "out.wav")
    decoded, _ = read_wav(tmp_path / "out.wav")
    assert (info.format, info.frames) == ("MP4", y.shape[1])
    assert error_db(y, decoded) < -15


def test_mkv_keeps_the_aac_padding_of_its_last_frame(tmp_path):
    (y,) = make_video(tmp_path / "v.mkv")
    info = decode_to_wav(tmp_path / "v.mkv", tmp_path / "out.wav")
    decoded, _ = read_wav(tmp_path / "out.wav")
    n = y.shape[1]
    # Matroska skips the priming (CodecDelay) but records no end padding: whole AAC frames.
    assert info.format == "MKV" and info.frames == -(-n // 1024) * 1024
    assert error_db(y, decoded[:, :n]) < -15
    assert np.max(np.abs(decoded[:, n + 64 :])) < 0.05  # the padding is near silence


def test_mkv_audio_starting_late_is_not_taken_for_truncated(tmp_path):
    # Matroska's DURATION tag is where the track ends, not how long it is.
    (y,) = make_video(tmp_path / "v.mkv", delay=0.5)
    info = decode_to_wav(tmp_path / "v.mkv", tmp_path / "out.wav")
    decoded, _ = read_wav(tmp_path / "out.wav")
    assert info.frames == -(-y.shape[1] // 1024) * 1024
    assert error_db(y, decoded[:, : y.shape[1]]) < -15


def test_second_audio_stream_is_selected_by_stream_1(tmp_path):
    first, second = make_video(tmp_path / "v.mp4", audio=((SR, 2), (22050, 1)))
    assert [a.index for a in probe(tmp_path / "v.mp4").audio] == [0, 1]
    info = decode_to_wav(tmp_path / "v.mp4", tmp_path / "out.wav", stream=1)
    decoded, _ = read_wav(tmp_path / "out.wav")
    assert (info.samplerate, info.channels, info.frames) == (22050, 1, second.shape[1])
    assert error_db(second, decoded) < -15


def test_stream_out_of_range_says_how_many_there_are(tmp_path):
    make_video(tmp_path / "v.mp4", audio=((SR, 2), (SR, 1)))
    with pytest.raises(
        AudioReadError, match=r"has 2 audio streams \(0-1\); there is no audio stream 2"
    ):
        decode_to_wav(tmp_path / "v.mp4", tmp_path / "out.wav", stream=2)
    with pytest.raises(ParameterError, match="stream"):
        decode_to_wav(tmp_path / "v.mp4", tmp_path / "out.wav", stream=-1)
    assert not (tmp_path / "out.wav").exists()


def test_video_without_audio_is_refused_clearly(tmp_path):
    make_video(tmp_path / "v.mp4", audio=())
    media = probe(tmp_path / "v.mp4")
    assert media.has_video and media.audio == ()
    with pytest.raises(AudioReadError, match=r"holds no audio stream \(video only\?\)") as caught:
        decode_to_wav(tmp_path / "v.mp4", tmp_path / "out.wav")
    assert caught.value.path == str(tmp_path / "v.mp4")
    assert not (tmp_path / "out.wav").exists()


def test_cover_art_is_not_video(tmp_path):
    path = tmp_path / "song.mp3"
    with av.open(str(path), "w") as out:
        audio = out.add_stream("libmp3lame", rate=SR)
        audio.layout = "mono"
        cover = out.add_stream("png", rate=1)
        cover.width, cover.height, cover.pix_fmt = 16, 16, "rgb24"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        picture.pts, picture.time_base = 0, Fraction(1, 1)
        out.mux(cover.encode(picture) + cover.encode(None))
        frame = av.AudioFrame.from_ndarray(tones(SR, SR, 1), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = SR, 0, Fraction(1, SR)
        out.mux(audio.encode(frame) + audio.encode(None))
    media = probe(path)
    assert media.format == "MP3" and not media.has_video
    assert decode_to_wav(path, tmp_path / "out.wav").frames == SR
    with pytest.raises(ParameterError, match="holds no video stream"):
        replace_audio(path, tmp_path / "out.wav", tmp_path / "out.mp3")


def test_decoding_onto_its_own_input_is_refused(tmp_path):
    written_m4a(tmp_path / "a.m4a", seconds=0.5)
    with pytest.raises(ParameterError, match="overwrite its own input"):
        decode_to_wav(tmp_path / "a.m4a", tmp_path / "a.m4a")
    assert probe(tmp_path / "a.m4a").audio[0].codec == "aac"


def written_m4a(path, seconds=3.0, **options):
    pyav_encode(path, "aac", tones(int(seconds * SR), SR, 2), sr=SR, layout="stereo", opts=options)
    return path.read_bytes()


def test_garbage_in_the_middle_is_corrupt_and_leaves_no_dest(tmp_path):
    data = bytearray(written_m4a(tmp_path / "ok.m4a"))
    middle = len(data) // 3
    data[middle : middle + 4000] = np.random.default_rng(0).bytes(4000)
    (tmp_path / "bad.m4a").write_bytes(bytes(data))
    with pytest.raises(AudioReadError, match=r"is corrupt or truncated after \d+\.\d s") as caught:
        decode_to_wav(tmp_path / "bad.m4a", tmp_path / "out.wav")
    message = str(caught.value)
    assert "\n" not in message and "avcodec" not in message and "Traceback" not in message
    assert not (tmp_path / "out.wav").exists()


def test_truncated_between_packets_is_caught_by_the_declared_length(tmp_path):
    # moov in front (faststart): a cut file still opens, and a cut on a packet boundary
    # decodes without any error; only the sample tables tell that packets are missing.
    data = written_m4a(tmp_path / "ok.m4a", movflags="+faststart")
    with av.open(str(tmp_path / "ok.m4a")) as container:
        positions = [p.pos for p in container.demux(container.streams.audio[0]) if p.size]
    (tmp_path / "cut.m4a").write_bytes(data[: positions[len(positions) // 2]])
    with pytest.raises(AudioReadError, match=r"truncated after 1\.\d s .*announces 3\.0 s"):
        decode_to_wav(tmp_path / "cut.m4a", tmp_path / "out.wav")
    assert not (tmp_path / "out.wav").exists()


def test_truncated_without_its_header_is_not_readable(tmp_path):
    data = written_m4a(tmp_path / "ok.m4a")  # moov at the end: cut off
    (tmp_path / "cut.m4a").write_bytes(data[: len(data) // 2])
    assert probe(tmp_path / "cut.m4a") is None
    with pytest.raises(AudioReadError, match="not a readable audio or video file"):
        decode_to_wav(tmp_path / "cut.m4a", tmp_path / "out.wav")


def test_text_file_named_m4a_is_not_media(tmp_path):
    (tmp_path / "notes.m4a").write_text("not audio at all\n" * 50)
    assert probe(tmp_path / "notes.m4a") is None
    with pytest.raises(AudioReadError, match="not a readable audio or video file") as caught:
        decode_to_wav(tmp_path / "notes.m4a", tmp_path / "out.wav")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [(None, "no such file"), ("", "empty"), ("folder", "is a folder")],
)
def test_inputs_that_are_not_files_are_named(tmp_path, make, message):
    path = tmp_path / "in.m4a"
    if make == "folder":
        path.mkdir()
    elif make is not None:
        path.write_text(make)
    with pytest.raises(AudioReadError, match=message):
        decode_to_wav(path, tmp_path / "out.wav")


def test_unwritable_dest_is_a_write_error(tmp_path):
    written_m4a(tmp_path / "ok.m4a", seconds=0.5)
    with pytest.raises(AudioWriteError) as caught:
        decode_to_wav(tmp_path / "ok.m4a", tmp_path / "missing" / "out.wav")
    assert caught.value.path == str(tmp_path / "missing" / "out.wav")


# --- encoding ------------------------------------------------------------------------------


def test_writer_refuses_what_a_format_cannot_hold(tmp_path):
    with pytest.raises(ParameterError, match="choose one of mp3, opus, m4a"):
        MediaWriter(tmp_path / "a.flac", sr=SR, channels=2)
    with pytest.raises(ParameterError, match="MP3 holds 1 or 2 channels"):
        MediaWriter(tmp_path / "a.mp3", sr=SR, channels=3)
    with pytest.raises(ParameterError, match="outside what MP3 takes"):
        MediaWriter(tmp_path / "a.mp3", sr=SR, channels=2, bitrate="500k")
    with MediaWriter(tmp_path / "a.part", format="m4a", sr=SR, channels=2) as writer:
        with pytest.raises(ParameterError, match="2 channels"):
            writer.write(np.zeros((3, 100), np.float32))
        with pytest.raises(ParameterError, match="NaN"):
            writer.write(np.full((2, 100), np.nan, np.float32))
        writer.write(np.zeros((2, 100), np.float32))
    media = probe(tmp_path / "a.part")  # the format given, not the name's
    assert media.container.startswith("mov,mp4") and media.audio[0].codec == "aac"


def test_same_input_gives_the_same_bytes(tmp_path):
    # Ogg serial numbers and Matroska UIDs are random unless the muxer is asked for bit-exact.
    y = tones(SR // 2, SR, 2)
    for name in ("a.opus", "b.opus"):
        with MediaWriter(tmp_path / name, sr=SR, channels=2) as writer:
            writer.write(y)
    assert (tmp_path / "a.opus").read_bytes() == (tmp_path / "b.opus").read_bytes()
    make_video(tmp_path / "v.mkv", seconds=1)
    decode_to_wav(tmp_path / "v.mkv", tmp_path / "stem.wav")
    for name in ("a.mkv", "b.mkv"):
        replace_audio(tmp_path / "v.mkv", tmp_path / "stem.wav", tmp_path / name)
    assert (tmp_path / "a.mkv").read_bytes() == (tmp_path / "b.mkv").read_bytes()


def test_writer_error_names_the_file(tmp_path):
    path = tmp_path / "missing" / "a.mp3"
    with pytest.raises(AudioWriteError, match="cannot write MP3") as caught:
        with MediaWriter(path, sr=SR, channels=1) as writer:
            writer.write(np.zeros((1, 4096), np.float32))
    assert caught.value.path == str(path)


# --- replacing a video's audio ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("v.mp4", {}),
        ("v.mkv", {"vcodec": "libx264"}),  # B-frames: Matroska gives the first packets no dts
        ("v.webm", {"vcodec": "libvpx", "acodec": "libopus", "audio": ((48000, 2),)}),
    ],
)
def test_replace_audio_copies_video_packets_and_puts_the_new_audio(tmp_path, name, kind):
    try:
        av.codec.Codec(kind.get("vcodec", "mpeg4"), "w")
    except av.codec.codec.UnknownCodecError:
        pytest.skip(f"this FFmpeg has no {kind['vcodec']} encoder")
    source = tmp_path / name
    make_video(source, **kind)
    original = decode_to_wav(source, tmp_path / "stem.wav")
    stem, sr = read_wav(tmp_path / "stem.wav")
    new = 0.5 * stem[::-1]  # channels swapped, quieter: unmistakably new
    sf.write(tmp_path / "new.wav", new.T, sr, subtype="FLOAT")
    out = tmp_path / f"out{source.suffix}"
    replace_audio(source, tmp_path / "new.wav", out)
    assert video_packets(out) == video_packets(source)
    media = probe(out)
    assert media.has_video and media.format == original.format
    assert media.audio[0].codec == ("opus" if name.endswith("webm") else "aac")
    info = decode_to_wav(out, tmp_path / "back.wav")
    back, _ = read_wav(tmp_path / "back.wav")
    assert (info.frames, info.channels, info.samplerate) == (original.frames, 2, sr)
    assert error_db(new, back) < -15


def test_replace_audio_replaces_the_chosen_stream_and_copies_the_other(tmp_path):
    source = tmp_path / "v.mp4"
    make_video(source, audio=((SR, 2), (SR, 1)))
    decode_to_wav(source, tmp_path / "first.wav", stream=0)
    decode_to_wav(source, tmp_path / "second.wav", stream=1)
    second, _ = read_wav(tmp_path / "second.wav")
    sf.write(tmp_path / "new.wav", -second.T, SR, subtype="FLOAT")
    replace_audio(source, tmp_path / "new.wav", tmp_path / "out.mp4", stream=1, bitrate="96k")
    with av.open(str(source)) as a, av.open(str(tmp_path / "out.mp4")) as b:
        kept = [bytes(p) for p in a.demux(a.streams.audio[0]) if p.size]
        assert [bytes(p) for p in b.demux(b.streams.audio[0]) if p.size] == kept
    decode_to_wav(tmp_path / "out.mp4", tmp_path / "back.wav", stream=1)
    back, _ = read_wav(tmp_path / "back.wav")
    assert back.shape == second.shape and error_db(-second, back) < -15


def test_replace_audio_failing_leaves_no_output(tmp_path):
    make_video(tmp_path / "v.mp4")
    sf.write(tmp_path / "new.wav", np.zeros((2 * SR, 2), np.float32), SR)
    with pytest.raises(AudioWriteError, match="cannot write MP4") as caught:
        replace_audio(tmp_path / "v.mp4", tmp_path / "new.wav", tmp_path / "missing" / "o.mp4")
    assert caught.value.path == str(tmp_path / "missing" / "o.mp4")
    # Broken samples 1.8 s in: the output has been started by then.
    broken = np.zeros((2 * SR, 2), np.float32)
    broken[round(1.8 * SR) :] = np.nan
    sf.write(tmp_path / "nan.wav", broken, SR, subtype="FLOAT")
    with pytest.raises(AudioReadError, match="NaN"):
        replace_audio(tmp_path / "v.mp4", tmp_path / "nan.wav", tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


def test_replace_audio_needs_a_video(tmp_path):
    with MediaWriter(tmp_path / "a.m4a", sr=SR, channels=1) as writer:
        writer.write(tones(SR // 2, SR, 1))
    sf.write(tmp_path / "new.wav", np.zeros(SR // 2, np.float32), SR)
    with pytest.raises(ParameterError, match="holds no video stream") as caught:
        replace_audio(tmp_path / "a.m4a", tmp_path / "new.wav", tmp_path / "out.m4a")
    assert caught.value.path == str(tmp_path / "a.m4a")
    assert not (tmp_path / "out.m4a").exists()


def test_a_lossy_inputs_bit_rate_is_the_default_of_its_lossy_outputs(tmp_path):
    from repet_cli.formats import default_bitrate
    from repet_cli.pyav_probe import lossy_bitrate

    y = 0.1 * np.sin(np.linspace(0, 2000, 44100 * 2, dtype=np.float32))[None, :]
    coded = tmp_path / "in.m4a"
    with MediaWriter(coded, format="m4a", sr=44100, channels=1, bitrate=96_000) as writer:
        writer.write(y)
    rate = lossy_bitrate(coded)
    assert rate is not None and rate % 1000 == 0 and 64_000 <= rate <= 112_000
    plain = tmp_path / "in.wav"
    sf.write(plain, y.T, 44100)
    assert lossy_bitrate(plain) is None  # lossless: the format's own default
    assert lossy_bitrate(tmp_path / "missing.mp3") is None
    assert default_bitrate("mp3", source_bitrate=None) == 192_000
    assert default_bitrate("mp3", source_bitrate=128_000) == 128_000
    assert default_bitrate("mp3", source_bitrate=448_000) == 320_000  # what LAME takes
    assert default_bitrate("m4a", source_bitrate=8_000) == 16_000
