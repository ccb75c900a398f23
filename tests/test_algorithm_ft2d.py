import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from repet_cli import ParameterError
from repet_cli.algorithms import ft2d

SR, HOP, N_FFT = 22050, 256, 64  # 86 frames per second, 33 frequency bins
N_FREQ = N_FFT // 2 + 1


def loop_and_event(n_frames=516, period=43, channels=None, seed=0):
    """A spectrogram that repeats every `period` frames exactly, plus a loud one-off event.

    Returns (mixture, loop, event) of shape (n_freq, n_frames), or (channels, ...) if given.
    """
    rng = np.random.default_rng(seed)
    shape = (N_FREQ, period) if channels is None else (channels, N_FREQ, period)
    pattern = rng.random(shape, dtype=np.float32)
    loop = np.tile(pattern, n_frames // period + 1)[..., :n_frames]
    event = np.zeros_like(loop)
    event[..., 8:20, 200:206] = 5.0  # 12 bins x 70 ms, ten times the loop's mean
    return loop + event, loop, event


spectrograms = arrays(
    np.float32,
    st.tuples(st.integers(1, 2), st.just(N_FREQ), st.integers(1, 120)),
    elements=st.floats(0, 1e4, width=32),
)


@settings(max_examples=60, deadline=None)
@given(V=spectrograms)
def test_model_keeps_shape_and_dtype_and_lies_between_0_and_the_mixture(V):
    W = ft2d.ft2d_model(V, sr=SR, hop=HOP, n_fft=N_FFT)
    assert W.shape == V.shape and W.dtype == np.float32
    assert np.all(W >= 0) and np.all(W <= V)


@pytest.mark.parametrize("n_frames", [516, 517, 523])  # even, odd, no whole number of periods
def test_recovers_a_loop_and_rejects_a_one_off_event(n_frames):
    V, loop, event = loop_and_event(n_frames=n_frames)
    W = ft2d.ft2d_model(V, sr=SR, hop=HOP, n_fft=N_FFT)
    outside = event == 0
    # Measured: relative error on the loop 0.07 with whole periods, 0.18 with a partial last
    # one (the 2-D DFT is circular); 2.4 % of the event's magnitude kept.
    loop_error = np.linalg.norm((W - loop)[outside]) / np.linalg.norm(loop[outside])
    assert loop_error < 0.25
    kept = np.sum(W[~outside] - loop[~outside]) / np.sum(event)
    assert kept < 0.05


def test_stereo_channels_are_modelled_independently():
    V, _, _ = loop_and_event(channels=2)
    W = ft2d.ft2d_model(V, sr=SR, hop=HOP, n_fft=N_FFT)
    for c in range(2):
        np.testing.assert_allclose(
            W[c], ft2d.ft2d_model(V[c], sr=SR, hop=HOP, n_fft=N_FFT), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("shape", [(N_FREQ, 300), (2, N_FREQ, 301), (N_FREQ, 1)])
def test_silence_gives_zeros_without_warnings(shape):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        W = ft2d.ft2d_model(np.zeros(shape, np.float32), sr=SR, hop=HOP, n_fft=N_FFT)
    assert W.shape == shape and not np.any(W)


@settings(max_examples=10, deadline=None)
@given(gain=st.floats(1e-3, 1e3))
def test_model_scales_with_the_input(gain):
    V, _, _ = loop_and_event()
    W = ft2d.ft2d_model(V, sr=SR, hop=HOP, n_fft=N_FFT)
    scaled = ft2d.ft2d_model(V * np.float32(gain), sr=SR, hop=HOP, n_fft=N_FFT)
    np.testing.assert_allclose(scaled, W * gain, rtol=1e-3, atol=1e-4 * gain)


@pytest.mark.parametrize("n_frames", [516, 2064])  # 6 s and 24 s
def test_neighbourhood_is_set_in_hz_whatever_the_length(n_frames):
    # The loop repeats every 0.5 s: its rate harmonics are 2 Hz apart. A 3-Hz neighbourhood
    # (1.5 Hz each side) keeps all of them, a 6-Hz one makes neighbours compete, at any length,
    # although the rate bins are four times finer at 24 s. Measured: 0.07 / 0.03 and 0.21.
    V, loop, event = loop_and_event(n_frames=n_frames)
    outside = event == 0

    def loop_error(rate_width):
        W = ft2d.ft2d_model(V, sr=SR, hop=HOP, n_fft=N_FFT, rate_width=rate_width)
        return np.linalg.norm((W - loop)[outside]) / np.linalg.norm(loop[outside])

    assert loop_error(3.0) < 0.1
    assert loop_error(6.0) > 0.15


@pytest.mark.parametrize("n_frames", [1, 7, 8, 40, 41])  # odd and even: Nyquist or not
def test_rate_neighbourhood_matches_the_full_circular_spectrum(n_frames):
    # Only half the rates are stored; the neighbours beyond them come from Hermitian symmetry.
    import scipy.fft
    from scipy import ndimage

    rng = np.random.default_rng(2)
    V = rng.random((2, 9, n_frames))
    full = np.abs(scipy.fft.fft2(V))
    half = np.abs(scipy.fft.rfft2(V))
    local_max, local_mean = ft2d._rate_neighbourhood(half, n_frames=n_frames, size=5)
    stored = slice(0, n_frames // 2 + 1)
    expected_max = ndimage.maximum_filter1d(full, 5, axis=-1, mode="wrap")[..., stored]
    expected_mean = ndimage.uniform_filter1d(full, 5, axis=-1, mode="wrap")[..., stored]
    np.testing.assert_allclose(local_max, expected_max, rtol=1e-12)
    np.testing.assert_allclose(local_mean, expected_mean, rtol=1e-12)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"rate_width": 0.0}, "`rate_width`"),
        ({"rate_width": float("nan")}, "`rate_width`"),
        ({"threshold": -1.0}, "`threshold`"),
        ({"threshold": float("inf")}, "`threshold`"),
        ({"sr": 0}, "`sr`"),
        ({"hop": 0}, "`hop`"),
        ({"n_fft": 128}, "`n_fft`"),
    ],
)
def test_bad_options_are_refused(options, match):
    kwargs = {"sr": SR, "hop": HOP, "n_fft": N_FFT} | options
    with pytest.raises(ParameterError, match=match):
        ft2d.ft2d_model(np.ones((N_FREQ, 50), np.float32), **kwargs)


