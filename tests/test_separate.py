import dataclasses
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import synth
from repet_cli import ParameterError, RepetParams, separate
from repet_cli.params import ALGORITHM_OPTIONS
from repet_cli.period import LOW_RECURRENCE
from repet_cli.separate import LOW_CONFIDENCE, separation_warnings

SR = 22050


@pytest.fixture(scope="module")
def song():
    """A 1.5-s loop under a non-repeating melody, stereo: (mixture, background, foreground)."""
    background = synth.loop(period=1.5, sr=SR, duration=8.0, channels=2)
    foreground = synth.melody(sr=SR, duration=8.0, channels=2)
    mixture, foreground = synth.mix(background, foreground, ratio_db=-3.0)
    return mixture, background, foreground


def test_soft_mask_with_mixture_phase_reconstructs_the_input(song):
    mixture, _, _ = song
    result = separate(mixture, sr=SR)
    assert result.background.shape == mixture.shape == result.foreground.shape
    assert result.background.dtype == np.float32
    np.testing.assert_allclose(result.background + result.foreground, mixture, rtol=0, atol=1e-5)


def test_stems_are_close_to_the_truth(song):
    mixture, background, foreground = song
    result = separate(mixture, sr=SR)
    assert synth.energy_db(result.background - background, background) < -12
    assert synth.energy_db(result.foreground - foreground, foreground) < -10


def test_masks_lie_in_0_1_and_binary_masks_are_0_or_1(song):
    mixture, _, _ = song
    soft = separate(mixture, sr=SR, keep_mask=True).mask
    assert soft.shape[0] == 2 and soft.min() >= 0 and soft.max() <= 1
    assert np.any((soft > 0.01) & (soft < 0.99))
    binary = separate(mixture, sr=SR, params=RepetParams(mask="binary"), keep_mask=True).mask
    assert set(np.unique(binary)) == {0.0, 1.0}


def test_binary_threshold_moves_bins_between_stems(song):
    mixture, _, _ = song
    low = separate(
        mixture, sr=SR, params=RepetParams(mask="binary", threshold=0.2), keep_mask=True
    ).mask
    high = separate(
        mixture, sr=SR, params=RepetParams(mask="binary", threshold=0.8), keep_mask=True
    ).mask
    assert low.sum() > high.sum()


def test_foreground_of_a_loop_alone_is_near_silent_with_the_ratio_masks():
    background = synth.loop(period=1.5, sr=SR, duration=8.0, channels=2)
    for mask in ("wiener", "soft"):
        result = separate(background, sr=SR, params=RepetParams(mask=mask))
        assert synth.energy_db(result.foreground, background) < -20


def test_the_kernel_additive_default_keeps_a_loop_alone_mostly_in_the_background():
    # The default mask always gives the foreground a share of every bin (its model is the
    # mixture itself, weighted by foreground_gain): an exact loop with nothing over it keeps
    # about -14.5 dB of it in the foreground (measured), the price of its better separation of
    # real songs (README, "How well does it work").
    background = synth.loop(period=1.5, sr=SR, duration=8.0, channels=2)
    result = separate(background, sr=SR)
    assert synth.energy_db(result.foreground, background) < -12


def test_background_of_a_melody_only_region_carries_little_energy(song):
    _, background, foreground = song
    start = int(6.5 * SR)
    mixture = background.copy()
    mixture[:, start:] = 0  # the band stops; only the melody plays on
    mixture[:, start:] += foreground[:, start:]
    result = separate(mixture, sr=SR)
    assert synth.energy_db(result.background[:, start:], mixture[:, start:]) < -20


def test_high_pass_keeps_low_frequencies_in_the_background(song):
    mixture, _, _ = song
    t = np.arange(mixture.shape[1]) / SR
    rumble = (0.2 * np.sin(2 * np.pi * 40 * t) * (t > 4)).astype(np.float32)  # non-repeating
    with_rumble = mixture + rumble
    # The voice model also gives a rumble far from any voice's partials to the background: it
    # is off in both runs, so that the high-pass alone decides.
    on = separate(with_rumble, sr=SR, params=RepetParams(voice_model=False), keep_mask=True).mask
    off = separate(
        with_rumble, sr=SR, params=RepetParams(high_pass=0, voice_model=False), keep_mask=True
    ).mask
    low_bins = slice(0, 3)  # 0, 21.5 and 43 Hz at n_fft 1024
    assert np.all(on[:, low_bins] == 1.0)
    assert off[:, low_bins].mean() < 0.9


def test_no_phase_mode_keeps_length_and_differs_from_mixture_phase(song):
    mixture, _, _ = song
    with_phase = separate(mixture, sr=SR)
    without = separate(mixture, sr=SR, params=RepetParams(phase="none"))
    assert without.background.shape == mixture.shape
    assert without.foreground.shape == mixture.shape
    assert np.all(np.isfinite(without.background))
    assert synth.energy_db(without.background - with_phase.background, with_phase.background) > -20


def test_mono_1d_input_gives_1d_stems(song):
    mixture, _, _ = song
    result = separate(mixture[0], sr=SR)
    assert result.background.shape == mixture[0].shape == result.foreground.shape


