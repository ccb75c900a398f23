"""The repeating model and the time-frequency masks built from it (Rafii & Pardo 2013, sec. III).

Magnitude spectrograms have shape ``(..., n_freq, n_frames)``; leading axes (channels) are
processed independently with the same period.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ParameterError


def segment_starts(n_frames: int, period: float) -> np.ndarray:
    """First frame of each period-aligned segment: ``round(k * period)`` for k = 0, 1, ...

    A fractional period keeps later segments aligned with the music instead of drifting by
    the rounding error once per repetition.
    """
    count = math.ceil(n_frames / period) + 1
    starts = np.round(np.arange(count) * period).astype(np.int64)
    return starts[starts < n_frames]


def repeating_model(V: np.ndarray, *, period: float) -> np.ndarray:
    """Repeating spectrogram model: the median of the period-aligned segments (eq. 4-5).

    The mixture is cut into segments of ``ceil(period)`` frames starting at
    :func:`segment_starts`; the repeating segment is their element-wise median, where the last,
    partial segment takes part only in the frames it has. The model repeats that segment over
    the whole length and is finally limited to the mixture, ``min(model, V)`` (eq. 6), so it
    never holds more energy than the mixture in any bin.

    Parameters
    ----------
    V : np.ndarray, shape (..., n_freq, n_frames)
        Magnitude spectrogram (non-negative).
    period : float
        Repeating period in frames, ``1 <= period <= n_frames``.

    Returns
    -------
    W : np.ndarray, same shape and dtype as ``V``
        Repeating model, ``0 <= W <= V``.
    """
    V = np.asarray(V)
    n_frames = V.shape[-1]
    if not (1 <= period <= n_frames):
        raise ParameterError(f"period must lie in [1, {n_frames}] frames, got {period!r}")
    starts = segment_starts(n_frames, period)
    length = math.ceil(period)
    # Offsets within a segment that the last (partial) segment still has.
    in_last = n_frames - starts[-1]
    index = np.minimum(starts[:, None] + np.arange(length)[None, :], n_frames - 1)
    segments = V[..., index]  # (..., n_freq, n_segments, length)
    template = np.empty(V.shape[:-1] + (length,), dtype=V.dtype)
    template[..., :in_last] = np.median(segments[..., :, :in_last], axis=-2)
    if in_last < length:
        # Offsets the last segment lacks: median over the complete segments only.
        template[..., in_last:] = np.median(segments[..., :-1, in_last:], axis=-2)
    # Each frame takes the template value at its offset within the segment it starts in.
    owner = np.searchsorted(starts, np.arange(n_frames), side="right") - 1
    offset = np.arange(n_frames) - starts[owner]
    return np.minimum(template[..., offset], V)


def soft_mask(W: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Background soft mask ``W / V`` in [0, 1]; bins where the mixture is silent get 1."""
    V = np.asarray(V)
    mask = np.ones_like(V)
    np.divide(W, V, out=mask, where=V > 0)
    return np.clip(mask, 0.0, 1.0, out=mask)


def binary_mask(soft: np.ndarray, *, threshold: float) -> np.ndarray:
    """Background binary mask: 1 where the soft mask is at least ``threshold``, else 0."""
    return (np.asarray(soft) >= threshold).astype(np.asarray(soft).dtype)


def apply_high_pass(mask: np.ndarray, *, frequencies: np.ndarray, cutoff: float) -> np.ndarray:
    """Give every bin below ``cutoff`` Hz to the background (mask 1); in place, returned.

    Parameters
    ----------
    mask : np.ndarray, shape (..., n_freq, n_frames)
        Background mask.
    frequencies : np.ndarray, shape (n_freq,)
        Centre frequency of each bin in Hz.
    cutoff : float
        0 leaves the mask as it is.
    """
    mask[..., np.asarray(frequencies) < cutoff, :] = 1.0
    return mask
