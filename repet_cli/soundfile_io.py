"""The one module that talks to soundfile (libsndfile): WAV, FLAC, Ogg, AIFF, ... in and out.

A file's header (:func:`info`), a file read a block at a time as channels-first float32
(:class:`Reader`), a file written a block at a time with clipped samples counted
(:class:`Writer`; its float WAVs without libsndfile's time-stamped PEAK chunk), and the float
WAV (RF64 past 4 GiB) that decoded media are written to (:class:`WavSink`). soundfile is
imported inside the functions. Which library reads or writes a given file is decided by
:mod:`repet_cli.io`, not here: libsndfile's refusal is :class:`Unsupported`, for the caller
to try PyAV.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path

import numpy as np

from .errors import AudioReadError, AudioWriteError, write_error
from .files import STDIN
from .formats import AudioInfo

#: libsndfile's name of each format it writes.
FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}
#: Samples per channel converted and written at a time.
WRITE_BLOCK = 2**18
#: A WAV file's data chunk holds at most 4 GiB; longer outputs are written as RF64.
WAV_LIMIT = 2**32 - 2**20


class Unsupported(Exception):
    """libsndfile cannot open a file (PyAV may): ``reason`` says why, in words that fit it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def info(path: str | os.PathLike) -> AudioInfo:
    """What a file's header says, as libsndfile reads it.

    Raises
    ------
    Unsupported
        libsndfile cannot open it; other errors (missing, unreadable) pass through.
    """
    import soundfile as sf

    try:
        with decoder_notes_hidden():
            f = sf.info(os.fspath(path))
    except sf.LibsndfileError as exc:
        raise Unsupported(_open_failure(exc, Path(path))) from None
    return AudioInfo(
        samplerate=int(f.samplerate),
        channels=int(f.channels),
        frames=int(f.frames),
        format=str(f.format),
        subtype=str(f.subtype),
    )