def test_many_channels_share_one_period():
    background = synth.loop(period=1.2, sr=SR, duration=6.0, channels=5)
    result = separate(background, sr=SR, keep_mask=True)
    assert result.background.shape == (5, background.shape[1])
    assert result.mask.shape[0] == 5


def test_same_input_gives_identical_output(song):
    mixture, _, _ = song
    a, b = separate(mixture, sr=SR), separate(mixture, sr=SR)
    assert a.period == b.period
    assert np.array_equal(a.background, b.background) and np.array_equal(a.foreground, b.foreground)


def test_the_mask_is_kept_only_when_asked_for(song):
    mixture, _, _ = song
    assert separate(mixture, sr=SR).mask is None
    result = separate(mixture, sr=SR, keep_mask=True)
    assert result.mask.shape == (2, result.n_fft // 2 + 1, 1 + mixture.shape[-1] // result.hop)


@pytest.mark.parametrize("algorithm", ["repet", "adaptive", "repet-sim", "2dft"])
def test_the_number_of_threads_does_not_change_the_output(song, algorithm):
    mixture, _, _ = song
    params = RepetParams(algorithm=algorithm)
    one = separate(mixture, sr=SR, params=params, threads=1)
    three = separate(mixture, sr=SR, params=params, threads=3)
    assert np.array_equal(one.background, three.background)
    assert np.array_equal(one.foreground, three.foreground)


def test_silence_separates_into_silence():
    result = separate(np.zeros((2, 5 * SR), dtype=np.float32), sr=SR)
    assert np.all(result.background == 0) and np.all(result.foreground == 0)


@pytest.mark.parametrize("bad", [np.zeros(0), np.zeros((2, 3, 100)), np.zeros((0, 100))])
def test_bad_shapes_are_refused(bad):
    with pytest.raises(ParameterError):
        separate(bad, sr=SR)


@settings(max_examples=10, deadline=None)
@given(
    channels=st.integers(1, 3),
    seconds=st.floats(2.5, 5.0),
    sr=st.sampled_from([8000, 16000, 22050]),
    seed=st.integers(0, 2**16),
)
def test_any_noise_reconstructs_with_shape_kept(channels, seconds, sr, seed):
    y = np.random.default_rng(seed).uniform(-1, 1, (channels, int(seconds * sr))).astype(np.float32)
    result = separate(y, sr=sr)
    assert result.background.shape == y.shape
    assert 0.8 <= result.period <= seconds / 3
    np.testing.assert_allclose(result.background + result.foreground, y, rtol=0, atol=1e-5)


@pytest.mark.parametrize("algorithm", ["repet", "adaptive", "repet-sim", "2dft"])
@pytest.mark.parametrize("channels", [1, 2])
def test_every_algorithm_keeps_the_shared_invariants(algorithm, channels):
    background = synth.loop(period=1.2, sr=SR, duration=7.0, channels=channels)
    mixture, _ = synth.mix(
        background, synth.melody(sr=SR, duration=7.0, channels=channels), ratio_db=-3.0
    )
    for mask in ("wiener", "soft", "binary"):
        params = RepetParams(algorithm=algorithm, mask=mask)
        result = separate(mixture, sr=SR, params=params, keep_mask=True)
        assert result.algorithm == algorithm
        assert result.background.shape == mixture.shape == result.foreground.shape
        assert result.mask.min() >= 0 and result.mask.max() <= 1
        np.testing.assert_allclose(
            result.background + result.foreground, mixture, rtol=0, atol=1e-5
        )
        # The background is mostly the loop: far closer to it than the mixture is.
        assert synth.energy_db(result.background - background, background) < -8


def test_a_normal_song_gets_no_warnings(song):
    mixture, _, _ = song
    result = separate(mixture, sr=SR)
    assert result.warnings == ()
    assert result.confidence > LOW_CONFIDENCE


def test_silence_gets_one_warning():
    result = separate(np.zeros((2, 5 * SR), dtype=np.float32), sr=SR)
    assert len(result.warnings) == 1 and "digital silence" in result.warnings[0]


@pytest.mark.parametrize("values", [[0.25], [0.25, -0.1]])
def test_a_constant_input_gets_one_warning_and_stays_in_the_background(values):
    y = np.repeat(np.asarray(values, dtype=np.float32)[:, None], 5 * SR, axis=1)
    result = separate(y, sr=SR)
    assert len(result.warnings) == 1 and "constant" in result.warnings[0]
    assert synth.energy_db(result.foreground, y) < -30


def test_silent_channels_are_named(song):
    mixture, _, _ = song
    one_silent = mixture.copy()
    one_silent[1] = 0
    (warning,) = separate(one_silent, sr=SR).warnings
    assert warning.startswith("channel 2 of 2 is silent")
    three = np.stack([np.zeros_like(mixture[0]), mixture[0], np.zeros_like(mixture[0])])
    (warning,) = separate(three, sr=SR).warnings
    assert warning.startswith("channels 1 and 3 of 3 are silent")


def test_noise_warns_that_it_does_not_repeat_and_names_the_options():
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 8 * SR)).astype(np.float32)
    result = separate(noise, sr=SR)
    (warning,) = result.warnings
    assert "does not repeat clearly" in warning and f"{result.confidence:.3f}" in warning
    # The CLI turns backticked parameter names into its options (--algorithm, --period).
    names = {field.name for field in dataclasses.fields(RepetParams)} | set(ALGORITHM_OPTIONS)
    assert set(re.findall(r"`(\w+)`", warning)) == {"algorithm", "period"} <= names


