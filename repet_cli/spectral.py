"""Short-time Fourier transforms: the one place that knows window, hop, padding and scaling.

A periodic Hann window, frames centred on ``t * hop`` (the signal zero-padded by ``n_fft // 2``
on both sides), no scaling on the forward transform and a least-squares (window-sum
normalised) inverse, so that ``istft(stft(y)) == y`` to float32 precision for any
``hop <= n_fft // 2``: the conventions of ``librosa.stft`` / ``librosa.istft`` with
``center=True, pad_mode="constant"`` (the tests check that the two agree).

The transforms are computed here with ``scipy.fft`` a block of frames at a time, for speed
(multi-threaded real FFTs on float32) and memory (no padded copy of the signal, no frame
matrix of the whole song). Both work on frame ranges, so long signals can be analysed and
resynthesized piece by piece: :func:`stft` takes ``start`` / ``stop`` frames, and
:class:`OverlapAdd` accumulates inverse frames block by block.

Spectrograms have shape ``(..., n_freq, n_frames)`` with ``n_freq = n_fft // 2 + 1``;
leading axes (channels) are carried through.
"""

from __future__ import annotations

import numpy as np

#: Frames transformed at a time (bounds the temporary frame matrices: 2 channels x 512
#: frames x 2048 samples x 4 bytes = 8 MB).
BLOCK_FRAMES = 512
#: Iterations of Griffin-Lim phase retrieval for magnitude-only reconstruction.
GRIFFIN_LIM_ITERATIONS = 32


def window(n_fft: int) -> np.ndarray:
    """Periodic Hann window of ``n_fft`` samples, float32 (``scipy.signal.get_window('hann')``)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def frame_count(n_samples: int, *, hop: int) -> int:
    """STFT frames of a signal of ``n_samples``: one per hop, centred, ``1 + n // hop``."""
    return 1 + n_samples // hop


def blocks(n_frames: int, size: int = BLOCK_FRAMES):
    """``(start, stop)`` frame ranges of at most ``size`` frames covering ``n_frames``."""
    for start in range(0, n_frames, size):
        yield start, min(start + size, n_frames)


def _frames(y: np.ndarray, *, n_fft: int, hop: int, start: int, stop: int) -> np.ndarray:
    """Windowed frames ``start <= t < stop`` of the centred signal, shape (..., frames, n_fft)."""
    n = y.shape[-1]
    pad = n_fft // 2
    first = start * hop - pad  # sample under the first frame's first window sample
    last = (stop - 1) * hop - pad + n_fft  # one past the last frame's last sample
    piece = y[..., max(first, 0) : min(last, n)]
    if first < 0 or last > n:  # the zero padding of the edge frames
        widths = [(0, 0)] * (y.ndim - 1) + [(max(-first, 0), max(last - n, 0))]
        piece = np.pad(piece, widths)
    view = np.lib.stride_tricks.sliding_window_view(piece, n_fft, axis=-1)[..., ::hop, :]
    return view * window(n_fft)


