import numpy as np
import pytest

from repet_cli import spectral

# (samples, n_fft, hop): ordinary, odd sizes, a hop that does not divide n_fft, shorter than
# one frame, a single frame.
CASES = [
    (44100 + 17, 2048, 512),
    (5000, 300, 150),
    (3000, 2048, 700),
    (700, 2048, 512),
    (10, 64, 16),
]


@pytest.mark.filterwarnings("ignore:n_fft=.*is too large")
@pytest.mark.parametrize(("n", "n_fft", "hop"), CASES)
def test_stft_and_istft_match_librosa(n, n_fft, hop):
    librosa = pytest.importorskip("librosa")
    y = np.random.default_rng(0).standard_normal((2, n)).astype(np.float32)
    X = spectral.stft(y, n_fft=n_fft, hop=hop)
    expected = librosa.stft(y, n_fft=n_fft, hop_length=hop, center=True, pad_mode="constant")
    assert X.shape == expected.shape and X.dtype == np.complex64
    np.testing.assert_allclose(X, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    back = spectral.istft(X, n_fft=n_fft, hop=hop, length=n)
    np.testing.assert_allclose(
        back, librosa.istft(expected, n_fft=n_fft, hop_length=hop, length=n), atol=1e-5
    )


@pytest.mark.parametrize(("n", "n_fft", "hop"), CASES)
def test_round_trip_gives_the_signal_back(n, n_fft, hop):
    y = np.random.default_rng(1).standard_normal((3, n)).astype(np.float32)
    back = spectral.istft(spectral.stft(y, n_fft=n_fft, hop=hop), n_fft=n_fft, hop=hop, length=n)
    assert back.shape == y.shape and back.dtype == np.float32
    np.testing.assert_allclose(back, y, atol=1e-5)


def test_pieces_line_up_with_the_whole_transform():
    y = np.random.default_rng(2).standard_normal((2, 30000)).astype(np.float32)
    whole = spectral.stft(y, n_fft=1024, hop=256)
    for start, stop in [(0, 1), (0, 7), (5, 60), (100, whole.shape[-1])]:
        piece = spectral.stft(y, n_fft=1024, hop=256, start=start, stop=stop, workers=1)
        np.testing.assert_array_equal(piece, whole[..., start:stop])


def test_overlap_add_in_any_order_of_blocks_equals_the_inverse():
    y = np.random.default_rng(3).standard_normal((2, 20000)).astype(np.float32)
    X = spectral.stft(y, n_fft=512, hop=128)
    inverse = spectral.OverlapAdd((2,), n_fft=512, hop=128, length=y.shape[-1])
    spans = list(spectral.blocks(X.shape[-1], 9))
    for start, stop in reversed(spans):
        inverse.add(X[..., start:stop], start)
    np.testing.assert_allclose(
        inverse.result(), spectral.istft(X, n_fft=512, hop=128, length=20000), atol=1e-6
    )
