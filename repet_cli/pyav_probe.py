"""What a media file holds, as FFmpeg (PyAV) reads its header: containers, audio streams,
codecs, lengths, bit rates; and the opening of inputs that the other ``pyav_*`` modules share.

One of the modules that talk to PyAV (:mod:`repet_cli.pyav_decode` decodes,
:mod:`repet_cli.pyav_encode` encodes, :mod:`repet_cli.pyav_remux` puts new audio under a
video). Each imports ``av`` inside its functions, so importing them costs nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import AudioReadError, ParameterError

#: FFmpeg's name of the MP4 family's demuxer.
MOV = "mov,mp4,m4a,3gp,3g2,mj2"
MATROSKA = "matroska,webm"

#: Short names of FFmpeg demuxers, for files whose extension does not name the format.
_FRIENDLY = {
    MOV: "MP4",
    MATROSKA: "MKV",
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
_MORE_EXTENSIONS = {MOV: ("m4v",), "ogg": ("opus", "oga", "ogv", "spx"), "asf": ("wma", "wmv")}


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
            has_video=bool(video_streams(container)),
            duration=None if container.duration is None else container.duration / 1_000_000,
        )


def _stream_info(index: int, stream, container) -> AudioStreamInfo:
    ctx = stream.codec_context
    return AudioStreamInfo(
        index=index,
        codec=codec_name(stream),
        samplerate=int(ctx.sample_rate) if ctx is not None else 0,
        channels=int(ctx.channels) if ctx is not None else 0,
        duration=stream_seconds(stream, container),
        bitrate=int(ctx.bit_rate) if ctx is not None and ctx.bit_rate else None,
    )


def codec_name(stream) -> str:
    """FFmpeg's name of the stream's codec ("mp3", not the decoder's "mp3float")."""
    ctx = stream.codec_context
    return "unknown" if ctx is None or ctx.codec is None else ctx.codec.canonical_name


def stream_seconds(stream, container) -> float | None:
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
    if container.format.name != MATROSKA:
        return None
    tag = next((v for k, v in stream.metadata.items() if k.upper() == "DURATION"), None)
    match = _DURATION_TAG.match(tag.strip()) if tag else None
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def video_streams(container) -> list:
    """Moving-picture streams: video streams that are not cover art."""
    import av

    return [
        s
        for s in container.streams.video
        if not (s.disposition & av.stream.Disposition.attached_pic)
    ]


def ffmpeg_reason(exc: BaseException) -> str:
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


def open_input(p: Path):
    """An FFmpeg input container on ``p``; AudioReadError when it is not media."""
    import av

    _check_input(p)
    try:
        return av.open(os.fspath(p), metadata_errors="replace")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioReadError(
            f"not a readable audio or video file ({ffmpeg_reason(exc)}); "
            "check that it is complete, or convert it to WAV or FLAC",
            path=p,
        ) from None


def refuse_same_file(source: Path, dest: Path) -> None:
    with contextlib.suppress(OSError):
        if dest.exists() and os.path.samefile(source, dest):
            raise ParameterError("the output would overwrite its own input", path=dest)


def check_stream_index(stream: int | None, name: str = "stream") -> int:
    if stream is None:
        return 0
    if isinstance(stream, bool) or not isinstance(stream, int) or stream < 0:
        raise ParameterError(f"`{name}` must be an audio stream number 0, 1, ..., got {stream!r}")
    return stream
