"""Reading and writing audio files: the only module that talks to soundfile.

Inside the library audio is a channels-first float32 array ``y[channels, samples]``; this module
transposes exactly once on the way in and once on the way out.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import AudioReadError, AudioWriteError, OutputExistsError

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


def output_subtype(info: AudioInfo) -> str:
    """The WAV subtype for outputs of an input: the input's own where WAV can hold it."""
    return info.subtype if info.subtype in WAV_KEEP_SUBTYPES else FALLBACK_SUBTYPE


def load_audio(path: str | os.PathLike) -> tuple[np.ndarray, int, AudioInfo]:
    """Read an audio file.

    Parameters
    ----------
    path : str or os.PathLike
        Any format the installed libsndfile reads (WAV, FLAC, OGG, AIFF, ...).

    Returns
    -------
    y : np.ndarray, shape (channels, samples), float32
        Samples as written in the file (integer formats scaled to [-1, 1)).
    sr : int
        Sample rate in Hz.
    info : AudioInfo
        Format, subtype, channels and length of the file.

    Raises
    ------
    AudioReadError
        Missing, a folder, unreadable, not audio, corrupt, no samples, or not finite.
    """
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise AudioReadError("no such file", path=p)
    if p.is_dir():
        raise AudioReadError("is a folder, not an audio file", path=p)
    if not os.access(p, os.R_OK):
        raise AudioReadError("permission denied: the file is not readable", path=p)
    try:
        with sf.SoundFile(p) as f:
            info = AudioInfo(
                samplerate=int(f.samplerate),
                channels=int(f.channels),
                frames=int(f.frames),
                format=str(f.format),
                subtype=str(f.subtype),
            )
            data = f.read(dtype="float32", always_2d=True)
            truncated = _truncated_data_chunk(f.extra_info)
    except sf.LibsndfileError as exc:
        reason = exc.error_string.rstrip(".") if exc.error_string else str(exc)
        raise AudioReadError(f"not a readable audio file ({reason})", path=p) from None
    except (RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(f"cannot read audio ({exc})", path=p) from None
    if truncated:
        declared, present = truncated
        raise AudioReadError(
            f"the file is truncated: its header announces {declared} bytes of audio but only "
            f"{present} are there (an interrupted download or copy?)",
            path=p,
        )
    if data.shape[0] == 0:
        raise AudioReadError("the file holds no audio samples (0 frames)", path=p)
    if data.shape[0] < info.frames:
        raise AudioReadError(
            f"the file is truncated: its header announces {info.frames} frames but only "
            f"{data.shape[0]} could be read",
            path=p,
        )
    if not np.isfinite(data).all():
        raise AudioReadError("the file holds NaN or infinite samples", path=p)
    y = np.ascontiguousarray(data.T)
    return y, info.samplerate, info


#: libsndfile's log line for a WAV/RIFF data chunk whose size disagrees with the file.
_DATA_CHUNK = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
#: Sizes that streaming writers put in the header when they cannot seek back to fix it.
_STREAMING_SIZES = (0, 0xFFFFFFFF, 0x7FFFFFFF)


def _truncated_data_chunk(log: str) -> tuple[int, int] | None:
    """(declared, present) bytes if libsndfile's log shows a data chunk cut short, else None.

    libsndfile reads a truncated WAV without an error, returning only what is there; the
    parse log is the one place that tells.
    """
    match = _DATA_CHUNK.search(log or "")
    if match is None:
        return None
    declared, present = int(match.group(1)), int(match.group(2))
    if declared in _STREAMING_SIZES or declared <= present:
        return None
    return declared, present


def _is_pcm(subtype: str) -> bool:
    return subtype.startswith("PCM_")


def refuse_existing(paths: Iterable[str | os.PathLike]) -> None:
    """Raise :class:`OutputExistsError` for the first of ``paths`` that exists."""
    for p in paths:
        if os.path.lexists(p):
            raise OutputExistsError("exists already; pass --overwrite to replace it", path=p)


def _open_temp(p: Path):
    """Create a new, empty temporary file beside ``p`` with the usual (umask) permissions."""
    for _ in range(100):
        tmp = p.parent / f".{p.name}.{secrets.token_hex(4)}.part"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        return tmp, os.fdopen(fd, "wb")
    raise FileExistsError(f"no free temporary name beside {p}")


#: Samples per channel converted and written at a time.
WRITE_BLOCK = 2**18


def _write_blocks(fh, frames: np.ndarray, *, sr: int, subtype: str) -> None:
    """Write ``frames[channels, samples]`` to an open binary file as a WAV, a block at a time.

    16-bit PCM is converted here, as libsndfile does it (``floor(x * 32768)``, limited to the
    16-bit range; the tests check the two agree), at a fraction of its cost.
    """
    import soundfile as sf

    with sf.SoundFile(
        fh, "w", samplerate=sr, channels=frames.shape[0], subtype=subtype, format="WAV"
    ) as f:
        for start in range(0, frames.shape[-1], WRITE_BLOCK):
            block = frames[:, start : start + WRITE_BLOCK].T
            if subtype == "PCM_16":
                scaled = np.floor(block * np.float32(32768))
                block = np.clip(scaled, -32768, 32767, out=scaled).astype(np.int16)
            f.write(block)


def write_audio(
    path: str | os.PathLike,
    y: np.ndarray,
    *,
    sr: int,
    subtype: str = FALLBACK_SUBTYPE,
    overwrite: bool = False,
) -> WriteResult:
    """Write ``y[channels, samples]`` as a WAV file, atomically.

    The samples go to a temporary file in the destination folder, which is renamed onto
    ``path`` only once complete: an interrupted or failed write leaves no partial file.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; its folder must exist.
    y : np.ndarray, shape (channels, samples) or (samples,)
        Samples in [-1, 1] for PCM subtypes; float subtypes keep any finite value.
    sr : int
        Sample rate in Hz.
    subtype : str
        A WAV subtype of soundfile, e.g. ``"PCM_16"`` or ``"FLOAT"``.
    overwrite : bool
        Replace an existing file. Without it an existing file raises :class:`OutputExistsError`.

    Returns
    -------
    WriteResult
        With the number of samples beyond full scale that a PCM subtype clipped.
    """
    return write_audio_files({path: y}, sr=sr, subtype=subtype, overwrite=overwrite)[0]


def write_audio_files(
    outputs: Mapping[str | os.PathLike, np.ndarray],
    *,
    sr: int,
    subtype: str = FALLBACK_SUBTYPE,
    overwrite: bool = False,
) -> list[WriteResult]:
    """Write several WAV files as one unit: all of them, or none.

    Every file is first written completely to a temporary file beside its destination; only
    when all are written are they renamed into place. On any error the temporary files are
    removed and no destination is touched. Arguments are as for :func:`write_audio`.
    """
    import soundfile as sf

    paths = [Path(p) for p in outputs]
    if not overwrite:
        refuse_existing(paths)
    temps: list[Path] = []
    results: list[WriteResult] = []
    current = paths[0] if paths else None
    try:
        for p, y in zip(paths, outputs.values(), strict=True):
            current = p
            frames = np.asarray(y)
            frames = frames[np.newaxis, :] if frames.ndim == 1 else frames
            clipped = 0
            if _is_pcm(subtype):
                clipped = int(np.count_nonzero(np.abs(frames) > 1.0))
                if clipped:
                    frames = np.clip(frames, -1.0, 1.0)
            tmp, fh = _open_temp(p)
            temps.append(tmp)
            with fh:
                _write_blocks(fh, frames, sr=sr, subtype=subtype)
                fh.flush()
                os.fsync(fh.fileno())
            results.append(WriteResult(path=p, subtype=subtype, clipped=clipped))
        if not overwrite:  # one may have appeared while we were writing
            refuse_existing(paths)
        for p, tmp in zip(paths, temps, strict=True):
            current = p
            os.replace(tmp, p)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise AudioWriteError(f"cannot write ({reason})", path=current) from None
    except sf.LibsndfileError as exc:
        raise AudioWriteError(f"cannot write ({exc.error_string})", path=current) from None
    finally:
        for tmp in temps:
            if tmp.exists():
                tmp.unlink()
    return results
