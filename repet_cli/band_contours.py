"""Which contours of the lead's pitch track are the band's, from what the spectrogram shows.

:func:`repet_cli.pitch.track` already leaves unvoiced the contours whose pitch holds still
(:func:`repet_cli.pitch.flat_contours`: the track alone tells). Two more cues need the
spectrogram, and the voice pass (:func:`repet_cli.stages.voice_pass`) applies them to the
track: a contour spread over the stereo field (:func:`spread_contours`), and one that holds
its timbre as well as its pitch, or lies far below the lead and holds its timbre
(:func:`steady_contours`). Each is relative to the input's typical contour, so a lead that is
itself spread, or itself steady, is left alone.
"""

from __future__ import annotations

import numpy as np

from .pitch import FLAT_MIN_SECONDS, HARMONIC_CEILING, contour_waver, contours, weighted_median
from .voice import lead_frames

#: A voice changes its vowels as it sings, and with them the relative levels of its partials;
#: an instrument keeps its timbre from note to note (Lehner, Widmer & Sonnleitner, ICASSP
#: 2014, used the fluctuation of the spectral envelope over time, their "vocal variance", to
#: cut instruments taken for a voice). A contour whose partials' levels change less than
#: :data:`STEADY` times as fast as the input's typical contour's, and whose pitch wavers less
#: than :data:`STEADY_WAVER` times as much (both cues together: a voice holding a note still
#: changes its vowel, an instrument with a vibrato still holds its timbre), is left unvoiced. Only
#: contours of :data:`STEADY_MIN_SECONDS` or more are judged: a syllable holds one vowel.
#: Measured, SDR bg / fg: full songs 8.34 / 2.25 -> 8.41 / 2.36 ("Las Vegas Tango" +0.19 /
#: +0.42, "Rohaar" +0.18 / +0.19, no song below -0.02), synthetic set 7.45 / 5.94 -> 7.43 /
#: 5.93, clips unchanged (under :data:`FLAT_MIN_SECONDS`: not judged). Variants: a pitch share
#: of 0.6 gave the full songs 8.44 / 2.40, 0.7 cost "How Will I Know" 0.36 dB (its sung
#: contours waver less than the others'); a timbre share of 0.85 cost the synthetic house song
#: 0.18 dB (its lead, a sampled synthesizer voice, holds its timbre); judging contours from
#: 0.2 s cost "Lithium" 0.3 dB (short pitch-corrected sung notes) and the podcasts 0.3-2 dB.
#: Cost: 16 ms on a 325-s song.
STEADY = 0.8
STEADY_WAVER = 0.5
STEADY_MIN_SECONDS = 0.5
#: Far below the lead's typical pitch (frames outside :func:`repet_cli.voice.lead_frames`:
#: more than :data:`repet_cli.voice.BELOW_TYPICAL` octaves below its lower quartile) the track
#: more often follows a bass, piano or stick line than the lead. A contour mostly there stays
#: voiced only if it behaves like a voice: its timbre must change at least :data:`BELOW_STEADY`
#: times as fast as the input's typical contour's, however much its pitch wavers (a low line
#: played with expression wavers too). Measured on the contours there: "Rohaar"'s piano and
#: stick lines change 0.56-0.89 times as fast as its typical contour (quartiles), the
#: synthetic hip-hop song's rapped verses under its sung chorus 1.75-2.19 times. SDR bg / fg:
#: full songs 8.41 / 2.36 -> 8.60 / 2.63 ("Rohaar" +0.95 / +1.27, its background SI-SDR 6.03 ->
#: 7.23; "Francium" +0.06 / +0.10; "How Will I Know" -0.03 / -0.02), synthetic set unchanged
#: (7.43 / 5.93; the hip-hop song -0.03 / +0.01), clips unchanged (not judged). 1.3 gave the
#: full songs 8.63 / 2.70 but cost the hip-hop song 0.18 dB; weighing the foreground in those
#: frames at 0.5 or 1 (the voice model abstaining) instead of judging them gave the full songs
#: 8.59 / 2.58 and 8.49 / 2.45 and cost the hip-hop song 0.64 and 0.27 dB; unvoicing them all
#: (session 13) cost it 1.07 dB and a podcast's bed 2.9.
BELOW_STEADY = 1.0
#: Partials whose levels are compared (below :data:`HARMONIC_CEILING`), and the time between
#: the frames compared, in seconds.
STEADY_PARTIALS = 10
STEADY_LAG_SECONDS = 0.046


