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
    """

    name: ClassVar[str] = "repet"
    whole_model: ClassVar[bool] = False  # a repeating segment (one per window)

    period: float | None = None
    window: float | None = None

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
        return (lambda start, stop: template[..., offset[start:stop]]), found

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
