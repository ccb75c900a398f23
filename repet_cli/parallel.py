"""Threads for the array work: numpy and scipy.fft release the GIL in their inner loops.

Work is split into pieces whose boundaries do not depend on the number of threads, and
results are combined in input order, so the output is the same whatever the thread count.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def cpu_threads() -> int:
    """Cores this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


#: Memory one separation job may need at its peak: a job separates a long input segment by
#: segment and stays below 800 MB whatever its length (measured by ``make bench``), so a
#: gigabyte of available memory per process leaves room for the rest of the machine.
JOB_MEMORY = 1_000_000_000


def available_memory() -> int | None:
    """Bytes of memory available to new work (Linux's MemAvailable), None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def auto_jobs(inputs: int) -> int:
    """Processes for a batch of ``inputs`` when ``-j`` is not given: one per core, no more than
    there are inputs, and no more than the available memory holds (:data:`JOB_MEMORY` each).

    One process per core beats one process spreading each input over all cores: reading,
    writing, the period search and process start-up are not all threaded.
    """
    memory = available_memory()
    fits = cpu_threads() if memory is None else max(1, memory // JOB_MEMORY)
    return max(1, min(inputs, cpu_threads(), fits))


def thread_budget(threads: int | None) -> int:
    """The threads a piece of work may use: ``threads``, or one per core when None.

    Every multi-threaded step of the library takes its count from here, so that a caller's
    budget (``threads=``, and through it ``-j``) is honoured everywhere.
    """
    return cpu_threads() if threads is None else max(1, int(threads))


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, threads: int) -> Iterator[R]:
    """``map(fn, items)`` over ``threads`` threads, results in input order.

    At most ``2 * threads`` results wait to be consumed, so the memory held does not grow with
    the number of items.
    """
    if threads <= 1:
        yield from map(fn, items)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@contextlib.contextmanager
def blas_threads(threads: int) -> Iterator[None]:
    """Hold BLAS (numpy's matrix products) to ``threads`` threads until the block ends, for the
    whole process. Work spread over threads of our own that each multiply matrices, or run in
    one process of a batch per core, gives BLAS one: its own threads would compete with ours
    for the same cores. REPET-SIM's similarities of a 10-minute song on 2 cores took 9.3 s
    with BLAS's 2 threads under each of ours, 7.2 s with one; 16 songs of 30 s with ``-j 2``
    took 6.49 s against 5.55 s.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=max(1, int(threads)), user_api="blas"):
        yield
