import json
import sys

import numpy as np
import pytest
import soundfile as sf

import synth
from helpers import run
from repet_cli import evaluate as ev
from repet_cli.errors import EvaluationError

SR = 16000


def stems(seconds=4.0, channels=2):
    background = synth.loop(period=1.0, sr=SR, duration=seconds, channels=channels)
    mixture, foreground = synth.mix(
        background, synth.melody(sr=SR, duration=seconds, channels=channels), ratio_db=-3
    )
    return {"background": background, "foreground": foreground}


def test_si_sdr_is_scale_invariant_and_measures_noise():
    rng = np.random.default_rng(0)
    s = rng.standard_normal(8000)
    noisy = s + 0.1 * rng.standard_normal(8000)
    assert ev.si_sdr(s, noisy) == pytest.approx(20.0, abs=0.3)
    assert ev.si_sdr(s, 5 * noisy) == pytest.approx(ev.si_sdr(s, noisy))


def test_good_estimates_score_high_and_swapped_ones_low():
    truth = stems()
    rng = np.random.default_rng(1)
    noisy = {k: v + 0.01 * rng.standard_normal(v.shape) for k, v in truth.items()}
    good = ev.evaluate(truth, noisy)
    swapped = ev.evaluate(
        truth, {"background": noisy["foreground"], "foreground": noisy["background"]}
    )
    for stem in ev.STEMS:
        assert set(good[stem]) == set(ev.METRICS)
        snr = synth.energy_db(truth[stem], noisy[stem] - truth[stem])  # white noise added
        assert good[stem]["sdr"] == pytest.approx(snr, abs=0.5)
        assert good[stem]["si_sdr"] == pytest.approx(snr, abs=0.5)
        assert swapped[stem]["sdr"] < 0


def test_mismatched_shapes_and_silent_sources_are_clear_errors():
    truth = stems()
    short = {k: v[:, :-10] for k, v in truth.items()}
    with pytest.raises(EvaluationError, match="shape"):
        ev.evaluate(truth, short)
    silent = dict(truth, foreground=np.zeros_like(truth["foreground"]))
    with pytest.raises(EvaluationError, match="estimated foreground is silent in channel 1"):
        ev.evaluate(truth, silent)


def test_average_is_the_mean_per_metric():
    a = {s: {m: 1.0 for m in ev.METRICS} for s in ev.STEMS}
    b = {s: {m: 3.0 for m in ev.METRICS} for s in ev.STEMS}
    assert ev.average([a, b])["foreground"]["sdr"] == 2.0


def write_truth(folder, truth, *, sr=SR, names=("background.wav", "foreground.wav")):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, name in zip(ev.STEMS, names, strict=True):
        sf.write(folder / name, truth[stem].T, sr, subtype="FLOAT")
    sf.write(
        folder / "mixture.wav", (truth["background"] + truth["foreground"]).T, sr, subtype="FLOAT"
    )


def test_evaluate_one_track_after_separate(tmp_path):
    truth = stems()
    write_truth(tmp_path / "truth", truth)
    out = tmp_path / "out"
    assert run("separate", tmp_path / "truth" / "mixture.wav", "-o", out).exit_code == 0
    result = run(
        "evaluate",
        out / "mixture",
        "--reference-background",
        tmp_path / "truth" / "background.wav",
        "--reference-foreground",
        tmp_path / "truth" / "foreground.wav",
    )
    assert result.exit_code == 0, result.output
    assert "bg SDR" in result.stdout and "fg SI-SDR" in result.stdout and "mixture" in result.stdout


