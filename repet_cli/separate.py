"""The REPET pipeline as one pure function: ``separate(y, sr=..., params=...)``.

STFT -> beat spectrum -> period -> repeating model -> mask (-> multichannel Wiener filter)
-> reconstruction. No I/O, no
printing; errors are :class:`~repet_cli.errors.RepetError` subclasses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import mask as masks
from . import period as periods
from . import pitch, spectral, voice
from .algorithms import Spectra
from .algorithms.base import PeriodRange
from .errors import ParameterError
from .parallel import ordered_map, thread_budget
from .params import WIENER_MASKS, RepetParams


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
    mask : np.ndarray or None, shape (channels, n_freq, n_frames), float32
        Background mask from the repeating model (soft or binary, high-pass applied), when
        asked for (``keep_mask``). With ``mask="wiener"`` it is the soft mask that the Wiener
        filter started from.
    sr, n_fft, hop : int
        Sample rate and STFT sizes used.
    confidence : float or None
        ``repet`` with a detected period: how clearly the input repeats at it, the prominence
        of its beat-spectrum peak (see
        :func:`~repet_cli.period.estimate_period_with_confidence`); None otherwise.
    voice : repet_cli.pitch.Track or None
        With the voice model on: the lead's pitch per STFT frame (``f0`` in Hz, 0 where no
        lead is tracked), as the foreground's masks followed it; None otherwise.
    warnings : tuple of str
        Problems with the input that the separation cannot fix (silence, a constant signal,
        silent channels, no clear repetition), each a sentence with what to do
        (:func:`separation_warnings`).
    """

    background: np.ndarray
    foreground: np.ndarray
    algorithm: str
    period: float | None
    period_frames: float | None
    period_forced: bool
    local_periods: np.ndarray | None
    beat_spectrum: np.ndarray | None
    mask: np.ndarray | None
    sr: int
    n_fft: int
    hop: int
    confidence: float | None = None
    voice: pitch.Track | None = None
    warnings: tuple[str, ...] = ()


#: Below this repetition confidence (:attr:`Separation.confidence`) the input is said not to
#: repeat clearly. Measured with the default options: the 15 real songs of the evaluation set
#: 0.037-0.870 (two below 0.1), synthesized loops under a melody at -3 dB 0.54-0.61, white
#: noise <= 0.014 (8 to 44.1 kHz, 2.5 to 30 s), pure tones 0.000. Pink noise measures 0.02-0.32
#: (1/f from 0.1 Hz or from 20 Hz), as high as weakly repeating songs: this measure cannot tell
#: them apart, so the threshold keeps every real song quiet rather than catching pink noise.
LOW_CONFIDENCE = 0.02


def input_recurrence(
    V: np.ndarray, *, sr: int, n_fft: int, hop: int, period_range: tuple[float, float]
) -> float | None:
    """The spectral recurrence of an input from its magnitude spectrogram, or None when the
    input is shorter than :data:`~repet_cli.period.RECURRENCE_SECONDS` (or than three
    shortest periods).

    ``V`` has shape (channels, n_freq, n_frames); ``period_range`` is in seconds.
    """
    n_frames = V.shape[-1]
    n_samples = n_frames * hop
    if n_samples < periods.RECURRENCE_SECONDS * sr or n_samples < 3 * period_range[0] * sr:
        return None
    lo, hi = periods.lag_range(
        min_period=period_range[0], max_period=period_range[1], n_samples=n_samples, sr=sr, hop=hop
    )
    found = periods.spectral_recurrence(
        V, sr=sr, n_fft=n_fft, min_lag=lo, max_lag=hi, magnitude=True
    )
    return found[1]


