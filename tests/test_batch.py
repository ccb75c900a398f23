"""The batch library without click: plan, run on an executor, outcomes."""

import functools
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import synth
from repet_cli import AudioReadError, ParameterError, RepetParams, batch

SR = 8000
write_song = functools.partial(synth.write_song, sr=SR, period=1.2)


def test_a_library_batch_plans_runs_and_reports_each_input(tmp_path):
    good = write_song(tmp_path / "in" / "good.wav")
    bad = tmp_path / "in" / "bad.wav"
    bad.write_bytes(b"RIFF....garbage")
    jobs = batch.plan([good, bad], tmp_path / "out")
    assert [j.background for j in jobs] == [
        tmp_path / "out" / "good" / "background.wav",
        tmp_path / "out" / "bad" / "background.wav",
    ]
    outcomes = list(batch.run(jobs, settings=batch.Settings(params=RepetParams())))
    assert [o.status for o in outcomes] == ["ok", "failed"]
    assert outcomes[0].found.startswith("period 1.2") and "(detected)" in outcomes[0].found
    assert "bad.wav: not a readable audio file" in outcomes[1].error
    assert batch.Summary.of(outcomes, planned=2) == batch.Summary(
        ok=1, skipped=0, failed=1, not_started=0
    )
    mixture, _ = sf.read(good, dtype="float32")
    stems = [sf.read(p, dtype="float32")[0] for p in jobs[0].targets]
    np.testing.assert_allclose(stems[0] + stems[1], mixture, atol=2.5 / 32768)
    assert not (tmp_path / "out" / "bad").exists()


def test_plan_refuses_collisions_naming_the_parameter_not_a_flag(tmp_path):
    a = write_song(tmp_path / "a" / "mixture.wav")
    b = write_song(tmp_path / "b" / "mixture.wav")
    with pytest.raises(ParameterError, match="would both write") as info:
        batch.plan([a, b], tmp_path / "out")
    assert "`filename`" in str(info.value) and "--" not in str(info.value)
    jobs = batch.plan([a, b], tmp_path / "out", template="{parent}/{stem}.{ext}")
    assert jobs[1].foreground == tmp_path / "out" / "b" / "foreground.wav"
    stem = write_song(tmp_path / "c" / "background.wav")
    with pytest.raises(ParameterError, match="both an input and an output"):
        batch.plan([stem], tmp_path, template="{parent}/{stem}.{ext}")


def test_progress_moves_within_each_segment_and_counts_the_whole_input(tmp_path):
    song = write_song(tmp_path / "long.wav", seconds=40.0)
    steps = []
    settings = batch.Settings(params=RepetParams(), segment=12.0)
    jobs = [batch.Job.in_folder(song, tmp_path / "out")]
    (outcome,) = batch.run(jobs, settings=settings, progress=steps.append)
    assert outcome.status == "ok" and len(steps) > 3  # more often than once per segment
    assert all(step > 0 for step in steps) and sum(steps) == 40


def test_a_process_pool_gives_the_same_files_as_this_process(tmp_path):
    songs = [write_song(tmp_path / f"s{i}.wav", period=1.0 + 0.1 * i) for i in range(3)]
    settings = batch.Settings(params=RepetParams())
    here = batch.plan(songs, tmp_path / "here")
    pool = batch.plan(songs, tmp_path / "pool")
    steps = []
    assert [o.status for o in batch.run(here, settings=settings)] == ["ok"] * 3
    pooled = batch.run(
        pool, settings=settings, executor=batch.ProcessPool(2), progress=steps.append
    )
    done = [o.status for o in pooled]
    assert done == ["ok"] * 3 and sum(steps) == 18
    for a, b in zip(here, pool, strict=True):
        for x, y in zip(a.targets, b.targets, strict=True):
            assert x.read_bytes() == y.read_bytes()


def test_each_input_is_opened_twice_at_most_header_and_samples(tmp_path, monkeypatch):
    song = write_song(tmp_path / "song.wav", seconds=30.0)
    opened = []
    original = sf.SoundFile.__init__

    def counting(self, file, mode="r", *args, **kwargs):
        if mode == "r" and str(file) == str(song):
            opened.append(file)
        return original(self, file, mode, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "__init__", counting)
    jobs = batch.plan([song], tmp_path / "out")
    settings = batch.Settings(params=RepetParams(), segment=10.0)
    (outcome,) = batch.run(jobs, settings=settings, progress=lambda n: None)
    assert outcome.status == "ok" and "in 3 segments" in outcome.found
    assert len(opened) == 2


