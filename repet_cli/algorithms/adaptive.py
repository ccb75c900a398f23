"""Adaptive REPET: a repeating period that changes over time.

Liutkus, Rafii, Badeau, Pardo & Richard, "Adaptive filtering for music/voice separation
exploiting the repeating musical structure", ICASSP 2012. A *beat spectrogram* (beat spectra of
sliding windows of the power spectrogram) gives a local period for every frame; the repeating
model of frame ``t`` is the median of the frames ``t + k * p(t)`` for ``k = -K..K``, so a song
whose tempo or pattern changes is followed instead of being forced onto one period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import period as periods
from ..errors import InputTooShortError, ParameterError
from ..period import MIN_REPETITIONS_DETECTED
from .base import Found, Model, PeriodRange, Spectra, positive, positive_int
from .similarity import median_of_frames

#: Beat-spectrogram window and step in seconds, and the K in t + k p(t).
DEFAULT_ANALYSIS_WINDOW = 24.0  # three times the default longest period
DEFAULT_ANALYSIS_STEP = 4.0
DEFAULT_REPETITIONS = 3


def window_starts(n_frames: int, *, window: int, step: int) -> np.ndarray:
    """First frame of each analysis window; the last window ends at the last frame."""
    if window >= n_frames:
        return np.array([0])
    starts = np.arange(0, n_frames - window, step)
    return np.append(starts, n_frames - window)


def beat_spectrogram(P: np.ndarray, *, window: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Beat spectra of sliding windows of a power spectrogram.

    Parameters
    ----------
    P : np.ndarray, shape (n_freq, n_frames)
        Power spectrogram (channel-averaged).
    window, step : int
        Window length and hop in frames.

    Returns
    -------
    B : np.ndarray, shape (n_windows, min(window, n_frames))
        Beat spectrum of each window (lag 0 first).
    centres : np.ndarray, shape (n_windows,)
        Centre frame of each window.
    """
    n_frames = P.shape[-1]
    starts = window_starts(n_frames, window=window, step=step)
    length = min(window, n_frames)
    B = np.stack([periods.beat_spectrum(P[..., s : s + length]) for s in starts])
    return B, starts + (length - 1) / 2


