"""Audio in containers that libsndfile cannot read or write (M4A, MP4, MKV, WebM, MP3, Opus).

The only module that talks to PyAV (FFmpeg). It imports ``av`` inside its functions, so
importing this module costs nothing and the rest of the package works without PyAV.

Reading: :func:`probe` reads a container's header; :func:`decode_to_wav` decodes one audio
stream into a 32-bit float WAV file, block by block (memory stays bounded), keeping the
stream's sample rate and channel count exactly (no resampling, no downmix).

Writing: :class:`MediaWriter` encodes ``y[channels, samples]`` blocks as MP3 (LAME), Opus (in
Ogg) or M4A (AAC); :func:`replace_audio` copies a video file's video packets unchanged and
puts new audio beside them.

Encoder delay ("priming") and padding, as measured with the FFmpeg 8.1 that PyAV 18.1 bundles
(a source of N = 88323 samples, 2.0028 s, encoded through :class:`MediaWriter` or PyAV with
timestamps on the frames, then decoded by :func:`decode_to_wav`):

=============  =====================================================  ===================
codec in       what the container records and FFmpeg does             N -> decoded
=============  =====================================================  ===================
AAC in M4A /   an edit list skips the 1024 priming samples; FFmpeg    88323 -> 88323
MP4 / MOV      leaves the padding of the last 1024-sample frame,
               which this module trims to the edit list's length
               (this module's writer sets the movie timescale to the
               sample rate; at FFmpeg's default of 1/1000 s the edit
               list is rounded up to the next millisecond: -> 88332)
AAC without    no edit list (a file written without timestamps):      88323 -> 89347
edit list      the 1024 priming samples stay at the start; the        (N + 1024)
               tail is trimmed to the sample table's length
ALAC in M4A    lossless, no priming                                   88323 -> 88323
AAC in MKV     CodecDelay skips the priming; Matroska records no      88323 -> 89088
               end padding: up to 1023 samples of it remain           (N rounded up to
                                                                      whole 1024 frames)
MP3 (LAME)     the LAME/Xing header records delay (1105 samples)      88323 -> 88323
               and padding; FFmpeg skips both
Opus in Ogg    pre-skip (312 samples) and the last page's granule     88323 -> 88323
(.opus/.ogg)   position; FFmpeg skips both
Opus in WebM   CodecDelay (6.5 ms) and DiscardPadding; FFmpeg skips   88323 -> 88323
/ MKA          both
=============  =====================================================  ===================

Opus is always written at 48 kHz (what every Opus decoder outputs): other rates are resampled
with :class:`av.AudioResampler` (swresample), and the length scales with the rate
(44.1 kHz, 88323 samples -> 48 kHz, 96134 samples). MP3 and AAC keep the rate when the
encoder takes it, otherwise the next higher rate it takes (or its highest).

FFmpeg's MP4 demuxer also takes the priming from an iTunes ``iTunSMPB`` tag when there is no
edit list (its mov.c says so; not the tag's end padding; not tested here).
In MP4 and MOV, an audio stream that starts after 0 is written by FFmpeg without an edit for
the priming (see :func:`replace_audio`): 1024 near-silent samples come first.

Channels are written in the order given and labelled with a conventional layout for their
count (mono, stereo, 3.0, quad, 5.0, 5.1, 6.1, 7.1; libopus refuses FFmpeg's defaults for 3 and
4 channels, 2.1 and 4.0). 5.1 to 7.1 are also FFmpeg's defaults, the order it decodes such
files in; their fourth channel is the LFE, which the encoders band-limit.

Not supported: reading DRM-protected files, streams whose sample rate or channel count changes
mid-way (an error says so), and writing more than 8 channels (2 for MP3). A file cut exactly
between two packets is reported as truncated only where the container records the stream's
length (MP4 family: the sample tables; Matroska/WebM: the per-track DURATION tag FFmpeg
writes), and only when more than 0.1 s is missing; MP3 and Ogg record nothing reliable (an MP3
without a Xing header has an estimated length), so a cut one there decodes to what is left.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import AudioReadError, AudioWriteError, ParameterError, RepetError, write_error
from .io import AudioInfo, AudioReader

#: Formats :class:`MediaWriter` writes (libsndfile writes WAV, FLAC and Ogg Vorbis).
WRITABLE = ("mp3", "opus", "m4a")

#: Encoder and FFmpeg muxer of each writable format.
_ENCODERS = {"mp3": ("libmp3lame", "mp3"), "opus": ("libopus", "opus"), "m4a": ("aac", "ipod")}

#: Bit rates (bits per second) when none is asked for.
DEFAULT_BITRATES = {"mp3": 192_000, "opus": 128_000, "m4a": 192_000}

#: Bit rates (bits per second) the encoders take: LAME's CBR range, libopus's range for a
#: stereo stream, and what FFmpeg's AAC encoder gives useful results at.
BITRATE_RANGES = {"mp3": (8_000, 320_000), "opus": (6_000, 510_000), "m4a": (16_000, 512_000)}

#: Most channels each format holds.
MAX_CHANNELS = {"mp3": 2, "opus": 8, "m4a": 8}

#: The channel layout a count of channels is labelled with (channels are written in order).
_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}

#: Opus decoders output 48 kHz whatever the encoder ran at.
OPUS_RATE = 48_000

#: FFmpeg's name of the MP4 family's demuxer.
_MOV = "mov,mp4,m4a,3gp,3g2,mj2"
_MATROSKA = "matroska,webm"

#: Short names of FFmpeg demuxers, for files whose extension does not name the format.
_FRIENDLY = {
    _MOV: "MP4",
    _MATROSKA: "MKV",
    "mp3": "MP3",
    "ogg": "OGG",
    "aac": "AAC",
    "asf": "WMA",
    "mpegts": "TS",
    "flv": "FLV",
    "avi": "AVI",
    "wav": "WAV",
    "flac": "FLAC",
}

#: Extensions FFmpeg's demuxer does not list but that are the same format.
_MORE_EXTENSIONS = {_MOV: ("m4v",), "ogg": ("opus", "oga", "ogv", "spx"), "asf": ("wma", "wmv")}


#: Samples per channel collected before a write to the WAV file.
_WAV_BLOCK = 2**16
#: Samples per channel in one frame handed to an encoder.
_ENCODE_BLOCK = 2**14
#: Missing audio (seconds) below which a short stream is not called truncated.
_TRUNCATION_TOLERANCE = 0.1
#: A WAV file's data chunk holds at most 4 GiB; longer outputs are written as RF64.
_WAV_LIMIT = 2**32 - 2**20
#: How far (seconds) the new audio runs ahead of the copied packets in :func:`replace_audio`.
_AUDIO_LEAD = 1.0


@dataclass(frozen=True)
class AudioStreamInfo:
    """One audio stream of a media file, as its header describes it."""

    index: int  # among the file's audio streams, 0-based (what ``stream=`` selects)
    codec: str  # FFmpeg's codec name, e.g. "aac", "mp3", "opus", "alac"
    samplerate: int
    channels: int
    duration: float | None  # seconds, when the header says
    bitrate: int | None  # bits per second, when the header says


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` found in a media file's header."""

    container: str  # FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    format: str  # short name, e.g. "M4A", "MP4", "MKV", "WEBM", "MP3"
    audio: tuple[AudioStreamInfo, ...]
    has_video: bool  # a moving-picture stream (cover art does not count)
    duration: float | None  # seconds, when the header says


