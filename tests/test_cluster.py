"""Batches on Dask: a local cluster, a scheduler started apart, workers that die."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import leftovers, recorded, run
from synth import write_song

distributed = pytest.importorskip("distributed", reason="needs the dask extra (repet[dask])")

SR = 16000
BIN = Path(sys.executable).parent


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.wav"))}


def statuses(result) -> list[tuple[str, str]]:
    return [(r["input"], r["status"]) for r in json.loads(result.stdout)["inputs"]]


def test_a_local_cluster_gives_the_same_bytes_and_outcomes_as_processes(tmp_path):
    inputs = [write_song(tmp_path / "in" / f"s{k}.wav", sr=SR, seconds=5.0) for k in range(3)]
    bad = tmp_path / "in" / "bad.wav"
    bad.write_bytes(b"RIFF....not a wave file")
    names = [*inputs[:2], bad, inputs[2]]
    pool = run("separate", *names, "-o", tmp_path / "pool", "-j", "2", "--json")
    dask = run(
        "separate", *names, "-o", tmp_path / "dask", "-j", "2", "--cluster", "local", "--json"
    )
    assert pool.exit_code == dask.exit_code == 1
    assert statuses(pool) == statuses(dask)
    assert [s for _, s in statuses(dask)] == ["ok", "ok", "failed", "ok"]
    assert tree(tmp_path / "pool") == tree(tmp_path / "dask") != {}


@pytest.fixture
def scheduler(tmp_path):
    """A `dask scheduler` and one `dask worker` (one process, one thread) on 127.0.0.1,
    joined by a scheduler file; stopped after the test."""
    file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "2"}
    procs = [
        subprocess.Popen(
            [
                str(BIN / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                ":0",
                "--scheduler-file",
                str(file),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 120
        while not file.exists():  # the scheduler writes the file once it listens
            assert time.monotonic() < deadline and procs[0].poll() is None, "no scheduler"
            time.sleep(0.05)
        procs.append(
            subprocess.Popen(
                [
                    str(BIN / "dask"),
                    "worker",
                    "--scheduler-file",
                    str(file),
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--memory-limit",
                    "600MB",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        with distributed.Client(scheduler_file=str(file)) as client:
            client.wait_for_workers(1, timeout=120)
        yield file
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_a_scheduler_started_apart_gives_the_same_bytes(tmp_path, scheduler):
    inputs = [write_song(tmp_path / "in" / f"s{k}.wav", sr=SR, seconds=5.0) for k in range(2)]
    alone = run("separate", *inputs, "-o", tmp_path / "alone")
    remote = run("separate", *inputs, "-o", tmp_path / "remote", "--scheduler-file", scheduler)
    assert alone.exit_code == remote.exit_code == 0, remote.output
    assert tree(tmp_path / "alone") == tree(tmp_path / "remote") != {}


def worker_pids(scheduler_file) -> list[int]:
    with distributed.Client(scheduler_file=str(scheduler_file)) as client:
        client.wait_for_workers(1, timeout=120)
        return list(client.run(os.getpid).values())


def test_a_worker_killed_mid_task_is_retried_and_the_stems_are_whole(tmp_path, scheduler):
    song = write_song(tmp_path / "in" / "long.wav", sr=44100, seconds=40.0)
    reference = run("separate", song, "-o", tmp_path / "ref")
    assert reference.exit_code == 0
    out = tmp_path / "out"
    command = [
        str(BIN / "repet"),
        "separate",
        str(song),
        "-o",
        str(out),
        "--scheduler-file",
        str(scheduler),
        "--json",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    (pid,) = worker_pids(scheduler)
    deadline = time.monotonic() + 120
    while not leftovers(out) if out.exists() else True:  # the job has begun writing
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    os.kill(pid, 9)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()
    assert json.loads(stdout)["inputs"][0]["status"] == "ok"
    assert tree(out) == tree(tmp_path / "ref")
    assert leftovers(out) == []  # the dead attempt's temporary files were removed


def test_an_input_that_kills_its_worker_every_time_fails_alone(tmp_path, scheduler):
    # Ten minutes of 48-kHz stereo need more than the worker's 600 MB: its nanny kills it each
    # time; after the allowed failures the input is failed, and the small one is separated.
    big = tmp_path / "in" / "big.wav"
    big.parent.mkdir(parents=True)
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, (48000 * 8, 2)).astype(np.float32)
    with sf.SoundFile(big, "w", samplerate=48000, channels=2, subtype="FLOAT") as f:
        for _ in range(75):
            f.write(noise)
    small = write_song(tmp_path / "in" / "small.wav", sr=SR, seconds=5.0)
    result = run(
        "separate",
        big,
        small,
        "-o",
        tmp_path / "out",
        "--segment",
        "0",
        "--scheduler-file",
        scheduler,
        "--json",
    )
    assert result.exit_code == 1
    assert statuses(result) == [(str(big), "failed"), (str(small), "ok")]
    assert "died every time it was tried" in result.stderr
    assert not (tmp_path / "out" / "big").exists()


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(p) for p in text]
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_local_cluster_restarts_a_killed_worker_and_retries_its_input(tmp_path):
    # The first local workers are forked, a restarted one is spawned: the retried input must
    # still come out whole and identical.
    song = write_song(tmp_path / "in" / "long.wav", sr=44100, seconds=40.0)
    reference = run("separate", song, "-o", tmp_path / "ref")
    assert reference.exit_code == 0
    out = tmp_path / "out"
    command = [str(BIN / "repet"), "separate", str(song), "-o", str(out)]
    command += ["--cluster", "local", "-j", "1", "--json"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not leftovers(out) if out.exists() else True:  # the job has begun writing
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    workers = [p for p in children(proc.pid) if "resource_tracker" not in cmdline(p)]
    assert workers, "no worker process found"
    for pid in workers:
        os.kill(pid, 9)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()
    assert json.loads(stdout)["inputs"][0]["status"] == "ok"
    assert tree(out) == tree(tmp_path / "ref")
    assert leftovers(out) == []


def test_jobs_reach_the_cluster_as_a_stream_with_a_bounded_number_held(tmp_path, scheduler):
    # A batch of a million names is never a million jobs in this process: the executor takes
    # them from an iterator as slots free up, like the process pool.
    import functools

    from repet_cli import batch
    from repet_cli.batch.dask import HELD_PER_SLOT, IN_FLIGHT_PER_THREAD, Dask

    song = write_song(tmp_path / "song.wav", sr=SR, seconds=1.0)
    jobs = [batch.Job.in_folder(song, tmp_path / "out" / str(k)) for k in range(80)]
    taken, stream = recorded(jobs)
    executor = Dask(scheduler_file=scheduler)
    with distributed.Client(scheduler_file=str(scheduler)) as client:
        threads = sum(client.nthreads().values())
    quick = functools.partial(batch.Outcome, status="ok")  # a task that takes no time
    outcomes = executor.outcomes(quick, stream, None)
    first = next(outcomes)
    slots = max(2, IN_FLIGHT_PER_THREAD * threads)
    assert first.source == jobs[0] and len(taken) <= HELD_PER_SLOT * slots + 1 < len(jobs)
    rest = list(outcomes)
    assert [o.source for o in [first, *rest]] == jobs  # every one, in input order


def test_workers_that_join_later_get_their_share_of_tasks(tmp_path, scheduler):
    # On SLURM the workers come when their jobs leave the queue, each with many cores: what is
    # in flight follows the threads there now, not the count when the batch began.
    from repet_cli import batch
    from repet_cli.batch.dask import HELD_PER_SLOT, IN_FLIGHT_PER_THREAD, RESIZE_EVERY, Dask

    def released(job, progress=None):  # local: the workers get it by value
        """Jobs 0 and 1 end at once; the others once the file ``release`` is beside their
        folders (a task that holds its slot)."""
        import time as clock
        from pathlib import Path as Where

        from repet_cli import batch

        folder = Where(job.background).parent
        while folder.name not in ("0", "1") and not (folder.parent / "release").exists():
            clock.sleep(0.05)
        return batch.Outcome(source=folder.name, status="ok")

    song = write_song(tmp_path / "song.wav", sr=SR, seconds=1.0)
    jobs = [batch.Job.in_folder(song, tmp_path / "out" / str(k)) for k in range(60)]
    taken, stream = recorded(jobs)
    outcomes = Dask(scheduler_file=scheduler).outcomes(released, stream, None)
    first = next(outcomes)
    assert first.status == "ok", first.error  # job 0
    one_thread = HELD_PER_SLOT * max(2, IN_FLIGHT_PER_THREAD * 1)  # the most held with 1
    assert len(taken) <= one_thread + 1
    later = subprocess.Popen(
        [str(BIN / "dask"), "worker", "--scheduler-file", str(scheduler), "--nworkers", "1"]
        + ["--nthreads", "8", "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with distributed.Client(scheduler_file=str(scheduler)) as client:
            client.wait_for_workers(2, timeout=120)
        joined = time.monotonic()
        while time.monotonic() - joined <= RESIZE_EVERY:  # the next count sees it
            time.sleep(0.05)
        assert next(outcomes).status == "ok"  # job 1
        # job 0 handed on, and 2 tasks per thread in flight (job 1 among them): 9 threads now
        assert len(taken) >= 1 + IN_FLIGHT_PER_THREAD * 9 > one_thread + 1
        (tmp_path / "out").mkdir(exist_ok=True)
        (tmp_path / "out" / "release").touch()
        assert [o.status for o in outcomes] == ["ok"] * 58  # the rest, every one
    finally:
        later.terminate()
        later.wait(timeout=60)


def test_a_cluster_whose_start_was_interrupted_still_has_its_worker_jobs_cancelled(tmp_path):
    # Ctrl-C while a SLURM cluster starts leaves distributed unable to close it (its sync helper
    # raised UnboundLocalError, which the batch reported as a bug, exit 1, with the worker jobs
    # left queued): the jobs are cancelled with the cluster's own cancel command instead.
    import types

    from repet_cli.batch.dask import close_cluster

    called = tmp_path / "called"
    cancel = tmp_path / "fake-scancel"
    cancel.write_text(f'#!/bin/sh\necho "$@" >> {called}\n')
    cancel.chmod(0o755)

    class Interrupted:
        workers = {
            "w0": types.SimpleNamespace(job_id="101", cancel_command=str(cancel)),
            "w1": types.SimpleNamespace(job_id="102", cancel_command=str(cancel)),
            "w2": types.SimpleNamespace(job_id=None, cancel_command=str(cancel)),  # not out yet
        }

        def close(self):
            raise UnboundLocalError("cannot access local variable 'result'")

    close_cluster(Interrupted())
    assert called.read_text().split() == ["101", "102"]


class _Job:
    """The least a Dask task needs of a job: its source and its outputs (none here)."""

    def __init__(self, source: str):
        self.source, self.targets = source, []


def _beat_refused(job):
    """A task that makes its worker send a heartbeat now, which the scheduler refuses (see the
    test below), and says whether distributed did log the failure."""
    import logging

    from distributed import get_worker
    from distributed.utils import sync

    from repet_cli.batch.dask import HEARTBEAT_FAILED
    from repet_cli.batch.settings import Outcome

    seen = []

    class Seen(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    logger = logging.getLogger("distributed.worker")
    handler = Seen()
    logger.addHandler(handler)  # filtered as the logger's own records are
    try:
        worker = get_worker()
        sync(worker.loop, worker.heartbeat)
    finally:
        logger.removeHandler(handler)
    return Outcome(source=job.source, status="ok", details=str(HEARTBEAT_FAILED in seen))


def test_a_local_cluster_keeps_a_failed_heartbeat_off_the_terminal(monkeypatch, capfd):
    """At the end of a batch a worker's heartbeat can meet the scheduler closing (about one
    batch of 48 songs in five): distributed logs it with a traceback, on the terminal the
    local cluster's workers share with the batch. Here every heartbeat fails."""
    import distributed.worker

    from repet_cli.batch.dask import Dask

    async def refused(*args, **kwargs):
        raise OSError("the scheduler is closing")

    # The local cluster's workers are forked from this process: they have the patch too.
    monkeypatch.setattr(distributed.worker, "retry_operation", refused)
    outcomes = list(Dask(cluster="local", workers=1).outcomes(_beat_refused, [_Job("a")], None))
    assert [(o.status, o.details) for o in outcomes] == [("ok", "False")]
    assert "heartbeat" not in capfd.readouterr().err
