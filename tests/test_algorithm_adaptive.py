import dataclasses

import numpy as np
import pytest

import synth
from repet_cli import InputTooShortError, RepetParams, separate
from repet_cli.algorithms import adaptive

SR = 16000


@pytest.fixture(scope="module")
def tempo_change():
    """A loop at 1.0 s for 12 s, then at 1.5 s for 12 s, under a melody (mono)."""
    first = synth.loop(period=1.0, sr=SR, duration=12.0, seed=3)
    second = synth.loop(period=1.5, sr=SR, duration=12.0, seed=3)
    background = np.concatenate([first, second], axis=1)
    mixture, foreground = synth.mix(background, synth.melody(sr=SR, duration=24.0), ratio_db=-3.0)
    return mixture, background, foreground


ADAPTIVE = RepetParams.build(algorithm="adaptive", analysis_window=6.0, analysis_step=1.0)


def test_local_period_follows_a_tempo_change(tempo_change):
    mixture, _, _ = tempo_change
    result = separate(mixture, sr=SR, params=ADAPTIVE)
    periods = result.local_periods
    frame = result.hop / SR
    quarter = len(periods) // 4
    assert np.all(np.abs(periods[:quarter] - 1.0) <= frame)
    assert np.all(np.abs(periods[-quarter:] - 1.5) <= frame)


def test_adaptive_separates_a_tempo_change_better_than_one_period(tempo_change):
    mixture, background, foreground = tempo_change
    # Measured with the ratio mask and the Wiener step: background error -9.3 dB with one
    # period, -16.2 dB adaptive; foreground -6.3 and -13.2 dB.
    one_period = RepetParams.build(window=0.0, mask="wiener")
    fixed = separate(mixture, sr=SR, params=one_period)
    moving = separate(mixture, sr=SR, params=dataclasses.replace(ADAPTIVE, mask="wiener"))
    for stem, truth in (("background", background), ("foreground", foreground)):
        one = synth.energy_db(getattr(fixed, stem) - truth, truth)
        adapted = synth.energy_db(getattr(moving, stem) - truth, truth)
        assert adapted < one - 4


def test_model_of_an_exactly_repeating_spectrogram_is_the_spectrogram():
    rng = np.random.default_rng(0)
    V = np.tile(rng.random((2, 5, 10), dtype=np.float32), 6)[..., :57]
    W = adaptive.adaptive_model(V, periods_per_frame=np.full(57, 10.0), repetitions=2, threads=2)
    np.testing.assert_array_equal(W, V)
    event = V.copy()
    event[:, :, 23] += 100.0
    W = adaptive.adaptive_model(event, periods_per_frame=np.full(57, 10.0), repetitions=2)
    np.testing.assert_allclose(W, V)


def test_median_counts_only_the_neighbours_inside_the_signal():
    V = np.array([[5.0, 1.0, 1.0, 3.0, 1.0]], dtype=np.float32)
    # Frame 0 with period 1 and K = 2: neighbours 0, 1, 2 exist -> median(5, 1, 1) = 1.
    # Frame 3 with K = 2: frames 1..4 exist (5 is outside) -> median(1, 1, 3, 1) = 1.
    W = adaptive.adaptive_model(V, periods_per_frame=np.ones(5), repetitions=2)
    np.testing.assert_array_equal(W, [[1.0, 1.0, 1.0, 1.0, 1.0]])


def test_windows_cover_the_whole_input():
    starts = adaptive.window_starts(100, window=30, step=20)
    np.testing.assert_array_equal(starts, [0, 20, 40, 60, 70])
    np.testing.assert_array_equal(adaptive.window_starts(10, window=30, step=5), [0])


def test_window_too_short_for_the_period_range_is_refused():
    y = synth.loop(period=1.0, sr=SR, duration=8.0)
    params = RepetParams.build(algorithm="adaptive", analysis_window=1.5, min_period=0.8)
    with pytest.raises(InputTooShortError):
        separate(y, sr=SR, params=params)


@pytest.mark.parametrize("channels", [1, 2])
def test_power_made_from_the_magnitude_is_the_spectrograms_own(channels):
    # Adaptive REPET makes the power itself (and lets it go before its model): the periods,
    # and so the stems, are those the spectrogram pass's power gave.
    from repet_cli import stages

    audio = np.random.default_rng(4).standard_normal((channels, 3 * 22050)).astype(np.float32)
    V, P = stages.spectrograms(audio, n_fft=1024, hop=256, power=True)
    np.testing.assert_array_equal(adaptive.channel_power(V), P)


def test_the_power_is_let_go_before_the_model_is_built():
    import tracemalloc

    from repet_cli.algorithms.base import Spectra

    sr, n_fft, hop = 44100, 2048, 512
    V = np.random.default_rng(6).random((2, n_fft // 2 + 1, 2000), dtype=np.float32)
    options = adaptive.AdaptiveOptions()
    bounds = options.check_length(n_samples=2000 * hop, sr=sr, hop=hop)
    spectra = Spectra(V=V, P=None, sr=sr, n_fft=n_fft, hop=hop)
    options.model(spectra, bounds=bounds, threads=1)  # what it imports, first
    tracemalloc.start()
    try:
        model, _ = options.model(spectra, bounds=bounds, threads=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    W = model(0, V.shape[-1])
    # The model and its medians' rows take 1.25 times the model; the power beside them 1.75.
    assert peak < 1.4 * W.nbytes
