"""Long inputs, separated segment by segment: memory does not grow with the input's length.

An input longer than one and a half segments is cut into segments of about ``segment``
seconds that overlap by :data:`CROSSFADE` seconds. Each segment is separated on its own (its
own period and model: over an hour, one period does not hold anyway; the authors' "extended
REPET" works the same way with 10-s segments), and the backgrounds of two neighbouring
segments are crossfaded where they overlap. The foreground is the input minus the background,
so the stems still add up to the input exactly. :func:`separate_segments` reads and writes a
segment at a time through callables; :func:`separate_file` connects it to files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import signals
from .errors import ParameterError, RepetError
from .params import RepetParams
from .separate import Separation, separate

#: Seconds by which neighbouring segments overlap; the backgrounds are crossfaded over it.
CROSSFADE = 4.0
#: Default segment length in seconds: inputs up to 1.5 times as long are separated whole.
DEFAULT_SEGMENT = 300.0


@dataclass(frozen=True, kw_only=True)
class SegmentReport:
    """What the separation of one segment found (the audio is written, not kept).

    Attributes
    ----------
    start, stop : int
        The segment's samples in the input.
    algorithm : str
        The algorithm that modelled the background.
    period : float or None
        Repeating period in seconds (see :class:`~repet_cli.separate.Separation`).
    period_forced : bool
        True when the period was given.
    local_periods : np.ndarray or None
        ``adaptive`` only: the period of every frame, in seconds.
    n_fft, hop : int
        STFT sizes used.
    confidence : float or None
        How clearly the segment repeats at its period (``repet`` with a detected period).
    warnings : tuple of str
        Problems with the segment's audio (see :class:`~repet_cli.separate.Separation`).
    """

    start: int
    stop: int
    algorithm: str
    period: float | None
    period_forced: bool
    local_periods: np.ndarray | None
    n_fft: int
    hop: int
    confidence: float | None = None
    warnings: tuple[str, ...] = ()

    @classmethod
    def of(cls, result: Separation, *, start: int, stop: int) -> SegmentReport:
        """The report of a :class:`~repet_cli.separate.Separation` of samples start..stop."""
        return cls(
            start=start,
            stop=stop,
            algorithm=result.algorithm,
            period=result.period,
            period_forced=result.period_forced,
            local_periods=result.local_periods,
            n_fft=result.n_fft,
            hop=result.hop,
            confidence=result.confidence,
            warnings=result.warnings,
        )


def shortest_segment(params: RepetParams) -> float:
    """Shortest ``segment`` (whole seconds) for ``params``, >= :data:`MIN_SEGMENT`.

    Every segment, even one of 3/4 of ``segment`` (an input just over 1.5 segments long is
    cut in two), must hold the repetitions the algorithm's period (range) needs.
    """
    return params.options.shortest_segment()


def check_segment(segment: float, params: RepetParams) -> None:
    """Refuse a ``segment`` length too short for ``params`` (:func:`shortest_segment`).

    Raises
    ------
    ParameterError
    """
    shortest = shortest_segment(params)
    if segment and segment < shortest:
        raise ParameterError(
            f"`segment` must be 0 (no segments) or at least {shortest:g} s for these options, "
            f"got {segment:g}"
        )


def plan_segments(
    n_samples: int, *, sr: int, segment: float, overlap: float = CROSSFADE
) -> list[tuple[int, int]]:
    """Sample ranges ``(start, stop)`` of the segments of an input.

    The whole input when ``segment`` is 0 or the input is at most 1.5 segments long; else
    ``round(length / segment)`` segments of equal length, each extended by half the overlap
    on either side (not beyond the input).
    """
    length = segment * sr
    if segment <= 0 or n_samples <= 1.5 * length:
        return [(0, n_samples)]
    count = round(n_samples / length)
    half = round(overlap * sr / 2)
    bounds = [round(k * n_samples / count) for k in range(count + 1)]
    return [(max(0, bounds[k] - half), min(n_samples, bounds[k + 1] + half)) for k in range(count)]


def _fade_in(n: int) -> np.ndarray:
    """Raised-cosine ramp of ``n`` samples from 0 to 1; with its complement it sums to 1."""
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)


def separate_segments(
    read: Callable[[int, int], np.ndarray],
    write: Callable[[np.ndarray, np.ndarray], None],
    *,
    n_samples: int,
    sr: int,
    params: RepetParams | None = None,
    segment: float = DEFAULT_SEGMENT,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[SegmentReport]:
    """Separate an input of ``n_samples`` a segment at a time.

    Parameters
    ----------
    read : callable
        ``read(start, stop)`` returns samples ``start .. stop - 1`` as ``y[channels, n]``.
    write : callable
        ``write(background, foreground)`` takes the next block of both stems, in order; the
        blocks together cover the input once.
    n_samples, sr : int
        Length and sample rate of the input.
    params : RepetParams, optional
        Separation options; the defaults when omitted.
    segment : float
        Segment length in seconds (0: the whole input at once); see :func:`plan_segments`.
    threads : int, optional
        Threads for each separation (see :func:`~repet_cli.separate.separate`).
    progress : callable, optional
        Called with the number of input samples done (rising), many times per segment.

    Returns
    -------
    list of SegmentReport
        One per segment, in order.

    Raises
    ------
    ParameterError
        ``segment`` is too short for the options (:func:`shortest_segment`).
    """
    params = RepetParams() if params is None else params
    check_segment(segment, params)
    spans = plan_segments(n_samples, sr=sr, segment=segment)
    reports = []
    carried = None  # background of the overlap with the previous segment
    for k, (start, stop) in enumerate(spans):
        y = read(start, stop)
        # Samples before the next segment's start are final after this one; the rest waits.
        end = spans[k + 1][0] - start if k + 1 < len(spans) else stop - start
        within = None
        if progress is not None:
            within = lambda share, start=start, end=end: progress(start + int(share * end))  # noqa: E731
        result = separate(y, sr=sr, params=params, threads=threads, progress=within)
        background = np.atleast_2d(result.background)
        foreground = np.atleast_2d(result.foreground)  # y - background
        if carried is not None:
            n = carried.shape[-1]
            ramp = _fade_in(n)
            background[:, :n] = carried * (1 - ramp) + background[:, :n] * ramp
            foreground[:, :n] = y[:, :n] - background[:, :n]
        write(background[:, :end], foreground[:, :end])
        carried = background[:, end:].copy() if k + 1 < len(spans) else None
        reports.append(SegmentReport.of(result, start=start, stop=stop))
        del result, background, foreground, y
        if progress is not None:
            progress(start + end)
    return reports


def separate_file(
    source,
    background,
    foreground,
    *,
    params: RepetParams | None = None,
    segment: float = DEFAULT_SEGMENT,
    format: str | None = None,
    subtype: str | None = None,
    bitrate: int | None = None,
    stream: int | None = None,
    overwrite: bool = False,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
):
    """Separate an audio file into two files, a segment at a time; both appear, or neither.

    Parameters
    ----------
    source, background, foreground : str or os.PathLike
        The input and the two outputs (their folders must exist); one of the outputs may be
        None, and that stem is not written.
    params, segment, threads, progress
        As for :func:`separate_segments`.
    format, subtype : str, optional
        Output format and subtype. The format defaults to the outputs' extension (one of
        :data:`~repet_cli.formats.WRITABLE_FORMATS`), else :func:`~repet_cli.formats.output_format`
        decides, as it does the subtype (by default the input's where the format holds it).
    bitrate : int, optional
        Bits per second of a lossy output format (MP3, Opus, M4A).
    stream : int, optional
        Which audio stream of the input (0, the default: the first).
    overwrite : bool
        Replace existing outputs; without it they raise
        :class:`~repet_cli.errors.OutputExistsError`.

    Returns
    -------
    reports : list of SegmentReport
    info : AudioInfo
        What the input was.
    written : list of WriteResult
        What each output got (and how many samples a PCM format clipped).

    Raises
    ------
    RepetError
        Any problem with the input, the options or the outputs, naming the file.
    """
    from .formats import WRITABLE_FORMATS, output_format
    from .io import AudioReader, AudioWriter

    targets = [p for p in (background, foreground) if p is not None]
    if not targets:
        raise ParameterError("no output: give `background`, `foreground` or both")
    with AudioReader(source, stream=stream) as reader:
        info = reader.info
        suffix = os.path.splitext(os.fspath(targets[0]))[1].lower().lstrip(".")
        if format is None and suffix in WRITABLE_FORMATS:
            format = suffix
        try:
            out_format, out_subtype = output_format(info, format=format, subtype=subtype)
            writer = None
            try:  # not a with-statement: see AudioWriter on interruptions
                with signals.deferred():
                    writer = AudioWriter(
                        targets,
                        sr=info.samplerate,
                        channels=info.channels,
                        subtype=out_subtype,
                        overwrite=overwrite,
                        format=out_format,
                        bitrate=bitrate,
                    )
                if background is None:
                    write = lambda _, fg: writer.write(fg)  # noqa: E731
                elif foreground is None:
                    write = lambda bg, _: writer.write(bg)  # noqa: E731
                else:
                    write = writer.write
                reports = separate_segments(
                    reader.read,
                    write,
                    n_samples=info.frames,
                    sr=info.samplerate,
                    params=params,
                    segment=segment,
                    threads=threads,
                    progress=progress,
                )
                return reports, info, writer.commit()
            finally:
                if writer is not None:
                    writer.abort()  # nothing left to remove once committed
        except RepetError as exc:
            exc.path = exc.path or str(source)
            raise


def segment_warnings(reports: list[SegmentReport], *, sr: int) -> tuple[str, ...]:
    """The warnings of all segments, each once; with several segments, saying where."""
    if len(reports) == 1:
        return reports[0].warnings
    found = []
    for r in reports:
        for warning in r.warnings:
            found.append(f"{r.start / sr:.0f}-{r.stop / sr:.0f} s: {warning}")
    return tuple(found)


def describe(reports: list[SegmentReport]) -> str:
    """What a separation found, in a few words: the period for the algorithms that have one."""
    segments = f" in {len(reports)} segments" if len(reports) > 1 else ""
    first = reports[0]
    if first.local_periods is not None:
        lo = min(float(r.local_periods.min()) for r in reports)
        hi = max(float(r.local_periods.max()) for r in reports)
        median = float(np.median(np.concatenate([r.local_periods for r in reports])))
        if first.algorithm == "adaptive":
            return f"period {lo:.2f}-{hi:.2f} s (adaptive, median {median:.3f} s){segments}"
        if round(lo, 2) == round(hi, 2):
            return f"period {median:.3f} s (detected, per window){segments}"
        return f"period {lo:.2f}-{hi:.2f} s (detected per window, median {median:.3f} s){segments}"
    if first.period is not None:
        how = "forced" if first.period_forced else "detected"
        found = [r.period for r in reports]
        if len(set(found)) == 1:
            return f"period {first.period:.3f} s ({how}){segments}"
        return f"period {min(found):.3f}-{max(found):.3f} s ({how}){segments}"
    return f"{first.algorithm} (no single period){segments}"