def timbre_change(
    f0: np.ndarray, V: np.ndarray, *, frequencies: np.ndarray, frames_per_second: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How fast each contour's timbre changes: the mean absolute change (dB) of its partials'
    levels relative to their mean, between frames :data:`STEADY_LAG_SECONDS` apart.

    ``V`` is a magnitude spectrogram, shape (channels, n_freq, n_frames); a partial's level is
    the largest of its nearest bin and their neighbours, averaged over channels. Returns
    ``(ids, frames, change)`` as :func:`contour_waver` does; the change is NaN for a contour
    with no pair of frames to compare.
    """
    f0 = np.asarray(f0, dtype=np.float64)
    ids, frames, _ = contours(f0)
    count = len(frames)
    at = np.flatnonzero(f0 > 0)
    lag = max(1, round(STEADY_LAG_SECONDS * frames_per_second))
    if at.size <= lag:
        return ids, frames, np.full(count, np.nan)
    n_freq = V.shape[-2]
    hz = f0[at, None] * np.arange(1, STEADY_PARTIALS + 1)
    bins = np.rint(hz / (frequencies[1] - frequencies[0])).astype(np.int64)
    usable = (hz < HARMONIC_CEILING) & (bins < n_freq - 1)
    bins = np.clip(bins, 1, n_freq - 2)
    level = np.zeros(bins.shape)
    for channel in V:
        near = channel[bins, at[:, None]]
        near = np.maximum(near, channel[bins - 1, at[:, None]])
        level += np.maximum(near, channel[bins + 1, at[:, None]])
    level = 20 * np.log10(level / len(V) + 1e-9)
    mean = np.where(usable, level, 0.0).sum(axis=1) / np.maximum(usable.sum(axis=1), 1)
    shape = level - mean[:, None]
    # pairs of frames ``lag`` apart in the same contour, and their partials usable in both
    paired = (ids[at][lag:] == ids[at][:-lag]) & (at[lag:] - at[:-lag] == lag)
    both = usable[lag:] & usable[:-lag] & paired[:, None]
    change = np.where(both, np.abs(shape[lag:] - shape[:-lag]), 0.0)
    of = ids[at][lag:]
    total = np.bincount(of, weights=change.sum(axis=1), minlength=count)
    pairs = np.bincount(of, weights=both.sum(axis=1), minlength=count)
    return ids, frames, np.divide(total, pairs, out=np.full(count, np.nan), where=pairs > 0)


def steady_contours(
    f0: np.ndarray,
    V: np.ndarray,
    *,
    frequencies: np.ndarray,
    frames_per_second: float,
    steady: float | None = None,
) -> np.ndarray:
    """Frames of the contours that hold both their timbre and their pitch (see
    :data:`STEADY`), and of those far below the lead's typical pitch whose timbre changes
    more slowly than the typical contour's (see :data:`BELOW_STEADY`): a boolean per frame.

    ``V`` is the magnitude spectrogram, shape (channels, n_freq, n_frames). A contour is
    judged on both counts when it lasts :data:`STEADY_MIN_SECONDS` or more (far below the
    lead, when it has any pair of frames to compare); all False when the contours of that
    length make less than :data:`FLAT_MIN_SECONDS`, or ``steady`` (default :data:`STEADY`) is
    0.
    """
    steady = STEADY if steady is None else steady
    f0 = np.asarray(f0, dtype=np.float64)
    if not steady:
        return np.zeros(f0.shape, dtype=bool)
    ids, frames, change = timbre_change(
        f0, V, frequencies=frequencies, frames_per_second=frames_per_second
    )
    judged = (frames >= STEADY_MIN_SECONDS * frames_per_second) & np.isfinite(change)
    judged[0] = False
    if frames[judged].sum() < FLAT_MIN_SECONDS * frames_per_second:
        return np.zeros(f0.shape, dtype=bool)
    _, _, waver = contour_waver(f0, frames_per_second=frames_per_second)
    typical_change = weighted_median(change[judged], frames[judged])
    typical_waver = weighted_median(waver[judged], frames[judged])
    found = judged & (change < steady * typical_change) & (waver < STEADY_WAVER * typical_waver)
    if BELOW_STEADY:
        below = np.bincount(ids, weights=~lead_frames(f0) & (f0 > 0), minlength=len(frames))
        low = (below > frames / 2) & np.isfinite(change)
        found |= low & (change < BELOW_STEADY * typical_change)
    found[0] = False
    return found[ids]


#: A contour whose partials are less centred than this (:func:`centredness`, weighted by their
#: power) is left unvoiced. A single source panned anywhere, even hard left or right, scores
#: at least 0.5 (1 in the centre); lower scores need partials that differ between the two
#: channels in phase or in time: a stereo-widened synthesizer or pad, guitars doubled left
#: and right, a reverb's tail. A lead is a single source, almost always mixed in the centre.
SPREAD = 0.4
#: ... unless the input's typical contour (the median over voiced frames) is itself less
#: centred than this: then the lead is spread too (a stereo synthesizer lead, a voice with a
#: stereo chorus), and spread tells nothing.
SPREAD_TYPICAL = 0.7
#: Partials of the tracked pitch that :func:`spread_contours` weighs, at most.
SPREAD_PARTIALS = 8


def centre_rows(frequencies: np.ndarray) -> int:
    """How many of the lowest bins :func:`spread_contours` reads: those up to the first at or
    above :data:`HARMONIC_CEILING`."""
    f = np.asarray(frequencies)
    return min(int(np.searchsorted(f, HARMONIC_CEILING)) + 1, f.size)


def centredness(X: np.ndarray) -> np.ndarray:
    """How centred each bin of a stereo STFT ``X`` (shape (2, n_freq, n_frames), complex) is:
    ``|L + R|^2 / (2 (|L|^2 + |R|^2))``, float16.

    1 for the same signal in both channels, 0.5 for a source in one channel only (or for
    unrelated signals of equal level), 0 for opposite phases; 1 where both are silent.
    """
    left, right = X[0], X[-1]
    both = left + right
    summed = both.real**2 + both.imag**2
    power = left.real**2 + left.imag**2 + right.real**2 + right.imag**2
    out = np.ones(summed.shape, dtype=np.float16)
    np.divide(summed, 2 * power, out=out, where=power > 0, casting="unsafe")
    return out


def spread_contours(
    f0: np.ndarray,
    centre: np.ndarray,
    V: np.ndarray,
    *,
    frequencies: np.ndarray,
    spread: float | None = None,
) -> np.ndarray:
    """Frames of the contours (:func:`contours`) whose partials are spread over the stereo
    field rather than centred: a boolean per frame.

    ``centre`` is :func:`centredness` of the lowest ``centre.shape[0]`` bins, shape (rows,
    n_frames); ``V`` the magnitude spectrogram, shape (channels, n_freq, n_frames). A
    contour's centredness is that of its first :data:`SPREAD_PARTIALS` partials below the
    highest row, weighted by their power; under ``spread`` (default :data:`SPREAD`) it is
    spread.
    """
    spread = SPREAD if spread is None else spread
    f0 = np.asarray(f0, dtype=np.float64)
    ids, frames, _ = contours(f0)
    at = np.flatnonzero(f0 > 0)
    rows = centre.shape[0]
    if not spread or at.size == 0:
        return np.zeros(f0.shape, dtype=bool)
    h = np.arange(1, SPREAD_PARTIALS + 1)
    bins = np.rint(f0[at, None] * h / (frequencies[1] - frequencies[0])).astype(np.int64)
    inside = bins < rows
    bins = np.minimum(bins, rows - 1)
    magnitudes = np.asarray(V)[:, bins, at[:, None]].astype(np.float64)
    weight = np.where(inside, np.einsum("cfh,cfh->fh", magnitudes, magnitudes), 0.0)
    centred = centre[bins, at[:, None]].astype(np.float64)
    count = len(frames)
    total = np.bincount(ids[at], weights=weight.sum(axis=1), minlength=count)
    part = np.bincount(ids[at], weights=(weight * centred).sum(axis=1), minlength=count)
    centred = np.divide(part, total, out=np.ones(count), where=total > 0)
    if weighted_median(centred[1:], frames[1:]) < SPREAD_TYPICAL:
        return np.zeros(f0.shape, dtype=bool)
    found = centred < spread
    found[0] = False
    return found[ids]
