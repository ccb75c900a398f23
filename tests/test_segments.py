import itertools

import numpy as np
import pytest

import synth
from repet_cli import ParameterError, RepetParams, separate
from repet_cli.segments import (
    CROSSFADE,
    plan_segments,
    separate_file,
    separate_segments,
    shortest_segment,
)

SR = 8000


def song(seconds, *, period=1.0, channels=2, seed=0):
    background = synth.loop(period=period, sr=SR, duration=seconds, channels=channels, seed=seed)
    foreground = synth.melody(sr=SR, duration=seconds, channels=channels, seed=seed + 1)
    mixture, foreground = synth.mix(background, foreground, ratio_db=-3.0)
    return mixture, background, foreground


def run(y, **kwargs):
    """separate_segments over an in-memory signal; returns (background, foreground, reports)."""
    blocks = []
    reports = separate_segments(
        lambda a, b: y[:, a:b].copy(),
        lambda bg, fg: blocks.append((bg.copy(), fg.copy())),
        n_samples=y.shape[-1],
        sr=SR,
        **kwargs,
    )
    background = np.concatenate([b for b, _ in blocks], axis=-1)
    foreground = np.concatenate([f for _, f in blocks], axis=-1)
    return background, foreground, reports


@pytest.mark.parametrize("n", [1, 1000, 10 * SR, 45 * SR + 7, 3600 * SR])
@pytest.mark.parametrize("segment", [0.0, 10.0, 300.0])
def test_segments_cover_the_input_in_order_with_overlaps(n, segment):
    spans = plan_segments(n, sr=SR, segment=segment)
    assert spans[0][0] == 0 and spans[-1][1] == n
    if segment == 0 or n <= 1.5 * segment * SR:
        assert spans == [(0, n)]
        return
    for (a, b), (c, d) in itertools.pairwise(spans):
        assert a < c < b < d and b - c == round(CROSSFADE * SR / 2) * 2
    lengths = [b - a for a, b in spans]
    assert max(lengths) - min(lengths) <= round(CROSSFADE * SR / 2) + 1  # evenly spread
    assert min(lengths) >= 0.75 * segment * SR


def test_segmented_stems_keep_length_and_add_up_to_the_input():
    y, _, _ = song(50.0)
    background, foreground, reports = run(y, segment=15.0)
    assert len(reports) == 3 and background.shape == y.shape == foreground.shape
    np.testing.assert_allclose(background + foreground, y, rtol=0, atol=1e-6)
    assert all(abs(r.period - 1.0) < 0.02 for r in reports)


def test_one_segment_gives_exactly_what_separate_gives():
    y, _, _ = song(12.0)
    background, foreground, reports = run(y, segment=10.0)  # 12 s <= 1.5 x 10 s: one segment
    whole = separate(y, sr=SR)
    assert len(reports) == 1
    np.testing.assert_array_equal(background, whole.background)
    np.testing.assert_array_equal(foreground, whole.foreground)


def test_segments_separate_about_as_well_as_the_whole_and_the_seams_are_clean():
    y, truth, _ = song(60.0)
    segmented, _, _ = run(y, segment=20.0)
    whole = separate(y, sr=SR).background
    error = synth.energy_db(segmented - truth, truth)
    assert error < synth.energy_db(whole - truth, truth) + 1.0
    # Around each seam the error is no worse than elsewhere: no click, no gap.
    for seam in (20 * SR, 40 * SR):
        near = slice(seam - CROSSFADE * SR, seam + CROSSFADE * SR)
        near = slice(int(near.start), int(near.stop))
        assert synth.energy_db(segmented[:, near] - truth[:, near], truth[:, near]) < error + 3.0


def test_each_segment_finds_its_own_period():
    first, _, _ = song(30.0, period=1.0)
    second, _, _ = song(30.0, period=1.6, seed=5)
    _, _, reports = run(np.concatenate([first, second], axis=-1), segment=30.0)
    assert len(reports) == 2
    assert abs(reports[0].period - 1.0) < 0.03 and abs(reports[1].period - 1.6) < 0.03


def test_progress_reports_every_segment():
    y, _, _ = song(50.0, channels=1)
    done = []
    separate_segments(
        lambda a, b: y[:, a:b],
        lambda bg, fg: None,
        n_samples=y.shape[-1],
        sr=SR,
        segment=15.0,
        progress=done.append,
    )
    assert done == sorted(done) and done[-1] == y.shape[-1]
    from repet_cli.segments import plan_segments

    # Each segment's end is reported: the samples final once it is done.
    ends = [b for _, b in plan_segments(y.shape[-1], sr=SR, segment=15.0)[1:]]
    starts = [a for a, _ in plan_segments(y.shape[-1], sr=SR, segment=15.0)[1:]]
    assert set(starts) <= set(done) and ends[-1] == done[-1]


def test_a_segment_too_short_for_the_period_is_refused():
    params = RepetParams.build(period=8.0)
    assert shortest_segment(params) == 22.0  # 16 s, in a segment that may come out at 3/4
    with pytest.raises(ParameterError, match="`segment` must be 0 .* at least 22 s"):
        run(song(60.0)[0], params=params, segment=12.0)


def test_separate_file_writes_the_format_its_outputs_are_named_for(tmp_path):
    import soundfile as sf

    from repet_cli import separate_file

    y, _, _ = song(8.0)
    sf.write(tmp_path / "in.wav", y.T, SR, subtype="PCM_16")
    reports, info, written = separate_file(
        tmp_path / "in.wav", tmp_path / "bg.flac", tmp_path / "fg.flac"
    )
    assert len(reports) == 1 and info.frames == y.shape[-1]
    assert sf.info(tmp_path / "bg.flac").format == "FLAC" and written[0].subtype == "PCM_16"


def test_an_interruption_just_after_the_outputs_are_opened_leaves_nothing(tmp_path, monkeypatch):
    import os
    import signal

    import soundfile as sf

    from repet_cli import io, signals

    song = tmp_path / "song.wav"
    sf.write(song, np.zeros((8000 * 5, 2), dtype=np.float32), 8000)
    real = io.AudioWriter.__init__

    def open_then_signal(self, *args, **kwargs):
        real(self, *args, **kwargs)
        # Python runs the handler at the next function call: a with-statement's __enter__.
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(io.AudioWriter, "__init__", open_then_signal)
    out = tmp_path / "out"
    out.mkdir()
    with signals.handled(), pytest.raises(signals.Terminated):
        separate_file(song, out / "bg.wav", out / "fg.wav", params=RepetParams.build(period=1.0))
    assert list(out.iterdir()) == []


def test_progress_moves_many_times_within_one_long_segment():
    from repet_cli.segments import separate_segments

    sr = 8000
    y = synth.loop(period=1.5, sr=sr, duration=60.0, channels=2)
    seen = []
    separate_segments(
        lambda a, b: y[:, a:b],
        lambda bg, fg: None,
        n_samples=y.shape[-1],
        sr=sr,
        segment=300,
        progress=seen.append,
    )
    assert seen == sorted(seen) and seen[-1] == y.shape[-1]
    assert len({s for s in seen if 0 < s < y.shape[-1]}) >= 10  # not one jump at the end