#: FFmpeg's names of lossy audio codecs: an input in one of these has a bit rate worth keeping.
LOSSY_CODECS = frozenset(
    ("mp1", "mp2", "mp3", "aac", "opus", "vorbis", "wmav1", "wmav2", "ac3", "eac3", "amr_nb")
    + ("amr_wb", "speex", "gsm", "dts")
)


def lossy_bitrate(path: str | os.PathLike, *, stream: int | None = None) -> int | None:
    """The bit rate of a lossy input's audio stream ``stream`` (default the first), in bits
    per second rounded to a kilobit; None when the input is lossless, not media, or does not
    say (an audio-only file's average is then its size over its length).

    A lossy output of a lossy input is best at the input's rate: more only adds bytes (the
    input lost that detail already), less loses more.
    """
    found = probe(path)
    index = stream or 0
    if found is None or index >= len(found.audio) or found.audio[index].codec not in LOSSY_CODECS:
        return None
    audio = found.audio[index]
    rate = audio.bitrate
    seconds = audio.duration or found.duration
    if not rate and seconds and not found.has_video and len(found.audio) == 1:
        rate = os.path.getsize(path) * 8 / seconds
    return round(rate / 1000) * 1000 if rate else None


def default_bitrate(fmt: str, *, source_bitrate: int | None = None) -> int:
    """The bit rate of a ``fmt`` output when none is asked for: the input's where it is lossy
    (``source_bitrate``), within what the encoder takes; else :data:`DEFAULT_BITRATES`."""
    if source_bitrate is None:
        return DEFAULT_BITRATES[fmt]
    low, high = BITRATE_RANGES[fmt]
    return min(max(source_bitrate, low), high)


def parse_bitrate(text: str | int) -> int:
    """Bits per second from ``"192k"``, ``"320K"``, ``"192000"`` or an int.

    Raises
    ------
    ParameterError
        Not a positive number, with or without ``k``; or below 1000 (bits, not kilobits).
    """
    if isinstance(text, bool):
        raise ParameterError(f"`bitrate` must be bits per second such as 192k, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kK]?)\s*", str(text))
        if match is None:
            raise ParameterError(
                f"`bitrate` must be bits per second such as 192k or 192000, got {text!r}"
            )
        number, kilo = match.groups()
        value = round(float(number) * (1000 if kilo else 1))
    if value <= 0:
        raise ParameterError(f"`bitrate` must be positive, such as 192k, got {text!r}")
    if value < 1000:
        raise ParameterError(
            f"`bitrate` {text!r} is in bits per second, too low for audio: did you mean {value}k?"
        )
    return value


def friendly_name(container: str, extensions: frozenset[str] | set[str], suffix: str) -> str:
    """A short format name: the file's extension if it names the format, else the format's.

    Parameters
    ----------
    container : str
        FFmpeg's demuxer name, e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"``.
    extensions : set of str
        Extensions the demuxer lists (without dots).
    suffix : str
        The file's suffix, e.g. ``".m4a"``.
    """
    ext = suffix.lower().lstrip(".")
    if ext and (ext in extensions or ext in _MORE_EXTENSIONS.get(container, ())):
        return ext.upper()
    return _FRIENDLY.get(container, container.split(",")[0].upper())


