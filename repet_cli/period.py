"""Repeating-period detection: the beat spectrum and its best peak.

All conversions between seconds and STFT frames live here. Lags are 0-based: lag ``j`` of the
beat spectrum compares frame ``t`` with frame ``t + j``, and a period of ``j`` frames lasts
``j * hop / sr`` seconds (the authors' reference code reports ``j + 1``, one frame too long).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .errors import InputTooShortError, ParameterError
from .parallel import ordered_map

#: The detected period is at most this fraction of the input, so at least three repetitions
#: take part in the median (Rafii & Pardo 2013 use the same bound).
MIN_REPETITIONS_DETECTED = 3
#: A forced period needs at least this many repetitions in the input.
MIN_REPETITIONS_FORCED = 2

#: A beat-spectrum peak at a whole fraction (1/2, 1/3, ...) of the strongest peak is taken as
#: the period when its prominence is at least this fraction of the strongest one's: a loop of
#: period T repeats at 2T and 3T just as well, and the shortest such lag is its period.
SUBMULTIPLE_PROMINENCE = 0.8
#: A peak at 4/3 of the chosen lag is taken instead when its prominence is at least this
#: fraction of the chosen one's: beats come in twos and fours far more often than in threes,
#: so when three beats and four (a bar of 4/4) repeat about equally well, the bar is the loop.
#: "Lithium" (124 bpm): three beats 0.63, the bar 0.62, two beats 0.59.
BAR_OVER_THREE_BEATS = 0.9


def frames_to_seconds(frames: float, *, sr: float, hop: int) -> float:
    """Convert a lag or duration in STFT frames to seconds."""
    return float(frames) * hop / sr


def seconds_to_frames(seconds: float, *, sr: float, hop: int) -> float:
    """Convert a lag or duration in seconds to (fractional) STFT frames."""
    return float(seconds) * sr / hop


def beat_spectrum(P: np.ndarray, *, threads: int = 1, block: int = 64) -> np.ndarray:
    """Beat spectrum of a power spectrogram (Rafii & Pardo 2013, eq. 1-2).

    The unbiased autocorrelation of every frequency row over time, averaged over frequency
    and normalised by its value at lag 0.

    Parameters
    ----------
    P : np.ndarray, shape (..., n_freq, n_frames)
        Power spectrogram (squared magnitude), or any real rows to autocorrelate; leading
        axes are averaged like frequency rows.
    threads : int
        Threads the rows are spread over; the result does not depend on it.
    block : int
        Rows transformed at a time (bounds the memory of their spectra).

    Returns
    -------
    b : np.ndarray, shape (n_frames,), float64
        ``b[j]`` measures how similar the spectrogram is to itself ``j`` frames later;
        ``b[0] == 1`` (all zeros for a silent input).
    """
    n_frames = P.shape[-1]
    rows = np.asarray(P).reshape(-1, n_frames)
    return _autocorrelation(
        lambda a, b: rows[a:b].astype(np.float32, copy=False),
        rows.shape[0],
        n_frames,
        threads=threads,
        block=block,
    )


def _autocorrelation(
    rows_of: Callable[[int, int], np.ndarray],
    n_rows: int,
    n_frames: int,
    *,
    threads: int = 1,
    block: int = 64,
) -> np.ndarray:
    """The unbiased autocorrelation over time of ``n_rows`` rows, summed over the rows and
    normalised to 1 at lag 0; ``rows_of(a, b)`` gives rows ``a`` to ``b - 1`` as float32
    (so that they may be computed a block at a time, never held whole)."""
    import scipy.fft

    n = scipy.fft.next_fast_len(2 * n_frames - 1, real=True)

    def power(first: int) -> np.ndarray:
        chunk = rows_of(first, min(first + block, n_rows))
        spectrum = scipy.fft.rfft(chunk, n=n, axis=-1, workers=1)
        return np.sum(spectrum.real**2 + spectrum.imag**2, axis=0, dtype=np.float64)

    # Wiener-Khinchin: the autocorrelation is the inverse transform of the power spectrum.
    # The inverse transform is linear, so the sum over rows is taken before it (in row order,
    # whatever the threads).
    total = np.zeros(n // 2 + 1)
    for part in ordered_map(power, range(0, n_rows, block), threads=threads):
        total += part
    acf = scipy.fft.irfft(total, n=n)[:n_frames]
    acf /= n_frames - np.arange(n_frames)  # unbiased: divide by the number of overlapping frames
    if not acf[0] > 0:
        return np.zeros(n_frames)
    return acf / acf[0]


#: :func:`spectral_recurrence` looks at the bins below this frequency (Hz), where a music
#: bed's chords and bass sit.
RECURRENCE_TOP = 4000.0
#: Inputs at least this long (seconds) have their spectral recurrence measured; on shorter
#: ones it is too noisy.
RECURRENCE_SECONDS = 60.0
#: Below this spectral recurrence nothing in the input comes back at a steady period.
#: Measured on whole inputs and on every 60-s window of them (default STFT, periods 0.8-16
#: s): the two full songs and four synthetic songs 0.12-0.89, speech over a bed that loops
#: 0.09-0.22; speech over the same beds with chords that never come back, over chords at
#: free times, or over pink noise 0.02-0.06.
LOW_RECURRENCE = 0.075
#: Below this repetition confidence the beat spectrum follows the loudest part of the input
#: (a voice) rather than what repeats under it: where the spectral recurrence is at least
#: :data:`LOW_RECURRENCE` there, its lag is the period (a bed's loop under speech). The
#: podcast-style items measure 0.02 and 0.04, whole songs 0.2 and more.
VOICE_OVER_BED_CONFIDENCE = 0.1


def spectral_recurrence(
    S: np.ndarray,
    *,
    sr: float,
    n_fft: int,
    min_lag: float,
    max_lag: float,
    magnitude: bool = False,
    block: int = 32,
) -> tuple[float, float]:
    """How clearly the shape of the spectrum comes back at some lag, loudness set aside.

    A variant of the beat spectrum that a loud voice does not dominate: the power's logarithm
    (relative to its mean) below :data:`RECURRENCE_TOP`, with each bin's mean over time and
    each frame's mean over frequency removed, so that neither the long-term spectrum nor the
    loudness envelope (speech coming and going, a bed ducked under it) counts, only which
    notes and chords sound. A music bed that loops under speech stands out there (its loop or
    a bar of it) while the plain beat spectrum follows the speech's rhythm.

    Parameters
    ----------
    S : np.ndarray, shape (..., n_freq, n_frames)
        Power spectrogram, or magnitude with ``magnitude``; leading axes (channels) are
        averaged as power. Only its rows below :data:`RECURRENCE_TOP` are read, ``block`` at
        a time (the memory taken stays a few blocks' worth).
    sr, n_fft : int
        Sample rate and STFT size.
    min_lag, max_lag : float
        Lag range in frames, as for :func:`estimate_period_with_confidence`.

    Returns
    -------
    lag : float
        The lag in frames at which the spectrum's shape recurs most clearly.
    recurrence : float
        The prominence of that peak (0 to 1): measured over whole minutes, 0.09-0.9 for
        songs and for loops under speech, at most 0.06 for speech over a bed that does not
        loop or over noise.
    """
    S = np.asarray(S)
    n_frames = S.shape[-1]
    S = S.reshape(-1, *S.shape[-2:])
    n_rows = max(1, min(S.shape[-2], int(RECURRENCE_TOP * n_fft / sr)))

    def power(a: int, b: int) -> np.ndarray:
        rows = np.zeros((b - a, n_frames), dtype=np.float32)
        for channel in S:
            part = channel[a:b].astype(np.float32, copy=False)
            rows += np.square(part) if magnitude else part
        rows /= len(S)
        return rows

    # Three passes (the mean level, the means, the autocorrelation) each compute their blocks
    # again: 30 ms on a 3-minute song, where holding the rows would add 40 MiB to its peak.
    spans = [(a, min(a + block, n_rows)) for a in range(0, n_rows, block)]
    level = sum(float(power(a, b).sum(dtype=np.float64)) for a, b in spans) / (n_rows * n_frames)
    if not level > 0:
        return float(math.ceil(min_lag)), 0.0
    scale = np.float32(100.0 / level)  # power / 1 % of its mean: magnitude / 10 % of it

    def shape(a: int, b: int) -> np.ndarray:
        rows = power(a, b)
        rows *= scale
        return np.log1p(rows, out=rows)

    # Each bin's mean over time, then each frame's mean over the bins so centred.
    bin_means = np.empty(n_rows)
    frame_sums = np.zeros(n_frames)
    for a, b in spans:
        rows = shape(a, b)
        bin_means[a:b] = rows.mean(axis=-1, dtype=np.float64)
        frame_sums += rows.sum(axis=0, dtype=np.float64)
    frame_means = (frame_sums / n_rows - bin_means.mean()).astype(np.float32)

    def centred(a: int, b: int) -> np.ndarray:
        rows = shape(a, b)
        rows -= bin_means[a:b, None].astype(np.float32)
        rows -= frame_means
        return rows

    b = _autocorrelation(centred, n_rows, n_frames, block=block)
    return estimate_period_with_confidence(b, min_lag=min_lag, max_lag=max_lag)


class PeriodChoice(NamedTuple):
    """What :func:`period_of` found."""

    lag: float  # the period in frames
    confidence: float  # the beat spectrum's confidence at its own period
    recurrence: float | None  # the spectral recurrence; None under RECURRENCE_SECONDS
    recurrence_lag: float | None  # the lag at which the spectrum's shape recurs most clearly


def period_of(
    S: np.ndarray,
    b: np.ndarray,
    *,
    sr: float,
    n_fft: int,
    hop: int,
    min_lag: float,
    max_lag: float,
    magnitude: bool = False,
) -> PeriodChoice:
    """The period REPET uses, from the beat spectrum ``b`` of the spectrogram ``S``.

    The beat spectrum's period (:func:`estimate_period_with_confidence`), unless it repeats
    weakly (below :data:`VOICE_OVER_BED_CONFIDENCE`) in an input of a minute or more whose
    spectral recurrence (:func:`spectral_recurrence`, of ``S``: power, or magnitude with
    ``magnitude``) is clear (at least :data:`LOW_RECURRENCE`): then a voice hides a looping
    bed, and the recurrence's lag is the period.
    """
    lag, confidence = estimate_period_with_confidence(b, min_lag=min_lag, max_lag=max_lag)
    if S.shape[-1] * hop < RECURRENCE_SECONDS * sr:
        return PeriodChoice(lag, confidence, None, None)
    bed, recurrence = spectral_recurrence(
        S, sr=sr, n_fft=n_fft, min_lag=min_lag, max_lag=max_lag, magnitude=magnitude
    )
    if confidence < VOICE_OVER_BED_CONFIDENCE and recurrence >= LOW_RECURRENCE:
        lag = bed
    return PeriodChoice(lag, confidence, recurrence, bed)


def lag_range(
    *, min_period: float, max_period: float, n_samples: int, sr: float, hop: int
) -> tuple[float, float]:
    """Period search range in frames, limited so the period repeats at least three times.

    Raises
    ------
    InputTooShortError
        When not even the shortest period fits three times into the input.
    """
    duration = n_samples / sr
    longest = min(max_period, duration / MIN_REPETITIONS_DETECTED)
    lo = seconds_to_frames(min_period, sr=sr, hop=hop)
    hi = seconds_to_frames(longest, sr=sr, hop=hop)
    if math.ceil(lo) > math.floor(hi) or longest < min_period:
        need = MIN_REPETITIONS_DETECTED * min_period
        raise InputTooShortError(
            f"the input is {duration:.2f} s long, too short to detect a repeating period of "
            f"{min_period:g} s or more (that needs {need:g} s: three repetitions); force a "
            "period (`period`) or lower the shortest period searched (`min_period`)"
        )
    return lo, hi


def forced_lag(period: float, *, n_samples: int, sr: float, hop: int) -> float:
    """A forced period in (fractional) frames, checked against the input's length."""
    duration = n_samples / sr
    if MIN_REPETITIONS_FORCED * period > duration:
        raise InputTooShortError(
            f"the input is {duration:.2f} s long, too short for a period of {period:g} s "
            f"(that needs {MIN_REPETITIONS_FORCED * period:g} s: two repetitions); "
            "choose a shorter `period`"
        )
    lag = seconds_to_frames(period, sr=sr, hop=hop)
    if lag < 1:
        raise ParameterError(
            f"a period of {period:g} s is shorter than one STFT hop ({hop / sr:.4f} s)"
        )
    return lag


def estimate_period(b: np.ndarray, *, min_lag: float, max_lag: float) -> float:
    """The repeating period, in fractional frames, from a beat spectrum.

    The most prominent peak of ``b`` between ``min_lag`` and ``max_lag`` is found; if a peak
    near one of its whole fractions (1/2, 1/3, ...) is nearly as prominent, that shorter lag is
    the period (a loop of period T also repeats at 2T). If a peak at 4/3 of that lag is nearly
    as prominent, it is the period instead: three beats and a bar of four repeat about equally
    well in a steady 4/4 groove, and the bar is the loop. The peak is refined to sub-frame
    precision by fitting a parabola through it and its two neighbours.

    Parameters
    ----------
    b : np.ndarray, shape (n_frames,)
        Beat spectrum, lag 0 first.
    min_lag, max_lag : float
        Search range in frames; ``1 <= min_lag <= max_lag < len(b) - 1``.

    Returns
    -------
    float
        The period in frames (0-based lag).

    See Also
    --------
    estimate_period_with_confidence : the same period and how clearly the input repeats at it.
    """
    return estimate_period_with_confidence(b, min_lag=min_lag, max_lag=max_lag)[0]


def estimate_period_with_confidence(
    b: np.ndarray, *, min_lag: float, max_lag: float
) -> tuple[float, float]:
    """The repeating period of :func:`estimate_period`, and the confidence in it.

    The confidence is the prominence of the beat-spectrum peak chosen as the period (the
    height it stands above the valleys on either side, as used to choose it). With ``b``
    normalised so that ``b[0] == 1`` (as :func:`beat_spectrum` returns it) it lies in [0, 1]
    (up to estimation error): near 1 when the spectrogram repeats almost exactly at that lag,
    near 0 when the beat spectrum has no clear peak (white noise, a steady tone); 0 when there
    is no peak in range.

    Parameters
    ----------
    b : np.ndarray, shape (n_frames,)
        Beat spectrum, lag 0 first.
    min_lag, max_lag : float
        Search range in frames; ``1 <= min_lag <= max_lag < len(b) - 1``.

    Returns
    -------
    period : float
        The period in frames (0-based lag), as :func:`estimate_period` returns it.
    confidence : float
        Prominence of the peak at that period.
    """
    b = np.asarray(b, dtype=np.float64)
    peaks, prominence = peaks_in_range(b, min_lag=min_lag, max_lag=max_lag)
    if len(peaks) == 0 or not prominence.max() > 0:
        # No peak in range (a flat or monotonic beat spectrum): take the highest value.
        lo, hi = math.ceil(min_lag), math.floor(max_lag)
        return float(lo + np.argmax(b[lo : hi + 1])), 0.0
    best = int(np.argmax(prominence))
    chosen = best
    for i in range(best):  # shorter lags first
        k = round(peaks[best] / peaks[i])
        close = abs(peaks[best] - k * peaks[i]) <= (k + 1) / 2
        if k >= 2 and close and prominence[i] >= SUBMULTIPLE_PROMINENCE * prominence[best]:
            chosen = i
            break
    for i in range(chosen + 1, len(peaks)):
        four_thirds = abs(3 * peaks[i] - 4 * peaks[chosen]) <= 2  # within 2/3 of a frame
        if four_thirds and prominence[i] >= BAR_OVER_THREE_BEATS * prominence[chosen]:
            chosen = i
            break
    lag = refine_peak(b, int(peaks[chosen]), min_lag=min_lag, max_lag=max_lag)
    return lag, float(prominence[chosen])


def peaks_in_range(
    b: np.ndarray, *, min_lag: float, max_lag: float
) -> tuple[np.ndarray, np.ndarray]:
    """The beat spectrum's peaks between ``min_lag`` and ``max_lag`` and their prominences.

    Returns
    -------
    peaks : np.ndarray of int
        Lags of the local maxima in range, shortest first.
    prominence : np.ndarray
        Prominence of each (see :func:`prominences`).

    Raises
    ------
    ParameterError
        When the range does not fit the beat spectrum.
    """
    b = np.asarray(b, dtype=np.float64)
    lo, hi = math.ceil(min_lag), math.floor(max_lag)
    if not (1 <= lo <= hi < len(b) - 1):
        raise ParameterError(
            f"lag range [{min_lag:g}, {max_lag:g}] frames does not fit a beat spectrum of "
            f"{len(b)} lags"
        )
    peaks = local_maxima(b[: hi + 2])
    prominence = prominences(b[: hi + 2], peaks)
    inside = (peaks >= lo) & (peaks <= hi)
    return peaks[inside], prominence[inside]


def refine_peak(b: np.ndarray, j: int, *, min_lag: float, max_lag: float) -> float:
    """Peak ``j`` of ``b`` to a fraction of a frame (a parabola through it and its neighbours),
    kept within the range."""
    refined = j + _parabolic_offset(b[j - 1], b[j], b[j + 1])
    return float(np.clip(refined, min_lag, max_lag))


def local_maxima(x: np.ndarray) -> np.ndarray:
    """Indices of the local maxima of ``x``, the first and last sample excluded.

    A flat top counts once, at its middle (rounded down), as in ``scipy.signal.find_peaks``.
    """
    x = np.asarray(x)
    rising = np.flatnonzero(np.diff(x) > 0) + 1  # samples higher than their left neighbour
    peaks = []
    for i in rising:
        j = i
        while j + 1 < len(x) and x[j + 1] == x[i]:
            j += 1
        if j + 1 < len(x) and x[j + 1] < x[i]:
            peaks.append((i + j) // 2)
    return np.asarray(peaks, dtype=np.int64)


def prominences(x: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Topographic prominence of each peak of ``x`` (as ``scipy.signal.peak_prominences``).

    From a peak, walk each way to the nearest higher sample (or the end); the prominence is
    the peak's height above the higher of the two lowest points met on the way.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(len(peaks))
    for k, i in enumerate(peaks):
        higher_left = np.flatnonzero(x[:i] > x[i])
        left = higher_left[-1] + 1 if len(higher_left) else 0
        higher_right = np.flatnonzero(x[i + 1 :] > x[i])
        right = i + 1 + higher_right[0] if len(higher_right) else len(x)
        out[k] = x[i] - max(x[left : i + 1].min(), x[i:right].min())
    return out


def _parabolic_offset(left: float, centre: float, right: float) -> float:
    """Offset in [-0.5, 0.5] of the vertex of the parabola through three equally spaced points."""
    curvature = left - 2.0 * centre + right
    if not curvature < 0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
