"""A batch worker keeps a song's large arrays for the next instead of faulting them in again
(repet_cli.batch.heap): the allocations of a Dask task, in a thread, with the environment
Dask's nanny gives its workers."""

import os
import subprocess
import sys
import textwrap

import pytest

from repet_cli import batch

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc's allocator only"
)


def songs_in_a_thread() -> int:
    """Five 20-MB arrays made and freed twenty times in a thread (a worker's songs, one after
    another, as a Dask task runs them); the page faults that took."""
    import resource
    import threading

    import numpy as np

    def songs():
        for _ in range(20):
            arrays = [np.ones(2_500_000) for _ in range(5)]
            del arrays

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    thread = threading.Thread(target=songs)
    thread.start()
    thread.join()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def _in_a_new_process(code: str) -> int:
    """Run ``code`` (which may import this module) in a new Python process with the environment
    Dask's nanny gives its workers, apart from this process's heap; what it prints, as an int."""
    script = f"import sys\nsys.path.insert(0, {os.path.dirname(__file__)!r})\n" + code
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}  # as Dask's nanny sets it
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    return int(done.stdout)


def _page_faults(*, steady: bool) -> int:
    """:func:`songs_in_a_thread` in a new process, after
    :func:`~repet_cli.batch.heap.steady_heap` or not."""
    return _in_a_new_process(
        textwrap.dedent(
            f"""
            from repet_cli.batch.heap import steady_heap
            from test_heap import songs_in_a_thread
            if {steady!r}:
                assert steady_heap()
            print(songs_in_a_thread())
            """
        )
    )


def test_a_workers_arrays_are_reused_instead_of_faulted_in_again():
    plain, steady = _page_faults(steady=False), _page_faults(steady=True)
    # Made afresh for every song they took 38,000-49,000 faults here; reused, about 3,000.
    assert steady < plain / 4
    assert steady < 20_000


def _threaded_faults(job, progress=None):
    """A pool task: :func:`songs_in_a_thread` in the worker; its page faults as the source."""
    return batch.Outcome(source=str(songs_in_a_thread()), status="ok")


def pool_worker_faults(folder: str) -> int:
    """The page faults of :func:`songs_in_a_thread` run as the job of a process-pool worker."""
    from pathlib import Path

    job = batch.Job.in_folder(Path(folder) / "song.wav", Path(folder) / "out")
    (outcome,) = batch.ProcessPool(1).outcomes(_threaded_faults, [job], None)
    return int(outcome.source)


def test_the_process_pools_workers_keep_their_arrays(tmp_path):
    # From a new process: a worker forked from this one would start from its heap, whatever
    # the tests before left in it.
    faults = _in_a_new_process(
        f"from test_heap import pool_worker_faults\nprint(pool_worker_faults({str(tmp_path)!r}))"
    )
    assert faults < 20_000
