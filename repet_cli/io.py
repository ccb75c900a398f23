"""Reading and writing audio files: the only module that talks to soundfile.

Inside the library audio is a channels-first float32 array ``y[channels, samples]``; this module
transposes exactly once on the way in and once on the way out.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import signals
from .errors import (
    AudioReadError,
    AudioWriteError,
    OutputExistsError,
    ParameterError,
    RepetError,
    write_error,
)
from .parallel import ordered_map

#: WAV subtypes kept as they are for the outputs; anything else (a lossy or compressed input
#: such as MP3, Vorbis or ADPCM) is written as 32-bit float WAV so nothing is lost.
WAV_KEEP_SUBTYPES = ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
FALLBACK_SUBTYPE = "FLOAT"
#: The input name that stands for standard input.
STDIN = "-"


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
#: :mod:`repet_cli.media` (PyAV).
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
#: libsndfile's name of each format it writes.
_SOUNDFILE_FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}


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


def probe(path: str | os.PathLike, *, stream: int | None = None) -> AudioInfo | None:
    """What an audio or video file's header says, or None when it cannot be read (reading it
    will say why). Reads the header only; standard input and pipes are not touched (None).

    For what libsndfile cannot read, the header of the audio stream ``stream`` (default the
    first) as ffmpeg reads it (:func:`repet_cli.media.probe`); its length in samples is then
    the header's duration, which can be off by a few milliseconds.
    """
    import soundfile as sf

    try:
        if os.fspath(path) == STDIN or not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with decoder_notes_hidden():
            f = sf.info(os.fspath(path))
    except sf.LibsndfileError:
        return _probe_media(path, stream=stream)
    except Exception:  # not there, not audio, not readable: the job that reads it reports it
        return None
    return AudioInfo(
        samplerate=int(f.samplerate),
        channels=int(f.channels),
        frames=int(f.frames),
        format=str(f.format),
        subtype=str(f.subtype),
    )


def _probe_media(path: str | os.PathLike, *, stream: int | None) -> AudioInfo | None:
    from . import media

    found = media.probe(path)
    index = stream or 0
    if found is None or index >= len(found.audio):
        return None
    audio = found.audio[index]
    seconds = audio.duration or found.duration
    if not seconds or audio.samplerate <= 0:
        return None
    return AudioInfo(
        samplerate=audio.samplerate,
        channels=audio.channels,
        frames=round(seconds * audio.samplerate),
        format=found.format,
        subtype=audio.codec.upper(),
    )


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
    with AudioReader(path) as reader:
        return reader.read(0, reader.info.frames), reader.info.samplerate, reader.info


class AudioReader:
    """An audio file open for reading a block of samples at a time.

    Opening checks what can be checked without reading the samples (exists, readable, audio,
    not truncated, not empty); :meth:`read` checks each block (complete, finite). Use as a
    context manager.

    Parameters
    ----------
    path : str or os.PathLike
        Any format the installed libsndfile reads (WAV, FLAC, OGG, AIFF, ...).

    Raises
    ------
    AudioReadError
        Missing, a folder, unreadable, not audio, corrupt or truncated, no samples.
    """

    def __init__(self, path: str | os.PathLike, *, stream: int | None = None):
        self.path = Path(path)
        self._temps: list[Path] = []
        self._file = None
        try:
            self._open(stream)
        except BaseException:
            self.close()
            raise

    def _open(self, stream: int | None) -> None:
        import soundfile as sf

        p = self.path
        if os.fspath(p) == STDIN:
            source = self._spool(sys.stdin.buffer)
        else:
            if not p.exists():
                raise AudioReadError("no such file", path=p)
            if p.is_dir():
                raise AudioReadError(
                    "is a folder with no audio or video file in it, at any depth (choose the "
                    "extensions searched for with `ext`)",
                    path=p,
                )
            if not os.access(p, os.R_OK):
                raise AudioReadError("permission denied: the file is not readable", path=p)
            if not stat.S_ISREG(p.stat().st_mode):  # a pipe, process substitution, device
                with open(p, "rb") as f:
                    source = self._spool(f)
            elif p.stat().st_size == 0:
                raise AudioReadError("the file is empty (0 bytes): not an audio file", path=p)
            else:
                source = p
        info = None
        try:
            with decoder_notes_hidden():
                self._file = sf.SoundFile(source)
            if stream:  # libsndfile's formats hold one stream
                raise AudioReadError(f"has no audio stream {stream}: it holds one (0)", path=p)
        except sf.LibsndfileError as exc:
            info = self._decode(source, stream=stream, reason=_open_failure(exc, p))
        except (RuntimeError, OSError, ValueError) as exc:
            raise AudioReadError(f"cannot read audio ({exc})", path=p) from None
        f = self._file
        self.info = AudioInfo(
            samplerate=int(f.samplerate),
            channels=int(f.channels),
            frames=int(f.frames),
            format=str(f.format) if info is None else info.format,
            subtype=str(f.subtype) if info is None else info.subtype,
        )
        truncated = None if info is not None else _truncated_data_chunk(f.extra_info)
        if truncated:
            self.close()
            declared, present = truncated
            raise AudioReadError(
                f"the file is truncated: its header announces {declared} bytes of audio but "
                f"only {present} are there (an interrupted download or copy?); fetch or copy it "
                "again",
                path=p,
            )
        if self.info.frames <= 0:
            self.close()
            raise AudioReadError("the file holds no audio samples (0 frames)", path=p)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start <= n < stop`` as ``y[channels, samples]``, float32."""
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

    def _temporary(self, suffix: str) -> Path:
        """A new temporary file in the system's temporary folder, removed by :meth:`close`."""
        import tempfile

        with signals.deferred():  # on the list before an interruption can strike
            fd, name = tempfile.mkstemp(prefix="repet-", suffix=suffix)
            os.close(fd)
            self._temps.append(Path(name))
        return self._temps[-1]

    def _spool(self, stream) -> Path:
        """Copy a stream that cannot seek (standard input, a pipe) into a temporary file."""
        import shutil

        tmp = self._temporary(".input")
        try:
            with open(tmp, "wb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)
        except OSError as exc:
            raise AudioReadError(
                f"cannot read ({exc.strerror or exc}) or store its audio in {tmp.parent}",
                path=self.path,
            ) from None
        if tmp.stat().st_size == 0:
            raise AudioReadError("nothing came in (0 bytes): not an audio file", path=self.path)
        return tmp

    def _decode(self, source: Path, *, stream: int | None, reason: str) -> AudioInfo:
        """Decode what libsndfile cannot read (M4A, video, ...) into a temporary float WAV
        through :mod:`repet_cli.media`, and open that; what the input was."""
        import soundfile as sf

        from . import media

        if media.probe(source) is None:
            raise AudioReadError(
                f"not a readable audio file ({reason}; nor audio or video that ffmpeg reads)",
                path=self.path,
            )
        tmp = self._temporary(".wav")
        try:
            info = media.decode_to_wav(source, tmp, stream=stream)
        except RepetError as exc:
            exc.path = os.fspath(self.path)
            raise
        self._file = sf.SoundFile(tmp)
        return info

    def close(self) -> None:
        with signals.deferred():
            if self._file is not None:
                self._file.close()
                self._file = None
            for tmp in self._temps:
                tmp.unlink(missing_ok=True)
            self._temps = []

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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


def refuse_existing(paths: Iterable[str | os.PathLike]) -> None:
    """Raise :class:`OutputExistsError` for the first of ``paths`` that exists."""
    for p in paths:
        if os.path.lexists(p):
            raise OutputExistsError("exists already; pass `overwrite` to replace it", path=p)


#: The end of the temporary files' names: ``.<name>.<8 hex digits>.part`` beside ``<name>``.
TEMPORARY_SUFFIX = ".part"


def temporaries_of(p: str | os.PathLike) -> list[Path]:
    """The temporary files beside ``p`` that writers of ``p`` made (:func:`_open_temp`), left
    behind by a process that was killed before it could remove them."""
    p = Path(p)
    if not p.parent.is_dir():
        return []
    return sorted(p.parent.glob(f".{p.name}.*{TEMPORARY_SUFFIX}"))


def _open_temp(p: Path) -> tuple[Path, int]:
    """Create a new, empty temporary file beside ``p`` (umask permissions); its descriptor.

    libsndfile writes through the descriptor itself: no Python callbacks run during a write,
    so an interruption is raised in Python code, never swallowed inside a C callback.
    """
    for _ in range(100):
        tmp = p.parent / f".{p.name}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}"
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        return tmp, fd
    raise FileExistsError(f"no free temporary name beside {p}")


@contextlib.contextmanager
def whole_or_nothing(path: str | os.PathLike, *, before_rename=None):
    """Make ``path`` whole or not at all: yields a new temporary file beside it (its path and
    an open descriptor, from :func:`_open_temp`) for the caller to fill; when the block ends
    without an error the temporary file is renamed over ``path`` (after ``before_rename()``,
    if given, which may still refuse), else it is removed. Creating it and renaming it are
    done with interruptions held back.

    Raises
    ------
    AudioWriteError
        An ``OSError`` while writing (the message says what to do, see ``write_error``).
    """
    path = Path(path)
    tmp = None
    try:
        with signals.deferred():
            tmp, fd = _open_temp(path)
        yield tmp, fd
        with signals.deferred():
            if before_rename is not None:
                before_rename()
            os.replace(tmp, path)
            tmp = None
    except OSError as exc:
        raise write_error(exc, path=path) from None
    finally:
        if tmp is not None:
            with signals.deferred():
                tmp.unlink(missing_ok=True)


def replace_file(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all (:func:`whole_or_nothing`);
    an interruption is held back over the write too. Returns ``path``.

    Raises
    ------
    AudioWriteError
        The file cannot be written (the message says what to do, see ``write_error``).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with whole_or_nothing(path) as (_, fd), signals.deferred(), os.fdopen(fd, "wb") as f:
        f.write(raw)
    return Path(path)


#: Samples per channel converted and written at a time.
WRITE_BLOCK = 2**18


def _open_sound_file(fd: int, *, sr: int, channels: int, subtype: str, format: str):
    """A soundfile writer (``format`` WAV or FLAC) on an open file descriptor (kept open),
    writing no PEAK chunk (:func:`_without_peak_chunk`)."""
    import soundfile as sf

    f = sf.SoundFile(
        fd, "w", samplerate=sr, channels=channels, subtype=subtype, format=format, closefd=False
    )
    if format == "WAV" and subtype in ("FLOAT", "DOUBLE"):
        _without_peak_chunk(f)
    return f


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


def _write_blocks(f, frames: np.ndarray, *, subtype: str, fast_pcm16: bool) -> int:
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


class AudioWriter:
    """Several WAV files written together, a block at a time: all of them, or none.

    Each file is written to a temporary file beside its destination; :meth:`commit` renames
    them into place once all are complete. Leaving the ``with`` block by an exception (or
    :meth:`abort`) removes the temporary files and touches no destination. Errors are
    :class:`~repet_cli.errors.AudioWriteError` naming the file.

    An interruption (Ctrl-C, SIGTERM) that Python delivers just after the constructor
    returns, when ``with`` calls ``__enter__``, escapes the ``with`` statement and leaves the
    temporary files. Code that must leave nothing behind under :func:`repet_cli.signals.handled`
    constructs the writer inside :func:`repet_cli.signals.deferred`, within
    ``try: ... finally: writer.abort()`` (a no-op once committed), as this package does.

    Parameters
    ----------
    paths : sequence of paths
        Destinations; their folders must exist.
    sr : int
        Sample rate in Hz.
    channels : int
        Channels of every file.
    subtype : str
        A soundfile subtype the format holds, e.g. ``"PCM_16"`` or ``"FLOAT"``.
    overwrite : bool
        Replace existing files. Without it an existing file raises
        :class:`~repet_cli.errors.OutputExistsError`, before and again just before renaming.
    format : str
        One of :data:`WRITABLE_FORMATS`: ``"wav"``, ``"flac"``, ``"ogg"`` (Vorbis) through
        libsndfile; ``"mp3"``, ``"opus"``, ``"m4a"`` (AAC) through :mod:`repet_cli.media`.
    bitrate : int, optional
        Bits per second of the lossy formats (:data:`LOSSY_FORMATS`); their encoder's default
        when None.
    """

    def __init__(
        self,
        paths: Iterable[str | os.PathLike],
        *,
        sr: int,
        channels: int,
        subtype: str = FALLBACK_SUBTYPE,
        overwrite: bool = False,
        format: str = "wav",
        bitrate: int | None = None,
    ):
        self.paths = [Path(p) for p in paths]
        self.sr, self.channels, self.subtype, self.overwrite = sr, channels, subtype, overwrite
        self.format, self.bitrate = format.lower(), bitrate
        if self.format not in OUTPUT_SUBTYPES:
            raise ParameterError(f"`format` must be one of {', '.join(WRITABLE_FORMATS)}")
        self.clipped = [0] * len(self.paths)
        self._temps: list[Path] = []
        self._handles: list = []
        self._files: list = []
        if not overwrite:
            refuse_existing(self.paths)
        with self._errors():
            for p in self.paths:
                self._current = p
                with signals.deferred():  # an interruption must find the file on the list
                    tmp, fd = _open_temp(p)
                    self._temps.append(tmp)
                    self._handles.append(fd)
                self._files.append(self._open(tmp, fd))

    def _open(self, tmp: Path, fd: int):
        """The writer of one temporary file: libsndfile's on ``fd``, or a media encoder."""
        if self.format in _SOUNDFILE_FORMATS:
            return _open_sound_file(
                fd,
                sr=self.sr,
                channels=self.channels,
                subtype=self.subtype,
                format=_SOUNDFILE_FORMATS[self.format],
            )
        from .media import MediaWriter

        return MediaWriter(
            tmp, format=self.format, sr=self.sr, channels=self.channels, bitrate=self.bitrate
        )

    def write(self, *blocks: np.ndarray) -> None:
        """Append one block ``y[channels, samples]`` to each file, in the order of ``paths``.

        The files are written in parallel threads (conversion and libsndfile release the GIL).
        """
        if len(blocks) != len(self.paths):
            raise ValueError(f"{len(self.paths)} blocks expected, got {len(blocks)}")

        def write_one(i: int) -> BaseException | None:
            try:
                frames = np.asarray(blocks[i])
                frames = frames[np.newaxis, :] if frames.ndim == 1 else frames
                if self.format not in _SOUNDFILE_FORMATS:
                    self._files[i].write(frames.astype(np.float32, copy=False))
                    return None
                self.clipped[i] += _write_blocks(
                    self._files[i], frames, subtype=self.subtype, fast_pcm16=self.format == "wav"
                )
            except Exception as exc:  # raised below, about its own file
                return exc
            return None

        with self._errors():
            for i, error in enumerate(
                ordered_map(write_one, range(len(self.paths)), threads=len(self.paths))
            ):
                if error is not None:
                    self._current = self.paths[i]
                    raise error

    def commit(self) -> list[WriteResult]:
        """Finish the files and rename them into place."""
        with self._errors():
            for p, f, fd in zip(self.paths, self._files, self._handles, strict=True):
                self._current = p
                f.close()
                os.fsync(fd)
            self._close_handles()
            if not self.overwrite:  # one may have appeared while we were writing
                refuse_existing(self.paths)
            # Ctrl-C or SIGTERM between two renames would leave one file without the other:
            # they wait until all are in place.
            with signals.deferred():
                for p, tmp in zip(self.paths, self._temps, strict=True):
                    self._current = p
                    os.replace(tmp, p)
                self._temps = []
        return [
            WriteResult(path=p, subtype=self.subtype, clipped=c)
            for p, c in zip(self.paths, self.clipped, strict=True)
        ]

    def _close_handles(self) -> None:
        for fd in self._handles:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._handles = []

    def abort(self) -> None:
        """Remove the temporary files; no destination is touched (signals wait meanwhile)."""
        with signals.deferred():
            for f in self._files:
                try:
                    getattr(f, "abort", f.close)()  # an encoder is not flushed, just closed
                except Exception:  # closing a half-written file may fail too; it goes anyway
                    pass
            self._files = []
            self._close_handles()
            for tmp in self._temps:
                tmp.unlink(missing_ok=True)
            self._temps = []

    @contextlib.contextmanager
    def _errors(self):
        """Turn OS and libsndfile errors into AudioWriteError about the current file."""
        import soundfile as sf

        try:
            yield
        except OSError as exc:
            self.abort()
            raise write_error(exc, path=self._current) from None
        except sf.LibsndfileError as exc:
            self.abort()
            raise AudioWriteError(
                f"cannot write ({exc.error_string})", path=self._current
            ) from None
        except BaseException:
            self.abort()
            raise

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None or self._temps:
            self.abort()


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
    arrays = [np.asarray(y) for y in outputs.values()]
    channels = 1 if arrays[0].ndim == 1 else arrays[0].shape[0]
    writer = None
    try:  # not a with-statement: see AudioWriter on interruptions
        with signals.deferred():
            writer = AudioWriter(
                outputs, sr=sr, channels=channels, subtype=subtype, overwrite=overwrite
            )
        writer.write(*arrays)
        return writer.commit()
    finally:
        if writer is not None:
            writer.abort()  # nothing left to remove once committed