def probe(path: str | os.PathLike) -> MediaInfo | None:
    """What a media file's header says, or None when FFmpeg cannot open it.

    Reads the container header (and, where the header is not enough, FFmpeg's short look at
    the first packets); decodes nothing.
    """
    import av

    try:
        container = av.open(os.fspath(path), metadata_errors="replace")
    except Exception:  # not there, not media, not readable: the job that decodes it says why
        return None
    with container:
        return MediaInfo(
            container=container.format.name,
            format=friendly_name(
                container.format.name, container.format.extensions, Path(path).suffix
            ),
            audio=tuple(
                _stream_info(i, s, container) for i, s in enumerate(container.streams.audio)
            ),
            has_video=bool(_video_streams(container)),
            duration=None if container.duration is None else container.duration / 1_000_000,
        )


def _stream_info(index: int, stream, container) -> AudioStreamInfo:
    ctx = stream.codec_context
    return AudioStreamInfo(
        index=index,
        codec=_codec_name(stream),
        samplerate=int(ctx.sample_rate) if ctx is not None else 0,
        channels=int(ctx.channels) if ctx is not None else 0,
        duration=_stream_seconds(stream, container),
        bitrate=int(ctx.bit_rate) if ctx is not None and ctx.bit_rate else None,
    )


def _codec_name(stream) -> str:
    """FFmpeg's name of the stream's codec ("mp3", not the decoder's "mp3float")."""
    ctx = stream.codec_context
    return "unknown" if ctx is None or ctx.codec is None else ctx.codec.canonical_name


def _stream_seconds(stream, container) -> float | None:
    """The stream's length in seconds as the container records it, or None."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    end = _matroska_duration(stream, container)
    if end is None:
        return None
    start = stream.start_time * stream.time_base if stream.start_time and stream.time_base else 0
    return end - float(start)


_DURATION_TAG = re.compile(r"^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")


def _matroska_duration(stream, container) -> float | None:
    """A Matroska track's DURATION tag ("HH:MM:SS.nnnnnnnnn", where its last block ends) in
    seconds, or None."""
    if container.format.name != _MATROSKA:
        return None
    tag = next((v for k, v in stream.metadata.items() if k.upper() == "DURATION"), None)
    match = _DURATION_TAG.match(tag.strip()) if tag else None
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _video_streams(container) -> list:
    """Moving-picture streams: video streams that are not cover art."""
    import av

    return [
        s
        for s in container.streams.video
        if not (s.disposition & av.stream.Disposition.attached_pic)
    ]


def _reason(exc: BaseException) -> str:
    """FFmpeg's one-line reason for an error, without the function names PyAV appends."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(reason).split())


def _check_input(p: Path) -> None:
    """What can be said about an input before FFmpeg opens it."""
    if not p.exists():
        raise AudioReadError("no such file", path=p)
    if p.is_dir():
        raise AudioReadError("is a folder, not a media file", path=p)
    if not os.access(p, os.R_OK):
        raise AudioReadError("permission denied: the file is not readable", path=p)
    if p.stat().st_size == 0:
        raise AudioReadError("the file is empty (0 bytes): not a media file", path=p)


def _open_input(p: Path):
    """An FFmpeg input container on ``p``; AudioReadError when it is not media."""
    import av

    _check_input(p)
    try:
        return av.open(os.fspath(p), metadata_errors="replace")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioReadError(
            f"not a readable audio or video file ({_reason(exc)}); "
            "check that it is complete, or convert it to WAV or FLAC",
            path=p,
        ) from None


def _refuse_same_file(source: Path, dest: Path) -> None:
    with contextlib.suppress(OSError):
        if dest.exists() and os.path.samefile(source, dest):
            raise ParameterError("the output would overwrite its own input", path=dest)


def _check_stream_index(stream: int | None, name: str = "stream") -> int:
    if stream is None:
        return 0
    if isinstance(stream, bool) or not isinstance(stream, int) or stream < 0:
        raise ParameterError(f"`{name}` must be an audio stream number 0, 1, ..., got {stream!r}")
    return stream


def _select_audio(container, stream: int, p: Path):
    streams = container.streams.audio
    if not streams:
        raise AudioReadError("holds no audio stream (video only?)", path=p)
    if stream >= len(streams):
        count = len(streams)
        numbers = "0" if count == 1 else f"0-{count - 1}"
        plural = "stream" if count == 1 else "streams"
        raise AudioReadError(
            f"has {count} audio {plural} ({numbers}); there is no audio stream {stream}", path=p
        )
    return streams[stream]


def _needs_conversion(frame) -> bool:
    """Whether a frame must go through swresample before numpy can read it.

    PyAV 18 reads planes past the end of a planar frame of 8 or more channels (it crashes);
    numpy cannot hold s64 samples.
    """
    name = frame.format.name.rstrip("p")
    planar_8 = frame.format.is_planar and frame.layout.nb_channels >= 8
    return planar_8 or name not in ("u8", "s16", "s32", "flt", "dbl")


