import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import synth
from repet_cli import InputTooShortError, RepetParams, separate
from repet_cli import period as periods


def loop_with_melody(period, sr, channels, duration=None):
    duration = duration or 4 * period + 1.5
    background = synth.loop(period=period, sr=sr, duration=duration, channels=channels)
    foreground = synth.melody(sr=sr, duration=duration, channels=channels)
    return synth.mix(background, foreground, ratio_db=-3.0)[0]


@pytest.mark.parametrize("sr", [22050, 44100, 48000])
@pytest.mark.parametrize("period", [1.0, 1.7, 3.3])
@pytest.mark.parametrize("channels", [1, 2])
def test_detects_a_known_loop_period_within_one_frame(sr, period, channels):
    y = loop_with_melody(period, sr, channels)
    result = separate(y if channels > 1 else y[0], sr=sr)
    true_period = round(period * sr) / sr
    assert not result.period_forced
    assert abs(result.period - true_period) <= result.hop / sr


def test_forced_period_is_the_one_used():
    y = loop_with_melody(2.0, 22050, 1)
    result = separate(y, sr=22050, params=RepetParams.build(period=1.3))
    assert result.period == pytest.approx(1.3)
    assert result.period_forced and result.beat_spectrum is None


@settings(max_examples=8, deadline=None)
@given(gain=st.floats(min_value=1e-3, max_value=4.0))
def test_period_is_gain_invariant(gain):
    y = loop_with_melody(1.7, 22050, 2)
    reference = separate(y, sr=22050).period
    assert separate(y * np.float32(gain), sr=22050).period == pytest.approx(reference, abs=1e-4)


def test_beat_spectrum_peaks_at_every_multiple_of_the_period():
    rng = np.random.default_rng(0)
    column_pattern = rng.random((40, 25))
    P = np.tile(column_pattern, 12)  # period of 25 frames, 300 frames
    b = periods.beat_spectrum(P)
    assert b[0] == pytest.approx(1.0)
    for k in (1, 2, 3):
        lag = 25 * k
        assert b[lag] == pytest.approx(1.0, abs=1e-5)
        assert b[lag] > b[lag - 3] and b[lag] > b[lag + 3]


def test_beat_spectrum_of_silence_is_zero_not_nan():
    b = periods.beat_spectrum(np.zeros((10, 50)))
    assert np.all(b == 0)


def test_estimate_prefers_the_fundamental_over_a_slightly_higher_multiple():
    lags = np.arange(400)
    b = 0.5 + 0.2 * np.cos(2 * np.pi * lags / 50.0) + 0.02 * (lags == 100)
    assert periods.estimate_period(b, min_lag=20, max_lag=150) == pytest.approx(50.0, abs=0.5)


def beats(heights, *, beat=20, n=600):
    """A beat spectrum with a peak ``heights[k]`` at ``k`` beats of ``beat`` frames."""
    lags = np.arange(n)
    b = np.full(n, 0.2)
    for k, height in heights.items():
        b += (height - 0.2) * np.exp(-0.5 * ((lags - k * beat) / 2.0) ** 2)
    b[0] = 1.0
    return b


def test_a_bar_of_four_beats_wins_over_three_beats_that_repeat_about_as_well():
    # "Lithium" (124 bpm): three beats 0.63, the bar 0.62, two beats 0.59, two bars 0.58
    b = beats({2: 0.59, 3: 0.63, 4: 0.62, 5: 0.5, 6: 0.55, 8: 0.58})
    assert periods.estimate_period(b, min_lag=30, max_lag=200) == pytest.approx(80, abs=0.5)


def test_three_beats_stay_the_period_when_four_repeat_clearly_less():
    # a waltz: the bar is three beats; four beats are a bar and a third
    b = beats({2: 0.45, 3: 0.63, 4: 0.45, 6: 0.6, 9: 0.55})
    assert periods.estimate_period(b, min_lag=30, max_lag=200) == pytest.approx(60, abs=0.5)


def test_estimate_has_sub_frame_precision():
    lags = np.arange(400)
    b = 0.5 + 0.3 * np.cos(2 * np.pi * lags / 37.4)
    assert periods.estimate_period(b, min_lag=20, max_lag=60) == pytest.approx(37.4, abs=0.1)


def test_refined_period_stays_inside_the_range():
    lags = np.arange(200)
    b = 0.5 + 0.3 * np.cos(2 * np.pi * (lags - 19.7) / 80.0)  # peak just below min_lag
    assert periods.estimate_period(b, min_lag=20.0, max_lag=60.0) == 20.0


def test_estimate_uses_0_based_lags():
    b = np.zeros(100)
    b[0], b[30] = 1.0, 0.8
    assert periods.estimate_period(b, min_lag=10, max_lag=40) == 30.0


def test_too_short_input_says_how_long_it_must_be():
    y = loop_with_melody(1.0, 22050, 1, duration=2.0)
    with pytest.raises(InputTooShortError) as info:
        separate(y, sr=22050)
    message = str(info.value)
    assert "2.00 s" in message and "2.4 s" in message and "`period`" in message


def test_forced_period_needs_two_repetitions():
    y = loop_with_melody(1.0, 22050, 1, duration=3.0)
    with pytest.raises(InputTooShortError, match="two repetitions"):
        separate(y, sr=22050, params=RepetParams.build(period=2.0))


