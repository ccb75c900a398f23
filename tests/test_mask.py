import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from repet_cli import mask as masks

spectrograms = arrays(
    np.float32,
    st.tuples(st.integers(1, 2), st.integers(1, 6), st.integers(4, 40)),
    elements=st.floats(0, 1e3, width=32),
)


@settings(max_examples=60, deadline=None)
@given(V=spectrograms, period=st.floats(1.0, 4.0))
def test_model_is_bounded_by_the_mixture_and_masks_lie_in_0_1(V, period):
    W = masks.repeating_model(V, period=period)
    assert W.shape == V.shape and W.dtype == V.dtype
    assert np.all(W >= 0) and np.all(W <= V)
    soft = masks.soft_mask(W, V)
    assert np.all((soft >= 0) & (soft <= 1))
    binary = masks.binary_mask(soft, threshold=0.5)
    assert set(np.unique(binary)) <= {0.0, 1.0}


@pytest.mark.parametrize("n_frames", [60, 67, 79])  # whole segments, and a partial last one
def test_model_of_an_exactly_repeating_spectrogram_is_the_spectrogram(n_frames):
    rng = np.random.default_rng(3)
    V = np.tile(rng.random((2, 30, 20), dtype=np.float32), 4)[..., :n_frames]
    np.testing.assert_array_equal(masks.repeating_model(V, period=20), V)


def test_median_rejects_a_non_repeating_event():
    rng = np.random.default_rng(4)
    V = np.tile(rng.random((8, 10), dtype=np.float32) + 0.1, 5)
    loud = V.copy()
    loud[:, 23] += 100.0  # a one-off event in the third segment
    W = masks.repeating_model(loud, period=10)
    np.testing.assert_allclose(W, V)
    assert masks.soft_mask(W, loud)[:, 23].max() < 0.02


def test_last_partial_segment_takes_part_in_the_median():
    # Three segments of 10 frames plus 4 frames: at offsets 0-3 four segments vote.
    V = np.ones((1, 34), dtype=np.float32)
    V[0, 0:4] = 5.0  # segment 0 differs at offsets 0-3
    V[0, 10:14] = 5.0  # segment 1 too; segments 2 and the partial 3 do not
    W = masks.repeating_model(V, period=10)
    # With the partial segment: median of (5, 5, 1, 1) = 3; without it: median (5, 5, 1) = 5.
    assert W[0, 0] == pytest.approx(3.0)  # min(model 3, mixture 5)
    assert W[0, 23] == pytest.approx(1.0)  # min(model 3, mixture 1)
    assert W[0, 4] == pytest.approx(1.0)  # offsets 4-9: median of (1, 1, 1)


def test_fractional_period_keeps_segments_aligned():
    starts = masks.segment_starts(100, 12.5)
    np.testing.assert_array_equal(starts, [0, 12, 25, 38, 50, 62, 75, 88])  # round half to even


def test_silent_bins_go_to_the_background():
    V = np.zeros((1, 3, 4), dtype=np.float32)
    assert np.all(masks.soft_mask(V, V) == 1.0)


def test_high_pass_gives_low_bins_to_the_background():
    mask = np.zeros((2, 5, 3), dtype=np.float32)
    freqs = np.array([0.0, 50.0, 99.9, 100.0, 150.0])
    masks.apply_high_pass(mask, frequencies=freqs, cutoff=100.0)
    assert np.all(mask[:, :3] == 1.0) and np.all(mask[:, 3:] == 0.0)
    untouched = np.zeros((1, 5, 3), dtype=np.float32)
    masks.apply_high_pass(untouched, frequencies=freqs, cutoff=0.0)
    assert np.all(untouched == 0.0)


def _stereo_scene(seed=0, frames=200, freqs=30):
    """A centred source and a wide (decorrelated) source, as complex STFTs (2, F, T)."""
    rng = np.random.default_rng(seed)

    def noise():
        return rng.standard_normal((freqs, frames)) + 1j * rng.standard_normal((freqs, frames))

    centre = noise() * rng.uniform(0, 2, (freqs, frames))
    centred = np.stack([centre, centre]).astype(np.complex64)
    wide = np.stack([noise(), noise()]).astype(np.complex64) * rng.uniform(0, 2, (freqs, frames))
    return wide, centred


def test_wiener_keeps_bins_the_mask_gives_wholly_to_one_stem():
    wide, centred = _stereo_scene()
    X = wide + centred
    mask = np.full(X.shape, 0.5, dtype=np.float32)
    mask[:, :3] = 1.0
    mask[:, 3:6] = 0.0
    B = masks.multichannel_wiener(X, mask)
    assert B.shape == X.shape and B.dtype == X.dtype
    np.testing.assert_array_equal(B[:, :3], X[:, :3])
    assert np.all(B[:, 3:6] == 0)


def test_wiener_uses_stereo_placement_to_improve_a_rough_mask():
    wide, centred = _stereo_scene(seed=1)
    X = wide + centred
    rng = np.random.default_rng(5)  # a mask from noisy magnitude estimates, as a model gives
    a = np.abs(wide) * rng.lognormal(0, 0.6, wide.shape)
    b = np.abs(centred) * rng.lognormal(0, 0.6, wide.shape)
    rough = (a / (a + b)).astype(np.float32)

    def error_db(estimate):
        return 10 * np.log10(np.sum(np.abs(estimate - wide) ** 2) / np.sum(np.abs(wide) ** 2))

    # Measured: -5.4 dB error with the mask alone, -6.5 dB after the filter.
    assert error_db(masks.multichannel_wiener(X, rough)) < error_db(rough * X) - 0.5


@pytest.mark.parametrize("channels", [1, 3])
def test_wiener_works_for_any_channel_count(channels):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((channels, 10, 40)) + 1j * rng.standard_normal((channels, 10, 40))
    X = X.astype(np.complex64)
    mask = rng.uniform(0, 1, X.shape).astype(np.float32)
    B = masks.multichannel_wiener(X, mask, block=7)
    assert B.shape == X.shape and np.all(np.isfinite(B))
    # Gain-invariant: scaling the mixture scales the estimate.
    np.testing.assert_allclose(masks.multichannel_wiener(X * 1e3, mask), B * 1e3, rtol=1e-3)


def test_wiener_on_identical_channels_is_finite_and_matches_one_channel():
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((1, 20, 300)) + 1j * rng.standard_normal((1, 20, 300))) * 50
    x = x.astype(np.complex64)
    mask = rng.uniform(0, 1, x.shape).astype(np.float32)
    one = masks.multichannel_wiener(x, mask)
    with np.errstate(all="raise"):
        two = masks.multichannel_wiener(np.concatenate([x, x]), np.concatenate([mask, mask]))
    for channel in two:
        np.testing.assert_allclose(channel, one[0], rtol=0, atol=1e-3 * np.abs(one).max())


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, (3, 17), elements=st.floats(0.0, 1.0, width=32)))
def test_a_mask_kept_in_16_bits_is_within_8e_6_and_exact_at_0_and_1(mask):
    fixed = masks.to_fixed_point(mask, out=np.empty(mask.shape, np.uint16))
    back = masks.from_fixed_point(fixed)
    assert back.dtype == np.float32
    assert np.abs(back - mask).max() <= 0.5 / 65535 + 1e-7
    assert np.all(back[mask == 1.0] == 1.0) and np.all(back[mask == 0.0] == 0.0)
