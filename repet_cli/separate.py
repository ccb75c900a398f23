"""The REPET pipeline as one pure function: ``separate(y, sr=..., params=...)``.

STFT -> beat spectrum -> period -> repeating model -> mask (-> multichannel Wiener filter)
-> reconstruction. No I/O, no
printing; errors are :class:`~repet_cli.errors.RepetError` subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import mask as masks
from . import period as periods
from . import spectral
from .errors import ParameterError
from .params import RepetParams


@dataclass(frozen=True, kw_only=True)
class Separation:
    """Result of :func:`separate`.

    Attributes
    ----------
    background, foreground : np.ndarray, same shape as the input, float32
        The repeating and the non-repeating part.
    algorithm : str
        The algorithm that modelled the background.
    period : float or None
        Repeating period in seconds: the one period of ``repet``, the median of the local
        periods of ``adaptive``; None for algorithms without a period.
    period_frames : float or None
        The same in (fractional) STFT frames.
    period_forced : bool
        True when the period was given, False when it was detected.
    local_periods : np.ndarray or None, shape (n_frames,)
        ``adaptive`` only: the period of every frame, in seconds.
    beat_spectrum : np.ndarray or None
        The beat spectrum the period was detected from (``repet``; None when forced), or the
        beat spectrogram of ``adaptive``, shape (n_windows, n_lags).
    mask : np.ndarray, shape (channels, n_freq, n_frames), float32
        Background mask from the repeating model (soft or binary, high-pass applied). With
        ``mask="wiener"`` it is the soft mask that the Wiener filter started from.
    sr, n_fft, hop : int
        Sample rate and STFT sizes used.
    """

    background: np.ndarray
    foreground: np.ndarray
    algorithm: str
    period: float | None
    period_frames: float | None
    period_forced: bool
    local_periods: np.ndarray | None
    beat_spectrum: np.ndarray | None
    mask: np.ndarray
    sr: int
    n_fft: int
    hop: int


@dataclass(frozen=True)
class _Found:
    """What a model found on the way (periods, beat spectra)."""

    period_frames: float | None = None
    local_periods: np.ndarray | None = None
    beat_spectrum: np.ndarray | None = None


def _check_length(params: RepetParams, *, n_samples: int, sr: int, hop: int):
    """Refuse inputs too short for the options before any work; returns the lag bounds."""
    lo, hi = params.period_range
    if params.algorithm == "repet" and params.period is not None:
        return periods.forced_lag(params.period, n_samples=n_samples, sr=sr, hop=hop)
    if params.algorithm == "repet":
        return periods.lag_range(min_period=lo, max_period=hi, n_samples=n_samples, sr=sr, hop=hop)
    if params.algorithm == "adaptive":
        window = min(n_samples, int(params.adaptive_options[0] * sr))
        return periods.lag_range(min_period=lo, max_period=hi, n_samples=window, sr=sr, hop=hop)
    return None


def _model(
    V: np.ndarray, params: RepetParams, *, bounds, sr: int, hop: int, n_fft: int
) -> tuple[np.ndarray, _Found]:
    """The background model ``0 <= W <= V`` of the chosen algorithm, and what it found."""
    if params.algorithm == "repet":
        if params.period is not None:
            return masks.repeating_model(V, period=bounds), _Found(period_frames=bounds)
        b = periods.beat_spectrum(np.mean(V**2, axis=0))
        lag = periods.estimate_period(b, min_lag=bounds[0], max_lag=bounds[1])
        return masks.repeating_model(V, period=lag), _Found(period_frames=lag, beat_spectrum=b)
    if params.algorithm == "adaptive":
        from . import adaptive

        window_s, step_s, repetitions = params.adaptive_options
        window = max(1, round(periods.seconds_to_frames(window_s, sr=sr, hop=hop)))
        step = max(1, round(periods.seconds_to_frames(step_s, sr=sr, hop=hop)))
        P = np.mean(V**2, axis=0)
        local = adaptive.local_periods(
            P, window=window, step=step, min_lag=bounds[0], max_lag=bounds[1]
        )
        W = adaptive.adaptive_model(V, periods_per_frame=local, repetitions=repetitions)
        B, _ = adaptive.beat_spectrogram(P, window=window, step=step)
        found = _Found(period_frames=float(np.median(local)), local_periods=local, beat_spectrum=B)
        return W, found
    if params.algorithm == "repet-sim":
        from .similarity import similarity_model

        return similarity_model(V, sr=sr, hop=hop, **params.similarity_options), _Found()
    from .ft2d import ft2d_model

    return ft2d_model(V, sr=sr, hop=hop, n_fft=n_fft, **params.ft2d_options), _Found()


def separate(y: np.ndarray, *, sr: int, params: RepetParams | None = None) -> Separation:
    """Split ``y`` into its repeating background and non-repeating foreground (REPET).

    Parameters
    ----------
    y : np.ndarray, shape (samples,) or (channels, samples)
        Finite samples; every channel gets its own masks, all share one period.
    sr : int
        Sample rate in Hz.
    params : RepetParams, optional
        Options; the defaults when omitted.

    Returns
    -------
    Separation
        Background and foreground with the input's shape, the period and the mask. With
        mixture phase, ``background + foreground`` equals ``y`` (float32 rounding).

    Raises
    ------
    InputTooShortError
        The input is too short for the period (range).
    ParameterError
        Bad shape, sample rate or STFT sizes.
    """
    params = RepetParams() if params is None else params
    y = np.asarray(y)
    if y.ndim not in (1, 2) or y.shape[-1] == 0 or (y.ndim == 2 and y.shape[0] == 0):
        raise ParameterError(
            f"audio must have shape (samples,) or (channels, samples), got {y.shape}"
        )
    if not (isinstance(sr, (int, np.integer)) and sr > 0):
        raise ParameterError(f"sample rate must be a positive integer, got {sr!r}")
    sr = int(sr)
    audio = np.atleast_2d(y).astype(np.float32, copy=False)
    n_samples = audio.shape[-1]
    n_fft, hop = params.stft_sizes(sr)

    bounds = _check_length(params, n_samples=n_samples, sr=sr, hop=hop)

    X = spectral.stft(audio, n_fft=n_fft, hop=hop)  # (channels, n_freq, n_frames)
    V = np.abs(X)
    W, model = _model(V, params, bounds=bounds, sr=sr, hop=hop, n_fft=n_fft)
    M = masks.soft_mask(W, V)
    if params.mask == "binary":
        M = masks.binary_mask(M, threshold=params.binary_threshold)
    masks.apply_high_pass(
        M, frequencies=spectral.frequencies(sr=sr, n_fft=n_fft), cutoff=params.high_pass
    )
    B = masks.multichannel_wiener(X, M) if params.mask == "wiener" else M * X
    del V, W  # free them before the inverse transforms

    if params.phase == "mixture":
        background = spectral.istft(B, n_fft=n_fft, hop=hop, length=n_samples)
        # The inverse STFT is linear, so istft(X - B) == y - istft(B) up to the STFT round
        # trip: subtracting makes the stems add up to the input exactly.
        foreground = audio - background
    else:
        background = spectral.magnitude_to_signal(np.abs(B), n_fft=n_fft, hop=hop, length=n_samples)
        foreground = spectral.magnitude_to_signal(
            np.abs(X - B), n_fft=n_fft, hop=hop, length=n_samples
        )

    def seconds(frames):
        return None if frames is None else periods.frames_to_seconds(frames, sr=sr, hop=hop)

    shape = y.shape
    return Separation(
        background=background.reshape(shape),
        foreground=foreground.reshape(shape),
        algorithm=params.algorithm,
        period=seconds(model.period_frames),
        period_frames=None if model.period_frames is None else float(model.period_frames),
        period_forced=params.period is not None,
        local_periods=None if model.local_periods is None else model.local_periods * (hop / sr),
        beat_spectrum=model.beat_spectrum,
        mask=M,
        sr=sr,
        n_fft=n_fft,
        hop=hop,
    )
