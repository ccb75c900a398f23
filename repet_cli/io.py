"""Audio files in and out, whatever their format: the package's one door to them.

Inside the library audio is a channels-first float32 array ``y[channels, samples]``; it is
transposed exactly once on the way in and once on the way out.

This module chooses the library for each file and imports neither itself: what libsndfile
reads and writes (WAV, FLAC, Ogg, AIFF, ...) goes through :mod:`repet_cli.soundfile_io`, the
one module that talks to soundfile; what it cannot (M4A, MP4, MKV, WebM, MP3, Opus, ...) goes
through the modules that talk to PyAV: :mod:`repet_cli.pyav_probe` reads its header,
:mod:`repet_cli.pyav_decode` decodes it into a temporary float WAV, and
:mod:`repet_cli.pyav_encode` writes MP3, Opus and M4A. Imports point one way: this module uses
those, and none of them uses it (:mod:`repet_cli.pyav_remux`, which reads a stem through
:class:`AudioReader`, sits above it).

What outputs can be (:mod:`repet_cli.formats`) and files made whole or not at all
(:mod:`repet_cli.files`) are re-exported here, where callers have always found them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from . import files, signals, soundfile_io
from .errors import AudioReadError, ParameterError, RepetError, write_error
from .files import (
    STDIN,
    TEMPORARY_SUFFIX,
    refuse_existing,
    replace_file,
    temporaries_of,
    whole_or_nothing,
)
from .formats import (
    FALLBACK_SUBTYPE,
    LOSSY_FORMATS,
    OUTPUT_SUBTYPES,
    WAV_KEEP_SUBTYPES,
    WRITABLE_FORMATS,
    AudioInfo,
    WriteResult,
    output_format,
    output_subtype,
)
from .parallel import ordered_map

__all__ = [
    "FALLBACK_SUBTYPE",
    "LOSSY_FORMATS",
    "OUTPUT_SUBTYPES",
    "STDIN",
    "TEMPORARY_SUFFIX",
    "WAV_KEEP_SUBTYPES",
    "WRITABLE_FORMATS",
    "AudioInfo",
    "AudioReader",
    "AudioWriter",
    "WriteResult",
    "load_audio",
    "output_format",
    "output_subtype",
    "probe",
    "refuse_existing",
    "replace_file",
    "temporaries_of",
    "whole_or_nothing",
    "write_audio",
    "write_audio_files",
]


def probe(path: str | os.PathLike, *, stream: int | None = None) -> AudioInfo | None:
    """What an audio or video file's header says, or None when it cannot be read (reading it
    will say why). Reads the header only; standard input and pipes are not touched (None).

    For what libsndfile cannot read, the header of the audio stream ``stream`` (default the
    first) as ffmpeg reads it (:func:`repet_cli.pyav_probe.probe`); its length in samples is
    then the header's duration, which can be off by a few milliseconds.
    """
    try:
        if os.fspath(path) == STDIN or not stat.S_ISREG(os.stat(path).st_mode):
            return None
        return soundfile_io.info(path)
    except soundfile_io.Unsupported:
        return _probe_media(path, stream=stream)
    except Exception:  # not there, not audio, not readable: the job that reads it reports it
        return None


def _probe_media(path: str | os.PathLike, *, stream: int | None) -> AudioInfo | None:
    from . import pyav_probe

    found = pyav_probe.probe(path)
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
        Any format the installed libsndfile reads (WAV, FLAC, OGG, AIFF, ...), or that
        ffmpeg decodes (decoded into a temporary float WAV first); ``-`` for standard input.
    stream : int, optional
        Which audio stream of a media file, counted from 0; the first by default.

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
            self._file = soundfile_io.Reader(source, path=p)
            if stream:  # libsndfile's formats hold one stream
                raise AudioReadError(f"has no audio stream {stream}: it holds one (0)", path=p)
        except soundfile_io.Unsupported as exc:
            info = self._decode(source, stream=stream, reason=exc.reason)
        except (RuntimeError, OSError, ValueError) as exc:
            raise AudioReadError(f"cannot read audio ({exc})", path=p) from None
        found = self._file.info
        self.info = (
            found
            if info is None
            else dataclasses.replace(found, format=info.format, subtype=info.subtype)
        )
        truncated = None if info is not None else self._file.truncated()
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
        return self._file.read(start, stop)

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
        through :mod:`repet_cli.pyav_decode`, and open that; what the input was."""
        from . import pyav_decode, pyav_probe

        if pyav_probe.probe(source) is None:
            raise AudioReadError(
                f"not a readable audio file ({reason}; nor audio or video that ffmpeg reads)",
                path=self.path,
            )
        tmp = self._temporary(".wav")
        try:
            info = pyav_decode.decode_to_wav(source, tmp, stream=stream)
        except RepetError as exc:
            exc.path = os.fspath(self.path)
            raise
        self._file = soundfile_io.Reader(tmp, path=self.path)
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
        libsndfile; ``"mp3"``, ``"opus"``, ``"m4a"`` (AAC) through :mod:`repet_cli.pyav_encode`.
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
                    tmp, fd = files.open_temp(p)
                    self._temps.append(tmp)
                    self._handles.append(fd)
                self._files.append(self._open(p, tmp, fd))

    def _open(self, p: Path, tmp: Path, fd: int):
        """The writer of the temporary file of ``p``: libsndfile's on ``fd``, or an encoder."""
        if self.format in soundfile_io.FORMATS:
            return soundfile_io.Writer(
                fd,
                sr=self.sr,
                channels=self.channels,
                subtype=self.subtype,
                format=self.format,
                path=p,
            )
        from .pyav_encode import MediaWriter

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
                if self.format not in soundfile_io.FORMATS:
                    self._files[i].write(frames.astype(np.float32, copy=False))
                    return None
                self.clipped[i] += self._files[i].write(frames)
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
        """Turn OS errors into AudioWriteError about the current file (libsndfile's are
        turned into it by :class:`~repet_cli.soundfile_io.Writer`); remove the temporary
        files on any error."""
        try:
            yield
        except OSError as exc:
            self.abort()
            raise write_error(exc, path=self._current) from None
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