def test_an_interrupted_job_removes_the_folders_it_made_and_its_temporary_files(
    tmp_path, monkeypatch
):
    from repet_cli import segments

    song = write_song(tmp_path / "song.wav")
    job = batch.Job.in_folder(song, tmp_path / "out" / "deep" / "song")
    real = segments.separate_segments

    def interrupted(read, write, **kwargs):
        real(read, write, **kwargs)
        raise KeyboardInterrupt  # after the stems were written to temporary files

    monkeypatch.setattr(segments, "separate_segments", interrupted)
    with pytest.raises(KeyboardInterrupt):
        batch.run_job(job, settings=batch.Settings())
    assert not (tmp_path / "out").exists()


def test_existing_outputs_are_refused_in_library_words(tmp_path):
    song = write_song(tmp_path / "song.wav")
    jobs = batch.plan([song], tmp_path / "out")
    list(batch.run(jobs, settings=batch.Settings()))
    (again,) = batch.run(jobs, settings=batch.Settings())
    assert again.status == "failed"
    assert "pass `overwrite` to replace it or `skip_existing` to keep it" in again.error
    (skipped,) = batch.run(jobs, settings=batch.Settings(skip_existing=True))
    assert skipped.status == "skipped"


def test_compare_reports_progress_within_each_separation_and_scoring(tmp_path):
    from repet_cli.batch import SCORING_WEIGHT, compare

    song = tmp_path / "song.wav"
    background = synth.loop(period=1.5, sr=16000, duration=40.0, channels=1)
    mixture, foreground = synth.mix(
        background, synth.melody(sr=16000, duration=40.0, channels=1), ratio_db=-3
    )
    sf.write(song, mixture.T, 16000, subtype="FLOAT")
    sf.write(tmp_path / "bg.wav", background.T, 16000, subtype="FLOAT")
    sf.write(tmp_path / "fg.wav", foreground.T, 16000, subtype="FLOAT")
    seen = []
    params = {"repet": RepetParams(), "repet-sim": RepetParams.build(algorithm="repet-sim")}
    references = {"background": tmp_path / "bg.wav", "foreground": tmp_path / "fg.wav"}
    rows = list(
        compare(song, params, out=tmp_path / "out", references=references, progress=seen.append)
    )
    assert all(isinstance(row, dict) for _, row in rows)
    assert len(seen) >= 8  # several updates within each of the four steps
    assert sum(seen) == pytest.approx(2 * 40.0 * (1 + SCORING_WEIGHT), rel=0.01)


def _sleeping_job(job, progress=None):
    """A job that says it started, then takes far longer than any test waits."""
    Path(job.source).with_suffix(".started").touch()
    time.sleep(300)


def test_a_signal_taken_by_another_thread_still_stops_the_wait_for_a_worker(tmp_path):
    # Linux may hand a process's SIGTERM to any thread that does not block it (the progress
    # bar's): the main thread, waiting for a worker, must still act on it at once, not once
    # that worker's input is done (a whole input later).
    import signal
    import threading

    from repet_cli import signals

    song = write_song(tmp_path / "song.wav")
    (job,) = batch.plan([song], tmp_path / "out")
    started = song.with_suffix(".started")
    done = threading.Event()

    def elsewhere():
        while not started.exists():
            if done.wait(0.01):
                return
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # to this thread only

    helper = threading.Thread(target=elsewhere)
    start = time.monotonic()
    try:
        with signals.handled(), pytest.raises(signals.Terminated):
            helper.start()
            list(batch.ProcessPool(1).outcomes(_sleeping_job, [job], None))
        assert time.monotonic() - start < 60
    finally:
        done.set()
        helper.join()


def test_stems_are_written_where_another_job_removed_their_empty_folder(tmp_path, monkeypatch):
    # Jobs of a batch that write into one folder: a job that fails removes the folders it made
    # while they are empty, which may be just after another job found the folder there.
    song = write_song(tmp_path / "song.wav")
    out = tmp_path / "out"
    (job,) = batch.plan([song], out, template="{track}_{stem}.{ext}")
    real = batch.make_folders

    def made_then_removed_by_another_job(paths, created):
        real(paths, created)
        if not removed:
            out.rmdir()
            removed.append(out)

    removed = []

    monkeypatch.setattr(batch.job, "make_folders", made_then_removed_by_another_job)
    (outcome,) = batch.run([job], settings=batch.Settings(params=RepetParams()))
    assert removed and outcome.status == "ok", outcome.error
    mixture, _ = sf.read(song, dtype="float32")
    stems = [sf.read(p, dtype="float32")[0] for p in job.targets]
    np.testing.assert_allclose(stems[0] + stems[1], mixture, atol=2.5 / 32768)


