"""What an input was and what its outputs can be: formats, sample formats, bit rates.

Plain data and rules, no file is touched and no audio library imported: the command line checks
its options against these tables without loading soundfile or PyAV.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ParameterError

#: WAV subtypes kept as they are for the outputs; anything else (a lossy or compressed input
#: such as MP3, Vorbis or ADPCM) is written as 32-bit float WAV so nothing is lost.
WAV_KEEP_SUBTYPES = ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
FALLBACK_SUBTYPE = "FLOAT"


@dataclass(frozen=True)
class AudioInfo:
    """What the input file was: enough to write outputs in the same shape and format."""

    samplerate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.samplerate


@dataclass(frozen=True)
class WriteResult:
    """What :func:`write_audio` wrote."""

    path: Path
    subtype: str
    clipped: int  # samples beyond full scale, clipped by a PCM output


#: Output formats and the subtypes each can hold (FLAC: integer PCM only; the lossy formats:
#: their codec). WAV, FLAC and Ogg Vorbis are written by libsndfile, the others by
#: the ``pyav_*`` modules (PyAV).
OUTPUT_SUBTYPES = {
    "wav": WAV_KEEP_SUBTYPES,
    "flac": ("PCM_S8", "PCM_16", "PCM_24"),
    "ogg": ("VORBIS",),
    "mp3": ("MP3",),
    "opus": ("OPUS",),
    "m4a": ("AAC",),
}
WRITABLE_FORMATS = tuple(OUTPUT_SUBTYPES)
#: The formats whose size is set by a bit rate (the others are lossless, or Vorbis: quality).
LOSSY_FORMATS = ("mp3", "opus", "m4a")


def output_subtype(info: AudioInfo) -> str:
    """The WAV subtype for outputs of an input: the input's own where WAV can hold it."""
    return output_format(info, format="wav")[1]


def output_format(
    info: AudioInfo, *, format: str | None = None, subtype: str | None = None
) -> tuple[str, str]:
    """``(format, subtype)`` of the outputs of an input.

    The format is ``format`` or else the input's own when it is FLAC, WAV otherwise; the
    subtype is ``subtype`` or else the input's own where the format can hold it, otherwise
    32-bit float for WAV (nothing lost) and 24-bit for FLAC.

    Raises
    ------
    ParameterError
        An unknown format, or a subtype the format cannot hold.
    """
    chosen = format.lower() if format else ("flac" if info.format == "FLAC" else "wav")
    if chosen not in OUTPUT_SUBTYPES:
        raise ParameterError(
            f"`format` must be one of {', '.join(WRITABLE_FORMATS)}, got {format!r}"
        )
    allowed = OUTPUT_SUBTYPES[chosen]
    if subtype is not None:
        if subtype.upper() not in allowed:
            raise ParameterError(
                f"`subtype` {subtype} cannot be written as {chosen.upper()}; "
                f"choose one of {', '.join(allowed)}"
            )
        return chosen, subtype.upper()
    if info.subtype in allowed:
        return chosen, info.subtype
    return chosen, {"wav": FALLBACK_SUBTYPE, "flac": "PCM_24"}.get(chosen, allowed[0])


# --- lossy formats: bit rates and channels ----------------------------------------------

#: Bit rates (bits per second) when none is asked for.
DEFAULT_BITRATES = {"mp3": 192_000, "opus": 128_000, "m4a": 192_000}

#: Bit rates (bits per second) the encoders take: LAME's CBR range, libopus's range for a
#: stereo stream, and what FFmpeg's AAC encoder gives useful results at.
BITRATE_RANGES = {"mp3": (8_000, 320_000), "opus": (6_000, 510_000), "m4a": (16_000, 512_000)}

#: Most channels each format holds.
MAX_CHANNELS = {"mp3": 2, "opus": 8, "m4a": 8}


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


def check_bitrate(bitrate: int | str | None, fmt: str) -> int:
    """Bits per second of a ``fmt`` output: ``bitrate`` checked against what the encoder
    takes, or :data:`DEFAULT_BITRATES`. Raises :class:`ParameterError`."""
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


def requested_bitrate(bitrate: int | str | None, fmt: str | None) -> int | None:
    """Bits per second asked for outputs of format ``fmt`` (None: the default), checked
    before any work: a bit rate needs a lossy format (:data:`LOSSY_FORMATS`).

    Raises
    ------
    ParameterError
    """
    if bitrate is None:
        return None
    if fmt not in LOSSY_FORMATS:
        raise ParameterError(
            f"`bitrate` is for `format` {', '.join(LOSSY_FORMATS)} (the others are lossless, "
            "or Vorbis)"
        )
    return parse_bitrate(bitrate)


def check_requested_subtype(subtype: str, fmt: str | None) -> None:
    """Refuse a sample format that outputs of format ``fmt`` cannot hold (None: WAV or
    FLAC, by input), before any work.

    Raises
    ------
    ParameterError
    """
    if fmt in LOSSY_FORMATS or fmt == "ogg":
        raise ParameterError(f"`subtype` is for wav and flac; {fmt} has its codec (set `bitrate`)")
    formats = [fmt] if fmt else ["wav", "flac"]
    if not any(subtype.upper() in OUTPUT_SUBTYPES[f] for f in formats):
        known = sorted({s for f in formats for s in OUTPUT_SUBTYPES[f]})
        raise ParameterError(
            f"`subtype` {subtype} is not one of {', '.join(known)}"
            + (f" (for {fmt})" if fmt else "")
        )


def check_channels(channels: int, fmt: str) -> None:
    """Raise :class:`ParameterError` unless a ``fmt`` file holds ``channels`` channels."""
    most = MAX_CHANNELS[fmt]
    if isinstance(channels, bool) or not isinstance(channels, int) or not 1 <= channels <= most:
        raise ParameterError(
            f"{fmt.upper()} holds 1 {'or' if most == 2 else 'to'} {most} channels, got {channels!r}"
            + ("; write WAV or FLAC instead" if isinstance(channels, int) else "")
        )
