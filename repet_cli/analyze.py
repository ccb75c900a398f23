"""How a song repeats, without separating it: the period, its confidence, the other candidates.

Only the channel-averaged power spectrogram and its beat spectrum are computed (Rafii & Pardo
2013, eq. 1-2), so an analysis costs a fraction of a separation and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import period as periods
from .algorithms import RepetOptions
from .algorithms.base import PeriodRange
from .errors import ParameterError
from .parallel import thread_budget
from .params import RepetParams

#: Bar lengths (beats per bar, bars) a period is read as when it is turned into a tempo: the
#: period search reaches four- and eight-bar cycles (a four-bar chord cycle at 90 bpm lasts
#: 10.7 s).
BAR_LENGTHS = ((4, 1), (4, 2), (3, 1), (4, 4), (4, 8))
#: Tempi outside this range (beats per minute) are not offered as readings of a period: slower
#: or faster readings of a long period are a bar count away from the song's tempo.
TEMPO_RANGE = (50.0, 200.0)


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """A repeating period the beat spectrum offers."""

    period: float  # seconds
    frames: float  # STFT frames (fractional)
    confidence: float  # prominence of its beat-spectrum peak


@dataclass(frozen=True, kw_only=True)
class Voice:
    """Where the lead voice sings, as the voice model follows it.

    Attributes
    ----------
    times : np.ndarray, shape (n_frames,)
        Seconds of each STFT frame's centre.
    f0 : np.ndarray, shape (n_frames,)
        The lead's fundamental in Hz, 0 where none is tracked.
    passages : tuple of (float, float)
        Start and end in seconds of each stretch where it sings (pauses shorter than
        :data:`PAUSE` joined, stretches shorter than :data:`SHORTEST` left out).
    """

    times: np.ndarray
    f0: np.ndarray
    passages: tuple[tuple[float, float], ...]

    @property
    def share(self) -> float:
        """The share of the input's frames with a tracked lead, 0 to 1."""
        return float(np.mean(self.f0 > 0)) if self.f0.size else 0.0


#: Pauses in the lead shorter than this (seconds) do not end a passage; shorter passages are
#: not listed.
PAUSE = 1.0
SHORTEST = 0.5


def voice_of(track, *, sr: int, hop: int) -> Voice:
    """The :class:`Voice` of a pitch track (:attr:`~repet_cli.separate.Separation.voice`)."""
    f0 = np.asarray(track.f0, dtype=np.float64)
    times = (np.arange(f0.size) * hop) / sr
    voiced = np.concatenate([[False], f0 > 0, [False]])
    edges = np.flatnonzero(np.diff(voiced.astype(np.int8)))
    starts, stops = edges[::2], edges[1::2]
    spans = [[times[a], times[b - 1] + hop / sr] for a, b in zip(starts, stops, strict=True)]
    joined: list[list[float]] = []
    for span in spans:
        if joined and span[0] - joined[-1][1] < PAUSE:
            joined[-1][1] = span[1]
        else:
            joined.append(span)
    passages = tuple((float(a), float(b)) for a, b in joined if b - a >= SHORTEST)
    return Voice(times=times, f0=f0, passages=passages)


@dataclass(frozen=True, kw_only=True)
class Analysis:
    """What :func:`analyze` found.

    Attributes
    ----------
    period : float
        The repeating period REPET would use, in seconds (as :func:`~repet_cli.separate`
        detects it).
    period_frames : float
        The same in STFT frames.
    confidence : float
        How clearly the input repeats at that period (the prominence of its beat-spectrum
        peak, 0 to 1).
    candidates : tuple of Candidate
        The strongest peaks of the beat spectrum in the period range, most prominent first.
    beat_spectrum : np.ndarray, shape (n_frames,)
        Lag 0 first, normalised to 1 at lag 0.
    sr, n_fft, hop : int
        Sample rate and STFT sizes.
    min_lag, max_lag : float
        The period range searched, in frames.
    recurrence : float or None
        How clearly the shape of the spectrum comes back, loudness set aside
        (:func:`~repet_cli.period.spectral_recurrence`; a bed that loops under speech shows
        there); None for inputs shorter than a minute.
    recurrence_period : float or None
        The lag in seconds at which it comes back most clearly (a bed's loop).
    warnings : tuple of str
        As :attr:`~repet_cli.separate.Separation.warnings` (silence, no clear repetition...).
    voice : Voice or None
        Where the lead voice sings and at what pitch, as the separation's voice model follows
        it (:func:`voice_of`); None when the options turn the voice model off.
    """

    period: float
    period_frames: float
    confidence: float
    candidates: tuple[Candidate, ...]
    beat_spectrum: np.ndarray
    sr: int
    n_fft: int
    hop: int
    min_lag: float
    max_lag: float
    recurrence: float | None
    recurrence_period: float | None
    warnings: tuple[str, ...]
    voice: Voice | None = None