def _frame_array(frame) -> np.ndarray:
    """A decoded frame's samples as ``y[channels, samples]`` float32, integers scaled to
    [-1, 1) exactly as libsndfile scales them (x / 2**(bits - 1)). The frame is one numpy
    can read (see :func:`_needs_conversion`)."""
    channels = frame.layout.nb_channels
    name = frame.format.name.rstrip("p")
    data = frame.to_ndarray()
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T
    if name == "flt":
        return np.ascontiguousarray(data)
    if name == "dbl":
        return data.astype(np.float32)
    y = data.astype(np.float32)
    if name == "u8":
        y -= np.float32(128)
        y *= np.float32(1 / 128)
    else:
        y *= np.float32(2.0 ** -(8 * data.dtype.itemsize - 1))
    return y


def _declared_frames(container, stream, sr: int) -> int | None:
    """The stream's length in samples where the container records it exactly, or None.

    MP4 family: the edit list's (or sample tables') length; Matroska: the DURATION tag.
    MP3 and Ogg are left out: their lengths may be estimates or come from the last page read.
    """
    if container.format.name not in (_MOV, _MATROSKA):
        return None
    seconds = _stream_seconds(stream, container)
    return None if not seconds or seconds <= 0 else round(seconds * sr)


def decode_to_wav(
    path: str | os.PathLike, dest: str | os.PathLike, *, stream: int | None = None
) -> AudioInfo:
    """Decode one audio stream of a media file into a 32-bit float WAV file.

    The stream keeps its sample rate and channel count; integer samples are scaled to
    [-1, 1) as libsndfile does. Encoder priming and padding are removed where the container
    records them (see the module's table). Memory stays bounded: samples are written a block
    at a time. An output longer than 4 GiB is written as RF64.

    Parameters
    ----------
    path : str or os.PathLike
        Any file FFmpeg reads (M4A, MP4, MOV, MKV, WebM, MP3, Opus, ...).
    dest : str or os.PathLike
        The WAV file to write (the caller picks it, e.g. a temporary file); replaced if it
        exists. On any error it is removed.
    stream : int, optional
        Which audio stream, counted among the audio streams from 0; the first by default.

    Returns
    -------
    AudioInfo
        Sample rate, channels and frames written; ``format`` the container's short name
        (e.g. ``"M4A"``), ``subtype`` the codec in upper case (e.g. ``"AAC"``).

    Raises
    ------
    AudioReadError
        Missing, not a media file, no audio stream, no such stream, corrupt or truncated,
        no samples, samples not finite, or a stream whose rate or channels change.
    AudioWriteError
        ``dest`` cannot be written.
    ParameterError
        ``stream`` is not a non-negative int.
    """
    p, out = Path(path), Path(dest)
    index = _check_stream_index(stream)
    _refuse_same_file(p, out)
    container = _open_input(p)
    with container:
        audio = _select_audio(container, index, p)
        ctx = audio.codec_context
        if ctx is None or ctx.codec is None or not ctx.codec.is_decoder:
            raise AudioReadError(
                f"its audio codec ({_codec_name(audio)}) cannot be decoded by this FFmpeg; "
                "convert the file to WAV or FLAC with another tool",
                path=p,
            )
        fmt = friendly_name(container.format.name, container.format.extensions, p.suffix)
        codec = _codec_name(audio).upper()
        decoder = _Decoder(container, audio, p)
        sink = _WavSink(out)
        try:
            for y in decoder.blocks():
                if sink.file is None:
                    sink.open(
                        sr=decoder.samplerate,
                        channels=decoder.channels,
                        expected=decoder.declared or _expected_frames(container, decoder),
                    )
                sink.write(y)
            if sink.file is None:
                raise AudioReadError("the audio stream holds no samples", path=p)
            sink.close()
        except BaseException:
            sink.discard()
            raise
    return AudioInfo(
        samplerate=decoder.samplerate,
        channels=decoder.channels,
        frames=decoder.frames,
        format=fmt,
        subtype=codec,
    )


def _expected_frames(container, decoder) -> int | None:
    if container.duration is None:
        return None
    return round(container.duration / 1_000_000 * decoder.samplerate)