def test_evaluate_a_batch_with_musdb_names_as_json(tmp_path):
    for i, name in enumerate(("first", "second")):
        truth = stems(seconds=3.5 + i)
        write_truth(tmp_path / "refs" / name, truth, names=("accompaniment.wav", "vocals.wav"))
        est = tmp_path / "separated" / name
        est.mkdir(parents=True)
        for stem in ev.STEMS:
            sf.write(est / f"{stem}.wav", (0.9 * truth[stem]).T, SR, subtype="FLOAT")
    result = run("evaluate", tmp_path / "separated", "--references", tmp_path / "refs", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sorted(data["tracks"]) == ["first", "second"]
    assert data["mean"]["background"]["si_sdr"] > 50  # a scaled copy: SI-SDR ignores the gain
    assert data["failed"] == []


def test_mismatched_sample_rate_names_both_files(tmp_path):
    truth = stems()
    write_truth(tmp_path / "truth", truth, sr=SR)
    est = tmp_path / "est" / "track"
    est.mkdir(parents=True)
    for stem in ev.STEMS:
        sf.write(est / f"{stem}.wav", truth[stem].T, 2 * SR, subtype="FLOAT")
    result = run(
        "evaluate",
        est,
        "--reference-background",
        tmp_path / "truth" / "background.wav",
        "--reference-foreground",
        tmp_path / "truth" / "foreground.wav",
    )
    assert result.exit_code == 1
    assert "sample rate differs" in result.stderr
    assert "est/track/background.wav has 32000 Hz" in result.stderr
    assert "truth/background.wav has 16000 Hz" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        [
            "--references",
            "refs",
            "--reference-background",
            "a.wav",
            "--reference-foreground",
            "b.wav",
        ],
        ["--reference-background", "a.wav"],
    ],
)
def test_reference_options_must_name_one_mode(tmp_path, args):
    assert run("evaluate", tmp_path, *args).exit_code == 2


def test_folder_without_estimates_is_an_error(tmp_path):
    result = run("evaluate", tmp_path, "--references", tmp_path)
    assert result.exit_code == 1 and "holds no background.wav and foreground.wav" in result.stderr


def test_scoring_needs_no_mir_eval(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mir_eval", None)
    monkeypatch.setitem(sys.modules, "mir_eval.separation", None)
    truth = stems()
    write_truth(tmp_path / "truth" / "song", truth)
    est = tmp_path / "est" / "song"
    est.mkdir(parents=True)
    for stem in ev.STEMS:
        sf.write(est / f"{stem}.wav", (0.9 * truth[stem]).T, SR, subtype="FLOAT")
    result = run("evaluate", tmp_path / "est", "--references", tmp_path / "truth")
    assert result.exit_code == 0, result.output
    assert "bg SDR" in result.stdout


def test_framewise_gives_the_sisec_table_and_every_window_in_json(tmp_path):
    truth = stems(seconds=4.5)
    truth["foreground"][:, SR : 2 * SR] = 0  # a silent second: that window has no figures
    write_truth(tmp_path / "truth" / "song", truth)
    est = tmp_path / "est" / "song"
    est.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for stem in ev.STEMS:
        noisy = truth[stem] + 0.05 * rng.standard_normal(truth[stem].shape)
        sf.write(est / f"{stem}.wav", noisy.T, SR, subtype="FLOAT")
    args = ["evaluate", tmp_path / "est", "--references", tmp_path / "truth", "--framewise"]
    table = run(*args)
    assert table.exit_code == 0, table.output
    assert "SiSEC 2018" in table.stdout and "fg ISR" in table.stdout
    data = json.loads(run(*args, "--json").stdout)
    frames = data["framewise"]["tracks"]["song"]["frames"]["foreground"]["sdr"]
    assert len(frames) == 4  # whole 1-s windows of 4.5 s
    assert frames[1] is None  # JSON null for museval's NaN
    median = data["framewise"]["tracks"]["song"]["median"]["foreground"]["sdr"]
    assert median == pytest.approx(np.median([f for f in frames if f is not None]))
    assert set(data["tracks"]["song"]["background"]) == set(ev.METRICS)  # whole-signal too


def test_estimates_equal_to_the_references_score_as_perfect(tmp_path):
    # Scoring a reference against itself (a sanity check users run) ended in "unexpected
    # error (ZeroDivisionError)": SI-SDR is infinite there (null in JSON).
    truth = stems()
    write_truth(tmp_path / "refs" / "song", truth, names=("accompaniment.wav", "vocals.wav"))
    est = tmp_path / "est" / "song"
    est.mkdir(parents=True)
    for stem in ev.STEMS:
        sf.write(est / f"{stem}.wav", truth[stem].T, SR, subtype="FLOAT")
    text = run("evaluate", tmp_path / "est", "--references", tmp_path / "refs")
    assert text.exit_code == 0, text.output
    assert "error" not in text.output
    result = run("evaluate", tmp_path / "est", "--references", tmp_path / "refs", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["failed"] == [] and data["tracks"]["song"]["background"]["si_sdr"] is None