def local_periods(
    P: np.ndarray,
    *,
    window: int,
    step: int,
    min_lag: float,
    max_lag: float,
    beats: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Period in (fractional) frames for every frame, from the beat spectrogram.

    Each window's period is detected as in REPET (:func:`repet_cli.period.estimate_period`,
    at most a third of the window); frames between window centres take the linearly
    interpolated period. ``beats`` is :func:`beat_spectrogram`'s result where the caller has
    it already.

    Returns
    -------
    np.ndarray, shape (n_frames,)
    """
    n_frames = P.shape[-1]
    B, centres = beat_spectrogram(P, window=window, step=step) if beats is None else beats
    longest = min(max_lag, (B.shape[-1] - 2) / MIN_REPETITIONS_DETECTED)
    if math.ceil(min_lag) > math.floor(longest):
        raise InputTooShortError(
            "the analysis window is too short for the shortest period searched: it must hold "
            "three repetitions; lengthen `analysis_window` or lower `min_period`"
        )
    window_periods = np.array(
        [periods.estimate_period(b, min_lag=min_lag, max_lag=longest) for b in B]
    )
    return np.interp(np.arange(n_frames), centres, window_periods)


#: Frames :func:`channel_power` squares at a time (bounds its temporary).
POWER_BLOCK = 256


def channel_power(V: np.ndarray) -> np.ndarray:
    """The power spectrogram averaged over channels, ``mean(V ** 2)`` over the first axis of
    a magnitude spectrogram ``V`` (channels, n_freq, n_frames), made a block of frames at a
    time: the same float32 values as the power :func:`repet_cli.stages.spectrograms` gives.
    On an hour-long stereo input (5-min segments) the separation's peak memory was 870 MB
    with that power kept through the model, 788 MB with it made here and let go (``make bench``).

    Returns
    -------
    np.ndarray, shape (n_freq, n_frames), float32
    """
    V = np.asarray(V, dtype=np.float32)
    P = np.empty(V.shape[-2:], dtype=np.float32)
    for a in range(0, V.shape[-1], POWER_BLOCK):
        b = min(a + POWER_BLOCK, V.shape[-1])
        block = np.square(V[..., a:b].reshape(-1, V.shape[-2], b - a))
        P[:, a:b] = block.mean(axis=0)
    return P


def adaptive_model(
    V: np.ndarray, *, periods_per_frame: np.ndarray, repetitions: int, threads: int | None = None
) -> np.ndarray:
    """Repeating model with a period per frame: median over ``t + k p(t)``, ``|k| <= K``.

    Parameters
    ----------
    V : np.ndarray, shape (..., n_freq, n_frames)
        Magnitude spectrogram.
    periods_per_frame : np.ndarray, shape (n_frames,)
        Local period of each frame, in frames (>= 1).
    repetitions : int
        K: the frames up to K periods before and after each frame take part (2K + 1 at most;
        fewer near the edges).
    threads : int, optional
        Threads for the medians (default: one per core); the result does not depend on it.

    Returns
    -------
    W : np.ndarray, same shape and dtype as ``V``, ``0 <= W <= V``.
    """
    V = np.asarray(V)
    n_frames = V.shape[-1]
    p = np.asarray(periods_per_frame, dtype=np.float64)
    if p.shape != (n_frames,) or not np.all(p >= 1):
        raise ParameterError("`periods_per_frame` needs one period >= 1 frame per frame")
    if repetitions < 1:
        raise ParameterError(f"`repetitions` must be at least 1, got {repetitions!r}")
    k = np.arange(-repetitions, repetitions + 1)
    index = np.rint(np.arange(n_frames)[:, None] + k[None, :] * p[:, None]).astype(np.int64)
    # Neighbours beyond the input take no part (-1); a sorting network takes each frame's
    # median (REPET-SIM's, which is many times faster than sorting rows of 2K + 1).
    index[(index < 0) | (index >= n_frames)] = -1
    return median_of_frames(V, index, threads=threads)


@dataclass(frozen=True, kw_only=True)
class AdaptiveOptions(PeriodRange):
    """Options of adaptive REPET.

    Parameters
    ----------
    min_period, max_period : float, optional
        Search range of the local periods (see :class:`~.base.PeriodRange`).
    analysis_window, analysis_step : float, optional
        Length and hop of the beat-spectrogram windows, in seconds (defaults 24 and 4: a
        window holds three repetitions of the longest default period).
    repetitions : int, optional
        Each frame's model is the median of the frames up to this many local periods before
        and after it (default 3).
    """

    name: ClassVar[str] = "adaptive"

    analysis_window: float | None = None
    analysis_step: float | None = None
    repetitions: int | None = None

    def __post_init__(self) -> None:
        positive("analysis_window", self.analysis_window)
        positive("analysis_step", self.analysis_step)
        positive_int("repetitions", self.repetitions)
        super().__post_init__()

    @property
    def filled(self) -> tuple[float, float, int]:
        """``(analysis_window, analysis_step, repetitions)`` with defaults filled in."""
        return (
            DEFAULT_ANALYSIS_WINDOW if self.analysis_window is None else self.analysis_window,
            DEFAULT_ANALYSIS_STEP if self.analysis_step is None else self.analysis_step,
            DEFAULT_REPETITIONS if self.repetitions is None else self.repetitions,
        )

    def effective(self) -> dict:
        window, step, repetitions = self.filled
        return super().effective() | {
            "analysis_window": window,
            "analysis_step": step,
            "repetitions": repetitions,
        }

    def needs_power(self) -> bool:
        # The power is made from the magnitude in :meth:`model` and let go before the repeating
        # model, as large as the magnitude, is built beside it.
        return False

    def check_length(self, *, n_samples: int, sr: int, hop: int):
        lo, hi = self.period_range
        window = min(n_samples, int(self.filled[0] * sr))
        return periods.lag_range(min_period=lo, max_period=hi, n_samples=window, sr=sr, hop=hop)

    def model(self, spectra: Spectra, *, bounds, threads: int) -> tuple[Model, Found]:
        sr, hop = spectra.sr, spectra.hop
        window_s, step_s, repetitions = self.filled
        window = max(1, round(periods.seconds_to_frames(window_s, sr=sr, hop=hop)))
        step = max(1, round(periods.seconds_to_frames(step_s, sr=sr, hop=hop)))
        P = channel_power(spectra.V) if spectra.P is None else spectra.P
        beats = beat_spectrogram(P, window=window, step=step)
        local = local_periods(
            P, window=window, step=step, min_lag=bounds[0], max_lag=bounds[1], beats=beats
        )
        del P  # the periods are found: the model below needs the magnitude only
        B = beats[0]
        W = adaptive_model(
            spectra.V, periods_per_frame=local, repetitions=repetitions, threads=threads
        )
        found = Found(period_frames=float(np.median(local)), local_periods=local, beat_spectrum=B)
        return (lambda start, stop: W[..., start:stop]), found