class _Decoder:
    """One audio stream decoded into ``y[channels, samples]`` float32 blocks.

    Checks as it goes: decode errors, changes of rate or channels, non-finite samples; at the
    end, a stream shorter than the container says (truncated). Trims an MP4 stream's tail to
    the length its edit list declares.
    """

    def __init__(self, container, stream, path: Path):
        self.container, self.stream, self.path = container, stream, path
        self.samplerate = 0
        self.channels = 0
        self.frames = 0  # samples per channel given out so far
        self.declared: int | None = None
        self._converter = None

    def blocks(self) -> Iterator[np.ndarray]:
        import av

        pending: list[np.ndarray] = []
        count = 0
        try:
            for packet in self.container.demux(self.stream):
                for frame in self.stream.decode(packet):
                    y = self._check(frame)
                    if y is None:
                        continue
                    pending.append(y)
                    count += y.shape[1]
                    if count >= _WAV_BLOCK:
                        yield np.concatenate(pending, axis=1)
                        pending, count = [], 0
        except RepetError:
            raise
        except (av.FFmpegError, OSError, ValueError) as exc:
            seconds = self.frames / self.samplerate if self.samplerate else 0.0
            raise AudioReadError(
                f"is corrupt or truncated after {seconds:.1f} s ({_reason(exc)}); "
                "fetch or copy it again, or re-encode it",
                path=self.path,
            ) from None
        if pending:
            yield np.concatenate(pending, axis=1)
        self._check_complete()

    def _samples(self, frame) -> np.ndarray:
        """``y[channels, samples]`` of a frame, through swresample (to packed float, same
        rate and layout: no delay) where numpy cannot read it directly."""
        import av

        if not _needs_conversion(frame):
            return _frame_array(frame)
        if self._converter is None:
            self._converter = av.AudioResampler(
                format="flt", layout=frame.layout, rate=frame.sample_rate
            )
        converted = [_frame_array(f) for f in self._converter.resample(frame)]
        return np.concatenate(converted, axis=1) if converted else np.zeros((0, 0), np.float32)

    def _check(self, frame) -> np.ndarray | None:
        """The frame's samples after the checks, trimmed to the declared length."""
        y = self._samples(frame)
        if y.shape[1] == 0:
            return None
        rate = int(frame.sample_rate)
        if not self.samplerate:
            self.samplerate, self.channels = rate, y.shape[0]
            self.declared = _declared_frames(self.container, self.stream, rate)
            self._trim = self.container.format.name == _MOV and self.declared is not None
        elif (rate, y.shape[0]) != (self.samplerate, self.channels):
            raise AudioReadError(
                f"the audio stream changes from {self.channels} channels at {self.samplerate} "
                f"Hz to {y.shape[0]} at {rate} Hz after {self.frames / self.samplerate:.1f} s; "
                "split the file there, or convert it to WAV with one rate and channel count",
                path=self.path,
            )
        if self._trim:
            y = y[:, : max(self.declared - self.frames, 0)]
            if y.shape[1] == 0:
                return None
        if not np.isfinite(y).all():
            raise AudioReadError(
                "decodes to NaN or infinite samples after "
                f"{self.frames / self.samplerate:.1f} s: the file is corrupt; re-encode it",
                path=self.path,
            )
        self.frames += y.shape[1]
        return y

    def _check_complete(self) -> None:
        if not self.declared or not self.samplerate:
            return
        missing = self.declared - self.frames
        if missing > _TRUNCATION_TOLERANCE * self.samplerate:
            raise AudioReadError(
                f"is corrupt or truncated after {self.frames / self.samplerate:.1f} s (its "
                f"header announces {self.declared / self.samplerate:.1f} s; an interrupted "
                "download or copy?); fetch or copy it again",
                path=self.path,
            )


class _WavSink:
    """A 32-bit float WAV (or RF64) file written block by block; removed by :meth:`discard`."""

    def __init__(self, path: Path):
        self.path = path
        self.file = None
        self.started = False

    def open(self, *, sr: int, channels: int, expected: int | None) -> None:
        import soundfile as sf

        big = expected is not None and expected * channels * 4 > _WAV_LIMIT
        self.started = True
        with self._errors():
            self.file = sf.SoundFile(
                self.path,
                "w",
                samplerate=sr,
                channels=channels,
                subtype="FLOAT",
                format="RF64" if big else "WAV",
            )

    def write(self, y: np.ndarray) -> None:
        with self._errors():
            self.file.write(y.T)

    def close(self) -> None:
        with self._errors():
            self.file.close()

    def discard(self) -> None:
        """Close and remove the file (a file that was there before writing began is kept)."""
        if self.file is not None:
            with contextlib.suppress(Exception):
                self.file.close()
        if self.started:
            with contextlib.suppress(OSError):
                self.path.unlink()

    @contextlib.contextmanager
    def _errors(self):
        import soundfile as sf

        try:
            yield
        except sf.LibsndfileError as exc:
            raise AudioWriteError(f"cannot write ({exc.error_string})", path=self.path) from None
        except OSError as exc:
            raise write_error(exc, path=self.path) from None


# --- encoding ---------------------------------------------------------------------------


def _writable_format(format: str | None, path: Path) -> str:
    chosen = (format or path.suffix.lstrip(".")).lower()
    if chosen not in WRITABLE:
        given = format if format is not None else path.name
        raise ParameterError(
            f"cannot write {given!r} with FFmpeg: choose one of {', '.join(WRITABLE)} "
            "(WAV, FLAC and Ogg Vorbis are written by libsndfile)"
        )
    return chosen


def _check_bitrate(bitrate: int | str | None, fmt: str) -> int:
    if bitrate is None:
        return DEFAULT_BITRATES[fmt]
    value = parse_bitrate(bitrate)
    low, high = BITRATE_RANGES[fmt]
    if not low <= value <= high:
        raise ParameterError(
            f"`bitrate` {value // 1000}k is outside what {fmt.upper()} takes "
            f"({low // 1000}k-{high // 1000}k)"
        )
    return value


