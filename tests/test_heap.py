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


def _page_faults(*, steady: bool) -> int:
    """:func:`songs_in_a_thread` in a new process with the environment Dask's nanny gives its
    workers, after :func:`~repet_cli.batch.heap.steady_heap` or not."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from repet_cli.batch.heap import steady_heap
        from test_heap import songs_in_a_thread
        if {steady!r}:
            assert steady_heap()
        print(songs_in_a_thread())
        """
    )
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}  # as Dask's nanny sets it
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    return int(done.stdout)


def test_a_workers_arrays_are_reused_instead_of_faulted_in_again():
    plain, steady = _page_faults(steady=False), _page_faults(steady=True)
    # Made afresh for every song they took 38,000-49,000 faults here; reused, about 3,000.
    assert steady < plain / 4
    assert steady < 20_000


def _threaded_faults(job, progress=None):
    """A pool task: :func:`songs_in_a_thread` in the worker; its page faults as the source."""
    return batch.Outcome(source=str(songs_in_a_thread()), status="ok")


def test_the_process_pools_workers_keep_their_arrays(tmp_path):
    job = batch.Job.in_folder(tmp_path / "song.wav", tmp_path / "out")
    (outcome,) = batch.ProcessPool(1).outcomes(_threaded_faults, [job], None)
    assert int(outcome.source) < 20_000
