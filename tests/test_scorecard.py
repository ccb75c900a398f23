"""`repet evaluate`'s scores of many tracks, without the command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from repet_cli import EvaluationError, ParameterError
from repet_cli.scorecard import (
    TrackScores,
    finite,
    single_track,
    summary,
    table_lines,
    tracks_of,
)

WHOLE = {s: {"sdr": 5.0, "sir": 6.0, "sar": 7.0, "si_sdr": 4.0} for s in ("background",)}
WHOLE |= {"foreground": {"sdr": 1.0, "sir": 2.0, "sar": float("nan"), "si_sdr": 0.5}}
MEDIANS = {s: {"sdr": 3.0, "isr": 1.0, "sir": 2.0, "sar": 4.0} for s in WHOLE}


def test_true_stems_are_given_for_one_track_or_as_a_folder_of_tracks():
    assert single_track(background=None, foreground=None, folder=Path("truth")) is None
    one = single_track(background="bg.wav", foreground="fg.wav", folder=None)
    assert one == {"background": "bg.wav", "foreground": "fg.wav"}
    with pytest.raises(ParameterError, match="give both `reference_background` and"):
        single_track(background="bg.wav", foreground=None, folder=None)
    for folder in (None, Path("truth")):
        given = {} if folder is None else {"background": "bg.wav", "foreground": "fg.wav"}
        with pytest.raises(ParameterError, match="give either `reference_background`/"):
            single_track(**({"background": None, "foreground": None} | given), folder=folder)


def test_one_tracks_true_stems_score_one_folder_of_estimates(tmp_path):
    for name in ("a", "b"):
        for stem in ("background", "foreground"):
            (tmp_path / name).mkdir(exist_ok=True)
            (tmp_path / name / f"{stem}.wav").write_bytes(b"")
    assert list(tracks_of([tmp_path])) == ["a", "b"]
    assert list(tracks_of([tmp_path / "a"], single=True)) == ["a"]
    with pytest.raises(ParameterError, match="describe one track, but 2 estimate folders"):
        tracks_of([tmp_path], single=True)
    with pytest.raises(EvaluationError, match="holds no background.wav"):
        tracks_of([tmp_path / "a" / "background.wav"])


def test_the_summary_has_every_track_their_mean_and_no_nan():
    scored = {"a": TrackScores(WHOLE), "b": TrackScores(WHOLE)}
    record = summary(scored, ["c: no reference folder"], framewise=False)
    assert record["tracks"]["a"]["foreground"]["sar"] is None
    assert record["mean"]["background"]["sdr"] == 5.0
    assert record["failed"] == ["c: no reference folder"] and "framewise" not in record
    json.dumps(record, allow_nan=False)
    frames = {"a": TrackScores(WHOLE, {"background": {"sdr": [1.0]}}, MEDIANS)}
    framewise = summary(frames, [], framewise=True)["framewise"]
    assert framewise["tracks"]["a"] == {"median": MEDIANS, "frames": {"background": {"sdr": [1.0]}}}
    assert framewise["median"] == MEDIANS and framewise["window_s"] == 1.0
    assert summary({}, ["x"], framewise=True)["framewise"]["median"] is None


def test_the_tables_add_a_mean_or_median_row_for_several_tracks():
    assert table_lines({}, framewise=False) == []
    (one,) = table_lines({"a": TrackScores(WHOLE)}, framewise=False)
    assert [line.split()[0] for line in one.splitlines()] == ["track", "a"]
    (two,) = table_lines({"a": TrackScores(WHOLE), "b": TrackScores(WHOLE)}, framewise=False)
    assert [line.split()[0] for line in two.splitlines()] == ["track", "a", "b", "mean"]
    tracks = {n: TrackScores(WHOLE, {}, MEDIANS) for n in ("a", "b")}
    title, table = table_lines(tracks, framewise=True)
    assert title == "SiSEC 2018 (BSS Eval v4, median over 1-s windows):"
    assert table.splitlines()[0].split()[:3] == ["track", "bg", "SDR"]
    assert table.splitlines()[-1].split()[0] == "median"


def test_finite_turns_nan_and_infinities_into_null_anywhere():
    assert finite({"a": [1.0, math.inf, {"b": -math.inf}], "c": math.nan, "d": "x"}) == {
        "a": [1.0, None, {"b": None}],
        "c": None,
        "d": "x",
    }