def _check_channels(channels: int, fmt: str) -> None:
    most = MAX_CHANNELS[fmt]
    if isinstance(channels, bool) or not isinstance(channels, int) or not 1 <= channels <= most:
        raise ParameterError(
            f"{fmt.upper()} holds 1 {'or' if most == 2 else 'to'} {most} channels, got {channels!r}"
            + ("; write WAV or FLAC instead" if isinstance(channels, int) else "")
        )


def encoder_rate(rates: tuple[int, ...] | list[int] | None, sr: int) -> int:
    """The rate an encoder runs at for input at ``sr``: ``sr`` if it takes it, else the next
    higher rate it takes, else its highest. ``rates`` None means any rate."""
    if not rates or sr in rates:
        return sr
    higher = [r for r in rates if r > sr]
    return min(higher) if higher else max(rates)


def _open_output(path: Path, muxer: str, options: dict[str, str]):
    """An FFmpeg output container; bit-exact, so the same input gives the same bytes (Ogg's
    serial numbers and Matroska's UIDs are otherwise random)."""
    import av

    container = av.open(os.fspath(path), "w", format=muxer, container_options=options)
    container.flags |= av.container.Flags.bitexact.value  # a Flag, not an IntFlag
    return container


class _Encoder:
    """An audio stream of an output container fed ``y[channels, samples]`` float32 blocks.

    Frames carry timestamps counted in samples: without them FFmpeg's MP4 muxer writes no
    edit list and the AAC priming is played. Rates the encoder does not take are resampled
    (swresample) to :func:`encoder_rate`'s choice, Opus always to 48 kHz.
    """

    def __init__(self, container, *, codec: str, sr: int, channels: int, bitrate: int, start=0):
        import av

        self.sr, self.channels = sr, channels
        self.rate = _encoder_rate(codec, sr)
        self.layout = _LAYOUTS[channels]
        self.stream = container.add_stream(codec, rate=self.rate)
        self.stream.layout = self.layout
        self.stream.bit_rate = bitrate
        self._time_base = Fraction(1, self.rate)
        self._resampler = (
            None
            if self.rate == sr
            else av.AudioResampler(format="flt", layout=self.layout, rate=self.rate)
        )
        self._pts = start

    def encode(self, y: np.ndarray) -> list:
        """Packets for one block ``y[channels, samples]``."""
        import av

        packets = []
        for start in range(0, y.shape[1], _ENCODE_BLOCK):
            block = y[:, start : start + _ENCODE_BLOCK]
            # Packed float: PyAV 18 mishandles planar frames of 8 channels.
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(block.T, dtype=np.float32).reshape(1, -1),
                format="flt",
                layout=self.layout,
            )
            frame.sample_rate = self.sr
            frames = [frame] if self._resampler is None else self._resampler.resample(frame)
            packets += self._encode_frames(frames)
        return packets

    def flush(self) -> list:
        """The last packets: what the resampler and the encoder hold back."""
        packets = []
        if self._resampler is not None:
            packets += self._encode_frames(self._resampler.resample(None))
        return packets + self.stream.encode(None)

    def _encode_frames(self, frames) -> list:
        packets = []
        for frame in frames:
            frame.pts = self._pts
            frame.time_base = self._time_base
            self._pts += frame.samples
            packets += self.stream.encode(frame)
        return packets


