"""REPET's own options: a forced or detected period, one model or one per window."""

import numpy as np
import pytest

import synth
from repet_cli import ParameterError, RepetParams, separate
from repet_cli.algorithms import RepetOptions
from repet_cli.algorithms.repet import window_spans

SR = 8000


def test_window_spans_cover_the_input_in_equal_consecutive_windows():
    assert window_spans(1000, frames=0, shortest=10) == [(0, 1000)]
    spans = window_spans(1000, frames=300, shortest=10)
    assert spans == [(0, 333), (333, 667), (667, 1000)]
    assert window_spans(1000, frames=300, shortest=400) == [(0, 500), (500, 1000)]
    assert window_spans(100, frames=300, shortest=10) == [(0, 100)]


@pytest.mark.parametrize("window", [-1.0, float("nan"), "12"])
def test_bad_windows_are_refused(window):
    with pytest.raises(ParameterError, match="`window`"):
        RepetOptions(window=window)


def _two_sections(seconds=24.0):
    """A loop of period 1.0 s, then another loop of period 1.5 s, under one melody."""
    half = int(seconds / 2 * SR)
    first = synth.loop(period=1.0, sr=SR, duration=seconds / 2, channels=2, seed=1)
    second = synth.loop(period=1.5, sr=SR, duration=seconds / 2, channels=2, seed=2)
    background = np.concatenate([first, second], axis=-1)[:, : 2 * half]
    return synth.mix(background, synth.melody(sr=SR, duration=seconds, channels=2), ratio_db=-3)[
        0
    ], background


def test_windows_follow_sections_that_one_model_averages_away():
    mixture, background = _two_sections()

    def error_db(window):
        options = RepetOptions(window=window)  # the ratio mask: the model's effect alone
        result = separate(mixture, sr=SR, params=RepetParams(options=options, mask="wiener"))
        err = result.background - background
        return 10 * np.log10(np.sum(err**2) / np.sum(background**2)), result

    whole, _ = error_db(0.0)
    local, result = error_db(12.0)
    assert local < whole - 3  # dB: a user hears the other section's loop leak in without it
    assert set(np.round(result.local_periods, 1)) == {1.0, 1.5}


def test_a_forced_period_holds_in_every_window():
    mixture, _ = _two_sections()
    params = RepetParams(options=RepetOptions(period=1.0, window=6.0))
    result = separate(mixture, sr=SR, params=params)
    assert result.period_forced and result.period == pytest.approx(1.0, abs=0.01)
    assert result.local_periods is None


def _ducked_bed(sr=16000, duration=64.0):
    """A loop turned down to 30 % while a melody plays over it (20-50 s), and back up after."""
    t = np.arange(int(duration * sr)) / sr
    ducked = (t > 20) & (t < 50)
    level = np.convolve(np.where(ducked, 0.3, 1.0), np.ones(sr // 2) / (sr // 2), "same")
    bed = synth.loop(period=2.0, sr=sr, duration=duration, channels=2) * level.astype(np.float32)
    voice = synth.melody(sr=sr, duration=duration, channels=2) * ducked.astype(np.float32)
    return bed + 0.5 * voice, t, ducked


def test_the_bed_gain_follows_a_bed_ducked_under_a_voice():
    from repet_cli import mask as masks
    from repet_cli import spectral
    from repet_cli.algorithms.repet import bed_gain

    sr, n_fft, hop = 16000, 1024, 256
    mixture, t, ducked = _ducked_bed(sr)
    V = np.abs(spectral.stft(mixture, n_fft=n_fft, hop=hop)).astype(np.float32)
    template, offset = masks.repeating_template(V, period=2.0 * sr / hop)
    gain = bed_gain(V, template, offset, sr=sr, n_fft=n_fft, frames_per_second=sr / hop)
    times = np.arange(gain.size) * hop / sr
    low = np.median(gain[(times > 25) & (times < 45)])
    high = np.median(gain[(times < 15) | (times > 55)])
    assert abs(low / high - 0.3) < 0.05


def test_following_the_level_is_an_option_and_off_by_default():
    mixture, _, _ = _ducked_bed()
    default = separate(mixture, sr=16000, params=RepetParams(voice_model=False))
    fixed = separate(
        mixture, sr=16000, params=RepetParams.build(voice_model=False, follow_level=False)
    )
    following = separate(
        mixture, sr=16000, params=RepetParams.build(voice_model=False, follow_level=True)
    )
    assert np.array_equal(default.background, fixed.background)
    assert not np.allclose(following.background, fixed.background, atol=1e-3)
