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


def spatial_covariance(S: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Spatial covariance matrix of a source per frequency (Duong et al. 2010, eq. 12).

    Parameters
    ----------
    S : np.ndarray, shape (channels, n_freq, n_frames), complex
        STFT of one source's estimate.
    v : np.ndarray, shape (n_freq, n_frames)
        The source's time-frequency scale (see :func:`multichannel_wiener`).

    Returns
    -------
    R : np.ndarray, shape (n_freq, channels, channels), complex
        ``sum_t s s^H / sum_t v`` (zero where the source is silent).
    """
    R = np.einsum("cft,dft->fcd", S, S.conj())
    total = np.sum(v, axis=-1)
    np.divide(R, total[:, None, None], out=R, where=total[:, None, None] > 0)
    return R


def multichannel_wiener(X: np.ndarray, mask: np.ndarray, *, block: int = 512) -> np.ndarray:
    """Refine a background mask with a multichannel Wiener filter; returns the background STFT.

    The two sources follow the local Gaussian model of Duong, Vincent & Gribonval (IEEE TASLP
    18(7), 2010): source j has a time-frequency scale ``v_j(f, t)`` and a spatial covariance
    ``R_j(f)``, and its estimate is ``v_j R_j (v_b R_b + v_f R_f)^-1 x`` (one Wiener step as in
    their EM algorithm, started from the mask's estimates). ``v_j`` is the magnitude of the
    mask's estimate, averaged over channels in power, consistent with the soft mask being a
    ratio of magnitudes; ``R_j`` is :func:`spatial_covariance`. With several channels the
    filter tells a centred voice from a wide band by where they sit in the stereo image, not
    only by repetition.

    Parameters
    ----------
    X : np.ndarray, shape (channels, n_freq, n_frames), complex
        Mixture STFT.
    mask : np.ndarray, same shape, in [0, 1]
        Background mask. Where it is 1 the background is the mixture; where it is 0, silence.
    block : int
        Frames processed at a time (bounds the memory of the per-bin matrices).

    Returns
    -------
    np.ndarray, same shape and dtype as ``X``
        Background STFT; the foreground is ``X`` minus it.
    """
    channels = X.shape[0]
    background, foreground = mask * X, (1 - mask) * X
    v_b = np.sqrt(np.mean(np.abs(background) ** 2, axis=0))  # (n_freq, n_frames)
    v_f = np.sqrt(np.mean(np.abs(foreground) ** 2, axis=0))
    R_b, R_f = spatial_covariance(background, v_b), spatial_covariance(foreground, v_f)
    del background, foreground
    # A tiny diagonal load, relative to the signal, keeps silent bins invertible (the floor
    # keeps the 2 x 2 determinant of a silent input representable in float32).
    load = 1e-9 * float(np.mean(np.abs(X) ** 2)) + 1e-15
    eye = np.eye(channels, dtype=X.dtype)
    out = np.empty_like(X)
    for start in range(0, X.shape[-1], block):
        t = slice(start, start + block)
        Rb_v = v_b[:, t, None, None] * R_b[:, None]  # (n_freq, frames, channels, channels)
        C = Rb_v + v_f[:, t, None, None] * R_f[:, None] + load * eye
        x = np.moveaxis(X[:, :, t], 0, -1)[..., None]  # (n_freq, frames, channels, 1)
        y = _solve_small(C, x)
        estimate = np.moveaxis((Rb_v @ y)[..., 0], -1, 0)
        # Bins the mask gives wholly to the background stay whole (the load would dent them).
        out[:, :, t] = np.where(mask[:, :, t] >= 1, X[:, :, t], estimate)
    return out


def _solve_small(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched ``A^-1 b`` for many small matrices; closed form for 1 x 1 and 2 x 2."""
    if A.shape[-1] == 1:
        return b / A
    if A.shape[-1] != 2:
        return np.linalg.solve(A, b)
    a, bb, c, d = A[..., 0, 0], A[..., 0, 1], A[..., 1, 0], A[..., 1, 1]
    det = a * d - bb * c
    x0, x1 = b[..., 0, 0], b[..., 1, 0]
    return np.stack([(d * x0 - bb * x1) / det, (a * x1 - c * x0) / det], axis=-1)[..., None]
