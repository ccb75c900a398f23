import pytest

from repet_cli import ParameterError, RepetParams
from repet_cli.params import default_n_fft


def test_defaults_are_valid_and_filled_in():
    p = RepetParams()
    assert p.period_range == (0.8, 8.0)
    assert p.mask == "wiener" and p.phase == "mixture" and p.high_pass == 150.0
    assert p.binary_threshold == 0.5


@pytest.mark.parametrize(
    ("sr", "n_fft"), [(8000, 512), (22050, 1024), (44100, 2048), (48000, 2048), (96000, 4096)]
)
def test_default_window_is_about_40_ms(sr, n_fft):
    assert default_n_fft(sr) == n_fft
    assert RepetParams().stft_sizes(sr) == (n_fft, n_fft // 4)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"period": 2.0, "min_period": 1.0}, "period"),
        ({"period": 2.0, "max_period": 4.0}, "period"),
        ({"period": -1.0}, "positive"),
        ({"period": float("nan")}, "positive"),
        ({"min_period": 3.0, "max_period": 2.0}, "below"),
        ({"mask": "fuzzy"}, "mask"),
        ({"threshold": 0.3}, "binary"),
        ({"mask": "binary", "threshold": 1.5}, "[0, 1]"),
        ({"phase": "random"}, "phase"),
        ({"high_pass": -5.0}, "high_pass"),
        ({"n_fft": 8}, "n_fft"),
        ({"hop": 0}, "hop"),
        ({"n_fft": 1024, "hop": 1000}, "half"),
    ],
)
def test_bad_values_and_combinations_are_refused(options, words):
    with pytest.raises(ParameterError, match=None) as info:
        RepetParams(**options)
    assert words in str(info.value)


def test_params_are_frozen_and_keyword_only():
    p = RepetParams(period=2.0)
    with pytest.raises(AttributeError):
        p.period = 3.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        RepetParams(2.0)  # type: ignore[misc]


def test_hop_checked_against_default_n_fft():
    with pytest.raises(ParameterError, match="half"):
        RepetParams(hop=2000).stft_sizes(44100)