def stft(
    y: np.ndarray,
    *,
    n_fft: int,
    hop: int,
    start: int = 0,
    stop: int | None = None,
    workers: int = -1,
) -> np.ndarray:
    """Complex STFT of ``y[..., samples]``, shape ``(..., n_fft // 2 + 1, n_frames)``.

    Parameters
    ----------
    y : np.ndarray, shape (..., samples)
        Signal; computed in float32 (complex64 result).
    n_fft, hop : int
        Frame size and hop in samples.
    start, stop : int
        Frame range to compute (default: all :func:`frame_count` frames); frames are the same
        as in the whole transform, so pieces computed separately line up exactly.
    """
    import scipy.fft

    y = np.asarray(y, dtype=np.float32)
    stop = frame_count(y.shape[-1], hop=hop) if stop is None else stop

    def transform(a: int, b: int) -> np.ndarray:
        # Along the frames' sample axis as it lies in (..., n_fft, frames) order: the
        # transform comes out with frequency first, with no transposing copy (15-20 % faster).
        frames = _frames(y, n_fft=n_fft, hop=hop, start=start + a, stop=start + b)
        return scipy.fft.rfft(np.swapaxes(frames, -1, -2), axis=-2, workers=workers)

    if stop - start <= BLOCK_FRAMES:
        return transform(0, stop - start)
    out = np.empty(y.shape[:-1] + (n_fft // 2 + 1, stop - start), dtype=np.complex64)
    for a, b in blocks(stop - start):
        out[..., a:b] = transform(a, b)
    return out


class OverlapAdd:
    """Inverse STFT assembled block by block (weighted overlap-add).

    ``add(S, start)`` takes the spectrogram frames ``start, start + 1, ...`` (any order, each
    frame once); :meth:`result` returns the least-squares signal, as :func:`istft` does for the
    whole spectrogram at once. To spread the work over threads, :meth:`overlapped` (safe to
    call from several threads) does the inverse FFT and the overlap-add within a block of
    frames, and :meth:`add_overlapped` adds the block into the signal.

    Parameters
    ----------
    shape : tuple
        Leading (channel) shape of the spectrograms.
    n_fft, hop : int
        STFT sizes.
    length : int
        Samples of the output.
    """

    def __init__(self, shape: tuple[int, ...], *, n_fft: int, hop: int, length: int):
        self.n_fft, self.hop, self.length = n_fft, hop, length
        self.n_frames = frame_count(length, hop=hop)
        # Frame t covers hop-sized pieces t, t + 1, ..., t + per_frame - 1 of the padded output.
        self.per_frame = -(-n_fft // hop)
        self.signal = np.zeros(tuple(shape) + ((self.n_frames + self.per_frame) * hop,), np.float32)
        self.window = window(n_fft)

    def _overlap(self, frames: np.ndarray) -> np.ndarray:
        """Overlap-add ``frames[..., count, n_fft]`` one hop apart, (count + per_frame) hops."""
        count = frames.shape[-2]
        out = np.zeros(frames.shape[:-2] + (count + self.per_frame, self.hop), dtype=np.float32)
        for j in range(self.per_frame):
            piece = frames[..., j * self.hop : (j + 1) * self.hop]
            out[..., j : j + count, : piece.shape[-1]] += piece
        return out.reshape(out.shape[:-2] + (-1,))

    def overlapped(self, S: np.ndarray, *, workers: int = -1) -> np.ndarray:
        """The windowed inverse frames of ``S[..., n_freq, frames]``, overlap-added."""
        import scipy.fft

        frames = scipy.fft.irfft(np.swapaxes(S, -1, -2), n=self.n_fft, workers=workers)
        frames *= self.window
        return self._overlap(frames.astype(np.float32, copy=False))

    def add_overlapped(self, block: np.ndarray, start: int) -> None:
        """Add an :meth:`overlapped` block whose first frame is frame ``start``."""
        first = start * self.hop
        self.signal[..., first : first + block.shape[-1]] += block

    def add(self, S: np.ndarray, start: int) -> None:
        """Overlap-add the frames of ``S[..., n_freq, frames]``, the first being ``start``."""
        for a, b in blocks(S.shape[-1]):
            self.add_overlapped(self.overlapped(S[..., a:b]), start + a)

    def result(self) -> np.ndarray:
        """The signal, shape (..., length), float32; samples no frame covers are zero."""
        squared = np.broadcast_to(self.window**2, (self.n_frames, self.n_fft))
        weight = self._overlap(squared)
        pad = self.n_fft // 2
        span = slice(pad, pad + self.length)
        out = self.signal[..., span]
        w = weight[span]
        np.divide(out, w, out=out, where=w > np.finfo(np.float32).tiny)
        return out


def istft(S: np.ndarray, *, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Inverse of :func:`stft`: ``y[..., length]`` (float32) from ``S[..., n_freq, n_frames]``."""
    inverse = OverlapAdd(S.shape[:-2], n_fft=n_fft, hop=hop, length=length)
    inverse.add(S[..., : inverse.n_frames], 0)
    return inverse.result()


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
        window="hann",
        center=True,
        pad_mode="constant",
        length=length,
        init=None,
    ).astype(np.float32, copy=False)


def frequencies(*, sr: float, n_fft: int) -> np.ndarray:
    """Centre frequency in Hz of each STFT bin, shape ``(n_fft // 2 + 1,)``."""
    return np.arange(n_fft // 2 + 1) * (sr / n_fft)


def warm_up() -> None:
    """Load the FFT machinery so that later calls time fairly."""
    stft(np.zeros((1, 4096), dtype=np.float32), n_fft=1024, hop=256)
