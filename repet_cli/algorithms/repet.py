"""REPET: one repeating period for the whole input (Rafii & Pardo, IEEE TASLP 2013).

The period is the best peak of the beat spectrum (:mod:`repet_cli.period`) unless it is given;
the model of every frame is the element-wise median of the period-aligned segments of the
spectrogram (:func:`repet_cli.mask.repeating_template`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .. import mask as masks
from .. import period as periods
from ..errors import ParameterError
from .base import Found, Model, PeriodRange, Spectra, positive, segment_holding


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

    period: float | None = None

    def __post_init__(self) -> None:
        positive("period", self.period)
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

    def model(self, spectra: Spectra, *, bounds, threads: int) -> tuple[Model, Found]:
        found = Found(period_frames=bounds, forced=True)
        if self.period is None:
            b = periods.beat_spectrum(spectra.P, threads=threads)
            lag, confidence = periods.estimate_period_with_confidence(
                b, min_lag=bounds[0], max_lag=bounds[1]
            )
            found = Found(period_frames=lag, confidence=confidence, beat_spectrum=b)
        template, offset = masks.repeating_template(
            spectra.V, period=found.period_frames, threads=threads
        )
        return (lambda start, stop: template[..., offset[start:stop]]), found
