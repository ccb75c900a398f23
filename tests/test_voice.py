"""The voice gate: stretches without a pitched lead go to the background, a lead stays."""

import numpy as np
import pytest

import synth
from repet_cli import RepetParams, separate, voice

SR = 22050


def _bundled_sample():
    """The bundled sample's mixture and true background (sample_audio/make_sample.py)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "sample_audio" / "make_sample.py"
    spec = importlib.util.spec_from_file_location("make_sample", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    background, foreground = module.make()
    return background + foreground, background, module.SR


def test_a_lead_melody_up_to_2_khz_is_not_gated_into_the_background():
    mixture, background, sr = _bundled_sample()  # a two-bar loop under a melody of tones
    gated = separate(mixture, sr=sr)
    open_gate = separate(mixture, sr=sr, params=RepetParams(voice_gate=False))
    error = synth.energy_db(gated.background - background, background)
    without = synth.energy_db(open_gate.background - background, background)
    assert error < without + 1.0  # dB: the gate costs (almost) nothing here
    assert error < -10


def test_with_voice_only_spacings_the_same_melody_would_be_lost(monkeypatch):
    # What the test above guards against: spacings of 100-1000 Hz only (voices) gated the
    # sample's high notes into the background.
    monkeypatch.setattr(voice, "F0_RANGE", (100.0, 1000.0))
    monkeypatch.setattr(voice, "BAND", (80.0, 2500.0))
    mixture, background, sr = _bundled_sample()
    gated = separate(mixture, sr=sr)
    assert synth.energy_db(gated.background - background, background) > -5


def test_the_gate_closes_over_a_stretch_with_no_pitched_lead():
    rng = np.random.default_rng(0)
    frames = 2000
    salience = np.full(frames, 0.4)
    salience[800:1400] = 0.1  # seven seconds without a voice at 86 frames per second
    salience += rng.normal(0, 0.01, frames)
    gain = voice.voice_gate(salience, frames_per_second=86.0)
    assert gain[:500].min() == pytest.approx(1.0) and gain[1000:1200].max() == 0.0


def test_pitch_salience_tells_harmonics_from_noise():
    sr, n_fft = 44100, 2048
    frequencies = np.arange(n_fft // 2 + 1) * sr / n_fft
    harmonic = np.zeros((len(frequencies), 4))
    for k in range(1, 12):  # a 220-Hz voice-like tone
        harmonic[np.argmin(np.abs(frequencies - 220 * k))] = 1.0 / k
    noise = np.abs(np.random.default_rng(1).normal(size=harmonic.shape))
    assert voice.pitch_salience(harmonic + 0.01, frequencies=frequencies).min() > 2 * (
        voice.pitch_salience(noise, frequencies=frequencies).max()
    )
