"""A video's sound replaced: the picture copied packet for packet, new audio encoded beside it.

:func:`replace_audio` writes a video file with one audio stream replaced (AAC in MP4, MOV and
MKV, Opus in WebM); one of the modules that talk to PyAV, importing ``av`` inside its
functions.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import AudioReadError, AudioWriteError, ParameterError, RepetError
from .formats import AudioInfo, check_bitrate, check_channels
from .io import AudioReader
from .pyav_encode import Encoder, open_output, rate_for
from .pyav_probe import (
    MATROSKA,
    MOV,
    check_stream_index,
    ffmpeg_reason,
    friendly_name,
    open_input,
    refuse_same_file,
    video_streams,
)

#: Samples per channel read from the new audio and encoded at a time.
_FEED_BLOCK = 2**16
#: How far (seconds) the new audio runs ahead of the copied packets in :func:`replace_audio`.
_AUDIO_LEAD = 1.0
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
    long as ``audio`` (a stem of this file's audio, decoded by
    :func:`~repet_cli.pyav_decode.decode_to_wav`, has the original's length); in MP4 and MOV
    the edit list records it to the sample.

    One FFmpeg limitation: in MP4 and MOV an audio stream that starts after 0 gets no edit
    list entry for the AAC priming (FFmpeg's muxer writes one only for negative timestamps),
    so the new stream's 1024 priming samples (near-silence, 23 ms at 44.1 kHz) play just
    before its start: the audio stays in sync with the picture, and decodes 1024 samples
    longer than ``audio``. (Measured: original starting at 0.476 s, 45124 samples -> 46148.)

    On any error, what was written of ``out`` is removed.

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
    index = check_stream_index(stream)
    refuse_same_file(src, dest)
    container = open_input(src)
    with container, AudioReader(audio) as reader:
        muxer, codec, videos, replaced = _plan_replace(container, src, index)
        fmt = "opus" if codec == "libopus" else "m4a"
        rate = check_bitrate(bitrate, fmt)
        info = reader.info
        check_channels(info.channels, fmt)
        copied = [s for s in container.streams if s in videos or s.type == "audio"]
        copied = [s for s in copied if s is not replaced]
        before = _signature(dest)
        output = None
        try:
            with _write_errors(dest, fmt=muxer.upper()):
                sr = rate_for(codec, info.samplerate)
                options = {"movie_timescale": str(sr)} if muxer in ("mp4", "mov") else {}
                output = open_output(dest, muxer, options)
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


def check_replaceable(video_in: str | os.PathLike, *, stream: int | None = None) -> None:
    """Raise what :func:`replace_audio` would raise of ``video_in`` itself (no picture, a
    container whose sound cannot be replaced, no such audio stream), before any work."""
    src = Path(video_in)
    with open_input(src) as container:
        _plan_replace(container, src, check_stream_index(stream))


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
    videos = video_streams(container)
    if not videos:
        raise ParameterError(
            "holds no video stream, so there is no picture to put the audio under",
            path=src,
        )
    if container.format.name == MOV:  # MOV stays MOV; MP4, M4V, 3GP, ... are written as MP4
        muxer, codec = ("mov" if name == "MOV" else "mp4"), "aac"
    elif container.format.name == MATROSKA:
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


def _add_encoder(output, codec: str, info: AudioInfo, bitrate: int, *, start: int) -> Encoder:
    return Encoder(
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

    def __init__(self, reader: AudioReader, encoder: Encoder):
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
            end = min(self.position + _FEED_BLOCK, stop)
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
                f"is corrupt or truncated after {seconds:.1f} s ({ffmpeg_reason(exc)}); "
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
        raise AudioWriteError(f"cannot write {fmt} ({ffmpeg_reason(exc)})", path=path) from None