def _as_blocks(y: np.ndarray, channels: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 1:
        y = y[np.newaxis, :]
    if y.ndim != 2 or y.shape[0] != channels:
        raise ParameterError(
            f"`y` must be shaped (channels, samples) with {channels} channels, got {y.shape}"
        )
    if not np.isfinite(y).all():
        raise ParameterError("`y` holds NaN or infinite samples; they cannot be encoded")
    return y


class MediaWriter:
    """An MP3, Opus or M4A file written a block of ``y[channels, samples]`` at a time.

    Writes to exactly ``path`` (the caller handles temporary names and renames). Use as a
    context manager: leaving the block normally flushes the encoder and finishes the file;
    leaving it by an exception closes the file as it is (the caller removes it).

    Parameters
    ----------
    path : str or os.PathLike
        Destination; its folder must exist.
    sr : int
        Sample rate of the blocks in Hz. Opus is written at 48 kHz (other rates are
        resampled); MP3 and AAC keep it where the encoder takes it (see :func:`encoder_rate`).
    channels : int
        Channels of every block: 1-2 for MP3, 1-8 for Opus and M4A.
    format : str, optional
        One of :data:`WRITABLE`; by default the extension of ``path``.
    bitrate : int or str, optional
        Bits per second, e.g. ``192000`` or ``"192k"``; :data:`DEFAULT_BITRATES` by default.

    Raises
    ------
    ParameterError
        An unknown format, a bit rate or channel count the format cannot take.
    AudioWriteError
        The file cannot be written or the encoder fails; names the file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        sr: int,
        channels: int,
        format: str | None = None,
        bitrate: int | str | None = None,
    ):

        self.path = Path(path)
        self.format = _writable_format(format, self.path)
        self.bitrate = _check_bitrate(bitrate, self.format)
        _check_channels(channels, self.format)
        if isinstance(sr, bool) or not isinstance(sr, int) or sr <= 0:
            raise ParameterError(f"`sr` must be a positive number of Hz, got {sr!r}")
        codec, muxer = _ENCODERS[self.format]
        self._container = None
        with self._errors():
            rate = _encoder_rate(codec, sr)
            options = {"movie_timescale": str(rate)} if self.format == "m4a" else {}
            self._container = _open_output(self.path, muxer, options)
            self._encoder = _Encoder(
                self._container, codec=codec, sr=sr, channels=channels, bitrate=self.bitrate
            )
        self.samplerate = self._encoder.rate  # of the file written
        self.channels = channels

    def write(self, y: np.ndarray) -> None:
        """Append ``y[channels, samples]`` (or ``y[samples]`` for mono)."""
        if self._container is None:
            raise AudioWriteError("cannot write: the file is closed already", path=self.path)
        y = _as_blocks(y, self.channels)
        with self._errors():
            self._container.mux(self._encoder.encode(y))

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        if self._container is None:
            return
        with self._errors():
            self._container.mux(self._encoder.flush())
            self._container.start_encoding()  # a header even when nothing was written
            container, self._container = self._container, None
            container.close()

    def abort(self) -> None:
        """Close the file without flushing the encoder (the caller removes it)."""
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(Exception):
                container.close()

    @contextlib.contextmanager
    def _errors(self):
        import av

        try:
            yield
        except RepetError:
            self.abort()
            raise
        except (av.FFmpegError, OSError, ValueError) as exc:
            self.abort()
            raise AudioWriteError(
                f"cannot write {self.format.upper()} ({_reason(exc)})", path=self.path
            ) from None

    def __enter__(self) -> MediaWriter:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


# --- video ------------------------------------------------------------------------------

#: Container and stream tags that describe the old file, not the new one.
_STALE_TAGS = ("DURATION", "ENCODER", "MAJOR_BRAND", "MINOR_VERSION", "COMPATIBLE_BRANDS")


def replace_audio(
    video_in: str | os.PathLike,
    audio: str | os.PathLike,
    out: str | os.PathLike,
    *,
    bitrate: int | str | None = None,
    stream: int | None = None,
) -> None:
    """Write ``out``: ``video_in`` with one audio stream replaced by the audio file ``audio``.

    Video streams are copied packet for packet (no re-encoding; cover art is left out); the
    replaced audio stream is re-encoded from ``audio`` (AAC for MP4, M4V, MOV and MKV, Opus
    for WebM), starts where the original started and keeps its tags (language); other audio
    streams are copied unchanged. Subtitle, data and attachment streams are not copied. The
    output has the input's container format whatever ``out`` is called. The new audio is as
    long as ``audio`` (a stem of this file's audio, decoded by :func:`decode_to_wav`, has the
    original's length); in MP4 and MOV the edit list records it to the sample.

    One FFmpeg limitation: in MP4 and MOV an audio stream that starts after 0 gets no edit
    list entry for the AAC priming (FFmpeg's muxer writes one only for negative timestamps),
    so the new stream's 1024 priming samples (near-silence, 23 ms at 44.1 kHz) play just
    before its start: the audio stays in sync with the picture, and decodes 1024 samples
    longer than ``audio``. (Measured: original starting at 0.476 s, 45124 samples -> 46148.)

    Parameters
    ----------
    video_in : str or os.PathLike
        An MP4, M4V, MOV, MKV or WebM file with at least one video stream.
    audio : str or os.PathLike
        A WAV (or any other libsndfile-readable) file with the new audio.
    out : str or os.PathLike
        Destination, written directly (the caller handles temporary names and renames).
    bitrate : int or str, optional
        Bits per second of the new audio, e.g. ``"192k"``; 192k AAC or 128k Opus by default.
    stream : int, optional
        Which audio stream of ``video_in`` is replaced, counted from 0; the first by default.
        A video without audio gets the new audio as its only audio stream.

    On any error, what was written of ``out`` is removed.

    Raises
    ------
    AudioReadError
        ``video_in`` or ``audio`` cannot be read (missing, not media, corrupt).
    ParameterError
        ``video_in`` has no video stream, is in a container this cannot write, or has no
        audio stream ``stream``; a bad bit rate; more channels than the codec holds.
    AudioWriteError
        ``out`` cannot be written; names it.
    """

    src, dest = Path(video_in), Path(out)
    index = _check_stream_index(stream)
    _refuse_same_file(src, dest)
    container = _open_input(src)
    with container, AudioReader(audio) as reader:
        muxer, codec, videos, replaced = _plan_replace(container, src, index)
        fmt = "opus" if codec == "libopus" else "m4a"
        rate = _check_bitrate(bitrate, fmt)
        info = reader.info
        _check_channels(info.channels, fmt)
        copied = [s for s in container.streams if s in videos or s.type == "audio"]
        copied = [s for s in copied if s is not replaced]
        before = _signature(dest)
        output = None
        try:
            with _write_errors(dest, fmt=muxer.upper()):
                sr = _encoder_rate(codec, info.samplerate)
                options = {"movie_timescale": str(sr)} if muxer in ("mp4", "mov") else {}
                output = _open_output(dest, muxer, options)
                output.metadata.update(_fresh_tags(container.metadata))
                targets, encoder = {}, None
                for s in container.streams:  # the input's order
                    if s is replaced:
                        start = _start_samples(s, sr)
                        encoder = _add_encoder(output, codec, info, rate, start=start)
                        encoder.stream.metadata.update(_fresh_tags(s.metadata))
                    elif s in copied:
                        target = output.add_stream_from_template(s, opaque=True)
                        target.metadata.update(_fresh_tags(s.metadata))
                        targets[s.index] = target
                if encoder is None:
                    encoder = _add_encoder(output, codec, info, rate, start=0)
            feed = _Feed(reader, encoder)
            seconds = 0.0
            for packet in _demux(container, copied, src):
                if not packet.size:  # the demuxer's end-of-stream markers
                    continue
                # Matroska gives the first packets of a stream with B-frames no dts.
                time = packet.dts if packet.dts is not None else packet.pts
                if time is not None and packet.time_base:
                    seconds = max(seconds, float(time * packet.time_base))
                with _write_errors(dest, fmt=muxer.upper()):
                    output.mux(feed.until(seconds + _AUDIO_LEAD))
                    packet.stream = targets[packet.stream.index]
                    output.mux(packet)
            with _write_errors(dest, fmt=muxer.upper()):
                output.mux(feed.until(math.inf))
                output.mux(encoder.flush())
                finished, output = output, None
                finished.close()
        except BaseException:
            if output is not None:
                with contextlib.suppress(Exception):
                    output.close()
            after = _signature(dest)
            if after is not None and after != before:  # what this call wrote, not a bystander
                with contextlib.suppress(OSError):
                    dest.unlink()
            raise


def _signature(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, modification time) of a file, or None when there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _plan_replace(container, src: Path, index: int):
    """(muxer, audio encoder, video streams, audio stream replaced or None) for a video."""
    name = friendly_name(container.format.name, container.format.extensions, src.suffix)
    videos = _video_streams(container)
    if not videos:
        raise ParameterError(
            "holds no video stream, so there is no picture to put the audio under",
            path=src,
        )
    if container.format.name == _MOV:  # MOV stays MOV; MP4, M4V, 3GP, ... are written as MP4
        muxer, codec = ("mov" if name == "MOV" else "mp4"), "aac"
    elif container.format.name == _MATROSKA:
        muxer, codec = ("webm", "libopus") if name == "WEBM" else ("matroska", "aac")
    else:
        raise ParameterError(
            f"the audio of a video in {name} format cannot be replaced, only in MP4, MOV, MKV "
            "and WebM; convert the video to MP4 or MKV first",
            path=src,
        )
    originals = container.streams.audio
    if index and index >= len(originals):
        count = len(originals)
        raise ParameterError(
            f"has {count} audio stream{'' if count == 1 else 's'}; "
            f"there is no audio stream {index} to replace",
            path=src,
        )
    return muxer, codec, videos, (originals[index] if originals else None)


def _encoder_rate(codec: str, sr: int) -> int:
    import av

    if codec == "libopus":
        return OPUS_RATE
    return encoder_rate(av.codec.Codec(codec, "w").audio_rates, sr)


def _add_encoder(output, codec: str, info: AudioInfo, bitrate: int, *, start: int) -> _Encoder:
    return _Encoder(
        output,
        codec=codec,
        sr=info.samplerate,
        channels=info.channels,
        bitrate=bitrate,
        start=start,
    )


def _start_samples(stream, sr: int) -> int:
    """Where a stream starts, in samples at ``sr`` (0 when the container does not say)."""
    if stream.start_time is None or not stream.time_base:
        return 0
    return round(stream.start_time * stream.time_base * sr)


def _fresh_tags(tags) -> dict[str, str]:
    """Tags without those that describe the old file (its length, its muxer, its brands)."""
    return {k: v for k, v in tags.items() if k.upper() not in _STALE_TAGS}


class _Feed:
    """Samples of an :class:`~repet_cli.io.AudioReader` encoded up to a point in time."""

    def __init__(self, reader: AudioReader, encoder: _Encoder):
        self.reader, self.encoder = reader, encoder
        self.position = 0

    def until(self, seconds: float) -> list:
        """Packets for the samples before ``seconds`` not yet encoded."""
        info = self.reader.info
        stop = (
            info.frames
            if math.isinf(seconds)
            else min(info.frames, round(seconds * info.samplerate))
        )
        packets = []
        while self.position < stop:
            end = min(self.position + _WAV_BLOCK, stop)
            packets += self.encoder.encode(self.reader.read(self.position, end))
            self.position = end
        return packets


def _demux(container, streams, path: Path) -> Iterator:
    """``container.demux(streams)`` with FFmpeg's errors as AudioReadError about ``path``."""
    import av

    packets = container.demux(streams)
    seconds = 0.0
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise AudioReadError(
                f"is corrupt or truncated after {seconds:.1f} s ({_reason(exc)}); "
                "fetch or copy it again",
                path=path,
            ) from None
        time = packet.dts if packet.dts is not None else packet.pts
        if time is not None and packet.time_base:
            seconds = max(seconds, float(time * packet.time_base))
        yield packet


@contextlib.contextmanager
def _write_errors(path: Path, *, fmt: str):
    import av

    try:
        yield
    except RepetError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioWriteError(f"cannot write {fmt} ({_reason(exc)})", path=path) from None
