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
    period : float
        Repeating period in seconds.
    period_frames : float
        The same in (fractional) STFT frames.
    period_forced : bool
        True when the period was given, False when it was detected.
    beat_spectrum : np.ndarray or None, shape (n_frames,)
        The beat spectrum the period was detected from (None when forced).
    mask : np.ndarray, shape (channels, n_freq, n_frames), float32
        Background mask from the repeating model (soft or binary, high-pass applied). With
        ``mask="wiener"`` it is the soft mask that the Wiener filter started from.
    sr, n_fft, hop : int
        Sample rate and STFT sizes used.
    """

    background: np.ndarray
    foreground: np.ndarray
    period: float
    period_frames: float
    period_forced: bool
    beat_spectrum: np.ndarray | None
    mask: np.ndarray
    sr: int
    n_fft: int
    hop: int


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

    if params.period is not None:
        lag = periods.forced_lag(params.period, n_samples=n_samples, sr=sr, hop=hop)
    else:
        min_lag, max_lag = periods.lag_range(
            min_period=params.period_range[0],
            max_period=params.period_range[1],
            n_samples=n_samples,
            sr=sr,
            hop=hop,
        )

    X = spectral.stft(audio, n_fft=n_fft, hop=hop)  # (channels, n_freq, n_frames)
    V = np.abs(X)
    if params.period is None:
        b = periods.beat_spectrum(np.mean(V**2, axis=0))
        lag = periods.estimate_period(b, min_lag=min_lag, max_lag=max_lag)
    else:
        b = None

    W = masks.repeating_model(V, period=lag)
    M = masks.soft_mask(W, V)
    if params.mask == "binary":
        M = masks.binary_mask(M, threshold=params.binary_threshold)
    masks.apply_high_pass(
        M, frequencies=spectral.frequencies(sr=sr, n_fft=n_fft), cutoff=params.high_pass
    )
    B = masks.multichannel_wiener(X, M) if params.mask == "wiener" else M * X
    del V, W

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

    shape = y.shape
    return Separation(
        background=background.reshape(shape),
        foreground=foreground.reshape(shape),
        period=periods.frames_to_seconds(lag, sr=sr, hop=hop),
        period_frames=float(lag),
        period_forced=params.period is not None,
        beat_spectrum=b,
        mask=M,
        sr=sr,
        n_fft=n_fft,
        hop=hop,
    )