def test_seconds_frames_round_trip():
    frames = periods.seconds_to_frames(2.5, sr=44100, hop=512)
    assert frames == pytest.approx(2.5 * 44100 / 512)
    assert periods.frames_to_seconds(frames, sr=44100, hop=512) == pytest.approx(2.5)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=40)
    | st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=40)
)
def test_peaks_and_prominences_match_scipy(values):
    from scipy.signal import find_peaks

    x = np.asarray(values, dtype=np.float64)
    expected, properties = find_peaks(x, prominence=0.0)
    peaks = periods.local_maxima(x)
    np.testing.assert_array_equal(peaks, expected)
    np.testing.assert_allclose(periods.prominences(x, peaks), properties["prominences"])


def test_confidence_is_the_prominence_of_the_chosen_peak():
    b = np.zeros(100)
    b[0], b[30] = 1.0, 0.8
    assert periods.estimate_period_with_confidence(b, min_lag=10, max_lag=40) == (30.0, 0.8)


def test_confidence_comes_with_the_same_period_as_estimate_period():
    lags = np.arange(400)
    b = 0.5 + 0.2 * np.cos(2 * np.pi * lags / 50.0) + 0.02 * (lags == 100)
    lag, confidence = periods.estimate_period_with_confidence(b, min_lag=20, max_lag=150)
    assert lag == periods.estimate_period(b, min_lag=20, max_lag=150)
    assert confidence == pytest.approx(0.4, abs=0.01)  # cosine peak to trough


def test_confidence_is_zero_without_a_peak_in_range():
    b = np.linspace(1.0, 0.0, 100)  # monotonic: no peak at all
    assert periods.estimate_period_with_confidence(b, min_lag=10, max_lag=40)[1] == 0.0


def test_confidence_is_high_for_a_loop_and_low_for_noise():
    from repet_cli.separate import LOW_CONFIDENCE

    loop = separate(loop_with_melody(1.7, 22050, 2), sr=22050)
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 8 * 22050)).astype(np.float32)
    assert loop.confidence > 0.4  # measured 0.54-0.61 for loops under a melody at -3 dB
    assert separate(noise, sr=22050).confidence < LOW_CONFIDENCE / 2


def test_confidence_only_for_a_detected_period():
    y = loop_with_melody(1.7, 22050, 1)
    assert separate(y, sr=22050, params=RepetParams.build(period=1.7)).confidence is None
    assert separate(y, sr=22050, params=RepetParams(algorithm="adaptive")).confidence is None


# A bed under a louder voice: the spectral recurrence sets the voice's loudness aside.
RECURRENCE_SR = 8000


def _recurrence(y):
    from repet_cli.separate import spectrograms

    _, P = spectrograms(y, n_fft=512, hop=128, magnitude=False, power=True)
    lo, hi = periods.lag_range(
        min_period=0.8, max_period=16, n_samples=y.shape[-1], sr=RECURRENCE_SR, hop=128
    )
    lag, recurrence = periods.spectral_recurrence(
        P, sr=RECURRENCE_SR, n_fft=512, min_lag=lo, max_lag=hi
    )
    return lag * 128 / RECURRENCE_SR, recurrence


@pytest.mark.parametrize("seed", [3, 4])
def test_spectral_recurrence_hears_a_ducked_loop_under_a_louder_voice(seed):
    from repet_cli.period import LOW_RECURRENCE

    bed = synth.chord_bed(sr=RECURRENCE_SR, duration=120, loops=True, seed=seed)
    period, recurrence = _recurrence(synth.talk_over(bed, sr=RECURRENCE_SR))
    assert period == pytest.approx(4.0, abs=0.02)  # the loop, not the voice's turns
    assert recurrence > 2 * LOW_RECURRENCE  # measured 0.24-0.33


@pytest.mark.parametrize("seed", [3, 4])
def test_spectral_recurrence_is_low_for_chords_that_never_come_back(seed):
    from repet_cli.period import LOW_RECURRENCE

    bed = synth.chord_bed(sr=RECURRENCE_SR, duration=120, loops=False, seed=seed)
    assert _recurrence(synth.talk_over(bed, sr=RECURRENCE_SR))[1] < LOW_RECURRENCE * 0.7
    # measured 0.035-0.047 (loops: 0.24 and more)


def test_spectral_recurrence_of_silence_is_zero():
    assert (
        periods.spectral_recurrence(
            np.zeros((257, 2000), np.float32), sr=8000, n_fft=512, min_lag=10, max_lag=600
        )[1]
        == 0.0
    )


def test_spectral_recurrence_of_magnitudes_and_of_their_power_agree():
    from repet_cli.separate import spectrograms

    bed = synth.chord_bed(sr=RECURRENCE_SR, duration=60, loops=True)
    y = np.concatenate([synth.talk_over(bed, sr=RECURRENCE_SR)] * 2) * [[1.0], [0.5]]
    V, P = spectrograms(y.astype(np.float32), n_fft=512, hop=128, power=True)
    common = dict(sr=RECURRENCE_SR, n_fft=512, min_lag=10, max_lag=600)
    from_power = periods.spectral_recurrence(P, **common)
    from_magnitude = periods.spectral_recurrence(V, magnitude=True, **common)
    assert from_magnitude == pytest.approx(from_power, rel=1e-4)
