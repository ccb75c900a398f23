"""The lead voice's pitch over time: harmonic-summation salience and a Viterbi track.

A sung or played lead is pitched: at any moment its partials sit at whole multiples of one
fundamental F0. :func:`salience` scores every candidate F0 of a grid by summing the whitened
log spectrum at its partials, less what lies between them (so that the octave above and the
octave below a true pitch score lower than the pitch itself); :func:`track` follows the best
path through those scores over time with a Viterbi pass whose transitions favour small steps
(vibrato and glides are followed, jumps to another instrument cost), with an unvoiced state
for the frames where no lead sings. The salience is computed on the foreground that the
repeating model leaves, where the band's loop is already mostly gone, so that the lead rather
than the loudest instrument is followed (the approach of Rafii, Duan & Pardo, IEEE/ACM TASLP
22(12), 2014, and of Ikemiya, Itoyama & Yoshii, IEEE/ACM TASLP 24(11), 2016, who track the F0
on a separated voice).

Everything here works on arrays: the salience is one sparse product over the spectrogram; the
track is one pass over the frames whose steps are vector operations over the candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Lowest and highest fundamental followed, in Hz: a bass voice's low notes to a soprano's and
#: a lead trumpet's or flute's high ones.
F0_RANGE = (70.0, 1100.0)
#: Spacing of the candidate fundamentals, in cents.
STEP_CENTS = 20.0
#: Partials summed per candidate, at most, and only below this frequency (Hz).
HARMONICS = 16
HARMONIC_CEILING = 5000.0
#: The salience is read from the foreground behind the high-pass (150 Hz and its 50-Hz ramp
#: by default), where a low voice's fundamental and second partial are gone: a candidate at
#: its third partial, which collects partials 3, 6, 9... at the heaviest weights, outscored
#: the fundamental in 14-20 % of the synthetic podcasts' spoken frames. So each partial (and
#: dip) of a candidate counts as much as the high-pass lets through at its frequency
#: (:func:`summation_matrix`'s ``high_pass`` and ``ramp``), and the candidate's weights are
#: scaled up by what it lost, to the power :data:`MAKE_UP` (1 would make up all of it; but a
#: candidate judged on fewer partials is less sure: measured, SDR bg / fg on the full songs,
#: clips and synthetic set, 0.5: 8.35 / 2.25, 9.52 / 6.63, 7.26 / 5.76; 0.75: 8.34 / 2.25,
#: 9.52 / 6.63, 7.45 / 5.94; 1: 8.33 / 2.23, 9.51 / 6.61, 7.56 / 6.03). A hard floor at the
#: top of the ramp instead gave a sung voice at 174 Hz, whose fundamental the ramp half keeps,
#: to the background in an a cappella passage (its SNR 13.2 -> 5.6 dB).
MAKE_UP = 0.75
#: Share of the salience of the octave above that a candidate loses (:func:`salience`).
OCTAVE_CHECK = 0.5
#: Weight of partial h is ``DECAY ** (h - 1)``: low partials count most.
DECAY = 0.85
#: Bins of the moving average the log spectrum is whitened by (as the voice gate's).
WHITEN_BINS = 15
#: Cost of a step of the track between two frames, per candidate (20 cents), relative to the
#: scale of the salience (see :func:`track`): an octave costs 1.2, as much as a pause.
STEP_COST = 0.02
#: Cost of starting or ending a voiced stretch, relative to the scale of the salience.
SWITCH_COST = 1.5
#: A frame is voiced where its best candidate scores more than this fraction of the input's
#: typical peak salience (the median over frames of each frame's best score, from frames with
#: any salience).
VOICING = 0.55


def candidates(*, f0_range: tuple[float, float] | None = None, step: float | None = None):
    """The candidate fundamentals in Hz: a geometric grid ``step`` cents apart (by default
    :data:`F0_RANGE` and :data:`STEP_CENTS`, read when called)."""
    f0_range = F0_RANGE if f0_range is None else f0_range
    step = STEP_CENTS if step is None else step
    n = int(math.floor(1200 * math.log2(f0_range[1] / f0_range[0]) / step)) + 1
    return f0_range[0] * 2.0 ** (np.arange(n) * step / 1200)


def summation_matrix(
    frequencies: np.ndarray, f0s: np.ndarray, *, high_pass: float = 0.0, ramp: float = 0.0
):
    """The sparse matrix that turns a whitened spectrum into the salience of each candidate.

    Row ``c`` adds ``DECAY ** (h - 1)`` at each partial ``h * f0s[c]`` (linearly shared
    between the two nearest bins) and subtracts the same weight half-way between partials
    ``h - 1`` and ``h``, for ``h`` up to :data:`HARMONICS` and below
    :data:`HARMONIC_CEILING`. Each weight is multiplied by what a high-pass at ``high_pass``
    Hz whose gain rises linearly over ``ramp`` Hz lets through at its frequency, and the row
    by its partials' total weight below the ceiling over what is left of it, to the power
    :data:`MAKE_UP`.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (len(f0s), len(frequencies)), float32
    """
    import scipy.sparse

    f = np.asarray(frequencies, dtype=np.float64)
    df = f[1] - f[0]
    rows, cols, vals = [], [], []
    h = np.arange(1, HARMONICS + 1, dtype=np.float64)
    weight = DECAY ** (h - 1)
    f0s = np.asarray(f0s, dtype=np.float64)
    top = min(HARMONIC_CEILING, f[-1] - df)

    def passed(hz):
        """What the high-pass lets through at ``hz``, 0 to 1."""
        if ramp > 0:
            return np.clip((hz - high_pass) / ramp, 0.0, 1.0)
        return (hz >= high_pass).astype(np.float64)

    partials = f0s[:, None] * h[None, :]
    below = (partials < top) * weight
    scale = (below.sum(axis=1) / np.maximum((below * passed(partials)).sum(axis=1), 1e-9)) ** (
        MAKE_UP
    )
    for sign, positions in ((1.0, h), (-1.0, h - 0.5)):
        hz = f0s[:, None] * positions[None, :]
        gain = passed(hz)
        keep = (hz < top) & (gain > 0)
        c, k = np.nonzero(keep)
        p = hz[c, k] / df
        low = np.floor(p).astype(np.int64)
        frac = p - low
        w = sign * weight[k] * gain[c, k] * scale[c]
        rows += [c, c]
        cols += [low, low + 1]
        vals += [w * (1 - frac), w * frac]
    matrix = scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(f0s), len(f)),
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    return matrix


def log_whitened(x: np.ndarray, *, bins: int = WHITEN_BINS) -> np.ndarray:
    """``log(1 + x / mean x)`` per frame (``x`` of shape (n_rows, n_frames), float32), less
    its moving average over ``bins`` rows: a level-free log spectrum whose peaks stand out."""
    from scipy.ndimage import uniform_filter1d

    L = np.log1p(x / (x.mean(axis=0, keepdims=True) + np.float32(1e-9)))
    L -= uniform_filter1d(L, bins, axis=0)
    return L


def whitened(F: np.ndarray, *, frequencies: np.ndarray) -> np.ndarray:
    """The peaks of a magnitude spectrogram, level-free: ``log(1 + F / mean F)`` less its
    moving average over :data:`WHITEN_BINS` bins, negative values set to 0.

    ``F`` has shape (n_freq, n_frames); the result is float32 of the same shape, zero above
    :data:`HARMONIC_CEILING`.
    """
    f = np.asarray(frequencies)
    rows = f < HARMONIC_CEILING + 2 * (f[1] - f[0])
    out = np.zeros(np.shape(F), dtype=np.float32)
    L = log_whitened(np.asarray(F, dtype=np.float32)[rows])
    np.maximum(L, 0, out=L)
    out[rows] = L
    return out


def salience(F: np.ndarray, *, frequencies: np.ndarray, matrix=None) -> np.ndarray:
    """Harmonic-summation salience of every candidate fundamental in every frame.

    Parameters
    ----------
    F : np.ndarray, shape (n_freq, n_frames)
        Magnitude spectrogram (the foreground estimate, averaged over channels).
    frequencies : np.ndarray, shape (n_freq,)
        Centre frequency of each bin in Hz.
    matrix : scipy.sparse matrix, optional
        :func:`summation_matrix` for these frequencies and :func:`candidates` (built when
        omitted; pass it to reuse it over blocks of frames).

    Returns
    -------
    np.ndarray, shape (n_candidates, n_frames), float32
    """
    if matrix is None:
        matrix = summation_matrix(frequencies, candidates())
    S = np.asarray(matrix @ whitened(F, frequencies=frequencies), dtype=np.float32)
    if OCTAVE_CHECK:
        # A candidate an octave below a pitch collects its partials too (every other one of
        # its own): take away what the octave above it scores.
        up = int(round(1200 / STEP_CENTS))
        S[:-up] -= np.float32(OCTAVE_CHECK) * np.maximum(S[up:], 0)
    return S


@dataclass(frozen=True)
class Track:
    """A pitch track: ``f0`` in Hz per frame (0 where unvoiced), ``voiced`` per frame, and the
    salience of the tracked candidate relative to the input's typical peak (``strength``)."""

    f0: np.ndarray
    voiced: np.ndarray
    strength: np.ndarray

    @classmethod
    def silent(cls, n_frames: int) -> Track:
        """A track of ``n_frames`` frames with no voiced frame."""
        zeros = np.zeros(n_frames)
        return cls(f0=zeros, voiced=zeros.astype(bool), strength=zeros)


