"""REPET-SIM: a repeating model from the similarity matrix (Rafii & Pardo, ISMIR 2012).

Where REPET assumes one period, REPET-SIM lets every frame find the frames that sound most
like it, wherever they are in the song, and models the repeating background at that frame as
the element-wise median of those frames (a chorus heard again after a verse, a riff that
comes back at irregular times). Anything that does not come back, such as a voice, is an
outlier to the median and is left to the foreground.

The similarity matrix is never held whole: a 4-minute song at a 512-sample hop has about
20,700 frames, and the dense matrix alone would take 1.7 GB in float32. Rows are computed a
block at a time, the neighbours of the block's frames are picked at once, and only their
indices are kept, so memory grows linearly with the length of the input (time grows with its
square, as for any method that compares every frame with every other).
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from .errors import ParameterError
from .period import seconds_to_frames

#: Frames whose median models each frame's background, the frame itself included. Rafii &
#: Pardo allow up to 100 on whole songs; see the module README notes in the docstring of
#: :func:`similarity_model` for the measurements behind this default.
DEFAULT_NEIGHBORS = 10
#: Shortest time in seconds between two frames chosen for the same frame (the paper's 1 s).
DEFAULT_MIN_SEPARATION = 1.0
#: Least cosine similarity for a frame to be chosen (the paper's 0: any frame may take part).
DEFAULT_THRESHOLD = 0.0
#: Rows of the similarity matrix computed at a time; the block takes ``4 * block * n_frames``
#: bytes (64 MB for a 4-minute song at a 512-sample hop).
DEFAULT_BLOCK = 1024
#: Frames whose medians are computed at a time (a cache-sized working set).
MEDIAN_BLOCK = 32


def similarity_model(
    V: np.ndarray,
    *,
    sr: float,
    hop: int,
    neighbors: int = DEFAULT_NEIGHBORS,
    min_separation: float = DEFAULT_MIN_SEPARATION,
    threshold: float = DEFAULT_THRESHOLD,
    block: int = DEFAULT_BLOCK,
) -> np.ndarray:
    """Repeating spectrogram model of REPET-SIM (Rafii & Pardo 2012, sec. 2).

    The frames of the channel-averaged spectrogram are compared by cosine similarity; each
    frame picks itself and up to ``neighbors - 1`` more frames, the most similar peaks of its
    row of the similarity matrix that are at least ``threshold`` similar and at least
    ``min_separation`` apart (:func:`similar_frames`). The model of a frame is the
    element-wise median, per channel, of the mixture over the frames it picked, limited to
    the mixture: ``min(model, V)``.

    Parameters
    ----------
    V : np.ndarray, shape (..., n_freq, n_frames)
        Magnitude spectrogram (non-negative); leading axes (channels) share the choice of
        frames and get their own medians.
    sr : float
        Sample rate in Hz.
    hop : int
        STFT hop in samples (with ``sr``, converts ``min_separation`` to frames).
    neighbors : int
        Most frames in each median, the frame itself included.
    min_separation : float
        Least time in seconds between two frames picked for the same frame; it keeps the
        picks from clustering on one passage (adjacent frames overlap and always look alike).
    threshold : float
        Least cosine similarity, in [-1, 1], of a picked frame.
    block : int
        Rows of the similarity matrix computed at a time (memory ``4 * block * n_frames``
        bytes; the result does not depend on it).

    Returns
    -------
    W : np.ndarray, same shape and dtype as ``V``
        Repeating model, ``0 <= W <= V``.

    Raises
    ------
    ParameterError
        A bad parameter or a spectrogram that is not a real array of shape
        ``(..., n_freq, n_frames)``.

    Notes
    -----
    The defaults follow the paper where it is specific (a threshold of 0, a separation of
    1 s) and were checked on the 15 excerpts of the evaluation set (see the README).
    """
    if not (isinstance(sr, numbers.Real) and math.isfinite(sr) and sr > 0):
        raise ParameterError(f"`sr` must be a positive sample rate in Hz, got {sr!r}")
    _check_positive_int("hop", hop)
    if not (isinstance(min_separation, numbers.Real) and 0 <= min_separation < math.inf):
        raise ParameterError(
            f"`min_separation` must be a non-negative number of seconds, got {min_separation!r}"
        )
    # At least one frame apart, so that no frame is picked twice; "at least" rounds up.
    separation = max(1, math.ceil(seconds_to_frames(min_separation, sr=sr, hop=hop) - 1e-9))
    V = _as_spectrogram(V)
    index = similar_frames(
        V, neighbors=neighbors, separation=separation, threshold=threshold, block=block
    )
    return median_of_frames(V, index)


def similar_frames(
    V: np.ndarray, *, neighbors: int, separation: int, threshold: float, block: int
) -> np.ndarray:
    """The frames each frame's repeating model is made of (Rafii & Pardo 2012, eq. 1-2).

    Frames are compared by the cosine similarity of the columns of ``V`` averaged over its
    leading axes. For frame ``j``, the candidates are the peaks of row ``j`` of the similarity
    matrix (values greater than their left neighbour and not less than their right one) with
    a similarity of at least ``threshold``; frames that are all zero resemble nothing and
    are never candidates. Frame ``j`` itself is picked first, then greedily, highest first, the
    candidates at least ``separation`` frames away from every frame picked so far, until
    ``neighbors`` are picked or none is left.

    Parameters
    ----------
    V : np.ndarray, shape (..., n_freq, n_frames)
        Magnitude spectrogram.
    neighbors : int
        Most frames picked per frame, itself included.
    separation : int
        Least distance in frames between two frames picked for the same frame, at least 1.
    threshold : float
        Least similarity of a picked frame, in [-1, 1].
    block : int
        Rows of the similarity matrix computed at a time.

    Returns
    -------
    index : np.ndarray, shape (n_frames, neighbors), int64
        ``index[j]`` holds the frames picked for frame ``j``, itself first, then in order of
        decreasing similarity; rows with fewer picks are padded with -1 at the end.
    """
    _check_positive_int("neighbors", neighbors)
    _check_positive_int("separation", separation)
    _check_positive_int("block", block)
    if not (isinstance(threshold, numbers.Real) and -1 <= threshold <= 1):
        raise ParameterError(f"`threshold` must be a similarity in [-1, 1], got {threshold!r}")
    V = _as_spectrogram(V)
    n_frames = V.shape[-1]
    U, silent = _unit_frames(V)  # (n_frames, n_freq)
    index = np.full((n_frames, neighbors), -1, dtype=np.int64)
    window = np.arange(1 - separation, separation)  # offsets closer than `separation`
    for start in range(0, n_frames, block):
        stop = min(start + block, n_frames)
        rows = np.arange(stop - start)
        frames = np.arange(start, stop)
        S = U[start:stop] @ U.T  # (rows, n_frames): cosine similarities of the block's frames
        # Candidates: peaks of each row at or above the threshold, among non-silent frames.
        rejected = S < threshold
        rejected[:, 1:] |= S[:, 1:] <= S[:, :-1]
        rejected[:, :-1] |= S[:, :-1] < S[:, 1:]
        rejected[:, silent] = True
        rejected[silent[start:stop]] = True
        np.copyto(S, -np.inf, where=rejected)
        del rejected
        picks = frames
        for k in range(neighbors):
            if k > 0:
                picks = np.argmax(S, axis=1)
                found = S[rows, picks] > -np.inf
                if not found.any():
                    break
                picks = np.where(found, picks, -1)
            index[start:stop, k] = picks
            # Rule out everything closer than `separation` to the frames just picked.
            near = np.clip(picks[:, None] + window, 0, n_frames - 1)
            S[rows[:, None], near] = -np.inf
    return index


def median_of_frames(V: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Element-wise median of ``V`` over each frame's picked frames, limited to ``V``.

    Parameters
    ----------
    V : np.ndarray, shape (..., n_freq, n_frames)
        Magnitude spectrogram.
    index : np.ndarray, shape (n_frames, k), int
        Frames to take the median over for each frame, padded with -1 where there are fewer
        (as returned by :func:`similar_frames`); every row holds at least one frame.

    Returns
    -------
    W : np.ndarray, same shape and dtype as ``V``
        ``W[..., j] = min(median(V[..., index[j]]), V[..., j])``, the median of an even count
        being the mean of the two middle values.
    """
    V = _as_spectrogram(V)
    shape, n_frames = V.shape, V.shape[-1]
    index = np.asarray(index)
    k = index.shape[1]
    counts = np.count_nonzero(index >= 0, axis=1)
    if index.shape[0] != n_frames or not np.all(counts >= 1):
        raise ParameterError(
            f"`index` must have one row of frames per frame ({n_frames}), each with at least one"
        )
    columns = V.reshape(-1, n_frames)
    # Frames as rows, so a gather copies whole spectra; one extra row of +inf stands in for
    # the padding, which sorts above every real value and leaves the lower order statistics
    # of each frame's own count untouched.
    rows = np.empty((n_frames + 1, columns.shape[0]), dtype=V.dtype)
    for start in range(0, n_frames, 256):
        stop = min(start + 256, n_frames)
        rows[start:stop] = columns[:, start:stop].T
    rows[n_frames] = np.inf
    safe = np.where(index >= 0, index, n_frames)
    low, high = (counts - 1) // 2, counts // 2
    comparators = _median_network(k)
    W = np.empty_like(columns)
    for start in range(0, n_frames, MEDIAN_BLOCK):
        t = slice(start, start + MEDIAN_BLOCK)
        gathered = rows[safe[t]]  # (frames, k, n_freq * channels)
        wires = [gathered[:, i] for i in range(k)]
        spare = np.empty_like(wires[0])
        for a, b in comparators:
            np.minimum(wires[a], wires[b], out=spare)
            np.maximum(wires[a], wires[b], out=wires[b])
            wires[a], spare = spare, wires[a]
        ordered = np.stack(wires[: k // 2 + 1], axis=1)  # the lower half holds the medians
        picked = np.arange(ordered.shape[0])
        median = ordered[picked, low[t]] + ordered[picked, high[t]]
        median *= 0.5
        W[:, t] = median.T
    np.minimum(W, columns, out=W)
    return W.reshape(shape)


@functools.lru_cache(maxsize=32)
def _median_network(k: int) -> tuple[tuple[int, int], ...]:
    """Comparators that sort the lower half (positions ``0 .. k // 2``) of ``k`` values.

    Batcher's odd-even merge sort (Knuth, TAOCP vol. 3, sec. 5.3.4) for the next power of
    two, minus the comparators that touch the missing inputs (imagined as +inf, where they
    would change nothing) and those that cannot affect the positions a median needs.
    """
    size = 1 << max(0, (k - 1).bit_length())
    pairs = []
    p = 1
    while p < size:
        step = p
        while step >= 1:
            for j in range(step % p, size - step, 2 * step):
                for i in range(min(step, size - j - step)):
                    if (i + j) // (2 * p) == (i + j + step) // (2 * p):
                        pairs.append((i + j, i + j + step))
            step //= 2
        p *= 2
    needed = set(range(k // 2 + 1))
    kept = []
    for a, b in reversed([(a, b) for a, b in pairs if b < k]):
        if a in needed or b in needed:
            kept.append((a, b))
            needed |= {a, b}
    return tuple(reversed(kept))


def _unit_frames(V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Channel-averaged frames scaled to unit length, shape (n_frames, n_freq), float32.

    Also returns which frames are all zero (their rows stay zero).
    """
    U = np.mean(V.reshape(-1, *V.shape[-2:]), axis=0, dtype=np.float32)
    # Scaling by the peak first keeps the sum of squares clear of overflow and underflow.
    peak = np.max(np.abs(U), axis=0)
    silent = ~(peak > 0)
    np.divide(U, peak, out=U, where=~silent)
    U /= np.maximum(np.linalg.norm(U, axis=0), 1.0)  # the norm is at least 1 unless silent
    return np.ascontiguousarray(U.T), silent


def _as_spectrogram(V: np.ndarray) -> np.ndarray:
    V = np.asarray(V)
    if np.iscomplexobj(V):
        raise ParameterError(
            f"`V` must be a magnitude spectrogram (the absolute value of the STFT), got {V.dtype}"
        )
    if V.ndim < 2 or 0 in V.shape:
        raise ParameterError(f"`V` must have shape (..., n_freq, n_frames), got {V.shape}")
    if not np.issubdtype(V.dtype, np.floating):
        V = V.astype(np.float32)
    return V


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ParameterError(f"`{name}` must be a positive integer, got {value!r}")