def analyze(
    y: np.ndarray,
    *,
    sr: int,
    params: RepetParams | None = None,
    count: int = 5,
    threads: int | None = None,
) -> Analysis:
    """The repeating period of ``y`` and the other candidates, and where its lead voice sings.

    The period needs no separation; the voice does (the voice model follows the foreground of
    one, :func:`~repet_cli.separate`), so with the voice model on an analysis costs about as
    much as a separation.

    Parameters
    ----------
    y : np.ndarray, shape (samples,) or (channels, samples)
        The audio.
    sr : int
        Sample rate in Hz.
    params : RepetParams, optional
        Its STFT sizes, and the period range of its options where they have one (REPET's
        default range otherwise).
    count : int
        Most candidates returned.
    threads : int, optional
        Threads for the spectrogram (default: one per core).

    Raises
    ------
    InputTooShortError
        The input is too short for the period range.
    """
    from .separate import separate, separation_warnings, spectrograms

    params = RepetParams() if params is None else params
    audio = np.atleast_2d(np.asarray(y, dtype=np.float32))
    if audio.ndim != 2 or audio.shape[-1] == 0:
        raise ParameterError(
            f"audio must have shape (samples,) or (channels, samples), got {y.shape}"
        )
    n_fft, hop = params.stft_sizes(sr)
    ranged = params.options if isinstance(params.options, PeriodRange) else RepetOptions()
    lo, hi = ranged.period_range
    min_lag, max_lag = periods.lag_range(
        min_period=lo, max_period=hi, n_samples=audio.shape[-1], sr=sr, hop=hop
    )
    threads = thread_budget(threads)
    _, P = spectrograms(audio, n_fft=n_fft, hop=hop, threads=threads, magnitude=False, power=True)
    b = periods.beat_spectrum(P, threads=threads)
    chosen = periods.period_of(P, b, sr=sr, n_fft=n_fft, hop=hop, min_lag=min_lag, max_lag=max_lag)
    lag, confidence, recurrence = chosen.lag, chosen.confidence, chosen.recurrence
    recurrence_period = None
    if chosen.recurrence_lag is not None:
        recurrence_period = periods.frames_to_seconds(chosen.recurrence_lag, sr=sr, hop=hop)
    peaks, prominence = periods.peaks_in_range(b, min_lag=min_lag, max_lag=max_lag)
    order = np.argsort(-prominence, kind="stable")[:count]
    candidates = tuple(
        Candidate(
            period=periods.frames_to_seconds(frames, sr=sr, hop=hop),
            frames=frames,
            confidence=float(prominence[i]),
        )
        for i in order
        for frames in [periods.refine_peak(b, int(peaks[i]), min_lag=min_lag, max_lag=max_lag)]
    )
    voice = None
    if params.voiced:  # the voice model follows the foreground of a separation
        track = separate(audio, sr=sr, params=params, threads=threads).voice
        voice = None if track is None else voice_of(track, sr=sr, hop=hop)
    return Analysis(
        voice=voice,
        period=periods.frames_to_seconds(lag, sr=sr, hop=hop),
        period_frames=lag,
        confidence=confidence,
        candidates=candidates,
        beat_spectrum=b,
        sr=sr,
        n_fft=n_fft,
        hop=hop,
        min_lag=min_lag,
        max_lag=max_lag,
        recurrence=recurrence,
        recurrence_period=recurrence_period,
        warnings=separation_warnings(audio, confidence=confidence, recurrence=recurrence),
    )


