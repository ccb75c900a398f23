"""The process pool: jobs in worker processes, a bounded number in flight, a stop that tells
what finished, a worker that dies failing its job alone."""

import functools
import os
import signal
import time
from pathlib import Path

import pytest

import synth
from helpers import recorded
from repet_cli import RepetParams, batch
from repet_cli.batch import pool as pool_module

SR = 8000
write_song = functools.partial(synth.write_song, sr=SR, period=1.2)


def _jobs(tmp_path, count):
    song = write_song(tmp_path / "in" / "song.wav", seconds=2.0)
    return [batch.Job.in_folder(song, tmp_path / "out" / str(i)) for i in range(count)]


def _quick(job, progress=None):
    """A job that takes no time: its outcome names its folder."""
    return batch.Outcome(source=str(job.background.parent.name), status="ok")


def test_jobs_are_taken_from_an_iterator_as_workers_need_them(tmp_path):
    jobs = _jobs(tmp_path, 200)
    taken, stream = recorded(jobs)
    outcomes = batch.ProcessPool(2).outcomes(_quick, stream, None)
    first = next(outcomes)
    # One outcome is back: the pool has taken only what it may have in flight, not the 200.
    assert first.source == "0"
    assert len(taken) <= pool_module.AHEAD * 2 + 2
    rest = list(outcomes)
    assert [o.source for o in [first, *rest]] == [str(i) for i in range(200)]  # input order


def _failing_once_the_next_is_done(job, progress=None):
    """Job 0 fails, but only once job 1 has finished (as a slow bad input would)."""
    name = job.background.parent.name
    marker = job.background.parent.parent / "1.done"
    if name == "0":
        while not marker.exists():
            time.sleep(0.01)
        return batch.Outcome(source=name, status="failed", error="0: bad")
    if name == "1":
        try:  # whole once the marker is there, as a job is once its stems and record are
            marker.touch()
            return batch.Outcome(source=name, status="ok")
        except KeyboardInterrupt as exc:
            return batch.Outcome(source=name, status="ok", interruption=exc)
    time.sleep(300)  # what a stop must cut short
    raise AssertionError("not stopped")


def test_a_stop_hands_on_what_had_finished_and_starts_nothing_more(tmp_path):
    # --fail-fast with two workers: the input finished while the first one was failing is
    # reported as done, not as "not started"; the one still running is stopped.
    jobs = _jobs(tmp_path, 5)
    (tmp_path / "out").mkdir()
    executor = batch.ProcessPool(2)
    seen = []
    start = time.monotonic()
    for outcome in executor.outcomes(_failing_once_the_next_is_done, jobs, None):
        seen.append((outcome.source, outcome.status))
        if outcome.status == "failed":
            executor.stop()
    assert seen == [("0", "failed"), ("1", "ok")]
    assert time.monotonic() - start < 60  # job 2 was stopped, not waited for


def test_a_ctrl_c_as_an_outcome_is_read_loses_nothing(tmp_path, monkeypatch):
    # Ctrl-C lands just as the parent takes a finished job's outcome from its worker's pipe:
    # the outcome is counted (done, with the interruption), not dropped and reported as
    # "interrupted before its stems were whole" while its stems are on disk.
    from repet_cli import signals

    real = pool_module._Worker.receive

    def receive(self):
        message = real(self)
        if message is not None and message[0] == "done":
            os.kill(os.getpid(), signal.SIGINT)  # arrives while the message is in hand
        return message

    monkeypatch.setattr(pool_module._Worker, "receive", receive)
    seen = []
    with signals.handled(), pytest.raises(KeyboardInterrupt):
        for outcome in batch.ProcessPool(1).outcomes(_quick, _jobs(tmp_path, 3), None):
            seen.append((outcome.source, outcome.status, outcome.interruption is not None))
    assert seen == [("0", "ok", True)]


def _missing_the_first_signal(job, progress=None):
    """Job 0 ends once job 1 sleeps. Job 1 loses its first SIGTERM, as one that lands just
    before a blocking call does (CPython runs the handler only when the call returns): it is
    dropped, and the worker's own handler is back for the next one."""
    sleeping = job.background.parent.parent / "sleeping"
    if job.background.parent.name == "0":
        while not sleeping.exists():
            time.sleep(0.01)
        return _quick(job)
    handler = signal.getsignal(signal.SIGTERM)

    def drop(signum, frame):
        signal.signal(signal.SIGTERM, handler)

    signal.signal(signal.SIGTERM, drop)
    sleeping.touch()
    time.sleep(300)
    raise AssertionError("not stopped")


def test_a_stopped_worker_that_missed_the_signal_is_signalled_again(tmp_path):
    jobs = _jobs(tmp_path, 2)
    (tmp_path / "out").mkdir()
    executor = batch.ProcessPool(2)
    seen = []
    start = time.monotonic()
    for outcome in executor.outcomes(_missing_the_first_signal, jobs, None):
        seen.append((outcome.source, outcome.status))
        executor.stop()
    assert seen == [("0", "ok")]
    assert time.monotonic() - start < pool_module.STOP_GRACE / 2  # not left to the grace


def _dying(job, progress=None):
    if job.background.parent.name == "1":
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
    return _quick(job)


def test_a_worker_that_dies_fails_its_own_job_and_the_batch_goes_on(tmp_path):
    jobs = _jobs(tmp_path, 4)
    outcomes = list(batch.ProcessPool(2).outcomes(_dying, jobs, None))
    assert [o.status for o in outcomes] == ["ok", "failed", "ok", "ok"]
    assert "worker process separating it died (killed by signal 9" in outcomes[1].error
    assert "song.wav" in outcomes[1].error


def test_progress_moves_within_each_job_in_a_worker(tmp_path):
    song = write_song(tmp_path / "long.wav", seconds=40.0)
    jobs = [batch.Job.in_folder(song, tmp_path / "out" / str(i)) for i in range(2)]
    steps = []
    settings = batch.Settings(params=RepetParams(), segment=12.0)
    outcomes = list(
        batch.run(jobs, settings=settings, executor=batch.ProcessPool(2), progress=steps.append)
    )
    assert [o.status for o in outcomes] == ["ok", "ok"]
    assert len(steps) > 2 * 3  # more often than once per segment of each input
    assert all(step > 0 for step in steps) and sum(steps) == 80


def _started_then_sleeping(job, progress=None):
    Path(job.background.parent).mkdir(parents=True, exist_ok=True)
    (job.background.parent / "started").touch()
    time.sleep(300)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_pool_leaves_no_worker_behind(tmp_path, signum):
    # The pool's own process is interrupted while both workers are busy: it stops them and
    # returns, with no process left over (an interpreter exit that waited for a worker would
    # hang here).
    import subprocess
    import sys

    write_song(tmp_path / "in.wav")
    script = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
from pathlib import Path
from repet_cli import batch, signals
from test_pool import _started_then_sleeping
jobs = [batch.Job.in_folder(Path({str(tmp_path)!r}) / "in.wav", Path({str(tmp_path)!r}) / str(i))
        for i in range(3)]
with signals.handled():
    try:
        list(batch.ProcessPool(2).outcomes(_started_then_sleeping, jobs, None))
    except KeyboardInterrupt:
        print("stopped", flush=True)
"""
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not all((tmp_path / str(i) / "started").exists() for i in range(2)):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signum)
    stdout, _ = process.communicate(timeout=120)
    assert stdout.strip() == "stopped" and process.returncode == 0
    assert not (tmp_path / "2" / "started").exists()  # never started
