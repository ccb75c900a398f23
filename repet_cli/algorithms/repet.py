"""REPET: a repeating period and its median template (Rafii & Pardo, IEEE TASLP 2013).

The period is the best peak of the beat spectrum (:mod:`repet_cli.period`) unless it is given;
the model of every frame is the element-wise median of the period-aligned segments of the
spectrogram (:func:`repet_cli.mask.repeating_template`).

With ``window`` the input is cut into consecutive windows of about that many seconds, each
with its own period and template, for songs whose sections (verse, chorus, break) differ. The
authors' own "extended REPET" does the same with overlapping 10-s windows; overlapping windows
measured no better here than consecutive ones. See :data:`DEFAULT_WINDOW` for why the default
is one model for the whole input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import mask as masks
from .. import period as periods
from ..errors import ParameterError
from .base import Found, Model, PeriodRange, Spectra, positive, segment_holding

#: Seconds per local model by default (0: one model for the whole input). With the ratio mask,
#: 12-s windows lifted the background SI-SDR of the shared full songs by about 5 dB; with the
#: kernel-additive mask and the voice gate (the defaults), one model for the whole input scored
#: higher on both full-length sets (BSS Eval SDR bg / fg: full songs 9.54 / 1.68 against
#: 8.69 / 1.70 with 12-s windows; synthetic songs and podcasts 5.49 / 3.25 against 4.87 /
#: 2.96, measured with the gate's earlier voice-only range): the percussive model and the gate
#: take over what the windows did, and the median gets more repetitions.
DEFAULT_WINDOW = 0.0


def window_spans(n_frames: int, *, frames: float, shortest: float) -> list[tuple[int, int]]:
    """Consecutive windows of about ``frames`` frames covering ``0 .. n_frames - 1``.

    ``round(n_frames / frames)`` windows of equal length (one when ``frames`` is 0), fewer
    where a window would be shorter than ``shortest`` frames (it must hold the repetitions
    its period needs).
    """
    if frames <= 0:
        return [(0, n_frames)]
    count = max(1, round(n_frames / frames))
    count = max(1, min(count, int(n_frames // max(shortest, 1.0))))
    bounds = [round(k * n_frames / count) for k in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


#: Whether the repeating model follows the bed's level over time (in inputs of a minute or
#: more) unless ``follow_level`` says otherwise (:func:`bed_gain`): a music bed turned down
#: under speech and up between the words is the template times a slowly varying gain. Off by
#: default: measured (BSS Eval SDR, bed / voice) on the synthetic podcasts it lifts the bed
#: from 3.43 and 1.98 dB to 3.72 and 2.75 (the voice from 10.20 and 7.02 to 10.56 and 7.82),
#: but on the synthetic songs it moves the background by -0.79 to +0.52 dB, and on a loop
#: ducked under a melody in the tests it cost 0.9 dB with the defaults (0.36 dB gained with
#: ``mask="wiener"``): its level is measured below 100 Hz, and a bed without bass gives it
#: nothing to follow.
DUCKING = False
#: Seconds over which the bed's level is taken as steady (a median, then a mean, over them).
GAIN_SECONDS = 3.0
#: The band the bed's level is measured in, Hz: below the high-pass, where every bin is the
#: background's and a voice has (almost) nothing.
GAIN_BAND = (20.0, 100.0)
GAIN_RANGE = (0.0, 4.0)


def bed_gain(
    V: np.ndarray,
    template: np.ndarray,
    offset: np.ndarray,
    *,
    sr: int,
    n_fft: int,
    frames_per_second: float,
) -> np.ndarray:
    """How loud the repeating bed is in each frame against its template (1: as the template).

    The median over repetitions makes one template of a bed that ducks under speech and
    comes back up between the words, at neither level. The gain of a frame is the square
    root of the mixture's energy in :data:`GAIN_BAND` over the template's there (both
    averaged over channels and smoothed over :data:`GAIN_SECONDS` by a running median, then
    a running mean), within :data:`GAIN_RANGE`; 1 where the template has no energy there.

    Parameters
    ----------
    V : np.ndarray, shape (..., n_freq, n_frames)
        The mixture's magnitude spectrogram.
    template, offset
        From :func:`~repet_cli.mask.repeating_template`.

    Returns
    -------
    np.ndarray, shape (n_frames,), float32
    """
    from scipy.ndimage import median_filter, uniform_filter1d

    f = np.arange(V.shape[-2]) * sr / n_fft
    rows = (f >= GAIN_BAND[0]) & (f <= GAIN_BAND[1])

    def energy(S):
        e = np.einsum("...ft,...ft->...t", S[..., rows, :], S[..., rows, :])
        return e.reshape(-1, e.shape[-1]).mean(axis=0).astype(np.float64)

    width = max(1, round(GAIN_SECONDS * frames_per_second))

    def smooth(x):
        return np.maximum(uniform_filter1d(median_filter(x, size=width, mode="nearest"), width), 0)

    mixture, model = smooth(energy(V)), smooth(energy(template)[offset])
    floor = 1e-6 * max(float(model.max()), 1e-20)
    gain = np.sqrt(np.where(model > floor, mixture / np.maximum(model, floor), 1.0))
    return np.clip(gain, *GAIN_RANGE).astype(np.float32)


@dataclass(frozen=True, kw_only=True)
class RepetOptions(PeriodRange):
    """Options of REPET.

    Parameters
    ----------
    period : float, optional
        Force the repeating period, in seconds, instead of detecting it. Excludes
        ``min_period`` and ``max_period``.
    min_period, max_period : float, optional
        Search range of the period detection (see :class:`~.base.PeriodRange`).
    window : float, optional
        Seconds per local model (see :data:`DEFAULT_WINDOW`).
    follow_level : bool, optional
        In inputs of a minute or more (and with one model for the whole input), the model is
        the template times the bed's level over time (:func:`bed_gain`), so that a bed ducked
        under a voice keeps its level changes; default off (:data:`DUCKING`): the template
        alone, as REPET was published.
    """

    name: ClassVar[str] = "repet"
    whole_model: ClassVar[bool] = False  # a repeating segment (one per window)

    period: float | None = None
    window: float | None = None
    follow_level: bool | None = None

    def __post_init__(self) -> None:
        positive("period", self.period)
        if self.window is not None and not (
            isinstance(self.window, (int, float))
            and math.isfinite(self.window)
            and self.window >= 0
        ):
            raise ParameterError(
                f"`window` must be a number of seconds >= 0 (0: the whole input), got "
                f"{self.window!r}"
            )
        if self.follow_level is not None and not isinstance(self.follow_level, bool):
            raise ParameterError(f"`follow_level` must be True or False, got {self.follow_level!r}")
        if self.period is not None and (self.min_period is not None or self.max_period is not None):
            raise ParameterError(
                "a forced period excludes a period range: give either `period` or "
                "`min_period`/`max_period`, not both"
            )
        super().__post_init__()

    def needs_power(self) -> bool:
        return self.period is None  # the beat spectrum is made of the power spectrogram

    def check_length(self, *, n_samples: int, sr: int, hop: int):
        if self.period is not None:
            return periods.forced_lag(self.period, n_samples=n_samples, sr=sr, hop=hop)
        lo, hi = self.period_range
        return periods.lag_range(min_period=lo, max_period=hi, n_samples=n_samples, sr=sr, hop=hop)

    def shortest_segment(self) -> float:
        if self.period is None:
            return super().shortest_segment()
        return segment_holding(periods.MIN_REPETITIONS_FORCED * self.period)

    @property
    def window_seconds(self) -> float:
        """Seconds per local model, default filled in; 0: one model for the whole input."""
        return DEFAULT_WINDOW if self.window is None else self.window

    @property
    def level_followed(self) -> bool:
        """Whether the model follows the bed's level (in inputs of a minute or more), default
        filled in."""
        return DUCKING if self.follow_level is None else self.follow_level

    def effective(self) -> dict:
        values = super().effective()
        if self.period is not None:  # forced: no range is searched
            values.update(min_period=None, max_period=None)
        return values | {"window": self.window_seconds, "follow_level": self.level_followed}

    def model(self, spectra: Spectra, *, bounds, threads: int) -> tuple[Model, Found]:
        n_frames = spectra.V.shape[-1]
        spans = window_spans(
            n_frames,
            frames=periods.seconds_to_frames(self.window_seconds, sr=spectra.sr, hop=spectra.hop),
            shortest=3 * (bounds if self.period is not None else bounds[0]),
        )
        if len(spans) == 1:
            return self._one_model(spectra, bounds=bounds, threads=threads)
        return self._local_models(spectra, spans, bounds=bounds, threads=threads)

    def _local_models(self, spectra: Spectra, spans, *, bounds, threads: int):
        """One period and template per window; each frame takes its own window's template."""
        templates, index, lags, confidences = [], [], [], []
        used = 0
        for a, b in spans:
            part = Spectra(
                V=spectra.V[..., a:b],
                P=None if spectra.P is None else spectra.P[:, a:b],
                sr=spectra.sr,
                n_fft=spectra.n_fft,
                hop=spectra.hop,
            )
            if self.period is None:
                lo, hi = bounds
                hi = min(hi, (b - a) / periods.MIN_REPETITIONS_DETECTED)
                local = (lo, max(lo, hi))
            else:
                local = bounds
            found, template, offset = self._template(part, bounds=local, threads=threads)
            templates.append(template)
            index.append(used + offset)
            used += template.shape[-1]
            lags.append(np.full(b - a, found.period_frames))
            confidences.append(found.confidence)
        template = np.concatenate(templates, axis=-1)
        index = np.concatenate(index)
        local_periods = np.concatenate(lags)
        if self.period is not None:  # the same forced period everywhere
            found = Found(period_frames=bounds, forced=True)
        else:
            found = Found(
                period_frames=float(np.median(local_periods)),
                confidence=float(np.median(confidences)),
                local_periods=local_periods,
            )
        return (lambda start, stop: template[..., index[start:stop]]), found

    def _one_model(self, spectra: Spectra, *, bounds, threads: int):
        found, template, offset = self._template(spectra, bounds=bounds, threads=threads)
        n_samples = spectra.V.shape[-1] * spectra.hop
        if not self.level_followed or n_samples < periods.RECURRENCE_SECONDS * spectra.sr:
            return (lambda start, stop: template[..., offset[start:stop]]), found
        gain = bed_gain(
            spectra.V,
            template,
            offset,
            sr=spectra.sr,
            n_fft=spectra.n_fft,
            frames_per_second=spectra.sr / spectra.hop,
        )
        return (lambda start, stop: template[..., offset[start:stop]] * gain[start:stop]), found

    def _template(self, spectra: Spectra, *, bounds, threads: int):
        found = Found(period_frames=bounds, forced=True)
        if self.period is None:
            b = periods.beat_spectrum(spectra.P, threads=threads)
            chosen = periods.period_of(
                spectra.P,
                b,
                sr=spectra.sr,
                n_fft=spectra.n_fft,
                hop=spectra.hop,
                min_lag=bounds[0],
                max_lag=bounds[1],
            )
            found = Found(
                period_frames=chosen.lag,
                confidence=chosen.confidence,
                recurrence=chosen.recurrence,
                beat_spectrum=b,
            )
        template, offset = masks.repeating_template(
            spectra.V, period=found.period_frames, threads=threads
        )
        return found, template, offset
