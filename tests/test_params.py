import dataclasses

import pytest

from repet_cli import ParameterError, RepetParams
from repet_cli.algorithms import ALGORITHMS, RepetOptions, SimilarityOptions
from repet_cli.params import default_n_fft


def test_defaults_are_valid_and_filled_in():
    p = RepetParams()
    assert p.algorithm == "repet" and p.options == RepetOptions()
    assert p.options.period_range == (0.8, 16.0)
    assert p.mask == "kam" and p.phase == "mixture" and p.high_pass == 150.0
    assert p.kam_gain == 0.8 and p.ramp == 50.0 and p.gated and p.options.window_seconds == 0.0
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
        RepetParams.build(**options)
    assert words in str(info.value)


def test_params_and_options_are_frozen_and_keyword_only():
    p = RepetParams(options=RepetOptions(period=2.0))
    with pytest.raises(AttributeError):
        p.options.period = 3.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.mask = "soft"  # type: ignore[misc]
    with pytest.raises(TypeError):
        RepetParams(2.0)  # type: ignore[misc]
    with pytest.raises(TypeError):
        RepetOptions(2.0)  # type: ignore[misc]


def test_build_sorts_flat_keywords_into_the_algorithm_and_its_options():
    p = RepetParams.build(algorithm="repet-sim", neighbors=7, mask="soft", period=None)
    assert p == RepetParams(
        algorithm="repet-sim", options=SimilarityOptions(neighbors=7), mask="soft"
    )


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"neighbors": 5}, "`neighbors` applies to `algorithm` 'repet-sim' only, not 'repet'"),
        ({"algorithm": "2dft", "period": 2.0}, "`period` applies to `algorithm` 'repet' only"),
        ({"algorithm": "nope"}, "`algorithm` must be one of"),
        ({"wobble": 1}, "unknown option `wobble`"),
    ],
)
def test_options_of_another_algorithm_are_refused_by_name(options, words):
    with pytest.raises(ParameterError) as info:
        RepetParams.build(**options)
    assert words in str(info.value)


def test_options_must_belong_to_the_algorithm():
    with pytest.raises(ParameterError, match="SimilarityOptions for `algorithm` 'repet-sim'"):
        RepetParams(algorithm="repet-sim", options=RepetOptions())


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_every_registered_algorithm_has_its_name_and_default_options(name):
    options = ALGORITHMS[name]()
    assert options.name == name and options.given() == {}
    assert RepetParams(algorithm=name).options == options


def test_hop_checked_against_default_n_fft():
    with pytest.raises(ParameterError, match="half"):
        RepetParams(hop=2000).stft_sizes(44100)


@pytest.mark.parametrize(
    ("keywords", "words"),
    [
        (
            {"period": 2.0},
            ["`period`", "'repet'", "RepetOptions(period=2.0)", ".build(period=2.0)"],
        ),
        ({"neighbors": 10}, ["`neighbors`", "'repet-sim'", "SimilarityOptions(neighbors=10)"]),
        ({"speed": 2}, ["unknown option `speed`", "mask"]),
    ],
)
def test_a_keyword_that_is_not_a_field_is_a_parameter_error_saying_where_it_belongs(
    keywords, words
):
    with pytest.raises(ParameterError) as raised:
        RepetParams(**keywords)
    for word in words:
        assert word in str(raised.value)


def test_params_still_copy_and_pickle():
    import pickle

    p = RepetParams(mask="soft")
    assert pickle.loads(pickle.dumps(p)) == p
    assert dataclasses.replace(p, mask="binary").mask == "binary"


def test_effective_values_fill_in_every_default_of_every_algorithm():
    """What the record beside the stems holds: no None for an option that has a value."""
    filled = {
        "repet": {"min_period": 0.8, "max_period": 16.0, "window": 0.0, "follow_level": False},
        "repet-sim": {"neighbors": 20, "min_separation": 1.0, "similarity_threshold": 0.0},
        "adaptive": {
            "min_period": 0.8,
            "max_period": 16.0,
            "analysis_window": 24.0,
            "analysis_step": 4.0,
            "repetitions": 3,
        },
        "2dft": {"rate_width": 3.0, "peak_threshold": 1.5},
    }
    assert set(filled) == set(ALGORITHMS)
    for name, options in filled.items():
        values = RepetParams(algorithm=name).effective(sr=44100)
        assert {k: v for k, v in values["options"].items() if v is not None} == options
        assert values["algorithm"] == name and values["mask"] == "kam"
        assert (values["n_fft"], values["hop"]) == (2048, 512)
        assert values["voice_gate"] is values["voice_model"] is True


def test_effective_values_are_the_given_ones_and_none_where_nothing_applies():
    p = RepetParams.build(period=2.0, mask="binary", hop=256, voice_gate=True)
    values = p.effective()
    assert values["options"]["period"] == 2.0
    assert values["options"]["min_period"] is None  # a forced period searches no range
    assert values["threshold"] == 0.5 and values["foreground_gain"] is None
    assert values["voice_gate"] is True and values["voice_model"] is False  # kam's only
    assert (values["n_fft"], values["hop"]) == (None, 256)  # n_fft: by the sample rate
    assert p.effective(sr=8000)["n_fft"] == 512
    assert RepetParams().effective()["options"] == RepetOptions().effective()
    assert dataclasses.asdict(p).keys() == values.keys()
