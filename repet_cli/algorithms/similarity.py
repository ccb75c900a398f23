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
import itertools
import math
import numbers
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import ParameterError
from ..parallel import blas_threads, thread_budget
from ..period import seconds_to_frames
from .base import AlgorithmOptions, Found, Model, Spectra, model_defaults, positive_int

#: Most frames picked for each frame besides itself. Rafii & Pardo allow up to 100 on whole
#: songs; the median needs enough of them to outvote a foreground present in some of them.
DEFAULT_NEIGHBORS = 20
#: Shortest time in seconds between two frames picked for the same frame (the paper's 1 s).
DEFAULT_MIN_SEPARATION = 1.0
#: Least cosine similarity of a picked frame (the paper's 0: any peak may take part).
DEFAULT_THRESHOLD = 0.0
#: Width in Hz of the frequency bands frames are compared in (16 bins of a 2048-point STFT
#: at 44.1 kHz). Frames are compared by their spectral envelope, which a sung note changes
#: less than its harmonics; the paper compares single bins (0).
DEFAULT_BAND_WIDTH = 350.0
#: Bytes of similarities a block of rows takes by default (with its mask of candidates,
#: 1.25 times as much, once per thread): about 270 rows of a 3-minute song at a 512-sample hop.
BLOCK_BYTES = 16 * 2**20
#: Frames per chunk of a similarity row whose maximum is kept while picking.
CHUNK = 32
#: The medians are taken on slabs of at most ``MEDIAN_SLAB`` bins (the channels' bins one
#: after another), whose frames are first copied out as rows (``4 * MEDIAN_SLAB * n_frames``
#: bytes), for ``MEDIAN_BLOCK`` frames at a time (a cache-sized working set).
MEDIAN_SLAB = 512
MEDIAN_BLOCK = 32
#: Most threads the similarity rows and the medians are spread over (each similarity thread
#: holds its own block).
MAX_THREADS = 4