def separation_warnings(
    y: np.ndarray, *, confidence: float | None = None, recurrence: float | None = None
) -> tuple[str, ...]:
    """What is wrong with an input that separates without error, one sentence per problem.

    Parameters
    ----------
    y : np.ndarray, shape (samples,) or (channels, samples)
        The input audio.
    confidence : float, optional
        The repetition confidence of a detected period (:attr:`Separation.confidence`); a
        value below :data:`LOW_CONFIDENCE` gives a warning. None when there is none.
    recurrence : float, optional
        The input's spectral recurrence (:func:`input_recurrence`); a value below
        :data:`~repet_cli.period.LOW_RECURRENCE` gives a warning (one at most about
        repetition). None when it was not measured.

    Returns
    -------
    tuple of str
        Empty for a normal input. A silent or constant input gets one warning only.
    """
    y = np.atleast_2d(y)
    lowest, highest = y.min(axis=-1), y.max(axis=-1)
    silent = (lowest == 0) & (highest == 0)
    if np.all(silent):
        return (
            "the input is digital silence (every sample is 0): both stems are silent; "
            "check that this is the file meant",
        )
    if np.all(lowest == highest):
        return (
            "the input is constant (every channel holds one value, a DC offset): nothing "
            "repeats or varies, so it all ends up in the background; check the recording",
        )
    found = []
    if np.any(silent):
        numbers = [str(c + 1) for c in np.flatnonzero(silent)]
        if len(numbers) == 1:
            which = f"channel {numbers[0]} of {len(silent)} is silent, and so are its stems"
        else:
            names = ", ".join(numbers[:-1]) + " and " + numbers[-1]
            which = f"channels {names} of {len(silent)} are silent, and so are their stems"
        found.append(f"{which}; check the input's channel layout")
    if confidence is not None and confidence < LOW_CONFIDENCE:
        found.append(
            f"the input does not repeat clearly (repetition confidence {confidence:.3f}, "
            f"below {LOW_CONFIDENCE:g}): the separation may be poor; set `algorithm` to "
            "'repet-sim' or force a `period`"
        )
    elif recurrence is not None and recurrence < periods.LOW_RECURRENCE:
        found.append(
            f"nothing in the input comes back at a steady period (spectral recurrence "
            f"{recurrence:.3f}, below {periods.LOW_RECURRENCE:g}): a background that does not loop "
            "(a score, chords that never return) leaks into the foreground; only a steady "
            "one (noise, a held drone) separates well"
        )
    return tuple(found)


#: Frames per block of the mask, Wiener and resynthesis passes (bounds their temporaries:
#: about 30 MB per thread for stereo at n_fft 2048).
BLOCK_FRAMES = 256


