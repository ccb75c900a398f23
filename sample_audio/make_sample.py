"""Synthesize the bundled demo song: a two-bar band loop with a sung-like melody on top.

The background (drums, bass, chords) repeats exactly every two bars (4.0 s at 120 bpm); the
foreground melody never repeats. Deterministic: the same file every time.

    python sample_audio/make_sample.py                 # writes sample_audio/loop_and_melody.wav
    python sample_audio/make_sample.py --stems DIR     # also the true background/foreground
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44100
BPM = 120.0
BEAT = 60.0 / BPM  # 0.5 s
BAR = 4 * BEAT  # 2.0 s
LOOP_BARS = 2  # the repeating period: 4.0 s
REPEATS = 4  # 16 s in all
HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "loop_and_melody.wav"


def midi_to_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


def envelope(n: int, *, attack: float, decay: float) -> np.ndarray:
    """Linear attack then exponential decay, ``n`` samples (times in seconds)."""
    t = np.arange(n) / SR
    env = np.exp(-t / decay)
    a = max(1, int(attack * SR))
    env[:a] *= np.linspace(0.0, 1.0, a, endpoint=False)
    return env


def place(track: np.ndarray, sound: np.ndarray, start: float) -> None:
    i = int(round(start * SR))
    j = min(len(track), i + len(sound))
    track[i:j] += sound[: j - i]


def kick() -> np.ndarray:
    n = int(0.35 * SR)
    t = np.arange(n) / SR
    freq = 50 + 90 * np.exp(-t / 0.04)
    return np.sin(2 * np.pi * np.cumsum(freq) / SR) * envelope(n, attack=0.002, decay=0.12)


def snare(rng: np.random.Generator) -> np.ndarray:
    n = int(0.25 * SR)
    t = np.arange(n) / SR
    body = 0.4 * np.sin(2 * np.pi * 185 * t)
    noise = rng.standard_normal(n) * 0.6
    return (body + noise) * envelope(n, attack=0.001, decay=0.07)


def hihat(rng: np.random.Generator) -> np.ndarray:
    n = int(0.06 * SR)
    noise = np.diff(rng.standard_normal(n + 1))  # tilt towards high frequencies
    return 0.25 * noise * envelope(n, attack=0.0005, decay=0.015)


def tone(
    freq: float, duration: float, *, harmonics: int, decay: float, attack: float
) -> np.ndarray:
    n = int(duration * SR)
    t = np.arange(n) / SR
    wave = sum(np.sin(2 * np.pi * k * freq * t) / k for k in range(1, harmonics + 1))
    return wave * envelope(n, attack=attack, decay=decay)


def band_loop(rng: np.random.Generator) -> np.ndarray:
    """Two bars of drums, bass and chords, stereo, shape (2, samples)."""
    n = int(LOOP_BARS * BAR * SR)
    drums, hats, bass, pad_l, pad_r = (np.zeros(n) for _ in range(5))
    k, s = kick(), snare(rng)
    hat_hits = [hihat(rng) for _ in range(8)]
    chords = [[48, 52, 55, 60], [45, 48, 52, 57]]  # C major, A minor (MIDI notes)
    for bar in range(LOOP_BARS):
        t0 = bar * BAR
        for beat in range(4):
            place(drums, k if beat % 2 == 0 else s, t0 + beat * BEAT)
            root = chords[bar][0] - 12
            place(
                bass,
                tone(midi_to_hz(root), BEAT, harmonics=6, decay=0.25, attack=0.005),
                t0 + beat * BEAT,
            )
        for eighth in range(8):
            place(hats, hat_hits[eighth], t0 + eighth * BEAT / 2)
        for note in chords[bar][1:]:
            f = midi_to_hz(note)
            place(pad_l, tone(f * 0.998, BAR, harmonics=3, decay=1.5, attack=0.05), t0)
            place(pad_r, tone(f * 1.002, BAR, harmonics=3, decay=1.5, attack=0.05), t0)
    centre = 0.9 * drums + 0.6 * bass
    left = centre + 0.12 * hats + 0.18 * pad_l
    right = centre + 0.2 * hats + 0.18 * pad_r
    return np.stack([left, right])


def melody(rng: np.random.Generator, n: int) -> np.ndarray:
    """A voice-like line that never repeats: a random walk on a pentatonic scale, with vibrato."""
    scale = [60, 62, 64, 67, 69, 72, 74, 76, 79]
    out = np.zeros(n)
    t_now, step = 0.3, 4
    while t_now < n / SR - 0.3:
        duration = float(rng.choice([0.25, 0.5, 0.75, 1.0, 1.5]))
        step = int(np.clip(step + rng.integers(-2, 3), 0, len(scale) - 1))
        f0 = midi_to_hz(scale[step] + 12)
        m = int(duration * SR)
        t = np.arange(m) / SR
        vibrato = 1 + 0.012 * np.sin(2 * np.pi * 5.5 * t) * np.minimum(t / 0.3, 1.0)
        phase = 2 * np.pi * np.cumsum(f0 * vibrato) / SR
        voice = sum(np.sin(k * phase) * 0.8**k for k in range(1, 8))
        fade = np.minimum(1.0, np.minimum(t / 0.03, (duration - t) / 0.08))
        place(out, voice * fade, t_now)
        t_now += duration + float(rng.choice([0.0, 0.0, 0.25]))
    return np.stack([0.55 * out, 0.45 * out])


def make(seed: int = 2013) -> tuple[np.ndarray, np.ndarray]:
    """Background and foreground, each shape (2, samples), scaled so the mix peaks at -1 dBFS."""
    rng = np.random.default_rng(seed)
    background = np.tile(band_loop(rng), REPEATS)
    foreground = melody(rng, background.shape[1])
    gain = 0.89 / np.max(np.abs(background + foreground))
    return background * gain, foreground * gain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUTPUT, help="mixture file to write")
    parser.add_argument("--stems", type=Path, help="folder for the true background/foreground")
    args = parser.parse_args()
    background, foreground = make()
    sf.write(args.out, (background + foreground).T, SR, subtype="PCM_16")
    print(f"wrote {args.out} ({(background.shape[1] / SR):.1f} s, period {LOOP_BARS * BAR} s)")
    if args.stems:
        args.stems.mkdir(parents=True, exist_ok=True)
        for name, stem in (("background", background), ("foreground", foreground)):
            sf.write(args.stems / f"{name}.wav", stem.T, SR, subtype="FLOAT")
        print(f"wrote the true stems into {args.stems}")


if __name__ == "__main__":
    main()
