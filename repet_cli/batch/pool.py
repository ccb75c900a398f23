"""A batch's jobs in worker processes: :class:`ProcessPool`.

Each worker process has a pipe of its own to this process and runs one job at a time; this
process hands the next job to whichever worker is idle. So:

- **What is in flight is bounded**: at most :data:`AHEAD` jobs per worker past the first
  outcome not yet handed on are planned into workers; the jobs may come from an iterator, and a
  batch of a million names holds a few dozen jobs at a time, not a million futures.
- **This process always knows which worker runs which job.** A Ctrl-C (or SIGTERM) stops the
  busy workers with a SIGTERM: each either removes what its job had written and says so, or,
  its stems and their record being whole already, sends the finished outcome. An idle worker
  just exits: no worker shares a lock or a queue with another, so none can die holding one
  and leave the others waiting for ever.
- **Progress moves within a job**, not only when it ends: a worker reports the seconds of
  audio done after each segment (for jobs whose header was read at planning time).
- A worker that dies under a job (killed, out of memory) fails that job alone, with a
  message saying so, its temporary files removed; a new worker takes its place.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import traceback
from collections.abc import Iterable, Iterator

from .. import signals
from ..errors import shown_path
from .folders import clean_up_after
from .heap import steady_heap
from .planning import Job
from .settings import Outcome, Progress

#: Jobs per worker that may be handed out past the first outcome not yet handed on (a long
#: input at the front of the batch keeps the others busy for that many jobs each).
AHEAD = 4
#: Seconds between the main thread's checks for a signal while it waits for the workers.
SIGNAL_POLL = 0.1
#: Seconds a stopped worker has to clean up and report before it is killed.
STOP_GRACE = 60.0
#: Seconds between the SIGTERMs sent to a stopped worker that has not reported yet.
RESIGNAL = 1.0


class ProcessPool:
    """Runs the jobs in ``workers`` processes; outcomes come in input order.

    Stopping early (an interrupt, :meth:`stop`, closing the iterator) stops the running jobs,
    which remove their temporary files and folders; what was whole when it stopped is still
    handed on (see the module's docstring).
    """

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._stop = False

    def stop(self) -> None:
        """Start no more jobs and stop the running ones (``--fail-fast``): the iteration then
        hands on the outcomes of the jobs that finished, in input order, and ends."""
        self._stop = True

    def outcomes(self, task, jobs: Iterable[Job], progress: Progress | None) -> Iterator[Outcome]:
        import multiprocessing

        # On Linux the workers are forked: they start in milliseconds with what this process
        # has imported, where spawned ones take 0.3-0.4 s each to start Python and import
        # numpy, scipy and the package.
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        batch = _Batch(multiprocessing.get_context(method), task, progress)
        self._stop = False
        pending = enumerate(jobs)
        following = 0  # the index of the next outcome to hand on
        exhausted = False  # every job was taken from ``jobs``
        closing = False  # the consumer is closing this iterator: nothing more can be handed on
        try:
            batch.start(self.workers)
            while True:
                while (
                    batch.idle
                    and not self._stop
                    and batch.planned < following + AHEAD * (self.workers)
                ):
                    item = next(pending, None)
                    if item is None:
                        exhausted = True
                        break
                    batch.hand(*item)
                while following in batch.done:
                    with signals.deferred():  # held back until the consumer asks for more
                        outcome = batch.done.pop(following)
                        following += 1
                        closing = True
                        yield outcome
                        closing = False
                    if outcome.interruption is not None:  # a worker was stopped from outside
                        raise outcome.interruption
                if self._stop:
                    batch.stop()
                    yield from batch.finished(following, None)
                    return
                if not batch.running:
                    if exhausted:
                        return  # every job was handed out, and every outcome handed on
                    continue  # the outcomes handed on made room for more jobs
                batch.wait()
        except KeyboardInterrupt as exc:
            batch.stop()
            if not closing:  # what the workers had finished when they stopped is counted
                yield from batch.finished(following, exc)
            raise
        finally:
            batch.close()


class _Batch:
    """The workers of one :meth:`ProcessPool.outcomes` and what they have done."""

    def __init__(self, context, task, progress: Progress | None):
        self.context, self.task, self.progress = context, task, progress
        self.workers: list[_Worker] = []  # every worker started
        self.idle: list[_Worker] = []
        self.running: dict[_Worker, int] = {}  # each busy worker's job index
        self.jobs: dict[int, Job] = {}  # the jobs handed out and not yet back
        self.counted: dict[int, int] = {}  # seconds of progress reported per running job
        self.done: dict[int, Outcome] = {}  # outcomes back and not yet handed on
        self.stopped: dict[int, Job] = {}  # jobs stopped before their stems were whole
        self.planned = 0  # jobs handed out
        self.stopping = False

    def start(self, count: int) -> None:
        sys.stdout.flush()  # buffered output is not written again by a forked child
        sys.stderr.flush()
        import gc

        # The objects this process holds are frozen out of the workers' garbage collection:
        # a collection writes into every object it visits, and a forked worker would then
        # copy all of this process's memory (a batch of a million names: 500 MB each).
        gc.freeze()
        try:
            with signals.blocked():  # the workers install their own handlers first
                started = [_Worker(self.context, self.task) for _ in range(count)]
        finally:
            gc.unfreeze()
        self.workers += started
        self.idle += started

    def hand(self, index: int, job: Job) -> None:
        with signals.deferred():  # the worker is in one list or the other, never in neither
            worker = self.idle.pop()
            self.jobs[index], self.counted[index] = job, 0
            self.planned = index + 1
            self.running[worker] = index
            if not worker.send((index, job)):  # it had died idle
                self._died(worker)

    def wait(self) -> None:
        """Take what the busy workers sent, waiting up to :data:`SIGNAL_POLL` seconds (a signal
        is acted on then, whichever thread of this process Linux gave it to)."""
        from multiprocessing.connection import wait

        workers = list(self.running)
        ready = set(
            wait([w.conn for w in workers] + [w.process.sentinel for w in workers], SIGNAL_POLL)
        )
        # A Ctrl-C that lands meanwhile is raised once what was read is recorded: a message
        # taken from a pipe and then dropped would count a finished input as stopped.
        with signals.deferred():
            for worker in workers:
                if worker.conn in ready or worker.process.sentinel in ready:
                    self._take(worker, gone=worker.process.sentinel in ready)

    def _take(self, worker: _Worker, *, gone: bool = False) -> None:
        """Record what ``worker`` sent; ``gone``: its process has ended (its sentinel is
        ready), so once its pipe is empty it is counted as dead, whatever ``waitpid`` says."""
        while worker in self.running:
            message = worker.receive()
            if message is None:  # nothing (more) in the pipe
                if gone or not worker.process.is_alive():
                    self._died(worker)
                return
            kind, index, value = message
            if kind == "progress":
                self._advance(index, value)
                continue
            del self.running[worker]
            job = self.jobs.pop(index)
            if kind == "done":
                self._advance(index, round(value.duration))
                self.done[index] = value
                if value.interruption is None:
                    self.idle.append(worker)
            else:  # "stopped": its job left nothing
                self.stopped[index] = job
            self.counted.pop(index, None)

    def _advance(self, index: int, seconds: int) -> None:
        counted = self.counted.get(index)
        if self.progress is not None and counted is not None and seconds > counted:
            self.progress(seconds - counted)
            self.counted[index] = seconds

    def _died(self, worker: _Worker) -> None:
        """A worker ended without reporting: its temporary files are removed, and its job is
        failed (or, while stopping, counted as stopped); a new worker takes its place."""
        index = self.running.pop(worker)
        job = self.jobs.pop(index)
        self.counted.pop(index, None)
        worker.process.join()
        clean_up_after(job.targets)
        if self.stopping:
            self.stopped[index] = job
            return
        code = worker.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
        self.done[index] = Outcome(
            source=str(job.source),
            status="failed",
            error=f"{shown_path(job.source)}: the worker process separating it died ({how}; "
            "out of memory?); nothing of it was left",
            duration=job.duration,
        )
        self.start(1)

    def stop(self) -> None:
        """Stop every worker: a busy one reports what its job left, then exits; an idle one
        exits at once. Signals are held back meanwhile."""
        import time

        with signals.deferred():
            self.stopping = True
            for worker in self.idle:
                worker.end()
            self.idle = []
            for worker in self.running:
                worker.process.terminate()  # SIGTERM: the job cleans up, then reports
            deadline = time.monotonic() + STOP_GRACE
            sent = time.monotonic()
            while self.running and time.monotonic() < deadline:
                self.wait()
                if self.running and time.monotonic() - sent >= RESIGNAL:
                    # A signal that lands just before a blocking call (a sleep, a read) is
                    # acted on only when the call returns: one more wakes the call up. A job
                    # cleaning up already ignores it.
                    for worker in self.running:
                        worker.process.terminate()
                    sent = time.monotonic()
            for worker in list(self.running):  # stuck past the grace period: killed
                worker.process.kill()
                self._died(worker)

    def finished(self, following: int, interruption: KeyboardInterrupt | None):
        """After :meth:`stop`, the outcomes not handed on yet, in input order, up to the last
        job that finished: each with ``interruption`` set; a job before it that was stopped
        left nothing, and its outcome says so. Jobs stopped after it are not handed on."""
        last = max(self.done, default=-1)
        why = signals.describe(interruption) if interruption is not None else "stopped"
        for index in range(following, last + 1):
            outcome = self.done.get(index)
            if outcome is not None:
                yield dataclasses.replace(outcome, interruption=interruption)
                continue
            source = self.stopped[index].source
            yield Outcome(
                source=str(source),
                status="failed",
                error=f"{shown_path(source)}: {why} before its stems were whole; nothing of it "
                "was left",
                interruption=interruption,
            )

    def close(self) -> None:
        """End the workers and wait for them: idle ones get their end-of-work message, busy
        ones (only after an unexpected error here) a SIGTERM."""
        with signals.deferred():
            for worker in self.idle:
                worker.end()
            for worker in self.running:
                worker.process.terminate()
            for worker in self.workers:
                worker.process.join()
            self.idle, self.running, self.workers = [], {}, []


class _Worker:
    """One worker process and this process's end of its pipe."""

    def __init__(self, context, task):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, task), daemon=True)
        self.process.start()
        child.close()

    def send(self, message) -> bool:
        """Send ``message``; False if the worker is gone."""
        try:
            with signals.deferred():  # never half a message in the pipe
                self.conn.send(message)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def receive(self):
        """The next message, or None if there is none now (or the worker is gone)."""
        try:
            with signals.deferred():
                return self.conn.recv() if self.conn.poll() else None
        except (EOFError, ConnectionResetError):
            return None

    def end(self) -> None:
        """Ask the worker to exit (an idle one exits at once)."""
        if self.process.is_alive():
            self.send(None)


