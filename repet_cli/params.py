"""Separation parameters: one frozen, keyword-only dataclass, validated on construction.

The CLI builds a :class:`RepetParams` from its options; library callers get the same checks.
Values that depend on the sample rate (STFT size and hop) are resolved by
:meth:`RepetParams.stft_sizes`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

from .algorithms import ALGORITHMS, DEFAULT_ALGORITHM, AlgorithmOptions, option_owners
from .errors import ParameterError

MaskType = Literal["kam", "wiener", "soft", "binary"]
#: The masks refined by the multichannel Wiener filter.
WIENER_MASKS = ("kam", "wiener")
PhaseMode = Literal["mixture", "none"]

#: Default STFT window length in seconds, rounded up to a power of two in samples.
DEFAULT_WINDOW_SECONDS = 0.04
#: Default binary-mask decision point on the soft mask (background if model/mixture >= it).
DEFAULT_THRESHOLD = 0.5
#: Below this frequency every bin is background. Rafii & Pardo (2013) use 100 Hz; 150 Hz
#: scored better on every track of the evaluation set, on both stems (see the README), while
#: staying below the fundamental of most singing voices.
DEFAULT_HIGH_PASS = 150.0
#: Kernel-additive mask: weight of the foreground model (the mixture) against the background's.
DEFAULT_FOREGROUND_GAIN = 0.8
#: Kernel-additive mask: the foreground returns over this many Hz above the high-pass cut-off.
DEFAULT_KAM_RAMP = 50.0
#: REPET as published: the plain ratio mask and a 100 Hz high-pass.
CLASSIC_HIGH_PASS = 100.0
#: Options that only some algorithms have: option -> the algorithms that have it.
ALGORITHM_OPTIONS: dict[str, tuple[str, ...]] = option_owners()


def default_n_fft(sr: float) -> int:
    """STFT size for a sample rate: the power of two at or above a 40 ms window.

    44.1 and 48 kHz give 2048, 22.05 kHz gives 1024, 8 kHz gives 512.
    """
    return 1 << max(4, math.ceil(math.log2(DEFAULT_WINDOW_SECONDS * sr)))


def _check_hop(n_fft: int, hop: int) -> None:
    if hop > n_fft // 2:
        raise ParameterError(
            f"`hop` ({hop}) must be at most half of `n_fft` ({n_fft}) for the stems to "
            "reconstruct the input"
        )


def _check_keywords(cls, values: dict) -> None:
    """Refuse keywords that are not fields of ``cls``, naming where each belongs.

    An algorithm's own option (``period``) goes into its options dataclass, or through
    :meth:`RepetParams.build`, which sorts flat keywords.

    Raises
    ------
    ParameterError
    """
    fields = {f.name for f in dataclasses.fields(cls)}
    for name in values:
        if name in fields:
            continue
        owners = ALGORITHM_OPTIONS.get(name)
        if owners is None:
            known = ", ".join(sorted(fields))
            raise ParameterError(f"unknown option `{name}` of {cls.__name__}; it has {known}")
        kind = ALGORITHMS[owners[0]]
        which = " or ".join(repr(a) for a in owners)
        given = f"{name}={values[name]!r}"
        raise ParameterError(
            f"`{name}` belongs to the options of `algorithm` {which}, not to {cls.__name__}: "
            f"{cls.__name__}(options={kind.__name__}({given})) or {cls.__name__}.build({given})"
        )


@dataclass(frozen=True, kw_only=True)
class RepetParams:
    """Options of the REPET pipeline: the algorithm (with its own options) and the shared knobs.

    Parameters
    ----------
    algorithm : {"repet", "repet-sim", "adaptive", "2dft"}
        How the repeating background is modelled: one period (REPET), similar frames anywhere
        (REPET-SIM), a period that changes over time (adaptive REPET), or peaks of the 2-D
        Fourier transform of the spectrogram (2DFT). See :mod:`repet_cli.algorithms`.
    options : AlgorithmOptions, optional
        The algorithm's own options, e.g. ``RepetOptions(period=2.0)`` or
        ``SimilarityOptions(neighbors=10)``; its defaults when omitted. Must belong to
        ``algorithm``. :meth:`build` makes both from flat keywords.
    mask : {"kam", "wiener", "soft", "binary"}
        ``"kam"`` (default): a kernel-additive mask (the repeating model plus a percussive one
        against the mixture, :func:`~repet_cli.mask.kernel_additive_mask`), refined by a
        multichannel Wiener filter that also uses where each stem sits in the stereo image.
        ``"wiener"``: REPET's ratio mask refined by the same Wiener filter. ``"soft"``: the
        ratio mask of REPET, model / mixture magnitude. ``"binary"``: soft mask >= ``threshold``.
    foreground_gain : float, optional
        ``"kam"`` only: the weight of the foreground model (default 0.8); lower gives more to
        the background.
    high_pass_ramp : float, optional
        Above ``high_pass`` the foreground's share of the mask grows back linearly over this
        many Hz (default: 50 with ``"kam"``, 0 otherwise: a hard cut).
    voice_gate : bool, optional
        Give the foreground back to the background over stretches where it holds no pitched
        lead (:mod:`repet_cli.voice`); default: on with ``"kam"``, off otherwise.
    voice_model : bool, optional
        Follow the lead voice's pitch (:mod:`repet_cli.pitch`) and, where it sings, keep in the
        foreground mostly the bins of its partials (:func:`repet_cli.voice.harmonic_weight`),
        so that the band's other non-repeating parts stay in the background; default: on with
        ``"kam"`` and the voice gate, off otherwise. Needs the voice gate. Off together with
        the voice gate, every non-repeating part (a solo, a fill) stays in the foreground, as
        REPET was published.
    threshold : float, optional
        Decision point of the binary mask, in [0, 1] (default 0.5). Only with ``mask="binary"``.
    phase : {"mixture", "none"}
        ``"mixture"`` applies the masks to the complex STFT of the input, so that with the soft
        mask background + foreground equal the input. ``"none"`` rebuilds each stem from its
        masked magnitude alone (Griffin-Lim phase retrieval from a zero-phase start).
    high_pass : float
        Frequency in Hz below which every bin belongs to the background; 0 turns it off. With
        the voice gate it is lowered under a pitched voice (:func:`repet_cli.voice.voice_cutoff`).
    n_fft, hop : int, optional
        STFT size and hop in samples. Defaults: the power of two at or above 40 ms, and a
        quarter of the STFT size.
    """

    algorithm: str = DEFAULT_ALGORITHM
    options: AlgorithmOptions | None = None
    mask: MaskType = "kam"
    threshold: float | None = None
    foreground_gain: float | None = None
    phase: PhaseMode = "mixture"
    high_pass: float = DEFAULT_HIGH_PASS
    high_pass_ramp: float | None = None
    voice_gate: bool | None = None
    voice_model: bool | None = None
    n_fft: int | None = None
    hop: int | None = None

    def __new__(cls, *args, **values):
        # An unknown keyword: a ParameterError that says where it belongs, not the generated
        # __init__'s bare TypeError (positional arguments are still a TypeError there).
        _check_keywords(cls, values)
        return super().__new__(cls)

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            names = ", ".join(repr(a) for a in ALGORITHMS)
            raise ParameterError(f"`algorithm` must be one of {names}, got {self.algorithm!r}")
        kind = ALGORITHMS[self.algorithm]
        if self.options is None:
            object.__setattr__(self, "options", kind())
        elif type(self.options) is not kind:
            raise ParameterError(
                f"`options` must be {kind.__name__} for `algorithm` {self.algorithm!r}, got "
                f"{type(self.options).__name__}"
            )
        if self.mask not in ("kam", "wiener", "soft", "binary"):
            raise ParameterError(
                f"`mask` must be 'kam', 'wiener', 'soft' or 'binary', got {self.mask!r}"
            )
        if self.foreground_gain is not None:
            if self.mask != "kam":
                raise ParameterError(
                    "`foreground_gain` applies to the kernel-additive mask only; set `mask` to "
                    "'kam'"
                )
            if not (math.isfinite(self.foreground_gain) and self.foreground_gain > 0):
                raise ParameterError(
                    f"`foreground_gain` must be a positive number, got {self.foreground_gain!r}"
                )
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
        if self.high_pass_ramp is not None and not (
            math.isfinite(self.high_pass_ramp) and self.high_pass_ramp >= 0
        ):
            raise ParameterError(
                f"`high_pass_ramp` must be a width >= 0 Hz, got {self.high_pass_ramp!r}"
            )
        if self.voice_gate is not None and not isinstance(self.voice_gate, bool):
            raise ParameterError(f"`voice_gate` must be True or False, got {self.voice_gate!r}")
        if self.voice_model is not None and not isinstance(self.voice_model, bool):
            raise ParameterError(f"`voice_model` must be True or False, got {self.voice_model!r}")
        if self.voice_model and not self.gated:
            raise ParameterError(
                "`voice_model` follows the pitch the voice gate finds; it needs `voice_gate` "
                "(on by default with `mask` 'kam')"
            )
        if self.n_fft is not None and (not isinstance(self.n_fft, int) or self.n_fft < 16):
            raise ParameterError(f"`n_fft` must be an integer >= 16, got {self.n_fft!r}")
        if self.hop is not None and (not isinstance(self.hop, int) or self.hop < 1):
            raise ParameterError(f"`hop` must be a positive integer, got {self.hop!r}")
        if self.n_fft is not None and self.hop is not None:
            _check_hop(self.n_fft, self.hop)

    @classmethod
    def build(cls, *, algorithm: str = DEFAULT_ALGORITHM, **values) -> RepetParams:
        """Parameters from flat keywords: the shared knobs and the algorithm's own options.

        ``RepetParams.build(algorithm="repet-sim", neighbors=10, mask="soft")`` is
        ``RepetParams(algorithm="repet-sim", options=SimilarityOptions(neighbors=10),
        mask="soft")``. Options that are None count as not given.

        Raises
        ------
        ParameterError
            A bad value, an unknown keyword, or an option of another algorithm.
        """
        if algorithm not in ALGORITHMS:
            names = ", ".join(repr(a) for a in ALGORITHMS)
            raise ParameterError(f"`algorithm` must be one of {names}, got {algorithm!r}")
        kind = ALGORITHMS[algorithm]
        own = {f.name for f in dataclasses.fields(kind)}
        shared = {f.name for f in dataclasses.fields(cls)} - {"algorithm", "options"}
        options = {}
        for name, value in values.items():
            if name in own:
                if value is not None:
                    options[name] = value
            elif name not in shared:
                owners = ALGORITHM_OPTIONS.get(name)
                if owners is None:
                    raise ParameterError(f"unknown option `{name}`")
                if value is not None:
                    which = " or ".join(repr(a) for a in owners)
                    raise ParameterError(
                        f"`{name}` applies to `algorithm` {which} only, not {algorithm!r}"
                    )
        knobs = {k: v for k, v in values.items() if k in shared}
        return cls(algorithm=algorithm, options=kind(**options), **knobs)

    @property
    def kam_gain(self) -> float:
        """The kernel-additive mask's foreground gain, default filled in."""
        return DEFAULT_FOREGROUND_GAIN if self.foreground_gain is None else self.foreground_gain

    @property
    def ramp(self) -> float:
        """The high-pass ramp in Hz, default filled in."""
        if self.high_pass_ramp is not None:
            return self.high_pass_ramp
        return DEFAULT_KAM_RAMP if self.mask == "kam" else 0.0

    @property
    def gated(self) -> bool:
        """Whether the voice gate is on, default filled in."""
        return self.mask == "kam" if self.voice_gate is None else self.voice_gate

    @property
    def voiced(self) -> bool:
        """Whether the voice model is on (it needs the voice gate's pass), default filled in."""
        on = self.mask == "kam" if self.voice_model is None else self.voice_model
        return on and self.gated

    @property
    def binary_threshold(self) -> float:
        """The binary mask's decision point, default filled in."""
        return DEFAULT_THRESHOLD if self.threshold is None else self.threshold

    def effective(self, *, sr: float | None = None) -> dict:
        """The parameters as the separation uses them, JSON-ready (what the record beside the
        stems holds): every default filled in, the algorithm's options' too
        (:meth:`~repet_cli.algorithms.AlgorithmOptions.effective`), and with ``sr`` the STFT
        sizes; None where an option does not apply (``threshold`` but with the binary mask,
        ``foreground_gain`` but with ``"kam"``), or where its value is found in the input (a
        detected period; the STFT sizes without ``sr``)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        n_fft, hop = (self.n_fft, self.hop) if sr is None else self.stft_sizes(sr)
        return values | {
            "options": self.options.effective(),
            "threshold": self.binary_threshold if self.mask == "binary" else None,
            "foreground_gain": self.kam_gain if self.mask == "kam" else None,
            "high_pass_ramp": self.ramp,
            "voice_gate": self.gated,
            "voice_model": self.voiced,
            "n_fft": n_fft,
            "hop": hop,
        }

    def stft_sizes(self, sr: float) -> tuple[int, int]:
        """``(n_fft, hop)`` for sample rate ``sr``, defaults filled in and checked together."""
        n_fft = default_n_fft(sr) if self.n_fft is None else self.n_fft
        hop = n_fft // 4 if self.hop is None else self.hop
        _check_hop(n_fft, hop)
        return n_fft, hop