def test_a_spectrogram_without_frames_is_refused():
    with pytest.raises(ParameterError, match="`V`"):
        ft2d.ft2d_model(np.ones((N_FREQ, 0), np.float32), sr=SR, hop=HOP, n_fft=N_FFT)


@pytest.mark.parametrize("rows", [1, 5, 64])
def test_peaks_weighed_a_few_scale_rows_at_a_time_give_the_same_model(monkeypatch, rows):
    V, _, _ = loop_and_event(channels=2)
    whole = ft2d.ft2d_model(V, sr=SR, hop=HOP, n_fft=N_FFT)
    monkeypatch.setattr(ft2d, "ROWS", rows)
    np.testing.assert_array_equal(ft2d.ft2d_model(V, sr=SR, hop=HOP, n_fft=N_FFT), whole)


@pytest.mark.parametrize("n_scale", [9, 10])  # an even count has a second row of its own mirror
def test_peaks_are_weighed_from_the_spectrum_as_it_was_before_any_row(monkeypatch, n_scale):
    # A row's neighbourhood takes in its mirror row: weighing rows in pairs, a few at a time,
    # must read every amplitude before it is weighed, as the whole spectrum's would.
    rng = np.random.default_rng(3)
    shape = (n_scale, 21)  # the stored rates of 40 frames
    F = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    A = np.abs(F)
    local_max, local_mean = ft2d._rate_neighbourhood(A, n_frames=40, size=5)
    ratio = np.ones_like(A)
    np.divide(1.5 * local_mean, A, out=ratio, where=(A >= local_max) & (A > 0))
    expected = F * np.maximum(1 - ratio * ratio, 0)
    monkeypatch.setattr(ft2d, "ROWS", 2)
    weighed = F.copy()
    ft2d._keep_peaks(weighed, n_frames=40, size=5, threshold=1.5)
    np.testing.assert_array_equal(weighed, expected)


def test_model_needs_little_memory_beside_its_own():
    # One channel's 2-D spectrum is made in the memory of its model, and nothing the size of
    # the model is copied (numpy copied a whole model with channels apart for each ufunc).
    import tracemalloc

    V = np.random.default_rng(5).random((2, 1025, 2000), dtype=np.float32)
    ft2d.ft2d_model(V[..., :100], sr=44100, hop=512, n_fft=2048)  # what it imports, first
    tracemalloc.start()
    try:
        W = ft2d.ft2d_model(V, sr=44100, hop=512, n_fft=2048, threads=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.35 * W.nbytes