def spectrograms(
    audio: np.ndarray,
    *,
    n_fft: int,
    hop: int,
    threads: int = 1,
    magnitude: bool = True,
    power: bool = False,
    tick: Callable[[float], None] | None = None,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Magnitude and power spectrograms of ``audio[channels, samples]``, without the complex STFT.

    Returns
    -------
    V : np.ndarray or None
        With ``magnitude``: ``|stft(audio)|``, shape (channels, n_freq, n_frames), float32.
    P : np.ndarray or None
        With ``power``: the power averaged over channels, shape (n_freq, n_frames), float32.
    """
    n_frames = spectral.frame_count(audio.shape[-1], hop=hop)
    shape = audio.shape[:-1] + (n_fft // 2 + 1, n_frames)
    V = np.empty(shape, dtype=np.float32) if magnitude else None
    P = np.empty(shape[1:], dtype=np.float32) if power else None

    def fill(span):
        a, b = span
        block = np.abs(spectral.stft(audio, n_fft=n_fft, hop=hop, start=a, stop=b, workers=1))
        if V is not None:
            V[..., a:b] = block
        if P is not None:
            np.square(block, out=block)
            P[:, a:b] = block.mean(axis=0)

    spans = list(spectral.blocks(n_frames, BLOCK_FRAMES))
    for done, _ in enumerate(ordered_map(fill, spans, threads=threads), 1):
        if tick is not None:
            tick(done / len(spans))
    return V, P


#: The Wiener filter's spatial covariances of a long input are estimated from every n-th frame,
#: evenly spread, so that at least this many frames (46 s at 44.1 kHz) take part.
STATISTICS_FRAMES = 4000
MAX_STRIDE = 2


def statistics_stride(n_frames: int) -> int:
    """Every how many frames the Wiener statistics are summed (1: all of them)."""
    return max(1, min(MAX_STRIDE, n_frames // STATISTICS_FRAMES))


def _statistics(X: np.ndarray, V: np.ndarray, M: np.ndarray) -> dict[str, np.ndarray]:
    return masks.wiener_statistics(X, M, magnitude=V)


def _voice_gain(
    V, mask_of, spans, *, frequencies, rate: float, threads: int, track: bool, tick=None
):
    """The voice gate's foreground gain per frame (:mod:`repet_cli.voice`), the pitch
    salience and harmonic spacing (Hz) it was made of, and with ``track`` the lead's pitch
    track (:func:`repet_cli.pitch.track`; else None).

    ``mask_of(span, V_block)`` is the background mask of a block of frames; the pitch salience
    of the foreground it leaves, averaged over channels, decides the gain.
    """
    matrix = pitch.summation_matrix(frequencies, pitch.candidates()) if track else None

    def salience(span):
        part = V[..., span[0] : span[1]]
        foreground = ((1 - mask_of(span, part)) * part).mean(axis=0)
        cue = voice.pitch(foreground, frequencies=frequencies)
        if matrix is None:
            return cue, None
        energy = np.einsum("ft,ft->t", foreground, foreground)
        mixture = part.mean(axis=0)
        total = np.einsum("ft,ft->t", mixture, mixture)
        found = pitch.salience(foreground, frequencies=frequencies, matrix=matrix)
        return cue, (found, energy, total)

    found = []
    for part in ordered_map(salience, spans, threads=threads):
        found.append(part)
        if tick is not None:
            tick(len(found) / len(spans))
    values = np.concatenate([a for (a, _), _ in found])
    spacing = np.concatenate([b for (_, b), _ in found])
    lead = None
    if track:
        lead = pitch.track(
            np.concatenate([s for _, (s, _, _) in found], axis=1),
            energy=np.concatenate([e for _, (_, e, _) in found]),
            mixture_energy=np.concatenate([m for _, (_, _, m) in found]),
        )
    return voice.voice_gate(values, frames_per_second=rate), values, spacing, lead


class _Stages:
    """Turns each pass's own progress (0 to 1) into the share of the whole separation done.

    The passes' weights are their shares of a default separation's time, rounded (measured
    once on a 3-minute stereo song: spectrogram 0.87 s, model 0.38 s, the voice gate's pass
    0.40 s, Wiener statistics 0.37 s, masks and inverse STFT 0.93 s); passes that do not run
    are left out.
    """

    WEIGHTS = {"spectrogram": 0.3, "model": 0.12, "gate": 0.13, "wiener": 0.12, "masks": 0.33}

    def __init__(self, progress, *, gated: bool, wiener: bool):
        weights = dict(self.WEIGHTS)
        if not gated:
            weights.pop("gate")
        if not wiener:
            weights.pop("wiener")
        total = sum(weights.values())
        self.progress = progress
        self.start, self.weight, before = {}, {}, 0.0
        for name, w in weights.items():
            self.start[name], self.weight[name] = before / total, w / total
            before += w

    def __call__(self, name: str) -> Callable[[float], None]:
        """The progress function of one pass (a no-op without ``progress``)."""
        if self.progress is None:
            return lambda share: None
        start, weight = self.start[name], self.weight[name]
        return lambda share: self.progress(min(1.0, start + weight * share))


def separate(
    y: np.ndarray,
    *,
    sr: int,
    params: RepetParams | None = None,
    keep_mask: bool = False,
    threads: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> Separation:
    """Split ``y`` into its repeating background and non-repeating foreground (REPET).

    Parameters
    ----------
    y : np.ndarray, shape (samples,) or (channels, samples)
        Finite samples; every channel gets its own masks, all share one period.
    sr : int
        Sample rate in Hz.
    params : RepetParams, optional
        Options; the defaults when omitted.
    keep_mask : bool
        Return the background mask too (``Separation.mask``; it is as large as the
        spectrogram, so it is not kept by default).
    threads : int, optional
        Threads for the array work (default: one per core). The result does not depend on it.
    progress : callable, optional
        Called with the share of the work done (0 to 1, rising), many times per pass over the
        spectrogram, so that a long input shows progress before it is finished.

    Returns
    -------
    Separation
        Background and foreground with the input's shape, the period (and the mask), and
        warnings about the input. With mixture phase, ``background + foreground`` equals ``y``
        (float32 rounding).

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
    threads = thread_budget(threads)
    audio = np.atleast_2d(y).astype(np.float32, copy=False)
    n_samples = audio.shape[-1]
    n_fft, hop = params.stft_sizes(sr)
    algorithm = params.options

    bounds = algorithm.check_length(n_samples=n_samples, sr=sr, hop=hop)
    stage = _Stages(progress, gated=params.gated, wiener=params.mask in WIENER_MASKS)

    # Pass 1: the magnitude spectrogram, the one whole-length array the models need.
    V, P = spectrograms(
        audio,
        n_fft=n_fft,
        hop=hop,
        threads=threads,
        power=algorithm.needs_power(),
        tick=stage("spectrogram"),
    )
    spectra = Spectra(V=V, P=P, sr=sr, n_fft=n_fft, hop=hop)
    model, found = algorithm.model(spectra, bounds=bounds, threads=threads)
    del P, spectra  # the power spectrogram served the period search only
    recurrence = found.recurrence
    if recurrence is None and found.confidence is not None and isinstance(algorithm, PeriodRange):
        # A period was detected (by local models): does anything in the input loop at all?
        recurrence = input_recurrence(
            V, sr=sr, n_fft=n_fft, hop=hop, period_range=algorithm.period_range
        )
    stage("model")(1.0)
    n_frames = V.shape[-1]
    freqs = spectral.frequencies(sr=sr, n_fft=n_fft)
    spans = list(spectral.blocks(n_frames, BLOCK_FRAMES))

    cutoffs = None
    # The model's mask before the high-pass, kept from the first pass that computes it when a
    # later pass needs it again: written over a model as large as the spectrogram (which it
    # replaces, no more memory), else in 16-bit fixed point (within 7.7e-6 of the float mask).
    kept = None
    passes = int(params.gated) + int(params.mask in WIENER_MASKS) + 1
    over_model = passes > 1 and algorithm.whole_model
    if passes > 1 and not over_model:
        kept = np.empty(V.shape, dtype=np.uint16)
    made = np.zeros(len(spans), dtype=bool)

    def model_mask(span, V, frames=None):
        """The model's background mask of a block of frames, before the high-pass; with
        ``frames`` (a strided slice within the block) of those frames only, ``V`` being theirs."""
        block = span[0] // BLOCK_FRAMES
        within = slice(None) if frames is None else slice(frames.start - span[0], None, frames.step)
        if made[block]:
            if over_model:
                return model(*span)[..., within].copy()
            return masks.from_fixed_point(kept[..., span[0] : span[1]][..., within])
        W = model(*span)[..., within]
        if params.mask == "kam":
            M = masks.kernel_additive_mask(W, V, gain=params.kam_gain)
        else:
            M = masks.soft_mask(W, V)
        if params.mask == "binary":
            M = masks.binary_mask(M, threshold=params.binary_threshold)
        if frames is None and over_model:
            W[...] = M  # the model's block (a view) now holds its mask
            made[block] = True
        elif frames is None and kept is not None:
            masks.to_fixed_point(M, out=kept[..., span[0] : span[1]])
            made[block] = True
            M = masks.from_fixed_point(kept[..., span[0] : span[1]])  # the same mask every pass
        return M

    def high_passed(M, frames):
        """``M`` (the model's mask of ``frames``) with the high-pass applied."""
        cutoff = params.high_pass if cutoffs is None else cutoffs[frames]
        return masks.apply_high_pass(M, frequencies=freqs, cutoff=cutoff, ramp=params.ramp)

    def mask_of(span, V):
        """The background mask of a block of frames from its magnitude."""
        return high_passed(model_mask(span, V), slice(*span))

    gain = lead = None
    if params.gated:  # it needs the whole input's pitch salience first (a value per frame)
        gain, sal, spacing, lead = _voice_gain(
            V,
            mask_of,
            spans,
            frequencies=freqs,
            rate=sr / hop,
            threads=threads,
            track=params.voiced,
            tick=stage("gate"),
        )
        if params.high_pass > 0:  # lowered under a pitched voice, to keep its fundamental
            cutoffs = voice.voice_cutoff(
                sal, spacing, gain, high_pass=params.high_pass, frames_per_second=sr / hop
            )
    del V
    # The later passes recompute the STFT a block at a time instead of keeping it.

    def final(M, frames):
        """The background mask of ``frames`` from the model's: high-pass, then voice gate."""
        M = high_passed(M, frames)
        if gain is not None:
            M = 1 - (1 - M) * gain[frames]
        if lead is not None:
            M = voice.with_voice(M, voice.harmonic_weight(lead.f0[frames], frequencies=freqs))
        return M

    def masked(span):
        """The mixture STFT of a block of frames, its magnitude and its background mask."""
        X = spectral.stft(audio, n_fft=n_fft, hop=hop, start=span[0], stop=span[1], workers=1)
        V = np.abs(X)
        return X, V, final(model_mask(span, V), slice(*span))

    if params.mask in WIENER_MASKS:
        # Pass 2: the Wiener filter's spatial covariances, summed over all frames, or over
        # every `stride`-th frame of a long input (unless this pass is the one that keeps the
        # masks for the next).
        stats = None
        tick = stage("wiener")
        stride = statistics_stride(n_frames) if made.all() or kept is None else 1

        def statistics(span):
            if stride == 1:
                return _statistics(*masked(span))
            first, stop = -(-span[0] // stride), -(-span[1] // stride)  # frames k * stride
            X = spectral.stft(
                audio, n_fft=n_fft, hop=hop * stride, start=first, stop=stop, workers=1
            )
            frames = slice(first * stride, span[1], stride)
            V = np.abs(X)
            return _statistics(X, V, final(model_mask(span, V, frames), frames))

        blocks = ordered_map(statistics, spans, threads=threads)
        for done, block in enumerate(blocks, 1):
            stats = masks.add_statistics(stats, block)
            tick(done / len(spans))
        R_b, R_f, load = masks.spatial_covariances(stats)

    inverse = spectral.OverlapAdd(audio.shape[:-1], n_fft=n_fft, hop=hop, length=n_samples)

    def background(span):
        X, V, M = masked(span)
        if params.mask in WIENER_MASKS:
            B = masks.wiener_background(X, M, R_b=R_b, R_f=R_f, load=load, magnitude=V)
        else:
            B = M * X
        if params.phase == "mixture":
            return M, inverse.overlapped(B, workers=1), None
        return M, np.abs(B), np.abs(X - B)

    # Pass 3: masks, background STFT and its inverse, a block at a time.
    shape = audio.shape[:-1] + (n_fft // 2 + 1, n_frames)
    mask = np.empty(shape, dtype=np.float32) if keep_mask else None
    if params.phase != "mixture":
        magnitudes = np.empty(shape, dtype=np.float32), np.empty(shape, dtype=np.float32)
    tick = stage("masks")
    for done, (span, (M, first, second)) in enumerate(
        zip(spans, ordered_map(background, spans, threads=threads), strict=True), 1
    ):
        tick(done / len(spans))
        if mask is not None:
            mask[..., span[0] : span[1]] = M
        if params.phase == "mixture":
            inverse.add_overlapped(first, span[0])
        else:
            magnitudes[0][..., span[0] : span[1]] = first
            magnitudes[1][..., span[0] : span[1]] = second

    kept = None  # no pass needs the model's mask any more
    if params.phase == "mixture":
        background_audio = inverse.result()
        # The inverse STFT is linear, so istft(X - B) == y - istft(B) up to the STFT round
        # trip: subtracting makes the stems add up to the input exactly.
        foreground_audio = audio - background_audio
    else:
        background_audio, foreground_audio = (
            spectral.magnitude_to_signal(m, n_fft=n_fft, hop=hop, length=n_samples)
            for m in magnitudes
        )

    def seconds(frames):
        return None if frames is None else periods.frames_to_seconds(frames, sr=sr, hop=hop)

    shape = y.shape
    return Separation(
        background=background_audio.reshape(shape),
        foreground=foreground_audio.reshape(shape),
        algorithm=params.algorithm,
        period=seconds(found.period_frames),
        period_frames=None if found.period_frames is None else float(found.period_frames),
        period_forced=found.forced,
        local_periods=None if found.local_periods is None else found.local_periods * (hop / sr),
        beat_spectrum=found.beat_spectrum,
        mask=mask,
        sr=sr,
        n_fft=n_fft,
        hop=hop,
        confidence=found.confidence,
        voice=lead,
        warnings=separation_warnings(audio, confidence=found.confidence, recurrence=recurrence),
    )
