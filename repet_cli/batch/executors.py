"""What runs a batch's jobs: :class:`InProcess` here, or
:class:`~repet_cli.batch.pool.ProcessPool` and :class:`~repet_cli.batch.dask.Dask`, each
yielding the outcomes in input order; :func:`run` hands them the jobs. The outputs are the
same whichever runs them.

An executor has ``outcomes(task, jobs, progress)``, an iterator of one :class:`Outcome` per
job, in input order, and may have ``stop()`` (``--fail-fast``): no job is started after it,
and the iteration ends once what had finished is handed on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

from .. import signals
from ..io import probe
from ..parallel import cpu_threads
from .job import run_job
from .planning import Job
from .pool import ProcessPool
from .settings import Outcome, Progress, Settings


class InProcess:
    """Runs the jobs one after the other in this process; progress moves after every segment.

    An outcome is handed over with Ctrl-C and SIGTERM held back until the consumer asks for
    the next one (or closes the iterator): an interruption just after an input is done never
    loses its outcome between this generator and the consumer's list.
    """

    def __init__(self) -> None:
        self._stop = False

    def stop(self) -> None:
        """Start no more jobs."""
        self._stop = True

    def outcomes(self, task, jobs: Iterable[Job], progress: Progress | None) -> Iterator[Outcome]:
        self._stop = False
        for job in jobs:
            if self._stop:
                return
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


def run(
    jobs: Iterable[Job],
    *,
    settings: Settings,
    executor: InProcess | ProcessPool | None = None,
    progress: Progress | None = None,
) -> Iterator[Outcome]:
    """The :class:`Outcome` of every job, in input order, as each is known.

    Stopping the iteration early (``--fail-fast``) or an interruption stops the executor.

    Parameters
    ----------
    jobs : iterable of Job
        From :func:`plan` (a list, or any iterable: a :class:`ProcessPool` takes them as it
        needs them).
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
        count = len(jobs) if hasattr(jobs, "__len__") else workers
        share = max(1, cpu_threads() // max(1, min(workers, count)))
        share = getattr(executor, "threads_per_job", None) or share
        settings = dataclasses.replace(settings, threads=share)
    task = functools.partial(run_job, settings=settings)
    return executor.outcomes(task, jobs, progress)
