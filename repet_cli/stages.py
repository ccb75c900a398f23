"""The stages of :func:`~repet_cli.separate.separate`, each a function (or a small object) that
can be read and tested on its own.

In the order the separation runs them:

1. :func:`spectrograms`: the magnitude spectrogram of the :class:`Mixture` (and the power a
   period search needs). The algorithm's model is then made of it (:mod:`repet_cli.algorithms`).
2. :func:`model_mask`, kept by :class:`ModelMasks`: the background mask the repeating model
   gives a block of frames (kernel-additive, ratio or binary), computed once for all passes.
3. :func:`voice_pass` -> :class:`Voice`: from the pitch of the foreground those masks leave, the
   voice gate's gain, the high-pass cutoff under the voice and the lead's pitch track.
4. :func:`final_mask`, through :class:`Masking`: the high-pass, the voice gate and the voice
   model's comb applied to the model's mask.
5. :func:`wiener_pass` -> :class:`Wiener`: the multichannel Wiener filter's spatial covariances.
6. :func:`background_pass` (:func:`block_background` per block) -> :class:`Resynthesis`: every
   block's background STFT, overlap-added, or both stems' magnitudes.
7. :func:`stems`: the background and foreground audio.

Only the first pass keeps a spectrogram of the whole input; the others recompute the STFT a
block of frames (:attr:`Mixture.spans`) at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from . import band_contours, pitch, spectral
from . import mask as masks
from . import voice as voices
from .algorithms import Model
from .parallel import ordered_map
from .params import RepetParams

#: Frames per block of the mask, Wiener and resynthesis passes (bounds their temporaries:
#: about 30 MB per thread for stereo at n_fft 2048).
BLOCK_FRAMES = 256

#: A pass's progress function, called with the share of the pass done (0 to 1).
Tick = Callable[[float], None]


@dataclass(frozen=True, kw_only=True, eq=False)
class Mixture:
    """The input and the layout of its STFT, which every stage shares.

    Attributes
    ----------
    audio : np.ndarray, shape (channels, samples), float32
    sr, n_fft, hop : int
        Sample rate and STFT sizes.
    """

    audio: np.ndarray
    sr: int
    n_fft: int
    hop: int

    @property
    def n_samples(self) -> int:
        return self.audio.shape[-1]

    @property
    def n_frames(self) -> int:
        return spectral.frame_count(self.n_samples, hop=self.hop)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of its spectrogram: (channels, n_freq, n_frames)."""
        return self.audio.shape[:-1] + (self.n_fft // 2 + 1, self.n_frames)

    @property
    def frames_per_second(self) -> float:
        return self.sr / self.hop

    @cached_property
    def frequencies(self) -> np.ndarray:
        """Centre frequency of each bin in Hz, shape (n_freq,)."""
        return spectral.frequencies(sr=self.sr, n_fft=self.n_fft)

    @cached_property
    def spans(self) -> list[tuple[int, int]]:
        """The blocks of :data:`BLOCK_FRAMES` frames the passes work on, ``(start, stop)``."""
        return list(spectral.blocks(self.n_frames, BLOCK_FRAMES))

    def stft(self, start: int, stop: int, *, stride: int = 1) -> np.ndarray:
        """The complex STFT of frames ``start .. stop - 1``, shape (channels, n_freq, frames);
        with ``stride``, of a hop ``stride`` times as long (frames ``k * stride`` of the full
        STFT, ``k`` from ``start`` to ``stop - 1``)."""
        return spectral.stft(
            self.audio, n_fft=self.n_fft, hop=self.hop * stride, start=start, stop=stop, workers=1
        )


def spectrograms(
    audio: np.ndarray,
    *,
    n_fft: int,
    hop: int,
    threads: int = 1,
    magnitude: bool = True,
    power: bool = False,
    centre: np.ndarray | None = None,
    tick: Tick | None = None,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Stage 1: magnitude and power spectrograms of ``audio[channels, samples]``, without the
    complex STFT.

    Given ``centre`` (an array of shape (rows, n_frames), stereo audio only), it is filled with
    how centred the lowest ``rows`` bins are (:func:`repet_cli.band_contours.centredness`),
    which needs the complex STFT that is not kept.

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
        block = spectral.stft(audio, n_fft=n_fft, hop=hop, start=a, stop=b, workers=1)
        if centre is not None:
            centre[:, a:b] = band_contours.centredness(block[:, : centre.shape[0]])
        block = np.abs(block)
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


def model_mask(W: np.ndarray, V: np.ndarray, *, params: RepetParams) -> np.ndarray:
    """Stage 2: the background mask that the model ``W`` gives the magnitudes ``V`` (same
    shape), before the high-pass: the kernel-additive mask (``params.mask`` "kam"), else the
    ratio mask (:func:`~repet_cli.mask.soft_mask`), thresholded for "binary"."""
    if params.mask == "kam":
        M = masks.kernel_additive_mask(W, V, gain=params.kam_gain)
    else:
        M = masks.soft_mask(W, V)
    if params.mask == "binary":
        M = masks.binary_mask(M, threshold=params.binary_threshold)
    return M


class ModelMasks:
    """Stage 2 for every pass: the model's masks (:func:`model_mask`), each block's computed once.

    ``masks(span, V)`` is the mask of a block of frames (one of :attr:`Mixture.spans`) given its
    magnitude ``V``; ``masks(span, V, frames)`` that of a strided slice of the block's frames,
    ``V`` being theirs (computed, never kept). With more than one pass over the frames
    (``passes``), the first pass to ask for a whole block's mask keeps it for the others:
    written over the model when the model is as large as the spectrogram (``whole_model``; the
    mask takes its place, no more memory), else in 16-bit fixed point (within 7.7e-6 of the
    float mask; every pass then gets that same rounded mask). The one stateful object of the
    pipeline: a cache that fills in whichever pass comes first.
    """

    def __init__(
        self,
        model: Model,
        *,
        params: RepetParams,
        shape: tuple[int, ...],
        passes: int,
        whole_model: bool,
    ):
        self.model, self.params = model, params
        self.over_model = passes > 1 and whole_model
        self.kept = None
        if passes > 1 and not self.over_model:
            self.kept = np.empty(shape, dtype=np.uint16)
        self.made = np.zeros(-(-shape[-1] // BLOCK_FRAMES), dtype=bool)

    def __call__(
        self, span: tuple[int, int], V: np.ndarray, frames: slice | None = None
    ) -> np.ndarray:
        block = span[0] // BLOCK_FRAMES
        within = slice(None) if frames is None else slice(frames.start - span[0], None, frames.step)
        if self.made[block]:
            if self.over_model:
                return self.model(*span)[..., within].copy()
            return masks.from_fixed_point(self.kept[..., span[0] : span[1]][..., within])
        W = self.model(*span)[..., within]
        M = model_mask(W, V, params=self.params)
        if frames is None and self.over_model:
            W[...] = M  # the model's block (a view) now holds its mask
            self.made[block] = True
        elif frames is None and self.kept is not None:
            masks.to_fixed_point(M, out=self.kept[..., span[0] : span[1]])
            self.made[block] = True
            M = masks.from_fixed_point(self.kept[..., span[0] : span[1]])  # the same every pass
        return M

    def may_sample(self) -> bool:
        """Whether a pass may ask for strided frames only: not when it is the pass that is to
        keep the masks in fixed point for the pass after it."""
        return bool(self.made.all()) or self.kept is None


@dataclass(frozen=True, kw_only=True, eq=False)
class Voice:
    """What the voice pass (:func:`voice_pass`) found, per STFT frame; all None without it.

    Attributes
    ----------
    gain : np.ndarray or None, shape (n_frames,), float32 in [0, 1]
        The voice gate's foreground gain (:func:`repet_cli.voice.voice_gate`).
    cutoffs : np.ndarray or None, shape (n_frames,)
        The high-pass cutoff per frame, lowered under a pitched voice
        (:func:`repet_cli.voice.voice_cutoff`); None: the fixed cutoff.
    lead : repet_cli.pitch.Track or None
        The lead's pitch track, with the voice model on: its comb follows it.
    attached : np.ndarray or None, shape (n_frames,), bool
        The unvoiced frames next to the lead's voiced ones, where its consonants and breaths
        are (:func:`repet_cli.voice.attached_frames`), with the voice model on.
    comb : np.ndarray or None, shape (n_frames,)
        The pitch the comb follows, with the voice model on: the lead's, held over the
        ``attached`` frames (:func:`repet_cli.voice.held_pitch`).
    peak : np.ndarray or None, shape (n_frames,), float32
        The comb's weight on the lead's partials per frame (:func:`repet_cli.voice.peak_weights`)
        with the kernel-additive mask; None: :data:`repet_cli.voice.PEAK` everywhere.
    """

    gain: np.ndarray | None = None
    cutoffs: np.ndarray | None = None
    lead: pitch.Track | None = None
    attached: np.ndarray | None = None
    comb: np.ndarray | None = None
    peak: np.ndarray | None = None


def foreground_pitch(
    V: np.ndarray,
    mask_of: Callable[[tuple[int, int], np.ndarray], np.ndarray],
    spans: list[tuple[int, int]],
    *,
    frequencies: np.ndarray,
    track: bool,
    threads: int,
    tick: Tick | None = None,
    frames_per_second: float | None = None,
    high_pass: float = 0.0,
    ramp: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, pitch.Track | None]:
    """The pitch of the foreground that the masks leave, a block of frames at a time.

    ``mask_of(span, V_block)`` is the background mask of a block; the foreground it leaves is
    averaged over channels. Returns its pitch salience and harmonic spacing in Hz per frame
    (:func:`repet_cli.voice.pitch`), and with ``track`` the lead's pitch track
    (:func:`repet_cli.pitch.track`; else None). ``high_pass`` and ``ramp`` are the masks'
    high-pass: the candidates count their partials as far as it lets them through.
    """
    matrix = None
    if track:
        matrix = pitch.summation_matrix(
            frequencies, pitch.candidates(), high_pass=high_pass, ramp=ramp
        )

    def cues(span):
        part = V[..., span[0] : span[1]]
        foreground = ((1 - mask_of(span, part)) * part).mean(axis=0)
        cue = voices.pitch(foreground, frequencies=frequencies)
        if matrix is None:
            return cue, None
        energy = np.einsum("ft,ft->t", foreground, foreground)
        mixture = part.mean(axis=0)
        total = np.einsum("ft,ft->t", mixture, mixture)
        found = pitch.salience(foreground, frequencies=frequencies, matrix=matrix)
        return cue, (found, energy, total)

    found = []
    for part in ordered_map(cues, spans, threads=threads):
        found.append(part)
        if tick is not None:
            tick(len(found) / len(spans))
    salience = np.concatenate([a for (a, _), _ in found])
    spacing = np.concatenate([b for (_, b), _ in found])
    lead = None
    if track:
        lead = pitch.track(
            np.concatenate([s for _, (s, _, _) in found], axis=1),
            energy=np.concatenate([e for _, (_, e, _) in found]),
            mixture_energy=np.concatenate([m for _, (_, _, m) in found]),
            frames_per_second=frames_per_second,
        )
    return salience, spacing, lead


def voice_pass(
    V: np.ndarray,
    mask_of: Callable[[tuple[int, int], np.ndarray], np.ndarray],
    *,
    mixture: Mixture,
    high_pass: float,
    track: bool,
    threads: int,
    ramp: float = 0.0,
    centre: np.ndarray | None = None,
    percussive: bool = False,
    tick: Tick | None = None,
) -> Voice:
    """Stage 3: where a pitched lead sings, from the magnitude spectrogram ``V`` and the
    model's masks, high-passed at ``high_pass`` Hz with a ``ramp`` (``mask_of``, as for
    :func:`foreground_pitch`).

    The voice gate needs the whole input's pitch salience (it compares each frame with the
    median), so this is a pass of its own, before any mask is final. Gives the gate's gain, the
    high-pass cutoffs under the voice (None when ``high_pass`` is 0) and, with ``track``, the
    lead's pitch track for the voice model, without the contours that ``centre`` (how centred
    the low bins are, :func:`spectrograms`) shows spread over the stereo field
    (:func:`repet_cli.band_contours.spread_contours`) nor those that hold their timbre and
    their pitch as an instrument does (:func:`repet_cli.band_contours.steady_contours`). With
    ``percussive`` (the model's mask has the kernel-additive mask's percussive part), the comb
    weighs a low lead's close partials more (:func:`repet_cli.voice.peak_weights`).
    """
    salience, spacing, lead = foreground_pitch(
        V,
        mask_of,
        mixture.spans,
        frequencies=mixture.frequencies,
        track=track,
        threads=threads,
        tick=tick,
        frames_per_second=mixture.frames_per_second,
        high_pass=high_pass,
        ramp=ramp,
    )
    rate = mixture.frames_per_second
    if lead is not None and centre is not None:
        spread = band_contours.spread_contours(lead.f0, centre, V, frequencies=mixture.frequencies)
        lead = pitch.unvoiced(lead, spread)
    if lead is not None:
        steady = band_contours.steady_contours(
            lead.f0, V, frequencies=mixture.frequencies, frames_per_second=rate
        )
        lead = pitch.unvoiced(lead, steady)
    gain = voices.voice_gate(salience, frames_per_second=rate)
    leading = None if lead is None else voices.lead_frames(lead.f0)
    cutoffs = None
    if high_pass > 0:  # lowered under a pitched voice, to keep its fundamental
        if lead is not None:
            voiced, f0 = leading, lead.f0
        else:
            voiced, f0 = voices.gate_voiced(salience, spacing, gain), spacing
        cutoffs = voices.voice_cutoff(f0, voiced, high_pass=high_pass, frames_per_second=rate)
    attached = comb = peak = None
    if lead is not None:
        attached = voices.attached_frames(lead.voiced, frames_per_second=rate)
        comb = voices.held_pitch(lead.f0, attached)
    if lead is not None and percussive:
        peak = voices.peak_weights(
            lead.f0, leading, frequencies=mixture.frequencies, width_bins=masks.median_width()
        )
    return Voice(gain=gain, cutoffs=cutoffs, lead=lead, attached=attached, comb=comb, peak=peak)


def final_mask(
    M: np.ndarray,
    frames: slice,
    *,
    voice: Voice,
    frequencies: np.ndarray,
    high_pass: float,
    ramp: float,
) -> np.ndarray:
    """Stage 4: the background mask of ``frames`` from the model's mask ``M`` of them
    (changed in place where it can be, and returned).

    In turn: the high-pass (bins below the cutoff, per frame where ``voice.cutoffs`` says, go to
    the background; the foreground returns over ``ramp`` Hz above it); the voice gate
    (``1 - (1 - M) * gain``: where no pitched lead sings, the foreground goes back to the
    background); the voice model (:func:`repet_cli.voice.with_voice`: in voiced frames the
    foreground keeps mostly the bins of the lead's partials; in unvoiced ones it weighs
    :data:`~repet_cli.voice.UNVOICED` in every bin). With an empty ``voice``, the high-pass
    at ``high_pass`` Hz alone.
    """
    cutoff = high_pass if voice.cutoffs is None else voice.cutoffs[frames]
    M = masks.apply_high_pass(M, frequencies=frequencies, cutoff=cutoff, ramp=ramp)
    if voice.gain is not None:
        M = 1 - (1 - M) * voice.gain[frames]
    if voice.lead is not None:
        attached = None if voice.attached is None else voice.attached[frames]
        peak = None if voice.peak is None else voice.peak[frames]
        f0 = voice.lead.f0 if voice.comb is None else voice.comb
        weight = voices.harmonic_weight(
            f0[frames], frequencies=frequencies, attached=attached, peak=peak
        )
        M = voices.with_voice(M, weight)
    return M


@dataclass(frozen=True, kw_only=True, eq=False)
class Masking:
    """How the background mask of any frames is made: the model's masks and :func:`final_mask`
    with what the voice pass found (``voice``; empty before it, and without the voice gate).

    Before the voice pass the mask is the model's, high-passed at the fixed cutoff: the
    foreground the voice pass reads the pitch of.
    """

    model_masks: ModelMasks
    frequencies: np.ndarray
    high_pass: float
    ramp: float
    voice: Voice = field(default_factory=Voice)

    def of(self, span: tuple[int, int], V: np.ndarray, frames: slice | None = None) -> np.ndarray:
        """The background mask of a block of frames from its magnitude ``V``, or of a strided
        slice ``frames`` of the block (``V`` being theirs); see :class:`ModelMasks`."""
        M = self.model_masks(span, V, frames)
        return final_mask(
            M,
            slice(*span) if frames is None else frames,
            voice=self.voice,
            frequencies=self.frequencies,
            high_pass=self.high_pass,
            ramp=self.ramp,
        )


def masked_block(
    span: tuple[int, int], *, mixture: Mixture, masking: Masking
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mixture STFT ``X`` of a block of frames, its magnitude and its background mask."""
    X = mixture.stft(*span)
    V = np.abs(X)
    return X, V, masking.of(span, V)


#: The Wiener filter's spatial covariances of a long input are estimated from every n-th frame,
#: evenly spread, so that at least this many frames (46 s at 44.1 kHz) take part.
STATISTICS_FRAMES = 4000
MAX_STRIDE = 2


def statistics_stride(n_frames: int) -> int:
    """Every how many frames the Wiener statistics are summed (1: all of them)."""
    return max(1, min(MAX_STRIDE, n_frames // STATISTICS_FRAMES))


@dataclass(frozen=True, eq=False)
class Wiener:
    """The multichannel Wiener filter's spatial covariances and diagonal loading
    (:func:`repet_cli.mask.spatial_covariances`)."""

    R_b: np.ndarray
    R_f: np.ndarray
    load: float


def wiener_pass(
    mixture: Mixture, masking: Masking, *, threads: int, tick: Tick | None = None
) -> Wiener:
    """Stage 5: the Wiener filter's statistics, summed over every block's STFT and final mask.

    Over every :func:`statistics_stride`-th frame of a long input, unless this pass is the one
    that keeps the model's masks for the next (:meth:`ModelMasks.may_sample`).
    """
    stride = statistics_stride(mixture.n_frames) if masking.model_masks.may_sample() else 1

    def statistics(span):
        if stride == 1:
            X, V, M = masked_block(span, mixture=mixture, masking=masking)
            return masks.wiener_statistics(X, M, magnitude=V)
        first, stop = -(-span[0] // stride), -(-span[1] // stride)  # frames k * stride
        X = mixture.stft(first, stop, stride=stride)
        frames = slice(first * stride, span[1], stride)
        V = np.abs(X)
        return masks.wiener_statistics(X, masking.of(span, V, frames), magnitude=V)

    stats = None
    spans = mixture.spans
    for done, block in enumerate(ordered_map(statistics, spans, threads=threads), 1):
        stats = masks.add_statistics(stats, block)
        if tick is not None:
            tick(done / len(spans))
    return Wiener(*masks.spatial_covariances(stats))


def block_background(
    X: np.ndarray, V: np.ndarray, M: np.ndarray, *, wiener: Wiener | None
) -> np.ndarray:
    """The background STFT of a block: the mask times the mixture STFT ``X``, or with
    ``wiener`` the multichannel Wiener filter started from the mask (``V = |X|``)."""
    if wiener is None:
        return M * X
    return masks.wiener_background(
        X, M, R_b=wiener.R_b, R_f=wiener.R_f, load=wiener.load, magnitude=V
    )


@dataclass(frozen=True, kw_only=True, eq=False)
class Resynthesis:
    """What :func:`background_pass` leaves for :func:`stems`.

    Attributes
    ----------
    inverse : repet_cli.spectral.OverlapAdd or None
        With the mixture phase: the background STFT, overlap-added.
    magnitudes : tuple of two np.ndarray or None
        Without phase: the background's and the foreground's magnitude spectrograms.
    mask : np.ndarray or None, shape (channels, n_freq, n_frames), float32
        The final background masks, when kept.
    """

    inverse: spectral.OverlapAdd | None = None
    magnitudes: tuple[np.ndarray, np.ndarray] | None = None
    mask: np.ndarray | None = None


def background_pass(
    mixture: Mixture,
    masking: Masking,
    *,
    wiener: Wiener | None,
    phase: str,
    keep_mask: bool,
    threads: int,
    tick: Tick | None = None,
) -> Resynthesis:
    """Stage 6: every block's final mask and background STFT (:func:`block_background`);
    with ``phase`` "mixture" overlap-added as it comes, else both stems' magnitudes kept."""
    shape = mixture.shape
    inverse = magnitudes = None
    if phase == "mixture":
        inverse = spectral.OverlapAdd(
            shape[:-2], n_fft=mixture.n_fft, hop=mixture.hop, length=mixture.n_samples
        )
    else:
        magnitudes = np.empty(shape, dtype=np.float32), np.empty(shape, dtype=np.float32)

    def background(span):
        X, V, M = masked_block(span, mixture=mixture, masking=masking)
        B = block_background(X, V, M, wiener=wiener)
        if phase == "mixture":
            return M, inverse.overlapped(B, workers=1), None
        return M, np.abs(B), np.abs(X - B)

    mask = np.empty(shape, dtype=np.float32) if keep_mask else None
    spans = mixture.spans
    for done, (span, (M, first, second)) in enumerate(
        zip(spans, ordered_map(background, spans, threads=threads), strict=True), 1
    ):
        if tick is not None:
            tick(done / len(spans))
        if mask is not None:
            mask[..., span[0] : span[1]] = M
        if inverse is not None:
            inverse.add_overlapped(first, span[0])
        else:
            magnitudes[0][..., span[0] : span[1]] = first
            magnitudes[1][..., span[0] : span[1]] = second
    return Resynthesis(inverse=inverse, magnitudes=magnitudes, mask=mask)


def stems(made: Resynthesis, *, mixture: Mixture) -> tuple[np.ndarray, np.ndarray]:
    """Stage 7: background and foreground audio, shape (channels, samples), float32.

    With the mixture phase the background is the inverse STFT of its spectrum, and the
    foreground the input minus it: the inverse STFT is linear, so ``istft(X - B) == y -
    istft(B)`` up to the STFT round trip, and subtracting makes the stems add up to the input
    exactly. Without phase each stem is rebuilt from its magnitude (Griffin-Lim).
    """
    if made.inverse is not None:
        background = made.inverse.result()
        return background, mixture.audio - background
    background, foreground = (
        spectral.magnitude_to_signal(
            m, n_fft=mixture.n_fft, hop=mixture.hop, length=mixture.n_samples
        )
        for m in made.magnitudes
    )
    return background, foreground
