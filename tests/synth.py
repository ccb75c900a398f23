"""Synthesized test signals whose expectations are known exactly.

A *loop* repeats a pattern of ``round(period * sr)`` samples exactly; a *melody* is a
sequence of tones at random frequencies and durations that never repeats.
"""

from __future__ import annotations

import numpy as np


def loop(
    *, period: float, sr: int, duration: float, channels: int = 1, seed: int = 0
) -> np.ndarray:
    """A drum-and-chord-like pattern repeated every ``round(period * sr)`` samples.

    Returns shape (channels, samples), float32, peak about 0.5.
    """
    rng = np.random.default_rng(seed)
    n_period = int(round(period * sr))
    pattern = np.zeros((channels, n_period))
    t = np.arange(n_period) / sr
    # Noise bursts (drums) at uneven positions with different decays.
    for position, decay, level in (
        (0.0, 0.08, 1.0),
        (0.3, 0.04, 0.6),
        (0.55, 0.1, 0.8),
        (0.8, 0.03, 0.5),
    ):
        start = int(position * n_period)
        length = n_period - start
        burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (decay * sr))
        pan = rng.uniform(0.5, 1.0, channels)
        pattern[:, start:] += level * pan[:, None] * burst[None, :]
    # Two tones (bass and chord) that change halfway through the period.
    half = n_period // 2
    for f_first, f_second, level in ((110.0, 146.8, 0.5), (440.0, 392.0, 0.3)):
        tone = np.where(
            t < half / sr, np.sin(2 * np.pi * f_first * t), np.sin(2 * np.pi * f_second * t)
        )
        pattern += level * tone[None, :]
    pattern *= 0.5 / np.max(np.abs(pattern))
    repeats = int(np.ceil(duration * sr / n_period))
    return np.tile(pattern, repeats)[:, : int(round(duration * sr))].astype(np.float32)


def _notes(
    rng, *, sr: int, duration: float, seconds: tuple[float, float], rise: float, fall: float, note
):
    """Notes back to back over ``duration`` seconds, each lasting a random ``seconds`` range
    and made by ``note(rng, t)`` from its times ``t``, faded in over ``rise`` seconds and out
    over ``fall``; float64, shape (samples,)."""
    n = int(round(duration * sr))
    out = np.zeros(n)
    start = 0
    while start < n:
        length = int(rng.uniform(*seconds) * sr)
        t = np.arange(length) / sr
        samples = note(rng, t)
        samples *= np.minimum(1.0, np.minimum(t / rise, (length / sr - t) / fall))
        end = min(n, start + length)
        out[start:end] = samples[: end - start]
        start = end
    return out


def _pitch(rng, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def melody(*, sr: int, duration: float, channels: int = 1, seed: int = 1) -> np.ndarray:
    """Non-repeating tones (300 Hz to 2 kHz, 0.1 to 0.4 s each), shape (channels, samples)."""

    def tone(rng, t):
        freq = _pitch(rng, 300.0, 2000.0)
        return np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t)

    rng = np.random.default_rng(seed)
    out = _notes(rng, sr=sr, duration=duration, seconds=(0.1, 0.4), rise=0.01, fall=0.01, note=tone)
    out *= 0.5 / np.max(np.abs(out))
    gains = np.linspace(1.0, 0.7, channels)
    return (gains[:, None] * out[None, :]).astype(np.float32)


def sung(*, sr: int, duration: float, seed: int = 7) -> np.ndarray:
    """Sung-like notes (180-500 Hz, 0.3 to 0.8 s each, eight partials falling as 1/h, a
    5.5-Hz vibrato of 30 cents), mono, shape (1, samples), float32, peak 0.5."""

    def sung_note(rng, t):
        freq = _pitch(rng, 180.0, 500.0)
        wavering = freq * 2 ** (0.3 / 12 * np.sin(2 * np.pi * 5.5 * t + rng.uniform(0, 2 * np.pi)))
        phase = 2 * np.pi * np.cumsum(wavering) / sr
        return sum(np.sin(h * phase) / h for h in range(1, 9))

    rng = np.random.default_rng(seed)
    out = _notes(
        rng, sr=sr, duration=duration, seconds=(0.3, 0.8), rise=0.03, fall=0.05, note=sung_note
    )
    return (0.5 * out / np.max(np.abs(out)))[None].astype(np.float32)


def energy_db(x: np.ndarray, reference: np.ndarray) -> float:
    """Energy of ``x`` relative to ``reference``, in dB."""
    return float(
        10
        * np.log10(
            np.sum(np.square(x, dtype=np.float64)) / np.sum(np.square(reference, dtype=np.float64))
        )
    )


def mix(
    background: np.ndarray, foreground: np.ndarray, *, ratio_db: float
) -> tuple[np.ndarray, np.ndarray]:
    """Scale ``foreground`` to ``ratio_db`` dB relative to ``background``.

    Returns (mixture, scaled foreground).
    """
    gain = 10 ** ((ratio_db - energy_db(foreground, background)) / 20)
    scaled = (foreground * gain).astype(np.float32)
    return background + scaled, scaled


def write_song(
    path, *, sr: int, seconds: float = 6.0, channels: int = 2, period: float = 1.5, subtype="PCM_16"
):
    """Write a loop under a melody (-3 dB, peak about 0.8) as an audio file; returns ``path``."""
    import soundfile as sf

    background = loop(period=period, sr=sr, duration=seconds, channels=channels)
    mixture, _ = mix(background, melody(sr=sr, duration=seconds, channels=channels), ratio_db=-3)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.8 * mixture.T, sr, subtype=subtype)
    return path


def chord_bed(*, sr: int, duration: float, loops: bool, seed: int = 3) -> np.ndarray:
    """Chords of five partials, mono float64 with unit RMS: four 1-s chords looped every 4 s
    (``loops``), or chords that never come back at a steady period (random roots, 0.5 to 2 s)."""
    rng = np.random.default_rng(seed)
    roots = 220.0 * 2.0 ** (rng.integers(0, 12, 400) / 12)
    if loops:
        roots = np.resize(roots[:4], int(duration) + 4)
        lengths = np.ones(len(roots))
    else:
        lengths = rng.uniform(0.5, 2.0, len(roots))
    parts = []
    for root, length in zip(roots, lengths, strict=True):
        t = np.arange(int(length * sr)) / sr
        chord = sum(
            np.sin(2 * np.pi * root * ratio * t) / (1 + k)
            for k, ratio in enumerate((0.5, 1.0, 1.26, 1.5, 2.0))
        )
        parts.append(chord * np.minimum(1.0, np.minimum(t / 0.01, (length - t) / 0.05)))
    y = np.concatenate(parts)[: int(round(duration * sr))]
    return y / np.sqrt(np.mean(y**2))


def talk_over(bed: np.ndarray, *, sr: int, seed: int = 5) -> np.ndarray:
    """A voice-like part in turns of 1 to 4 s with pauses, 6 dB above ``bed``, which is ducked
    (about -10 dB) while it sounds, as a podcast editor would. Returns the mono mixture,
    shape (1, samples), float32."""
    rng = np.random.default_rng(seed)
    voice = melody(sr=sr, duration=len(bed) / sr, seed=seed)[0].astype(np.float64)
    talking = np.zeros(len(bed))
    start = 0
    while start < len(bed):
        length = int(rng.uniform(1.0, 4.0) * sr)
        talking[start : start + length] = 1.0
        start += length + int(rng.uniform(0.3, 1.5) * sr)
    voice *= talking
    voice *= 2.0 / np.sqrt(np.mean(voice**2))
    return (voice + bed * (1 - 0.7 * talking))[None].astype(np.float32)