class Reader:
    """A file libsndfile reads, open for reading a block of samples at a time.

    Parameters
    ----------
    source : str or os.PathLike
        The file opened (an input, or a temporary copy or decoding of one).
    path : str or os.PathLike
        The input that errors name.

    Raises
    ------
    Unsupported
        libsndfile cannot open ``source``; other errors of soundfile pass through.
    """

    def __init__(self, source: str | os.PathLike, *, path: str | os.PathLike):
        import soundfile as sf

        self.path = Path(path)
        try:
            with decoder_notes_hidden():
                self._file = sf.SoundFile(source)
        except sf.LibsndfileError as exc:
            raise Unsupported(_open_failure(exc, self.path)) from None
        f = self._file
        self.info = AudioInfo(
            samplerate=int(f.samplerate),
            channels=int(f.channels),
            frames=int(f.frames),
            format=str(f.format),
            subtype=str(f.subtype),
        )

    def truncated(self) -> tuple[int, int] | None:
        """(declared, present) bytes of a WAV whose data chunk is cut short, else None."""
        return _truncated_data_chunk(self._file.extra_info)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start <= n < stop`` as ``y[channels, samples]``, float32.

        Raises
        ------
        AudioReadError
            Unreadable, fewer samples than the header announces, or not finite.
        """
        import soundfile as sf

        # 16-bit PCM is read as it is stored and scaled here: the same values as libsndfile's
        # conversion (x / 32768, exact in float32; tested), in one pass that also puts the
        # channels first, and integers need no check for NaN.
        integer = self.info.subtype == "PCM_16"
        try:
            self._file.seek(start)
            data = self._file.read(
                stop - start, dtype="int16" if integer else "float32", always_2d=True
            )
        except sf.LibsndfileError as exc:
            reason = exc.error_string.rstrip(".") if exc.error_string else str(exc)
            raise AudioReadError(f"not a readable audio file ({reason})", path=self.path) from None
        except (RuntimeError, OSError, ValueError) as exc:
            raise AudioReadError(f"cannot read audio ({exc})", path=self.path) from None
        if data.shape[0] < stop - start:
            raise AudioReadError(
                f"the file is truncated: its header announces {self.info.frames} frames but "
                f"only {start + data.shape[0]} could be read",
                path=self.path,
            )
        if integer:
            y = np.empty(data.shape[::-1], dtype=np.float32)
            np.multiply(data.T, np.float32(1 / 32768), out=y)
            return y
        if not np.isfinite(data).all():
            raise AudioReadError(
                "the file holds NaN or infinite samples; repair or re-export it", path=self.path
            )
        return np.ascontiguousarray(data.T)

    def close(self) -> None:
        self._file.close()


@contextlib.contextmanager
def overlapping_blocks(path: str | os.PathLike, *, blocksize: int, overlap: int):
    """Open a file libsndfile reads, for one pass over it; yields ``(info, blocks)``: its
    header (:class:`~repet_cli.formats.AudioInfo`) and an iterator over float32 blocks of
    ``blocksize`` samples shaped ``[samples, channels]`` (as stored: a caller that mixes the
    channels down needs no transpose), each starting ``overlap`` samples before the last ended.
    """
    import soundfile as sf

    with sf.SoundFile(os.fspath(path)) as f:
        info = AudioInfo(
            samplerate=int(f.samplerate),
            channels=int(f.channels),
            frames=int(f.frames),
            format=str(f.format),
            subtype=str(f.subtype),
        )
        yield info, f.blocks(blocksize=blocksize, overlap=overlap, dtype="float32", always_2d=True)


class Writer:
    """A WAV, FLAC or Ogg Vorbis file written through an open descriptor (kept open), a block
    at a time; libsndfile's errors are :class:`~repet_cli.errors.AudioWriteError` naming
    ``path`` (the destination), OS errors pass through.

    Parameters
    ----------
    fd : int
        The descriptor of the file written (a temporary file beside ``path``).
    format : str
        One of :data:`FORMATS`: ``"wav"``, ``"flac"`` or ``"ogg"``.
    """

    def __init__(self, fd: int, *, sr: int, channels: int, subtype: str, format: str, path: Path):
        import soundfile as sf

        self.path, self.subtype, self._fast_pcm16 = path, subtype, format == "wav"
        with self._errors():
            self._file = sf.SoundFile(
                fd,
                "w",
                samplerate=sr,
                channels=channels,
                subtype=subtype,
                format=FORMATS[format],
                closefd=False,
            )
            if format == "wav" and subtype in ("FLOAT", "DOUBLE"):
                _without_peak_chunk(self._file)

    def write(self, frames: np.ndarray) -> int:
        """Append ``frames[channels, samples]``; the samples a PCM subtype clipped."""
        with self._errors():
            return write_blocks(
                self._file, frames, subtype=self.subtype, fast_pcm16=self._fast_pcm16
            )

    def close(self) -> None:
        """Finish the file (its header)."""
        with self._errors():
            self._file.close()

    @contextlib.contextmanager
    def _errors(self):
        import soundfile as sf

        try:
            yield
        except sf.LibsndfileError as exc:
            raise AudioWriteError(f"cannot write ({exc.error_string})", path=self.path) from None


#: libsndfile's ``sf_command`` that turns the PEAK chunk of float WAV and AIFF files on or off
#: (``sndfile.h``; soundfile does not name it).
_SFC_SET_ADD_PEAK_CHUNK = 0x1050


def _without_peak_chunk(f) -> None:
    """Tell libsndfile not to write a PEAK chunk into the float file ``f``, just opened.

    libsndfile adds one to every float WAV by default: the peak of each channel and the time
    the file was written, so two runs with the same input and options would give files that
    differ in those 4 bytes. The chunk is optional (readers take the peak from the samples).
    soundfile reaches ``sf_command`` only through its private ``_snd``; should that change,
    the files would carry the chunk again (the byte-identity test says so).
    """
    import soundfile as sf

    snd, ffi = getattr(sf, "_snd", None), getattr(sf, "_ffi", None)
    handle = getattr(f, "_file", None)
    if snd is None or ffi is None or handle is None:
        return
    snd.sf_command(handle, _SFC_SET_ADD_PEAK_CHUNK, ffi.NULL, snd.SF_FALSE)


def write_blocks(f, frames: np.ndarray, *, subtype: str, fast_pcm16: bool) -> int:
    """Write ``frames[channels, samples]`` to an open soundfile writer, a block at a time.

    A PCM subtype clips samples beyond full scale (their number is returned). 16-bit PCM is
    converted here, as libsndfile does it (``floor(x * 32768)``, limited to the 16-bit range;
    the tests check the two agree), at a fraction of its cost (``fast_pcm16``; WAV only).
    """
    clipped = 0
    for start in range(0, frames.shape[-1], WRITE_BLOCK):
        block = frames[:, start : start + WRITE_BLOCK].T
        if _is_pcm(subtype):
            over = int(np.count_nonzero(np.abs(block) > 1.0))
            if over:
                clipped += over
                block = np.clip(block, -1.0, 1.0)
        if fast_pcm16 and subtype == "PCM_16":
            scaled = np.floor(block * np.float32(32768))
            block = np.clip(scaled, -32768, 32767, out=scaled).astype(np.int16)
        f.write(block)
    return clipped


class WavSink:
    """A 32-bit float WAV (or RF64) file written block by block; removed by :meth:`discard`."""

    def __init__(self, path: Path):
        self.path = path
        self.file = None
        self.started = False

    def open(self, *, sr: int, channels: int, expected: int | None) -> None:
        import soundfile as sf

        big = expected is not None and expected * channels * 4 > WAV_LIMIT
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


@contextlib.contextmanager
def decoder_notes_hidden():
    """Hide what libsndfile's decoders print on the process's standard error themselves.

    Its MP3 decoder (mpg123) writes lines such as "Note: Illegal Audio-MPEG-Header 0x00000000
    at offset 19." straight to file descriptor 2 when a file is not the MP3 its name says,
    past Python (``-q`` cannot hide them). The error raised says what is wrong instead. Only
    the opening of a file is covered, a moment, so another thread's message is unlikely to
    fall into it.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no standard error at all: nothing to hide
        yield
        return
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    quiet = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(quiet, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(quiet)


#: libsndfile's reasons that are not the reason when the file is a regular file: its MP3
#: decoder failing on a file that is not MP3 gives "File does not exist or is not a regular
#: file (possibly a pipe?)".
_MISLEADING_REASONS = ("File does not exist or is not a regular file",)


def _open_failure(exc, path: Path) -> str:
    """Why libsndfile could not open an existing, regular file, in words that fit it."""
    reason = (exc.error_string or str(exc)).strip().rstrip(".")
    if reason.startswith(_MISLEADING_REASONS) or not reason:
        kind = path.suffix.lstrip(".").upper() if os.fspath(path) != STDIN else ""
        return f"its contents are not {kind} audio" if kind else "its contents are not audio"
    return reason


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