def test_a_failing_job_leaves_a_folder_another_job_wrote_into(tmp_path, monkeypatch):
    song = write_song(tmp_path / "song.wav")
    out = tmp_path / "out"
    (job,) = batch.plan([song], out)
    real_rmdir = type(out).rmdir

    def another_job_writes_first(folder):
        if folder == out:  # another job's folder appears in it, after any check it was empty
            (out / "other").mkdir()
        real_rmdir(folder)

    def fails(*args, **kwargs):
        monkeypatch.setattr(type(out), "rmdir", another_job_writes_first)
        raise AudioReadError("not a readable audio file (simulated)", path=song)

    monkeypatch.setattr(batch.job, "_separate_file", fails)
    (outcome,) = batch.run([job], settings=batch.Settings(params=RepetParams()))
    assert outcome.status == "failed"
    assert outcome.error.endswith("song.wav: not a readable audio file (simulated)")
    assert sorted(p.name for p in out.iterdir()) == ["other"]  # its own folder removed


def test_plan_understands_other_separators_stem_names(tmp_path):
    (job,) = batch.plan(["a.wav"], tmp_path, stems=["vocals"])
    assert job.targets == (tmp_path / "a" / "foreground.wav",)
    (job,) = batch.plan(["a.wav"], tmp_path, stems=["karaoke", "vocals"])
    assert job.targets == (tmp_path / "a" / "background.wav", tmp_path / "a" / "foreground.wav")
    with pytest.raises(ParameterError, match="vocals"):
        batch.plan(["a.wav"], tmp_path, stems=["drums"])


def test_plan_with_no_stems_and_a_video_writes_only_the_video(tmp_path):
    (job,) = batch.plan(["talk.MKV"], tmp_path, stems=(), video="vocals")
    assert (job.background, job.foreground) == (None, None)
    assert job.targets == (tmp_path / "talk" / "foreground.mkv",)
    # Its record is named after its format (batch.sidecar_name), apart from FLAC stems' one.
    assert job.sidecar == tmp_path / "talk" / f"mkv.{batch.SIDECAR}"
    with pytest.raises(ParameterError, match="`video`"):
        batch.plan(["talk.mp4"], tmp_path, stems=())


def test_names_from_reads_a_list_by_lines_or_nul_and_names_an_unreadable_one(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("a.wav\n  \nmy song.wav\n")
    assert batch.names_from(listing) == ["a.wav", "my song.wav"]
    listing.write_bytes(b"a.wav\0line\nbreak.wav\0\0")
    assert batch.names_from(listing, null=True) == ["a.wav", "line\nbreak.wav"]
    with pytest.raises(ParameterError, match=r"`files_from` .*missing.txt: No such file"):
        batch.names_from(tmp_path / "missing.txt")


def test_dataset_inputs_finds_musdb18hq_and_musdb18_tracks_in_order(tmp_path):
    for track in ("test/b", "test/a", "train/c"):
        (tmp_path / track).mkdir(parents=True)
        (tmp_path / track / "mixture.wav").write_bytes(b"")
    (tmp_path / "test" / "d.stem.mp4").write_bytes(b"")
    found = batch.dataset_inputs(tmp_path)
    assert [(p.relative_to(tmp_path).as_posix(), str(f)) for p, f in found] == [
        ("test/d.stem.mp4", "test/d"),
        ("test/a/mixture.wav", "test/a"),
        ("test/b/mixture.wav", "test/b"),
        ("train/c/mixture.wav", "train/c"),
    ]
    with pytest.raises(ParameterError, match="`dataset`: .* is not a folder"):
        batch.dataset_inputs(tmp_path / "test" / "d.stem.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="`dataset`: no <track>/mixture.wav"):
        batch.dataset_inputs(tmp_path / "empty")


def test_a_comparison_gives_each_algorithm_the_shared_options_and_its_own(tmp_path):
    from repet_cli.batch.comparison import algorithm_values, expected_seconds, in_whole_seconds

    values = {"mask": "soft", "period": None, "neighbors": 5, "rate_width": None}
    found = algorithm_values(["repet", "repet-sim"], values, given=["mask", "neighbors"])
    assert found == {
        "repet": {"mask": "soft", "period": None},
        "repet-sim": {"mask": "soft", "neighbors": 5},
    }
    with pytest.raises(ParameterError, match="`neighbors` applies to repet-sim, which is not"):
        algorithm_values(["repet", "2dft"], values, given=["neighbors"])
    song = write_song(tmp_path / "song.wav", seconds=4.0)
    assert expected_seconds(song, algorithms=2, scored=True) == 4.0 * 1.5 * 2
    assert expected_seconds(tmp_path / "missing.wav", algorithms=2, scored=False) == 0.0
    steps = []
    advance = in_whole_seconds(steps.append)
    for seconds in (0.3, 0.3, 0.3, 1.6, 0.01):
        advance(seconds)
    assert steps == [1, 1, 1]  # as the whole seconds add up: 0.9, 2.5, 2.51
