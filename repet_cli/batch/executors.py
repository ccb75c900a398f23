"""What runs a batch's jobs: :class:`InProcess` or :class:`ProcessPool` (and
:class:`~repet_cli.batch.dask.Dask`), each yielding the outcomes in input order; :func:`run`
hands them the jobs. The outputs are the same whichever runs them.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator

from .. import signals
from ..errors import shown_path
from ..io import probe
from ..parallel import cpu_threads
from .job import run_job
from .planning import Job
from .settings import Outcome, Progress, Settings


class InProcess:
    """Runs the jobs one after the other in this process; progress moves after every segment.

    An outcome is handed over with Ctrl-C and SIGTERM held back until the consumer asks for
    the next one (or closes the iterator): an interruption just after an input is done never
    loses its outcome between this generator and the consumer's list.
    """

    def outcomes(self, task, jobs: list[Job], progress: Progress | None) -> Iterator[Outcome]:
        for job in jobs:
            counted = 0
            info = job.info or (probe(job.source) if progress is not None else None)

            def advance(samples_done: int, sr=info.samplerate if info else 0) -> None:
                nonlocal counted
                seconds = round(samples_done / sr)
                if progress is not None and seconds > counted:
                    progress(seconds - counted)
                counted = max(counted, seconds)

            outcome = task(job, progress=advance if info is not None else None)
            if progress is not None and round(outcome.duration) > counted:
                progress(round(outcome.duration) - counted)
            with signals.deferred():  # held back until the consumer has taken it
                yield outcome
            if outcome.interruption is not None:  # the job was stopped once it was whole
                raise outcome.interruption


class ProcessPool:
    """Runs the jobs in ``workers`` processes; progress moves as each job finishes.

    Stopping early (an interrupt, closing the iterator) cancels the jobs not started and stops
    the running ones, which remove their temporary files and folders before they exit.
    """

    def __init__(self, workers: int):
        self.workers = max(1, workers)

    def outcomes(self, task, jobs: list[Job], progress: Progress | None) -> Iterator[Outcome]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # On Linux the workers are forked: they start in milliseconds with what this process
        # has imported, where spawned ones take 0.3-0.4 s each to start Python and import
        # numpy, scipy and the package (16 thirty-second songs on 2 cores: 3.98 s instead of
        # 4.27, medians of 5). The pool forks all of them at its first submit, before it
        # starts any thread of its own, and this process runs no separation then; output
        # still buffered here is flushed so that no child writes it again.
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        context = multiprocessing.get_context(method)
        sys.stdout.flush()
        sys.stderr.flush()
        with signals.blocked():
            pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=signals.worker_handlers
            )
            futures = [pool.submit(_in_worker, task, job) for job in jobs[:1]]
        given = 0  # outcomes yielded
        closing = False
        try:
            futures += [pool.submit(_in_worker, task, job) for job in jobs[1:]]
            for future in futures:
                outcome = _result(future)
                if progress is not None and round(outcome.duration) > 0:
                    progress(round(outcome.duration))
                with signals.deferred():  # handed over as InProcess does
                    given += 1
                    closing = True  # until the consumer comes back for more
                    yield outcome
                    closing = False
        except BaseException as exc:
            with signals.deferred():
                pool.shutdown(wait=False, cancel_futures=True)
                children = multiprocessing.active_children()
                for child in children:
                    child.terminate()  # SIGTERM: a busy worker cleans up, then exits
                for child in children:
                    child.join(timeout=60)
            if isinstance(exc, KeyboardInterrupt) and not closing:
                # What the workers had finished when they stopped is on disk: it is counted.
                yield from _finished(futures[given:], jobs[given:], exc)
            raise
        # A signal now would stop the shutdown half-way, and the interpreter's exit would then
        # wait for ever for a worker that never got its end-of-work message: it waits until
        # the workers have exited (they are idle; it takes milliseconds).
        with signals.deferred():
            pool.shutdown()


#: Seconds between the main thread's checks for a signal while it waits for a worker's result.
SIGNAL_POLL = 0.1


def _result(future):
    """``future.result()``, waking every :data:`SIGNAL_POLL` seconds so that a Ctrl-C or SIGTERM
    is acted on at once: Linux may deliver the signal to one of this process's other threads
    (the progress bar's, the pool's), and then a wait without a timeout is not interrupted, and
    Python runs its handler only once the result is in (a whole input later)."""
    while True:
        try:
            return future.result(timeout=SIGNAL_POLL)
        except TimeoutError:
            continue


def _finished(futures, jobs: list[Job], interruption: KeyboardInterrupt) -> Iterator[Outcome]:
    """After an interruption, the outcomes of the jobs whose futures came back, in input
    order, each with ``interruption`` set; a job before the last of them that did not come
    back was stopped, and left nothing (its outcome says so)."""
    from concurrent.futures import wait

    wait([f for f in futures if not f.cancelled()], timeout=SIGNAL_POLL * 50)
    back = [
        f.done() and not f.cancelled() and f.exception() is None and f.result() is not None
        for f in futures
    ]
    last = max((i for i, ok in enumerate(back) if ok), default=-1)
    for future, job, ok in zip(futures[: last + 1], jobs, back, strict=False):
        if ok:
            yield dataclasses.replace(future.result(), interruption=interruption)
        else:
            yield Outcome(
                source=str(job.source),
                status="failed",
                error=f"{shown_path(job.source)}: {signals.describe(interruption)} before its "
                "stems were whole; nothing of it was left",
                interruption=interruption,
            )


def _in_worker(task, job: Job) -> Outcome:
    """Run ``task(job)`` in a worker process; a SIGTERM cleans up, then ends the process."""
    try:
        with signals.busy():
            return task(job)
    except KeyboardInterrupt:
        os._exit(143)  # the job's temporary files are gone; nobody waits for a result


def run(
    jobs: list[Job],
    *,
    settings: Settings,
    executor: InProcess | ProcessPool | None = None,
    progress: Progress | None = None,
) -> Iterator[Outcome]:
    """The :class:`Outcome` of every job, in input order, as each is known.

    Stopping the iteration early (``--fail-fast``) or an interruption stops the executor.

    Parameters
    ----------
    jobs : list of Job
        From :func:`plan`.
    settings : Settings
        How to separate and write.
    executor : InProcess or ProcessPool, optional
        What runs the jobs (default: this process). With a pool and ``settings.threads``
        unset, each job gets an equal share of the cores.
    progress : callable, optional
        Called with seconds of audio done, as the batch progresses.
    """
    import functools

    executor = InProcess() if executor is None else executor
    if settings.threads is None:
        workers = getattr(executor, "workers", 1)
        share = max(1, cpu_threads() // max(1, min(workers, len(jobs))))
        share = getattr(executor, "threads_per_job", None) or share
        settings = dataclasses.replace(settings, threads=share)
    task = functools.partial(run_job, settings=settings)
    return executor.outcomes(task, jobs, progress)