def _serve(conn, task) -> None:
    """A worker process: run each job sent, send its outcome back, until told to end.

    Its job's progress goes back too, in whole seconds of audio. A SIGTERM stops a running
    job (which removes what it wrote, or is whole already and says so) and then the worker.
    """
    signals.worker_handlers()
    steady_heap()  # a song's arrays are reused by the next
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent is gone
            return
        if message is None:
            return
        index, job = message
        outcome, sent = None, False
        try:
            with signals.busy():
                outcome = task(job, progress=_reporter(conn, index, job))
                with signals.deferred():  # sent whole, or not at all
                    conn.send(("done", index, outcome))
                    sent = True
        except Exception as exc:  # a task other than run_job's, which returns every error
            outcome = Outcome(
                source=str(job.source),
                status="failed",
                error=f"{shown_path(job.source)}: unexpected error ({type(exc).__name__}: {exc})",
                trace=traceback.format_exc(),
            )
            with signals.deferred():
                conn.send(("done", index, outcome))
        except KeyboardInterrupt as exc:
            if not sent:
                with signals.deferred():
                    if outcome is None:  # the job stopped and removed what it had written
                        conn.send(("stopped", index, None))
                    else:  # it had returned: its stems are whole
                        done = dataclasses.replace(outcome, interruption=exc)
                        conn.send(("done", index, done))
            os._exit(143)
        if outcome.interruption is not None:  # told to stop while its job was finishing
            os._exit(143)


def _reporter(conn, index: int, job: Job):
    """The progress callback of a job in a worker: seconds of audio done, as they grow (for a
    job whose header was read at planning time)."""
    if job.info is None or not job.info.samplerate:
        return None
    rate, sent = job.info.samplerate, 0

    def advance(samples_done: int) -> None:
        nonlocal sent
        seconds = round(samples_done / rate)
        if seconds > sent:
            sent = seconds
            with signals.deferred():
                conn.send(("progress", index, seconds))

    return advance
