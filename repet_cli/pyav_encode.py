"""Encoding MP3 (LAME), Opus (in Ogg) and M4A (AAC) through FFmpeg (PyAV): :class:`MediaWriter`.

One of the modules that talk to PyAV; it imports ``av`` inside its functions, so importing it
costs nothing. Frames carry timestamps counted in samples, so that the containers record the
encoders' priming and padding and a decoder gives back the source's length (the table in
:mod:`repet_cli.pyav_decode`). The output is bit-exact: the same input gives the same bytes.

Opus is always written at 48 kHz (what every Opus decoder outputs): other rates are resampled
with :class:`av.AudioResampler` (swresample), and the length scales with the rate
(44.1 kHz, 88323 samples -> 48 kHz, 96134 samples). MP3 and AAC keep the rate when the
encoder takes it, otherwise the next higher rate it takes (or its highest).

Channels are written in the order given and labelled with a conventional layout for their
count (mono, stereo, 3.0, quad, 5.0, 5.1, 6.1, 7.1; libopus refuses FFmpeg's defaults for 3 and
4 channels, 2.1 and 4.0). 5.1 to 7.1 are also FFmpeg's defaults, the order it decodes such
files in; their fourth channel is the LFE, which the encoders band-limit.

Not supported: writing more than 8 channels (2 for MP3).
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import AudioWriteError, ParameterError, RepetError
from .formats import check_bitrate, check_channels
from .pyav_probe import ffmpeg_reason

#: Formats :class:`MediaWriter` writes (libsndfile writes WAV, FLAC and Ogg Vorbis).
WRITABLE = ("mp3", "opus", "m4a")

#: Encoder and FFmpeg muxer of each writable format.
_ENCODERS = {"mp3": ("libmp3lame", "mp3"), "opus": ("libopus", "opus"), "m4a": ("aac", "ipod")}

#: The channel layout a count of channels is labelled with (channels are written in order).
LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}

#: Opus decoders output 48 kHz whatever the encoder ran at.
OPUS_RATE = 48_000
#: Samples per channel in one frame handed to an encoder.
_ENCODE_BLOCK = 2**14


def _writable_format(format: str | None, path: Path) -> str:
    chosen = (format or path.suffix.lstrip(".")).lower()
    if chosen not in WRITABLE:
        given = format if format is not None else path.name
        raise ParameterError(
            f"cannot write {given!r} with FFmpeg: choose one of {', '.join(WRITABLE)} "
            "(WAV, FLAC and Ogg Vorbis are written by libsndfile)"
        )
    return chosen


def encoder_rate(rates: tuple[int, ...] | list[int] | None, sr: int) -> int:
    """The rate an encoder runs at for input at ``sr``: ``sr`` if it takes it, else the next
    higher rate it takes, else its highest. ``rates`` None means any rate."""
    if not rates or sr in rates:
        return sr
    higher = [r for r in rates if r > sr]
    return min(higher) if higher else max(rates)


def open_output(path: Path, muxer: str, options: dict[str, str]):
    """An FFmpeg output container; bit-exact, so the same input gives the same bytes (Ogg's
    serial numbers and Matroska's UIDs are otherwise random)."""
    import av

    container = av.open(os.fspath(path), "w", format=muxer, container_options=options)
    container.flags |= av.container.Flags.bitexact.value  # a Flag, not an IntFlag
    return container


def rate_for(codec: str, sr: int) -> int:
    """The rate ``codec`` (an FFmpeg encoder's name) runs at for input at ``sr``."""
    import av

    if codec == "libopus":
        return OPUS_RATE
    return encoder_rate(av.codec.Codec(codec, "w").audio_rates, sr)


class Encoder:
    """An audio stream of an output container fed ``y[channels, samples]`` float32 blocks.

    Frames carry timestamps counted in samples: without them FFmpeg's MP4 muxer writes no
    edit list and the AAC priming is played. Rates the encoder does not take are resampled
    (swresample) to :func:`encoder_rate`'s choice, Opus always to 48 kHz.
    """

    def __init__(self, container, *, codec: str, sr: int, channels: int, bitrate: int, start=0):
        import av

        self.sr, self.channels = sr, channels
        self.rate = rate_for(codec, sr)
        self.layout = LAYOUTS[channels]
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
        self.bitrate = check_bitrate(bitrate, self.format)
        check_channels(channels, self.format)
        if isinstance(sr, bool) or not isinstance(sr, int) or sr <= 0:
            raise ParameterError(f"`sr` must be a positive number of Hz, got {sr!r}")
        codec, muxer = _ENCODERS[self.format]
        self._container = None
        with self._errors():
            rate = rate_for(codec, sr)
            options = {"movie_timescale": str(rate)} if self.format == "m4a" else {}
            self._container = open_output(self.path, muxer, options)
            self._encoder = Encoder(
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
                f"cannot write {self.format.upper()} ({ffmpeg_reason(exc)})", path=self.path
            ) from None

    def __enter__(self) -> MediaWriter:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()
