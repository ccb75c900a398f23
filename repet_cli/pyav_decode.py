"""Decoding what libsndfile cannot read (M4A, MP4, MOV, MKV, WebM, MP3, Opus, ...) through
FFmpeg (PyAV): :func:`decode_to_wav`.

One of the modules that talk to PyAV; it imports ``av`` inside its functions, so importing it
costs nothing. One audio stream is decoded into a 32-bit float WAV file (written by
:mod:`repet_cli.soundfile_io`), block by block (memory stays bounded), keeping the stream's
sample rate and channel count exactly (no resampling, no downmix).

Encoder delay ("priming") and padding, as measured with the FFmpeg 8.1 that PyAV 18.1 bundles
(a source of N = 88323 samples, 2.0028 s, encoded through
:class:`~repet_cli.pyav_encode.MediaWriter` or PyAV with timestamps on the frames, then decoded
by :func:`decode_to_wav`):

=============  =====================================================  ===================
codec in       what the container records and FFmpeg does             N -> decoded
=============  =====================================================  ===================
AAC in M4A /   an edit list skips the 1024 priming samples; FFmpeg    88323 -> 88323
MP4 / MOV      leaves the padding of the last 1024-sample frame,
               which this module trims to the edit list's length
               (the package's writer sets the movie timescale to the
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

FFmpeg's MP4 demuxer also takes the priming from an iTunes ``iTunSMPB`` tag when there is no
edit list (its mov.c says so; not the tag's end padding; not tested here).
In MP4 and MOV, an audio stream that starts after 0 is written by FFmpeg without an edit for
the priming (see :func:`repet_cli.pyav_remux.replace_audio`): 1024 near-silent samples come
first.

5.1 to 7.1 are FFmpeg's default layouts, the order it decodes such files in; their fourth
channel is the LFE.

Not supported: reading DRM-protected files and streams whose sample rate or channel count
changes mid-way (an error says so). A file cut exactly between two packets is reported as
truncated only where the container records the stream's length (MP4 family: the sample tables;
Matroska/WebM: the per-track DURATION tag FFmpeg writes), and only when more than 0.1 s is
missing; MP3 and Ogg record nothing reliable (an MP3 without a Xing header has an estimated
length), so a cut one there decodes to what is left.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import AudioReadError, RepetError
from .formats import AudioInfo
from .pyav_probe import (
    MATROSKA,
    MOV,
    check_stream_index,
    codec_name,
    ffmpeg_reason,
    friendly_name,
    open_input,
    refuse_same_file,
    stream_seconds,
)
from .soundfile_io import WavSink

#: Samples per channel collected before a write to the WAV file.
_WAV_BLOCK = 2**16
#: Missing audio (seconds) below which a short stream is not called truncated.
_TRUNCATION_TOLERANCE = 0.1


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
    if container.format.name not in (MOV, MATROSKA):
        return None
    seconds = stream_seconds(stream, container)
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
    index = check_stream_index(stream)
    refuse_same_file(p, out)
    container = open_input(p)
    with container:
        audio = _select_audio(container, index, p)
        ctx = audio.codec_context
        if ctx is None or ctx.codec is None or not ctx.codec.is_decoder:
            raise AudioReadError(
                f"its audio codec ({codec_name(audio)}) cannot be decoded by this FFmpeg; "
                "convert the file to WAV or FLAC with another tool",
                path=p,
            )
        fmt = friendly_name(container.format.name, container.format.extensions, p.suffix)
        codec = codec_name(audio).upper()
        decoder = _Decoder(container, audio, p)
        sink = WavSink(out)
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
                f"is corrupt or truncated after {seconds:.1f} s ({ffmpeg_reason(exc)}); "
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
            self._trim = self.container.format.name == MOV and self.declared is not None
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