@pytest.mark.parametrize(
    "params", [RepetParams.build(period=1.0), RepetParams(algorithm="repet-sim")]
)
def test_no_confidence_warning_without_a_detected_period(params):
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 8 * SR)).astype(np.float32)
    result = separate(noise, sr=SR, params=params)
    assert result.confidence is None and result.warnings == ()


def test_a_bed_that_never_comes_back_under_a_voice_gets_a_warning_a_loop_does_not():
    # Two minutes of a voice-like part over a ducked bed, 6 dB below it: the plain repetition
    # confidence follows the voice (about 0.02 for both beds), the spectral recurrence the bed.
    for loops, warned in ((True, False), (False, True)):
        bed = synth.chord_bed(sr=8000, duration=120, loops=loops)
        result = separate(synth.talk_over(bed, sr=8000), sr=8000)
        assert result.confidence > LOW_CONFIDENCE
        assert any("nothing in the input comes back" in w for w in result.warnings) is warned
        assert len(result.warnings) == int(warned)
        if loops:  # the period is the bed's loop, not the voice's rhythm (7.74 s)
            assert result.period == pytest.approx(4.0, abs=0.02)


def test_spectral_recurrence_is_not_measured_under_a_minute():
    bed = synth.chord_bed(sr=8000, duration=50, loops=False)
    result = separate(synth.talk_over(bed, sr=8000), sr=8000)
    assert result.warnings == ()


def test_warnings_come_from_a_pure_function():
    loud = np.ones((2, 100), dtype=np.float32)
    loud[:, ::2] = -1
    assert separation_warnings(loud) == ()
    assert len(separation_warnings(loud, confidence=LOW_CONFIDENCE / 2)) == 1
    assert separation_warnings(loud, confidence=LOW_CONFIDENCE) == ()
    (warning,) = separation_warnings(loud, confidence=0.5, recurrence=LOW_RECURRENCE / 2)
    assert "spectral recurrence" in warning
    assert separation_warnings(loud, confidence=0.5, recurrence=LOW_RECURRENCE) == ()
    # One warning about repetition at most, the plain confidence's first.
    (warning,) = separation_warnings(loud, confidence=0.0, recurrence=0.0)
    assert "does not repeat clearly" in warning
    assert "constant" in separation_warnings(np.full(100, 0.5), confidence=0.0)[0]


@pytest.mark.filterwarnings("error")  # no division by zero on the way
def test_a_mono_recording_saved_as_stereo_separates_like_the_mono_one(song):
    mixture, background, _ = song
    mono = separate(mixture[0], sr=SR)
    dual = separate(np.stack([mixture[0], mixture[0]]), sr=SR)
    assert np.all(np.isfinite(dual.background))
    for channel in dual.background:
        assert synth.energy_db(channel - mono.background, background[0]) < -60


def test_wiener_statistics_from_every_other_frame_of_a_long_input_change_the_stems_by_little(
    monkeypatch,
):
    import importlib

    module = importlib.import_module("repet_cli.stages")
    sr, seconds = 8000, 140.0
    background = synth.loop(period=1.5, sr=sr, duration=seconds, channels=2)
    foreground = synth.melody(sr=sr, duration=seconds, channels=2)
    mixture, foreground = synth.mix(background, foreground, ratio_db=-3.0)
    strided = separate(mixture, sr=sr)
    assert module.statistics_stride(strided.background.shape[-1] // strided.hop + 1) == 2
    monkeypatch.setattr(module, "MAX_STRIDE", 1)
    every = separate(mixture, sr=sr)
    assert not np.array_equal(strided.background, every.background)  # the stride was used
    assert synth.energy_db(strided.background - every.background, every.background) < -40
    for result in (strided, every):
        assert synth.energy_db(result.background - background, background) < -12


@pytest.mark.parametrize("algorithm", ["adaptive", "repet-sim", "2dft"])
def test_masks_written_over_a_whole_model_give_the_stems_of_masks_kept_apart(
    song, algorithm, monkeypatch
):
    from repet_cli.algorithms import ALGORITHMS

    mixture, _, _ = song
    params = RepetParams(algorithm=algorithm)
    over = separate(mixture, sr=SR, params=params)
    monkeypatch.setattr(ALGORITHMS[algorithm], "whole_model", False)  # 16-bit copies instead
    apart = separate(mixture, sr=SR, params=params)
    np.testing.assert_allclose(over.background, apart.background, rtol=0, atol=1e-4)
    assert not np.array_equal(over.background, apart.background)  # two paths were taken
