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


def _low_voice(*, sr: int, duration: float, seed: int = 3) -> np.ndarray:
    """A low, voice-like line: notes of 0.25-0.5 s at 115-135 Hz with ten harmonics."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(duration * sr))
    start = 0
    while start < len(out):
        length = int(rng.uniform(0.25, 0.5) * sr)
        t = np.arange(length) / sr
        f0 = rng.uniform(115.0, 135.0)
        note = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 11))
        note *= np.minimum(1.0, np.minimum(t / 0.02, (length / sr - t) / 0.02))
        end = min(len(out), start + length)
        out[start:end] = note[: end - start]
        start = end
    return (0.5 * out / np.abs(out).max())[None].astype(np.float32)


def _band(x: np.ndarray, lo: float, hi: float, sr: int) -> np.ndarray:
    X = np.fft.rfft(x, axis=-1)
    f = np.fft.rfftfreq(x.shape[-1], 1 / sr)
    X[..., (f < lo) | (f > hi)] = 0
    return np.fft.irfft(X, n=x.shape[-1], axis=-1)


def test_a_passage_sung_without_the_band_stays_in_the_foreground():
    # A singer over a loop for 20 s, then alone for 10 (a cappella): the voice model and the
    # gate keep the lone voice in the foreground (19.6 dB of it against the error there).
    band = synth.loop(period=1.5, sr=SR, duration=30.0)
    sung = synth.sung(sr=SR, duration=30.0)
    sung *= 10 ** ((-3 - synth.energy_db(sung, band)) / 20)
    band[:, 20 * SR :] = 0
    result = separate(band + sung, sr=SR)
    alone = slice(int(20.5 * SR), int(29.5 * SR))
    error = result.foreground[0, alone] - sung[0, alone]
    assert synth.energy_db(error, sung[0, alone]) < -15  # dB


def test_a_low_voice_keeps_its_fundamental_under_the_high_pass(monkeypatch):
    # A 115-135 Hz voice over a loop: the fixed 150-Hz high-pass gives its fundamental to the
    # background (about -65 dB of it left); following the voice's pitch keeps it audible.
    background = synth.loop(period=1.5, sr=SR, duration=30.0)
    mixture, lead = synth.mix(background, _low_voice(sr=SR, duration=30.0), ratio_db=0.0)
    fundamental = _band(lead, 110.0, 140.0, SR)

    def kept():
        foreground = separate(mixture, sr=SR).foreground
        return synth.energy_db(_band(foreground, 110.0, 140.0, SR), fundamental)

    following = kept()
    monkeypatch.setattr(
        voice,
        "voice_cutoff",
        lambda f0, *_, high_pass, **__: np.full(len(f0), high_pass),
    )
    assert following > kept() + 20  # dB
    assert following > -30


def test_the_high_pass_drops_under_a_voiced_frame_only():
    rate = 100.0  # frames per second
    salience = np.r_[np.full(300, 0.1), np.full(200, 0.5), np.full(300, 0.1)]
    spacing = np.r_[np.full(300, 400.0), np.full(200, 120.0), np.full(300, 400.0)]
    gain = np.ones(800)

    def cutoff(spacing, gain):
        voiced = voice.gate_voiced(salience, spacing, gain)
        return voice.voice_cutoff(spacing, voiced, high_pass=150.0, frames_per_second=rate)

    found = cutoff(spacing, gain)
    assert found[350:450] == pytest.approx(0.8 * 120.0)  # under the voice: below its 120 Hz
    assert found[:250].min() == 150.0 and found[550:].min() == 150.0  # elsewhere: as set
    closed = cutoff(spacing, 0 * gain)
    assert closed.min() == 150.0  # where the gate is closed there is no voice to keep
    deep = cutoff(spacing / 4, gain)
    assert deep.min() == voice.FOLLOW_FLOOR  # never below the floor


def test_the_high_pass_drops_under_the_lead_but_not_under_a_line_far_below_it():
    rate = 100.0
    f0 = np.r_[np.zeros(100), np.full(300, 220.0), np.zeros(100), np.full(100, 90.0), np.zeros(200)]
    found = voice.voice_cutoff(f0, voice.lead_frames(f0), high_pass=250.0, frames_per_second=rate)
    assert found[150:350] == pytest.approx(0.8 * 220.0)  # under the lead
    # 90 Hz is 1.3 octaves below the lead's typical 220 Hz: a bass line more often than not.
    assert found[550:650].min() == 250.0