def unvoiced(track: Track, frames: np.ndarray) -> Track:
    """``track`` with ``frames`` (a boolean per frame) unvoiced."""
    keep = ~np.asarray(frames, dtype=bool)
    return Track(
        f0=np.where(keep, track.f0, 0.0),
        voiced=track.voiced & keep,
        strength=np.where(keep, track.strength, 0.0),
    )


def _viterbi(score: np.ndarray, *, step_cost: float, switch: float, unvoiced: float):
    """The best path through ``score`` (n_candidates, n_frames) with an unvoiced state.

    A step of ``d`` candidates between frames costs ``step_cost * |d|``, a change between
    voiced and unvoiced ``switch``; an unvoiced frame scores ``unvoiced``. The best
    predecessor of every candidate under a cost linear in the step is a distance transform:
    two running maxima (``np.maximum.accumulate``) over the candidates, one upwards and one
    downwards, so each frame costs a few vector operations. Returns the path, -1 where
    unvoiced.
    """
    n_cand, n_frames = score.shape
    ramp = np.float32(step_cost) * np.arange(n_cand, dtype=np.float32)
    index = np.arange(n_cand)
    back = np.empty((n_frames, n_cand), dtype=np.int16)  # -1: from the unvoiced state
    came_voiced = np.zeros(n_frames, dtype=bool)  # the unvoiced state's best predecessor
    best_before = np.zeros(n_frames, dtype=np.int64)  # the best voiced state of frame t - 1
    total = score[:, 0].copy()
    quiet = np.float32(unvoiced)
    switch, unvoiced = np.float32(switch), np.float32(unvoiced)

    def running_best(values):
        """max over c' <= c of values[c'] and where it is."""
        best = np.maximum.accumulate(values)
        where = np.maximum.accumulate(np.where(values >= best, index, 0))
        return best, where

    for t in range(1, n_frames):
        up, up_at = running_best(total + ramp)  # from below: total[c'] - cost (c - c')
        up -= ramp
        down, down_at = running_best((total - ramp)[::-1])  # from above
        down = down[::-1] + ramp
        down_at = n_cand - 1 - down_at[::-1]
        stay = np.maximum(up, down)
        at = np.where(up >= down, up_at, down_at)
        best_before[t] = total.argmax()
        best_voiced = total[best_before[t]]
        enter = quiet - switch
        fresh = enter > stay
        back[t] = np.where(fresh, -1, at)
        came_voiced[t] = best_voiced - switch > quiet
        quiet = max(quiet, best_voiced - switch) + unvoiced
        total = np.where(fresh, enter, stay) + score[:, t]
    path = np.empty(n_frames, dtype=np.int64)
    state = -1 if quiet >= total.max() else int(total.argmax())
    for t in range(n_frames - 1, -1, -1):
        path[t] = state
        if t == 0:
            break
        if state < 0:
            state = int(best_before[t]) if came_voiced[t] else -1
        else:
            state = int(back[t, state])
    return path


