"""Short-time Fourier transforms: the one place that knows window, hop, padding and scaling.

A periodic Hann window, frames centred on ``t * hop`` (the signal zero-padded by ``n_fft // 2``
on both sides), no scaling on the forward transform and a least-squares (window-sum
normalised) inverse, so that ``istft(stft(y)) == y`` to float32 precision for any
``hop <= n_fft // 2``. Spectrograms have shape ``(..., n_freq, n_frames)`` with
``n_freq = n_fft // 2 + 1``; leading axes (channels) are carried through.
"""

from __future__ import annotations

import numpy as np

WINDOW = "hann"
PAD_MODE = "constant"
#: Iterations of Griffin-Lim phase retrieval for magnitude-only reconstruction.
GRIFFIN_LIM_ITERATIONS = 32


def stft(y: np.ndarray, *, n_fft: int, hop: int) -> np.ndarray:
    """Complex STFT of ``y[..., samples]``, shape ``(..., n_fft // 2 + 1, n_frames)``."""
    import librosa

    return librosa.stft(
        np.asarray(y, dtype=np.float32),
        n_fft=n_fft,
        hop_length=hop,
        window=WINDOW,
        center=True,
        pad_mode=PAD_MODE,
    )


def istft(S: np.ndarray, *, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Inverse of :func:`stft`: ``y[..., length]`` (float32) from ``S[..., n_freq, n_frames]``."""
    import librosa

    return librosa.istft(
        S, n_fft=n_fft, hop_length=hop, window=WINDOW, center=True, length=length
    ).astype(np.float32, copy=False)


def magnitude_to_signal(V: np.ndarray, *, n_fft: int, hop: int, length: int) -> np.ndarray:
    """A signal whose STFT magnitude approximates ``V[..., n_freq, n_frames]``, no phase given.

    Griffin-Lim phase retrieval (Griffin & Lim 1984, with librosa's fast momentum variant)
    started from zero phase, so the result is deterministic.
    """
    import librosa

    return librosa.griffinlim(
        np.asarray(V, dtype=np.float32),
        n_iter=GRIFFIN_LIM_ITERATIONS,
        hop_length=hop,
        n_fft=n_fft,
        window=WINDOW,
        center=True,
        pad_mode=PAD_MODE,
        length=length,
        init=None,
    ).astype(np.float32, copy=False)


def frequencies(*, sr: float, n_fft: int) -> np.ndarray:
    """Centre frequency in Hz of each STFT bin, shape ``(n_fft // 2 + 1,)``."""
    return np.arange(n_fft // 2 + 1) * (sr / n_fft)


def warm_up() -> None:
    """Load the STFT machinery (librosa, scipy, numba caches) so later calls time fairly."""
    stft(np.zeros((1, 4096), dtype=np.float32), n_fft=1024, hop=256)
