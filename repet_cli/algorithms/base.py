"""What every background model provides: its options, its length check and its model.

An algorithm is one frozen, keyword-only dataclass of its own options (validated on
construction) that subclasses :class:`AlgorithmOptions` and implements :meth:`model`; the
registry in :mod:`repet_cli.algorithms` names it. The pipeline (:mod:`repet_cli.separate`)
knows nothing else about it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import period as periods
from ..errors import ParameterError

#: A background model: the model ``W`` of frames ``start .. stop - 1`` (not yet limited to the
#: mixture), shape (channels, n_freq, stop - start).
Model = Callable[[int, int], np.ndarray]

#: Shortest segment length accepted for long inputs, in seconds.
MIN_SEGMENT = 10.0

#: Default repeating-period search range in seconds: one bar of fast music to four bars at
#: 60 bpm (a four-bar chord cycle at 90 bpm lasts 10.7 s). The longest period is further
#: limited to a third of the input, so on short clips the range ends well below this.
DEFAULT_MIN_PERIOD = 0.8
DEFAULT_MAX_PERIOD = 16.0


@dataclass(frozen=True)
class Found:
    """What a model found on the way (periods, beat spectra, the period's confidence)."""

    period_frames: float | None = None
    forced: bool = False  # the period was given, not detected
    confidence: float | None = None
    recurrence: float | None = None  # the input's spectral recurrence, where measured
    local_periods: np.ndarray | None = None
    beat_spectrum: np.ndarray | None = None


@dataclass(frozen=True)
class Spectra:
    """What a model is given: the magnitude spectrogram and, where asked for, the power.

    Attributes
    ----------
    V : np.ndarray, shape (channels, n_freq, n_frames), float32
        Magnitude spectrogram.
    P : np.ndarray or None, shape (n_freq, n_frames), float32
        Power averaged over channels, when :meth:`AlgorithmOptions.needs_power` says so.
    sr, n_fft, hop : int
        Sample rate and STFT sizes.
    """

    V: np.ndarray
    P: np.ndarray | None
    sr: int
    n_fft: int
    hop: int


@dataclass(frozen=True, kw_only=True)
class AlgorithmOptions:
    """Base class of an algorithm's options; subclasses add fields and :meth:`model`."""

    #: The algorithm's name in the registry and on the command line.
    name: ClassVar[str] = ""
    #: Whether the model holds an array as large as the spectrogram (REPET-SIM's, adaptive
    #: REPET's and 2DFT's do; REPET's keeps one repeating segment). Such a model's
    #: ``model(start, stop)`` must return a writable view of that array: the separation writes
    #: each block's mask over it once computed, instead of keeping the masks in more memory.
    whole_model: ClassVar[bool] = True

    def given(self) -> dict[str, Any]:
        """The options that were set (not None)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }

    def effective(self) -> dict[str, Any]:
        """Every option with the value the model uses: as given, else its default; None where
        the value is found in the input instead (a detected period) or the option does not
        apply. What the record beside the stems holds (JSON-ready)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def needs_power(self) -> bool:
        """Whether :meth:`model` needs the channel-averaged power spectrogram."""
        return False

    def check_length(self, *, n_samples: int, sr: int, hop: int) -> Any:
        """Refuse an input too short for these options before any work.

        Returns what :meth:`model` needs of the check (the period's lag bounds), or None.

        Raises
        ------
        InputTooShortError
        """
        return None

    def shortest_segment(self) -> float:
        """Shortest segment, in whole seconds, that every segment of a long input can have."""
        return MIN_SEGMENT

    def model(self, spectra: Spectra, *, bounds: Any, threads: int) -> tuple[Model, Found]:
        """The background model of the spectrogram and what was found on the way."""
        raise NotImplementedError


def model_defaults(values: dict[str, Any], model: Callable, keywords: dict[str, str]) -> dict:
    """``values`` (:meth:`AlgorithmOptions.effective`) with each option not given (None) that
    is passed to ``model`` under the name ``keywords[option]`` replaced by ``model``'s default
    for it: the value it then uses."""
    import inspect

    defaults = inspect.signature(model).parameters
    return {
        k: defaults[keywords[k]].default if v is None and k in keywords else v
        for k, v in values.items()
    }


def positive(name: str, value: float | None, *, unit: str = "seconds") -> None:
    """Refuse a value that is set but not a positive finite number."""
    if value is not None and not (
        isinstance(value, (int, float)) and math.isfinite(value) and value > 0
    ):
        raise ParameterError(f"`{name}` must be a positive number of {unit}, got {value!r}")


def positive_int(name: str, value: int | None) -> None:
    """Refuse a value that is set but not an integer >= 1."""
    if value is not None and (
        not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1
    ):
        raise ParameterError(f"`{name}` must be an integer >= 1, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class PeriodRange(AlgorithmOptions):
    """Options of the algorithms that search a repeating period in a range of seconds.

    Parameters
    ----------
    min_period, max_period : float, optional
        Search range of the period detection, in seconds (defaults 0.8 and 16). The upper bound
        is further limited to a third of the input (or of the analysis window).
    """

    min_period: float | None = None
    max_period: float | None = None

    def __post_init__(self) -> None:
        positive("min_period", self.min_period)
        positive("max_period", self.max_period)
        lo, hi = self.period_range
        if lo >= hi:
            raise ParameterError(f"`min_period` ({lo:g} s) must be below `max_period` ({hi:g} s)")

    @property
    def period_range(self) -> tuple[float, float]:
        """The (min, max) period search range in seconds, defaults filled in."""
        lo = DEFAULT_MIN_PERIOD if self.min_period is None else self.min_period
        hi = DEFAULT_MAX_PERIOD if self.max_period is None else self.max_period
        return lo, hi

    def effective(self) -> dict[str, Any]:
        lo, hi = self.period_range
        return super().effective() | {"min_period": lo, "max_period": hi}

    def shortest_segment(self) -> float:
        return segment_holding(periods.MIN_REPETITIONS_DETECTED * self.period_range[0])


def segment_holding(seconds: float) -> float:
    """Shortest segment length (whole seconds, >= :data:`MIN_SEGMENT`) whose every segment
    holds ``seconds`` of audio.

    Segments can come out at 3/4 of the segment length (an input just over 1.5 segments long
    is cut in two), and even those must hold the repetitions a period needs.
    """
    return max(MIN_SEGMENT, float(math.ceil(seconds / 0.75)))
