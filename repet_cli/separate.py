"""The REPET pipeline as one pure function: ``separate(y, sr=..., params=...)``.

Spectrogram -> repeating model (period) -> the model's masks -> voice gate and voice model ->
final masks (-> multichannel Wiener filter) -> reconstruction; each stage is a function of
:mod:`repet_cli.stages`, and :func:`separate` calls them in that order. Also what the input
itself warrants saying (:func:`separation_warnings`). No I/O, no printing; errors are
:class:`~repet_cli.errors.RepetError` subclasses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import band_contours, pitch, stages
from . import period as periods
from .algorithms import Spectra
from .algorithms.base import PeriodRange
from .errors import ParameterError
from .parallel import thread_budget
from .params import WIENER_MASKS, RepetParams
from .stages import spectrograms


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
        The final background mask, when asked for (``keep_mask``): the repeating model's
        (kernel-additive, soft or binary) with the high-pass, the voice gate and the voice
        model applied where they are on. With ``mask="kam"`` or ``"wiener"`` it is the mask
        the Wiener filter started from.
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


class _Progress:
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
    n_fft, hop = params.stft_sizes(sr)
    mixture = stages.Mixture(
        audio=np.atleast_2d(y).astype(np.float32, copy=False), sr=sr, n_fft=n_fft, hop=hop
    )
    algorithm = params.options
    bounds = algorithm.check_length(n_samples=mixture.n_samples, sr=sr, hop=hop)
    wiener = params.mask in WIENER_MASKS
    share = _Progress(progress, gated=params.gated, wiener=wiener)

    # Pass 1: the magnitude spectrogram, the one whole-length array the models need (and, for
    # the voice model on stereo input, how centred its low bins are).
    centre = None
    if params.voiced and mixture.audio.shape[0] == 2:
        rows = band_contours.centre_rows(mixture.frequencies)
        centre = np.empty((rows, mixture.n_frames), dtype=np.float16)
    V, P = spectrograms(
        mixture.audio,
        n_fft=n_fft,
        hop=hop,
        threads=threads,
        power=algorithm.needs_power(),
        centre=centre,
        tick=share("spectrogram"),
    )

    # The repeating model, and what was found on the way (the period, its confidence).
    spectra = Spectra(V=V, P=P, sr=sr, n_fft=n_fft, hop=hop)
    model, found = algorithm.model(spectra, bounds=bounds, threads=threads)
    del P, spectra  # the power spectrogram served the period search only
    recurrence = found.recurrence
    if recurrence is None and found.confidence is not None and isinstance(algorithm, PeriodRange):
        # A period was detected (by local models): does anything in the input loop at all?
        recurrence = input_recurrence(
            V, sr=sr, n_fft=n_fft, hop=hop, period_range=algorithm.period_range
        )
    share("model")(1.0)

    # The model's masks, each block's computed once for the passes that ask for it.
    masking = stages.Masking(
        model_masks=stages.ModelMasks(
            model,
            params=params,
            shape=mixture.shape,
            passes=1 + params.gated + wiener,
            whole_model=algorithm.whole_model,
        ),
        frequencies=mixture.frequencies,
        high_pass=params.high_pass,
        ramp=params.ramp,
    )
    del model

    # Voice pass: where a pitched lead sings in the foreground the masks leave (the gate's
    # gain and the high-pass under it), and its pitch (the voice model's comb follows it).
    if params.gated:
        voice = stages.voice_pass(
            V,
            masking.of,
            mixture=mixture,
            high_pass=params.high_pass,
            ramp=params.ramp,
            track=params.voiced,
            centre=centre,
            percussive=params.mask == "kam",
            threads=threads,
            tick=share("gate"),
        )
        masking = dataclasses.replace(masking, voice=voice)
    del centre
    del V  # the later passes recompute the STFT a block at a time instead of keeping it

    # Pass 2: the Wiener filter's spatial covariances, from every block's final mask.
    covariances = None
    if wiener:
        covariances = stages.wiener_pass(mixture, masking, threads=threads, tick=share("wiener"))

    # Pass 3: every block's final mask and background STFT, then the stems.
    made = stages.background_pass(
        mixture,
        masking,
        wiener=covariances,
        phase=params.phase,
        keep_mask=keep_mask,
        threads=threads,
        tick=share("masks"),
    )
    lead = masking.voice.lead
    del masking  # no pass needs the model's masks any more
    background, foreground = stages.stems(made, mixture=mixture)

    def seconds(frames):
        return None if frames is None else periods.frames_to_seconds(frames, sr=sr, hop=hop)

    shape = y.shape
    return Separation(
        background=background.reshape(shape),
        foreground=foreground.reshape(shape),
        algorithm=params.algorithm,
        period=seconds(found.period_frames),
        period_frames=None if found.period_frames is None else float(found.period_frames),
        period_forced=found.forced,
        local_periods=None if found.local_periods is None else found.local_periods * (hop / sr),
        beat_spectrum=found.beat_spectrum,
        mask=made.mask,
        sr=sr,
        n_fft=n_fft,
        hop=hop,
        confidence=found.confidence,
        voice=lead,
        warnings=separation_warnings(
            mixture.audio, confidence=found.confidence, recurrence=recurrence
        ),
    )