def similarity_model(
    V: np.ndarray,
    *,
    sr: float,
    hop: int,
    neighbors: int = DEFAULT_NEIGHBORS,
    min_separation: float = DEFAULT_MIN_SEPARATION,
    threshold: float = DEFAULT_THRESHOLD,
    band_width: float = DEFAULT_BAND_WIDTH,
    include_self: bool = False,
    block: int | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Repeating spectrogram model of REPET-SIM (Rafii & Pardo 2012, sec. 2).

    The frames of the channel-averaged spectrogram are compared by cosine similarity; each
    frame picks up to ``neighbors`` other frames, the most similar peaks of its row of the
    similarity matrix that are at least ``threshold`` similar and at least ``min_separation``
    apart from each other and from the frame (:func:`similar_frames`). The model of a frame
    is the element-wise median, per channel, of the mixture over the frames it picked,
    limited to the mixture: ``min(model, V)``. A frame that finds no other frame is its own
    model (all background: nothing tells its foreground from its background).

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
        Most frames picked for each frame, not counting the frame itself.
    min_separation : float
        Least time in seconds between two frames picked for the same frame, and between them
        and the frame (rounded up to whole frames, at least one). It keeps the picks from
        clustering on one passage: adjacent frames overlap and always look alike, and a held
        note of the foreground looks like itself for as long as it lasts.
    threshold : float
        Least cosine similarity, in [-1, 1], of a picked frame.
    band_width : float
        Width in Hz of the bands, sums of adjacent frequency bins, that frames are compared
        in (rounded to whole bins; 0 compares single bins, as in the paper). It changes only
        which frames are picked; their median keeps the full resolution.
    include_self : bool
        Let the frame vote in its own median, as in the paper. Off by default: the frame
        holds its own foreground, and leaving it out measured better (see Notes).
    block : int, optional
        Rows of the similarity matrix computed at a time (memory ``5 * block * n_frames``
        bytes per thread, 6 with a threshold above 0; the result does not depend on it). By
        default as many as fit into :data:`BLOCK_BYTES`, so that memory grows only linearly
        with the input's length.
    threads : int, optional
        Threads for the similarities and the medians (default: one per core, at most
        :data:`MAX_THREADS`); the result does not depend on it.

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
    Defaults, measured on the 15 excerpts (6.8 s) of the evaluation set with a 2048/512 STFT,
    the soft mask and a 150 Hz high-pass; mean SDR background / foreground in dB (nussl's
    REPET-SIM: 6.08 / 2.00). With the defaults: 7.58 / 3.09.

    - Bands: single bins (the paper) 6.35 / 2.39, 86 Hz 6.73 / 2.59, 172 Hz 7.10 / 2.79,
      350 Hz 7.58 / 3.09, 700 Hz 7.75 / 3.14, 2.8 kHz 7.90 / 3.19. The gain flattens past
      350 Hz, while ever wider bands tell ever fewer frames apart; 350 Hz bands also make the
      similarities 16 times cheaper to compute.
    - Leaving the frame out of its own median: 7.58 / 3.09 against 6.98 / 3.11 with it
      (6.35 / 2.39 against 5.68 / 2.13 on single bins).
    - Separation: at an equal number of picks (about 5, single bins, the frame included), 1 s
      beat 0.5 s by 0.5 dB and 0.25 s by 1 dB: picks from different passages outvote the
      foreground better. Shorter separations score higher on these excerpts (0.25 s:
      8.05 / 3.21) only because more frames fit into 6.8 s; a whole song has room for
      ``neighbors`` frames 1 s apart, so the paper's 1 s is kept.
    - Neighbours: where 20 fit (0.25 s apart), 10 gave 7.53 / 3.03, 20 gave 8.05 / 3.21 and
      40 no more than 20. The median's cost grows as ``k log^2 k``.
    - A threshold above 0 leaves frames without picks, and they go wholly to the background:
      0.8 lost 3 dB.
    """
    if not (isinstance(sr, numbers.Real) and math.isfinite(sr) and sr > 0):
        raise ParameterError(f"`sr` must be a positive sample rate in Hz, got {sr!r}")
    _check_positive_int("hop", hop)
    if not (isinstance(min_separation, numbers.Real) and 0 <= min_separation < math.inf):
        raise ParameterError(
            f"`min_separation` must be a non-negative number of seconds, got {min_separation!r}"
        )
    if not (isinstance(band_width, numbers.Real) and 0 <= band_width < math.inf):
        raise ParameterError(
            f"`band_width` must be a non-negative number of Hz, got {band_width!r}"
        )
    # "At least" rounds up; at least one frame, so that no frame is picked twice.
    separation = max(1, math.ceil(seconds_to_frames(min_separation, sr=sr, hop=hop) - 1e-9))
    V = _as_spectrogram(V)
    n_freq = V.shape[-2]
    bin_width = sr / 2 / max(1, n_freq - 1)  # bins run from 0 Hz to Nyquist
    bins_per_band = max(1, round(band_width / bin_width))
    if n_freq > 1 and bins_per_band >= n_freq:
        raise ParameterError(
            f"`band_width` ({band_width:g} Hz) must leave at least two bands of the {n_freq} "
            f"frequency bins ({bin_width:g} Hz apart), or every frame looks like every other"
        )
    others = similar_frames(
        V,
        neighbors=neighbors,
        separation=separation,
        threshold=threshold,
        bins_per_band=bins_per_band,
        block=block,
        threads=threads,
    )
    # Columns no frame filled would only slow the median down.
    others = others[:, : max(1, int(np.count_nonzero(others >= 0, axis=1).max()))]
    if include_self:
        index = np.concatenate([np.arange(V.shape[-1])[:, None], others], axis=1)
    else:
        index = others
        lonely = np.flatnonzero(others[:, 0] < 0)
        index[lonely, 0] = lonely
    return median_of_frames(V, index, threads=threads)


def similar_frames(
    V: np.ndarray,
    *,
    neighbors: int,
    separation: int,
    threshold: float,
    bins_per_band: int = 1,
    block: int | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """The frames each frame's repeating model is made of (Rafii & Pardo 2012, eq. 1-2).

    Frames are compared by the cosine similarity of the columns of ``V`` averaged over its
    leading axes, after summing every ``bins_per_band`` adjacent bins. For frame ``j``, the
    candidates are the peaks of row ``j`` of the similarity matrix (values greater than their
    left neighbour and not less than their right one) of at least ``threshold``, at least
    ``separation`` frames from ``j``; frames that are all zero resemble nothing and are never
    candidates, nor have any. The picks are made greedily, highest first, each at least
    ``separation`` frames from those picked before, until ``neighbors`` are picked or no
    candidate is left.

    Parameters
    ----------
    V : np.ndarray, shape (..., n_freq, n_frames)
        Magnitude spectrogram.
    neighbors : int
        Most frames picked per frame, the frame itself not counted.
    separation : int
        Least distance in frames between two frames picked for the same frame, and between
        them and the frame, at least 1.
    threshold : float
        Least similarity of a picked frame, in [-1, 1].
    bins_per_band : int
        Adjacent frequency bins summed into one band before frames are compared; the last
        band may be narrower. At least two bands must remain.
    block : int, optional
        Rows of the similarity matrix computed at a time (see :func:`similarity_model`).
    threads : int, optional
        Threads for the rows (see :func:`similarity_model`).

    Returns
    -------
    index : np.ndarray, shape (n_frames, neighbors), int64
        ``index[j]`` holds the frames picked for frame ``j`` in order of decreasing
        similarity, padded with -1 at the end where there are fewer.
    """
    _check_positive_int("neighbors", neighbors)
    _check_positive_int("separation", separation)
    if block is not None:
        _check_positive_int("block", block)
    _check_positive_int("bins_per_band", bins_per_band)
    if not (isinstance(threshold, numbers.Real) and -1 <= threshold <= 1):
        raise ParameterError(f"`threshold` must be a similarity in [-1, 1], got {threshold!r}")
    V = _as_spectrogram(V)
    n_freq, n_frames = V.shape[-2:]
    if n_freq > 1 and bins_per_band >= n_freq:
        raise ParameterError(
            f"`bins_per_band` ({bins_per_band}) must leave at least two bands of the {n_freq} "
            "frequency bins, or every frame looks like every other"
        )
    if block is None:
        block = max(16, BLOCK_BYTES // (4 * n_frames))
    U, silent = _unit_frames(V, bins_per_band=bins_per_band)  # (n_bands, n_frames)
    index = np.full((n_frames, neighbors), -1, dtype=np.int64)
    _in_parallel(
        functools.partial(
            _pick,
            U=U,
            silent=silent,
            index=index,
            separation=separation,
            threshold=threshold,
            block=block,
        ),
        n_frames,
        block=block,
        threads=threads,
    )
    return index


def _pick(
    first: int,
    last: int,
    *,
    U: np.ndarray,
    silent: np.ndarray,
    index: np.ndarray,
    separation: int,
    threshold: float,
    block: int,
) -> None:
    """:func:`similar_frames` for frames ``first`` to ``last - 1``, written into ``index``."""
    n_frames = U.shape[1]
    # Buffers reused from block to block: fresh arrays this size cost more in page faults
    # than the arithmetic done on them.
    size = min(block, last - first)
    S_buffer = np.empty((size, n_frames), dtype=np.float32)
    keep_buffer = np.empty((size, n_frames), dtype=bool)
    # Similarities of frames with no negative value are never negative: a threshold of 0 or
    # less then rules nothing out, and its pass is skipped.
    bounded = threshold > 0 or U.min(initial=0.0) < 0
    above_buffer = np.empty((size, n_frames), dtype=bool) if bounded else None
    reach = min(separation, n_frames)  # beyond the input there is nothing to rule out
    window = np.arange(1 - reach, reach)  # offsets closer than `separation`
    last_frame = n_frames - 1
    chunk_starts = np.arange(0, n_frames, CHUNK)
    chunk_span = np.arange((2 * reach - 2) // CHUNK + 2)  # chunks a window can touch
    steps = np.arange(CHUNK)
    for start in range(first, last, block):
        stop = min(start + block, last)
        S, keep = S_buffer[: stop - start], keep_buffer[: stop - start]
        np.matmul(U[:, start:stop].T, U, out=S)  # cosine similarities of the block's frames
        # Candidates: peaks of each row (greater than the left neighbour, not less than the
        # right one) at or above the threshold, among non-silent frames. "Not less than the
        # right one" is "the right one is not greater than its left neighbour": one
        # comparison of neighbours serves both (for booleans, a > b is a and not b; numpy
        # reads the overlapping operands as they were before the write).
        np.greater(S[:, 1:], S[:, :-1], out=keep[:, 1:])
        keep[:, 0] = True
        np.greater(keep[:, :-1], keep[:, 1:], out=keep[:, :-1])
        if above_buffer is not None:
            above = above_buffer[: stop - start]
            np.greater_equal(S, threshold, out=above)
            keep &= above
        keep[:, silent] = False
        keep[silent[start:stop]] = False
        # Candidates move to [1, 3], the others to 0, and ruled-out frames go to -inf.
        S += 2.0
        S *= keep
        flat = S.reshape(-1)
        rows = np.arange(stop - start)
        offsets = rows * n_frames
        # The frame itself rules out its surroundings first.
        flat[
            offsets[:, None] + np.clip(np.arange(start, stop)[:, None] + window, 0, last_frame)
        ] = -np.inf
        # Each row's maximum is found from the maxima of its chunks, which only the chunks
        # a pick rules out need refreshing for: a pass over the whole row per pick would
        # cost more than all the rest.
        # The values are +0, -inf or at least 1, whose bits order as 32-bit integers as the
        # numbers do: the integer maximum is the same, and twice as fast as the float one.
        M = np.maximum.reduceat(S.view(np.int32), chunk_starts, axis=1).view(np.float32)
        M_flat = M.reshape(-1)
        chunk_offsets = rows * M.shape[1]
        for k in range(index.shape[1]):
            chunk = np.argmax(M.view(np.int32), axis=1)  # the same order, as above
            found = M_flat[chunk_offsets + chunk] > 0.5
            if not found.any():
                break
            inside = np.minimum(chunk[:, None] * CHUNK + steps, last_frame)
            picks = inside[rows, np.argmax(flat[offsets[:, None] + inside], axis=1)]
            index[start:stop, k] = np.where(found, picks, -1)
            # Rule out everything closer than `separation` to the frames just picked: the
            # chunks wholly inside that window go to -inf in M (S is never read there again),
            # and the two chunks it cuts through get the window's part of them ruled out in
            # S and their maxima refreshed, unless an earlier window covered them wholly.
            low = np.maximum(picks - reach + 1, 0)
            high = np.minimum(picks + reach - 1, last_frame)
            edges = np.stack([low // CHUNK, high // CHUNK], axis=1)  # (rows, 2)
            at_edges = chunk_offsets[:, None] + edges
            open_before = M_flat[at_edges] > -np.inf
            covered = np.minimum(edges[:, :1] + chunk_span, edges[:, 1:])
            M_flat[chunk_offsets[:, None] + covered] = -np.inf
            inside = np.minimum(edges[..., None] * CHUNK + steps, last_frame)  # (rows, 2, CHUNK)
            at = offsets[:, None, None] + inside
            values = flat[at]
            values[(inside >= low[:, None, None]) & (inside <= high[:, None, None])] = -np.inf
            flat[at] = values
            M_flat[at_edges] = np.where(open_before, values.max(axis=2), -np.inf)


def median_of_frames(V: np.ndarray, index: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """Element-wise median of ``V`` over each frame's picked frames, limited to ``V``.

    Parameters
    ----------
    V : np.ndarray, shape (..., n_freq, n_frames)
        Magnitude spectrogram.
    index : np.ndarray, shape (n_frames, k), int
        Frames to take the median over for each frame, padded with -1 where there are fewer
        (as returned by :func:`similar_frames`); every row holds at least one frame.
    threads : int, optional
        Threads for the medians (see :func:`similarity_model`).

    Returns
    -------
    W : np.ndarray, same shape and dtype as ``V``
        ``W[..., j] = min(median(V[..., index[j]]), V[..., j])``, the median of an even count
        being the mean of the two middle values.
    """
    V = _as_spectrogram(V)
    shape, n_frames = V.shape, V.shape[-1]
    index = np.asarray(index)
    counts = np.count_nonzero(index >= 0, axis=-1)
    if not (
        np.issubdtype(index.dtype, np.integer)
        and index.ndim == 2
        and index.shape[0] == n_frames
        and np.all(counts >= 1)
        and np.all(index < n_frames)
    ):
        raise ParameterError(
            f"`index` must hold one row of frame numbers below {n_frames} per frame, with at "
            f"least one in every row, got shape {index.shape}"
        )
    columns = V.reshape(-1, n_frames)
    safe = np.where(index >= 0, index, n_frames)
    W = np.empty_like(columns)
    # A slab of bins at a time, frames as rows, so that a gather copies whole stretches of
    # spectrum; one extra row of +inf stands in for the padding, which sorts above every
    # real value and leaves the lower order statistics of each frame's own count untouched.
    slab = math.ceil(columns.shape[0] / math.ceil(columns.shape[0] / MEDIAN_SLAB))  # even
    rows = np.empty((n_frames + 1, slab), dtype=V.dtype)
    for low in range(0, columns.shape[0], slab):
        high = min(low + slab, columns.shape[0])
        part = rows[:, : high - low]
        for start in range(0, n_frames, 256):
            stop = min(start + 256, n_frames)
            part[start:stop] = columns[low:high, start:stop].T
        part[n_frames] = np.inf
        _in_parallel(
            functools.partial(_median, rows=part, index=safe, counts=counts, out=W[low:high]),
            n_frames,
            block=MEDIAN_BLOCK,
            threads=threads,
        )
    np.minimum(W, columns, out=W)
    return W.reshape(shape)


def _median(
    first: int,
    last: int,
    *,
    rows: np.ndarray,
    index: np.ndarray,
    counts: np.ndarray,
    out: np.ndarray,
) -> None:
    """:func:`median_of_frames` for frames ``first`` to ``last - 1``, written into ``out``."""
    k, width = index.shape[1], rows.shape[1]
    comparators = _median_network(k)
    gathered_buffer = np.empty((k, MEDIAN_BLOCK, width), dtype=rows.dtype)
    spare_buffer = np.empty((MEDIAN_BLOCK, width), dtype=rows.dtype)
    lower_buffer = np.empty((k // 2 + 1, MEDIAN_BLOCK, width), dtype=rows.dtype)
    for start in range(first, last, MEDIAN_BLOCK):
        t = slice(start, min(start + MEDIAN_BLOCK, last))
        size = t.stop - t.start
        whole = size == MEDIAN_BLOCK  # the buffers fit whole blocks only
        # gathered[i, f] is the i-th pick of frame f: each comparator input is contiguous.
        gathered = np.take(rows, index[t].T, axis=0, out=gathered_buffer if whole else None)
        wires = list(gathered)
        free = spare_buffer if whole else np.empty_like(wires[0])
        for a, b in comparators:  # a sorting network over the picks
            np.minimum(wires[a], wires[b], out=free)
            np.maximum(wires[a], wires[b], out=wires[b])
            wires[a], free = free, wires[a]
        lower = np.stack(wires[: k // 2 + 1], out=lower_buffer if whole else None)
        frames = np.arange(size)
        median = lower[(counts[t] - 1) // 2, frames] + lower[counts[t] // 2, frames]
        median *= 0.5
        out[:, t] = median.T


def _in_parallel(work, n: int, *, block: int, threads: int | None) -> None:
    """Call ``work(first, last)`` on ranges of whole blocks covering ``0 .. n - 1``, in threads.

    numpy releases the GIL in the array operations the workers spend their time in. The
    ranges start at multiples of ``block``, so every block is the same whatever the number of
    threads (at most :data:`MAX_THREADS`, and no more than blocks), and so is the result.
    """
    budget = thread_budget(threads)
    blocks = math.ceil(n / block)
    threads = max(1, min(budget, MAX_THREADS, blocks))
    # The matrix products share the budget with these threads: BLAS's own threads would
    # compete with them, and with the other processes of a batch (one thread each), for cores.
    with blas_threads(max(1, budget // threads)):
        if threads == 1:
            work(0, n)
            return
        bounds = [min(n, round(i * blocks / threads) * block) for i in range(threads + 1)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(work, a, b) for a, b in itertools.pairwise(bounds)]:
                future.result()


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


def _unit_frames(V: np.ndarray, *, bins_per_band: int) -> tuple[np.ndarray, np.ndarray]:
    """Channel-averaged band sums of the frames scaled to unit length, float32.

    Returns the frames, shape (n_bands, n_frames), and which of them are all zero (those
    stay zero).
    """
    bands = V
    if bins_per_band > 1:
        bands = np.add.reduceat(V, np.arange(0, V.shape[-2], bins_per_band), axis=-2)
    U = np.mean(bands.reshape(-1, *bands.shape[-2:]), axis=0, dtype=np.float32)
    # Scaling by the peak first keeps the sum of squares clear of overflow and underflow.
    peak = np.max(np.abs(U), axis=0)
    silent = ~(peak > 0)
    np.divide(U, peak, out=U, where=~silent)
    U /= np.maximum(np.linalg.norm(U, axis=0), 1.0)  # the norm is at least 1 unless silent
    return U, silent


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


#: REPET-SIM's own defaults, as its options name them (``similarity_threshold`` is the model's
#: ``threshold``).
OPTION_KEYWORDS = {
    "neighbors": "neighbors",
    "min_separation": "min_separation",
    "similarity_threshold": "threshold",
}


@dataclass(frozen=True, kw_only=True)
class SimilarityOptions(AlgorithmOptions):
    """Options of REPET-SIM.

    Parameters
    ----------
    neighbors, min_separation, similarity_threshold : optional
        Each frame's model is the median of its ``neighbors`` most similar frames (cosine
        similarity of spectral envelopes), at least ``min_separation`` seconds apart, with a
        similarity of at least ``similarity_threshold``. Defaults: :data:`DEFAULT_NEIGHBORS`,
        :data:`DEFAULT_MIN_SEPARATION`, :data:`DEFAULT_THRESHOLD`.
    """

    name: ClassVar[str] = "repet-sim"

    neighbors: int | None = None
    min_separation: float | None = None
    similarity_threshold: float | None = None

    def __post_init__(self) -> None:
        positive_int("neighbors", self.neighbors)
        if self.min_separation is not None and not (
            isinstance(self.min_separation, numbers.Real)
            and math.isfinite(self.min_separation)
            and self.min_separation >= 0
        ):
            raise ParameterError(
                f"`min_separation` must be a number of seconds >= 0, got {self.min_separation!r}"
            )
        if self.similarity_threshold is not None and not (-1.0 <= self.similarity_threshold <= 1.0):
            raise ParameterError(
                f"`similarity_threshold` must lie in [-1, 1], got {self.similarity_threshold!r}"
            )

    def effective(self) -> dict:
        return model_defaults(super().effective(), similarity_model, OPTION_KEYWORDS)

    def model(self, spectra: Spectra, *, bounds, threads: int) -> tuple[Model, Found]:
        keywords = {OPTION_KEYWORDS[k]: v for k, v in self.given().items()}
        W = similarity_model(spectra.V, sr=spectra.sr, hop=spectra.hop, threads=threads, **keywords)
        return (lambda start, stop: W[..., start:stop]), Found()
