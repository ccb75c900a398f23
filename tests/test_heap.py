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

#: Five 20-MB arrays made and freed twenty times in a thread (a worker's songs, one after
#: another); prints the page faults that took.
ALLOCATIONS = textwrap.dedent(
    """
    import resource, sys, threading
    import numpy as np
    from repet_cli.batch.heap import steady_heap

    if sys.argv[1] == "steady":
        assert steady_heap()

    def songs():
        for _ in range(20):
            arrays = [np.ones(2_500_000) for _ in range(5)]
            del arrays

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    thread = threading.Thread(target=songs)
    thread.start()
    thread.join()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _page_faults(mode: str) -> int:
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}  # as Dask's nanny sets it
    done = subprocess.run(
        [sys.executable, "-c", ALLOCATIONS, mode],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return int(done.stdout)


def test_a_workers_arrays_are_reused_instead_of_faulted_in_again():
    plain, steady = _page_faults("plain"), _page_faults("steady")
    # 100 arrays of 20 MB are about 490,000 pages: reused, they are faulted in about once.
    assert steady < plain / 4
    assert steady < 20_000


def _threaded_faults(job, progress=None):
    """A pool task: the same allocations in a thread of the worker; the faults as the source."""
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
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    return batch.Outcome(source=str(faults), status="ok")


def test_the_process_pools_workers_keep_their_arrays(tmp_path):
    job = batch.Job.in_folder(tmp_path / "song.wav", tmp_path / "out")
    (outcome,) = batch.ProcessPool(1).outcomes(_threaded_faults, [job], None)
    assert int(outcome.source) < 20_000