#: Weight of the frame's loudness in the voiced score: the log energy of the foreground
#: estimate, less its median over the input, times this.
LOUDNESS = 0.4
#: Weight of the foreground's share of the mixture's energy in the voiced score, per 10 dB
#: above or below :data:`SHARE_DB`: an absolute anchor, so that an input with no voice at all
#: (a loop alone leaves about -14.5 dB of itself in the foreground) is not voiced half the time
#: as its own median would make it. Sung frames of the shared songs and clips measure -10 to
#: -5 dB.
SHARE = 1.0
SHARE_DB = -8.0
#: The scores are relative to the input's own typical peak, which presumes a lead. An input
#: whose foreground never stands out of the band (the share of the mixture's energy that it
#: holds is below :data:`LEAD_SHARE_DB` in all but :data:`LEAD_SHARE_QUANTILE` of its frames)
#: has none: no frame of it is voiced. An exact loop alone leaves -11.6 dB in its 90th
#: percentile frame; the shared songs, clips and synthetic items -7.9 to -2.0 dB.
LEAD_SHARE_DB = -10.0
LEAD_SHARE_QUANTILE = 0.9
#: The track moves in steps of this many frames (the salience's best of each group, the
#: energy's mean): the Viterbi pass costs a loop over time steps, and 23 ms steps follow a
#: vibrato as well as 11.6 ms ones did here (raw pitch accuracy on the shared songs and clips
#: within 0.01).
POOL = 2
#: A contour (a voiced stretch whose pitch moves less than :data:`CONTOUR_JUMP` cents from
#: frame to frame) whose pitch wavers less than this share of the input's typical contour's
#: (the median over its voiced frames) is taken for an instrument holding its notes (a piano,
#: a guitar, a synthesizer line) rather than the lead, whose pitch always wavers (vibrato,
#: scoops, drift), and is left unvoiced: the melody-extraction cue of Salamon & Gomez (IEEE
#: TASLP 20(6), 2012), relative to the input. 0 turns it off.
FLAT = 0.25
CONTOUR_JUMP = 150.0
#: The waver is the root-mean-square distance of a contour's pitch (cents) from its own
#: moving mean over this many seconds on each side, within the contour.
WAVER_SECONDS = 0.15
#: Contours shorter than this (seconds) are neither judged nor counted in the typical waver;
#: and an input with fewer seconds of contours than :data:`FLAT_MIN_SECONDS` is not judged at
#: all: a clip of a few phrases does not tell how its lead wavers (on the 7-s clips the check
#: unvoiced held sung notes).
MIN_CONTOUR_SECONDS = 0.11
FLAT_MIN_SECONDS = 30.0
#: Nor is an input whose typical contour wavers less than this (cents): its lead holds its
#: pitch too (a synthesised or pitch-corrected voice), so steadiness tells nothing.
FLAT_MIN_TYPICAL = 3.0