def tempi(period: float) -> list[tuple[int, int, float]]:
    """Tempi a period implies, read as common bar lengths.

    Returns
    -------
    list of (beats per bar, bars, beats per minute)
        For each of :data:`BAR_LENGTHS` whose tempo lies in :data:`TEMPO_RANGE`.
    """
    found = []
    for beats, bars in BAR_LENGTHS:
        bpm = 60.0 * beats * bars / period
        if TEMPO_RANGE[0] <= bpm <= TEMPO_RANGE[1]:
            found.append((beats, bars, bpm))
    return found


def analyze_file(
    path,
    *,
    params: RepetParams | None = None,
    segment: float = 0.0,
    count: int = 5,
    threads: int | None = None,
):
    """Analyze an audio file, a segment at a time when it is long (as separation would cut it).

    Returns
    -------
    info : AudioInfo
        What the file is.
    parts : list of (start, stop, Analysis)
        One per segment (samples ``start .. stop - 1``), in order.

    Raises
    ------
    RepetError
        A problem with the file or the options, naming the file.
    """
    from .errors import RepetError
    from .io import AudioReader
    from .segments import plan_segments

    with AudioReader(path) as reader:
        info = reader.info
        parts = []
        try:
            for start, stop in plan_segments(info.frames, sr=info.samplerate, segment=segment):
                found = analyze(
                    reader.read(start, stop),
                    sr=info.samplerate,
                    params=params,
                    count=count,
                    threads=threads,
                )
                parts.append((start, stop, found))
        except RepetError as exc:
            exc.path = exc.path or str(path)
            raise
    return info, parts


def as_record(source, info, parts, *, rename=lambda message: message) -> dict:
    """The JSON-ready record of one input's analysis (``repet analyze --json``).

    ``rename`` turns the parameter names quoted in warnings into what the reader knows them as.
    """
    segments = []
    for start, stop, found in parts:
        segments.append(
            {
                "start": start / info.samplerate,
                "stop": stop / info.samplerate,
                "period": found.period,
                "period_frames": found.period_frames,
                "confidence": found.confidence,
                "tempi": [
                    {"beats_per_bar": b, "bars": n, "bpm": bpm} for b, n, bpm in tempi(found.period)
                ],
                "candidates": [
                    {"period": c.period, "frames": c.frames, "confidence": c.confidence}
                    for c in found.candidates
                ],
                "recurrence": found.recurrence,
                "recurrence_period": found.recurrence_period,
                "voice": None if found.voice is None else _voice_record(found.voice, start, info),
                "warnings": [rename(w) for w in found.warnings],
            }
        )
    return {"input": str(source), "status": "ok", "segments": segments}


def figure_paths(found, out) -> dict:
    """Where each input's figure goes, from :func:`~repet_cli.batch.find_inputs`' pairs: as
    `repet separate` lays out a folder's files, ``out/<folder inside the input>/<name>/``.

    Raises
    ------
    ParameterError
        Two inputs would draw the same figure.
    """
    from .batch.planning import FIGURE

    figures = {source: Path(out) / folder / Path(source).stem / FIGURE for source, folder in found}
    drawn: dict = {}
    for source, figure in figures.items():
        other = drawn.setdefault(figure, source)
        if other != source:
            raise ParameterError(
                f"{other} and {source} would both draw {figure}; analyze them into different "
                "`out` folders"
            )
    return figures


def analyze_files(
    sources: Iterable,
    *,
    params: RepetParams | None = None,
    segment: float = 0.0,
    count: int = 5,
    rename: Callable[[str], str] = str,
) -> Iterator[tuple[dict, tuple | None]]:
    """Analyze each input in turn (:func:`analyze_file`): its record (:func:`as_record`) and
    what :func:`analyze_file` returned, ``(info, parts)``; or a record of its failure
    (``"status": "failed"`` and the ``"error"``) and None.

    ``rename`` turns the parameter names quoted in errors and warnings into what the reader
    knows them as.
    """
    from .errors import RepetError

    for source in sources:
        try:
            info, parts = analyze_file(source, params=params, segment=segment, count=count)
        except RepetError as exc:
            yield {"input": str(source), "status": "failed", "error": rename(str(exc))}, None
            continue
        yield as_record(source, info, parts, rename=rename), (info, parts)


