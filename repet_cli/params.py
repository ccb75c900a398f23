"""Separation parameters: one frozen, keyword-only dataclass, validated on construction.

The CLI builds a :class:`RepetParams` from its options; library callers get the same checks.
Values that depend on the sample rate (STFT size and hop) are resolved by
:meth:`RepetParams.stft_sizes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .errors import ParameterError

MaskType = Literal["wiener", "soft", "binary"]
Algorithm = Literal["repet", "repet-sim", "adaptive", "2dft"]
ALGORITHMS: tuple[str, ...] = ("repet", "repet-sim", "adaptive", "2dft")
DEFAULT_ALGORITHM: Algorithm = "repet"
PhaseMode = Literal["mixture", "none"]

#: Default repeating-period search range in seconds (about one bar to a few bars of pop music).
DEFAULT_MIN_PERIOD = 0.8
DEFAULT_MAX_PERIOD = 8.0
#: The detected period is at most this fraction of the input, so at least three repetitions
#: take part in the median (Rafii & Pardo 2013 use the same bound).
MIN_REPETITIONS_DETECTED = 3
#: A forced period needs at least this many repetitions in the input.
MIN_REPETITIONS_FORCED = 2
#: Default STFT window length in seconds, rounded up to a power of two in samples.
DEFAULT_WINDOW_SECONDS = 0.04
#: Default binary-mask decision point on the soft mask (background if model/mixture >= it).
DEFAULT_THRESHOLD = 0.5
#: Below this frequency every bin is background. Rafii & Pardo (2013) use 100 Hz; 150 Hz
#: scored better on every track of the evaluation set, on both stems (see the README), while
#: staying below the fundamental of most singing voices.
DEFAULT_HIGH_PASS = 150.0
#: Adaptive REPET: beat-spectrogram window and step in seconds, and the K in t + k p(t).
DEFAULT_ANALYSIS_WINDOW = 24.0  # three times the default longest period
DEFAULT_ANALYSIS_STEP = 4.0
DEFAULT_REPETITIONS = 3
#: REPET as published: the plain ratio mask and a 100 Hz high-pass.
CLASSIC_HIGH_PASS = 100.0


def default_n_fft(sr: float) -> int:
    """STFT size for a sample rate: the power of two at or above a 40 ms window.

    44.1 and 48 kHz give 2048, 22.05 kHz gives 1024, 8 kHz gives 512.
    """
    return 1 << max(4, math.ceil(math.log2(DEFAULT_WINDOW_SECONDS * sr)))


def _positive_finite(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ParameterError(f"`{name}` must be a positive number of seconds, got {value!r}")


def _check_hop(n_fft: int, hop: int) -> None:
    if hop > n_fft // 2:
        raise ParameterError(
            f"`hop` ({hop}) must be at most half of `n_fft` ({n_fft}) for the stems to "
            "reconstruct the input"
        )


#: Options that only some algorithms use: option -> the algorithms that use it.
ALGORITHM_OPTIONS: dict[str, tuple[str, ...]] = {
    "period": ("repet",),
    "min_period": ("repet", "adaptive"),
    "max_period": ("repet", "adaptive"),
    "analysis_window": ("adaptive",),
    "analysis_step": ("adaptive",),
    "repetitions": ("adaptive",),
    "neighbors": ("repet-sim",),
    "min_separation": ("repet-sim",),
    "similarity_threshold": ("repet-sim",),
    "rate_width": ("2dft",),
    "peak_threshold": ("2dft",),
}


@dataclass(frozen=True, kw_only=True)
class RepetParams:
    """Options of the REPET pipeline.

    Options that belong to one algorithm default to None and are refused with another.

    Parameters
    ----------
    algorithm : {"repet", "repet-sim", "adaptive", "2dft"}
        How the repeating background is modelled: one period (REPET), similar frames anywhere
        (REPET-SIM), a period that changes over time (adaptive REPET), or peaks of the 2-D
        Fourier transform of the spectrogram (2DFT).
    period : float, optional
        ``repet`` only: force the repeating period, in seconds. Excludes ``min_period`` and
        ``max_period``.
    min_period, max_period : float, optional
        ``repet`` and ``adaptive``: search range of the period detection, in seconds (defaults
        0.8 and 8). The upper bound is further limited to a third of the input (or of the
        analysis window).
    analysis_window, analysis_step : float, optional
        ``adaptive`` only: length and hop of the beat-spectrogram windows, in seconds (defaults
        24 and 4: a window holds three repetitions of the longest default period).
    repetitions : int, optional
        ``adaptive`` only: each frame's model is the median of the frames up to this many local
        periods before and after it (default 3).
    neighbors, min_separation, similarity_threshold : optional
        ``repet-sim`` only: each frame's model is the median of its ``neighbors`` most similar
        frames (cosine similarity of spectral envelopes), at least
        ``min_separation`` seconds apart, with a similarity of at least
        ``similarity_threshold``. Defaults: see :mod:`repet_cli.similarity`.
    rate_width, peak_threshold : float, optional
        ``2dft`` only: a bin of the spectrogram's 2-D Fourier transform is a repeating peak
        when it tops its neighbourhood of ``rate_width`` Hz along the rate axis; a peak keeps
        ``1 - (peak_threshold * neighbourhood mean / peak)^2`` of its energy. Defaults: see
        :mod:`repet_cli.ft2d`.
    mask : {"wiener", "soft", "binary"}
        ``"soft"``: the ratio mask of REPET, model / mixture magnitude. ``"wiener"`` (default):
        the soft mask refined by a multichannel Wiener filter that also uses where each stem
        sits in the stereo image. ``"binary"``: soft mask >= ``threshold``.
    threshold : float, optional
        Decision point of the binary mask, in [0, 1] (default 0.5). Only with ``mask="binary"``.
    phase : {"mixture", "none"}
        ``"mixture"`` applies the masks to the complex STFT of the input, so that with the soft
        mask background + foreground equal the input. ``"none"`` rebuilds each stem from its
        masked magnitude alone (Griffin-Lim phase retrieval from a zero-phase start).
    high_pass : float
        Frequency in Hz below which every bin belongs to the background; 0 turns it off.
    n_fft, hop : int, optional
        STFT size and hop in samples. Defaults: the power of two at or above 40 ms, and a
        quarter of the STFT size.
    """

    algorithm: Algorithm = DEFAULT_ALGORITHM
    period: float | None = None
    min_period: float | None = None
    max_period: float | None = None
    mask: MaskType = "wiener"
    threshold: float | None = None
    phase: PhaseMode = "mixture"
    high_pass: float = DEFAULT_HIGH_PASS
    n_fft: int | None = None
    hop: int | None = None
    analysis_window: float | None = None
    analysis_step: float | None = None
    repetitions: int | None = None
    neighbors: int | None = None
    min_separation: float | None = None
    similarity_threshold: float | None = None
    rate_width: float | None = None
    peak_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            names = ", ".join(repr(a) for a in ALGORITHMS)
            raise ParameterError(f"`algorithm` must be one of {names}, got {self.algorithm!r}")
        for name, owners in ALGORITHM_OPTIONS.items():
            if getattr(self, name) is not None and self.algorithm not in owners:
                which = " or ".join(repr(a) for a in owners)
                raise ParameterError(
                    f"`{name}` applies to `algorithm` {which} only, not {self.algorithm!r}"
                )
        _positive_finite("analysis_window", self.analysis_window)
        _positive_finite("analysis_step", self.analysis_step)
        if self.repetitions is not None and (
            not isinstance(self.repetitions, int) or self.repetitions < 1
        ):
            raise ParameterError(f"`repetitions` must be an integer >= 1, got {self.repetitions!r}")
        if self.neighbors is not None and (
            not isinstance(self.neighbors, int) or self.neighbors < 1
        ):
            raise ParameterError(f"`neighbors` must be an integer >= 1, got {self.neighbors!r}")
        if self.min_separation is not None and not (
            math.isfinite(self.min_separation) and self.min_separation >= 0
        ):
            raise ParameterError(
                f"`min_separation` must be a number of seconds >= 0, got {self.min_separation!r}"
            )
        if self.similarity_threshold is not None and not (-1.0 <= self.similarity_threshold <= 1.0):
            raise ParameterError(
                f"`similarity_threshold` must lie in [-1, 1], got {self.similarity_threshold!r}"
            )
        _positive_finite("rate_width", self.rate_width)
        if self.peak_threshold is not None and not (
            math.isfinite(self.peak_threshold) and self.peak_threshold >= 0
        ):
            raise ParameterError(
                f"`peak_threshold` must be a number >= 0, got {self.peak_threshold!r}"
            )
        _positive_finite("period", self.period)
        _positive_finite("min_period", self.min_period)
        _positive_finite("max_period", self.max_period)
        if self.period is not None and (self.min_period is not None or self.max_period is not None):
            raise ParameterError(
                "a forced period excludes a period range: give either `period` or "
                "`min_period`/`max_period`, not both"
            )
        if self.period_range[0] >= self.period_range[1]:
            lo, hi = self.period_range
            raise ParameterError(f"`min_period` ({lo:g} s) must be below `max_period` ({hi:g} s)")
        if self.mask not in ("wiener", "soft", "binary"):
            raise ParameterError(f"`mask` must be 'wiener', 'soft' or 'binary', got {self.mask!r}")
        if self.threshold is not None:
            if self.mask != "binary":
                raise ParameterError(
                    "`threshold` applies to the binary mask only; set `mask` to 'binary'"
                )
            if not (0.0 <= self.threshold <= 1.0):
                raise ParameterError(f"`threshold` must lie in [0, 1], got {self.threshold!r}")
        if self.phase not in ("mixture", "none"):
            raise ParameterError(f"`phase` must be 'mixture' or 'none', got {self.phase!r}")
        if not (math.isfinite(self.high_pass) and self.high_pass >= 0):
            raise ParameterError(f"`high_pass` must be a frequency >= 0 Hz, got {self.high_pass!r}")
        if self.n_fft is not None and (not isinstance(self.n_fft, int) or self.n_fft < 16):
            raise ParameterError(f"`n_fft` must be an integer >= 16, got {self.n_fft!r}")
        if self.hop is not None and (not isinstance(self.hop, int) or self.hop < 1):
            raise ParameterError(f"`hop` must be a positive integer, got {self.hop!r}")
        if self.n_fft is not None and self.hop is not None:
            _check_hop(self.n_fft, self.hop)

    @property
    def period_range(self) -> tuple[float, float]:
        """The (min, max) period search range in seconds, defaults filled in."""
        lo = DEFAULT_MIN_PERIOD if self.min_period is None else self.min_period
        hi = DEFAULT_MAX_PERIOD if self.max_period is None else self.max_period
        return lo, hi

    @property
    def adaptive_options(self) -> tuple[float, float, int]:
        """``(analysis_window, analysis_step, repetitions)`` with defaults filled in."""
        return (
            DEFAULT_ANALYSIS_WINDOW if self.analysis_window is None else self.analysis_window,
            DEFAULT_ANALYSIS_STEP if self.analysis_step is None else self.analysis_step,
            DEFAULT_REPETITIONS if self.repetitions is None else self.repetitions,
        )

    @property
    def similarity_options(self) -> dict:
        """The REPET-SIM options that were given, as keywords of the similarity model."""
        given = {
            "neighbors": self.neighbors,
            "min_separation": self.min_separation,
            "threshold": self.similarity_threshold,
        }
        return {k: v for k, v in given.items() if v is not None}

    @property
    def ft2d_options(self) -> dict:
        """The 2DFT options that were given, as keywords of the 2DFT model."""
        given = {"rate_width": self.rate_width, "threshold": self.peak_threshold}
        return {k: v for k, v in given.items() if v is not None}

    @property
    def binary_threshold(self) -> float:
        """The binary mask's decision point, default filled in."""
        return DEFAULT_THRESHOLD if self.threshold is None else self.threshold

    def stft_sizes(self, sr: float) -> tuple[int, int]:
        """``(n_fft, hop)`` for sample rate ``sr``, defaults filled in and checked together."""
        n_fft = default_n_fft(sr) if self.n_fft is None else self.n_fft
        hop = n_fft // 4 if self.hop is None else self.hop
        _check_hop(n_fft, hop)
        return n_fft, hop