def contours(f0: np.ndarray):
    """The contours of a pitch track: voiced stretches whose pitch moves less than
    :data:`CONTOUR_JUMP` cents from frame to frame.

    Returns ``(ids, frames, starts)``: each frame's contour number (0 where unvoiced), per
    contour number its length in frames, and per frame whether a contour begins there.
    """
    f0 = np.asarray(f0, dtype=np.float64)
    voiced = f0 > 0
    cents = 1200 * np.log2(np.where(voiced, f0, 1.0))
    starts = voiced.copy()
    starts[1:] &= ~(voiced[:-1] & (np.abs(np.diff(cents)) < CONTOUR_JUMP))
    ids = np.where(voiced, np.cumsum(starts), 0)
    count = int(ids.max()) if f0.size else 0
    return ids, np.bincount(ids, minlength=count + 1), starts


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value below which half of the total weight lies (of per-contour values weighted
    by their frames: the input's typical contour)."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return values[order][np.searchsorted(cumulative, cumulative[-1] / 2)]


def contour_waver(f0: np.ndarray, *, frames_per_second: float):
    """The contours of a pitch track (:func:`contours`) and how much each wavers.

    Returns ``(ids, frames, waver)``: each frame's contour number (0 where unvoiced), and per
    contour number its length in frames and its waver in cents (see :data:`WAVER_SECONDS`).
    """
    f0 = np.asarray(f0, dtype=np.float64)
    n = f0.size
    voiced = f0 > 0
    cents = 1200 * np.log2(np.where(voiced, f0, 1.0))
    ids, frames, starts = contours(f0)
    count = len(frames) - 1
    at = np.flatnonzero(voiced)
    if at.size == 0:
        return ids, frames, np.zeros(count + 1)
    first = np.concatenate([[n], np.flatnonzero(starts)])  # contour k begins at first[k]
    end = first + frames  # a contour's frames are consecutive
    half = max(1, round(WAVER_SECONDS * frames_per_second))
    lo = np.maximum(first[ids[at]], at - half)
    hi = np.minimum(end[ids[at]], at + half + 1)
    total = np.concatenate([[0.0], np.cumsum(np.where(voiced, cents, 0.0))])
    deviation = cents[at] - (total[hi] - total[lo]) / (hi - lo)
    squares = np.bincount(ids[at], weights=deviation**2, minlength=count + 1)
    return ids, frames, np.sqrt(squares / np.maximum(frames, 1))


def flat_contours(f0: np.ndarray, *, frames_per_second: float, flat: float | None = None):
    """Frames of the contours that waver less than ``flat`` (default :data:`FLAT`) times the
    input's typical contour: a boolean per frame (all False when the input has fewer than
    :data:`FLAT_MIN_SECONDS` of contours to judge by, or when its typical contour wavers
    less than :data:`FLAT_MIN_TYPICAL`)."""
    flat = FLAT if flat is None else flat
    ids, frames, waver = contour_waver(f0, frames_per_second=frames_per_second)
    judged = frames >= MIN_CONTOUR_SECONDS * frames_per_second
    judged[0] = False
    if not flat or frames[judged].sum() < FLAT_MIN_SECONDS * frames_per_second:
        return np.zeros(np.shape(f0), dtype=bool)
    typical = weighted_median(waver[judged], frames[judged])
    if typical < FLAT_MIN_TYPICAL:
        return np.zeros(np.shape(f0), dtype=bool)
    return (judged & (waver < flat * typical))[ids]


def track(
    S: np.ndarray,
    *,
    energy: np.ndarray | None = None,
    mixture_energy: np.ndarray | None = None,
    f0s: np.ndarray | None = None,
    frames_per_second: float | None = None,
) -> Track:
    """The most likely pitch path through a salience map (Viterbi), with unvoiced frames.

    The path maximises the sum over frames of its candidates' score, less :data:`STEP_COST`
    per candidate stepped between frames and :data:`SWITCH_COST` per change between voiced
    and unvoiced; an unvoiced frame scores :data:`VOICING`. A candidate's score is its
    salience divided by the input's typical peak (the median of each frame's best score over
    frames that have any), so the costs do not depend on the level or the material, plus
    :data:`LOUDNESS` times the frame's log energy (relative to its median) where ``energy``
    is given, plus :data:`SHARE` times the foreground's share of the mixture's energy in dB
    (relative to :data:`SHARE_DB`, per 10 dB) where ``mixture_energy`` is given too (and no
    frame is voiced where that share never stands out: :data:`LEAD_SHARE_DB`). The path
    moves in steps of :data:`POOL` frames. Given ``frames_per_second``, contours whose pitch
    holds still are then left unvoiced (:data:`FLAT`, :func:`flat_contours`).

    Parameters
    ----------
    S : np.ndarray, shape (n_candidates, n_frames)
        :func:`salience`.
    energy : np.ndarray, shape (n_frames,), optional
        The energy of the spectrogram the salience came from, per frame.
    mixture_energy : np.ndarray, shape (n_frames,), optional
        The mixture's energy per frame, for the foreground's share of it (:data:`SHARE`).
    f0s : np.ndarray, optional
        The candidates' frequencies (default :func:`candidates`).
    frames_per_second : float, optional
        The frame rate, for the check of held pitches (skipped without it).

    Returns
    -------
    Track
    """
    f0s = candidates() if f0s is None else np.asarray(f0s)
    n_cand, n_frames = S.shape
    peak = S.max(axis=0) if n_frames else np.zeros(0)
    positive = peak[peak > 0]
    scale = float(np.median(positive)) if positive.size else 0.0
    if n_frames == 0 or not scale > 0:
        return Track.silent(n_frames)
    pool = max(1, min(int(POOL), n_frames))
    usable = n_frames - n_frames % pool
    score = np.asarray(S, dtype=np.float32) / np.float32(scale)
    if energy is not None and LOUDNESS:
        level = np.log(np.asarray(energy, dtype=np.float64) + 1e-12)
        score += np.float32(LOUDNESS) * (level - np.median(level)).astype(np.float32)
    if energy is not None and mixture_energy is not None:
        share = 10 * np.log10(
            (np.asarray(energy, np.float64) + 1e-20) / (np.asarray(mixture_energy) + 1e-20)
        )
        if np.quantile(share, LEAD_SHARE_QUANTILE) < LEAD_SHARE_DB:
            return Track.silent(n_frames)
        if SHARE:
            score += (np.float32(SHARE) * (share - SHARE_DB) / 10).astype(np.float32)
    pooled = score[:, :usable].reshape(n_cand, -1, pool).max(axis=-1)
    if usable < n_frames:
        pooled = np.concatenate([pooled, score[:, usable:].max(axis=1, keepdims=True)], axis=1)
    path = _viterbi(pooled, step_cost=STEP_COST, switch=SWITCH_COST, unvoiced=VOICING)
    path = np.repeat(path, pool)[:n_frames]
    voiced = path >= 0
    at = np.where(voiced, path, 0)
    f0 = np.where(voiced, f0s[at], 0.0)
    if frames_per_second is not None and FLAT:
        voiced &= ~flat_contours(f0, frames_per_second=frames_per_second)
        f0 = np.where(voiced, f0, 0.0)
    strength = np.where(voiced, score[at, np.arange(n_frames)], 0.0)
    return Track(f0=f0, voiced=voiced, strength=strength)