def pitch_curve(parts, info) -> tuple[np.ndarray, np.ndarray] | None:
    """The lead's pitch over the whole input from :func:`analyze_file`'s parts: seconds and Hz
    (NaN where none is tracked), or None without the voice model."""
    pieces = [(start, found.voice) for start, _, found in parts if found.voice is not None]
    if not pieces:
        return None
    times = np.concatenate([v.times + start / info.samplerate for start, v in pieces])
    f0 = np.concatenate([np.where(v.f0 > 0, v.f0, np.nan) for _, v in pieces])
    return times, f0


def _voice_record(voice: Voice, start: int, info) -> dict:
    """The JSON-ready summary of a segment's voice (times from the input's start)."""
    offset = start / info.samplerate
    sung = voice.f0[voice.f0 > 0]
    low, median, high = np.percentile(sung, [5, 50, 95]) if sung.size else (None,) * 3
    return {
        "share": voice.share,
        "f0_median": None if median is None else float(median),
        "f0_range": None if low is None else [float(low), float(high)],
        "passages": [[a + offset, b + offset] for a, b in voice.passages],
    }


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


#: Passages listed in the text of an analysis (all of them are in its JSON).
SHOWN_PASSAGES = 8


def as_text(source, record: dict) -> str:
    """The human-readable lines of one input's analysis (from :func:`as_record`)."""
    lines = []
    several = len(record["segments"]) > 1
    for part in record["segments"]:
        where = f"  {part['start']:.0f}-{part['stop']:.0f} s: " if several else f"{source}: "
        lines.append(
            f"{where}period {part['period']:.3f} s ({part['period_frames']:.2f} frames), "
            f"repetition confidence {part['confidence']:.2f}"
        )
        indent = "    " if several else "  "
        if part["tempi"]:
            readings = ", ".join(
                f"{t['bpm']:.1f} bpm if {_bars(t['bars'])} of {t['beats_per_bar']}/4"
                for t in part["tempi"]
            )
            lines.append(f"{indent}tempo: {readings}")
        listed = ", ".join(
            f"{c['period']:.3f} s ({c['confidence']:.2f})" for c in part["candidates"]
        )
        lines.append(f"{indent}candidates: {listed}")
        sung = part.get("voice")
        if sung is not None and sung["f0_median"] is None:
            lines.append(f"{indent}voice: no pitched lead found")
        elif sung is not None:
            low, high = sung["f0_range"]
            passages = sung["passages"]
            listed = ", ".join(f"{_clock(a)}-{_clock(b)}" for a, b in passages[:SHOWN_PASSAGES])
            more = len(passages) - SHOWN_PASSAGES
            listed += f" and {more} more" if more > 0 else ""
            lines.append(
                f"{indent}voice: a pitched lead in {sung['share']:.0%} of it, {low:.0f}-"
                f"{high:.0f} Hz (median {sung['f0_median']:.0f} Hz); sings at {listed}"
                if passages
                else f"{indent}voice: a pitched lead in {sung['share']:.0%} of it, {low:.0f}-"
                f"{high:.0f} Hz (median {sung['f0_median']:.0f} Hz)"
            )
        if part.get("recurrence") is not None:
            lines.append(
                f"{indent}spectral recurrence {part['recurrence']:.2f} (how clearly a bed under "
                f"a voice loops), clearest at {part['recurrence_period']:.3f} s"
            )
    if several:
        lines.insert(0, f"{source}: {len(record['segments'])} segments")
    if "figure" in record:
        lines.append(f"  figure: {record['figure']}")
    return "\n".join(lines)


def _bars(n: int) -> str:
    return "one bar" if n == 1 else f"{n} bars"
