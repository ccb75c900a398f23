"""Batches on a Dask cluster: local processes, an existing scheduler, or SLURM.

:class:`Dask` is an executor for :func:`repet_cli.batch.run`, like
:class:`~repet_cli.batch.executors.ProcessPool`: every input is one task running the same job
function, so the outputs are byte-identical whichever executor runs them. Dask and
distributed are an optional extra (``pip install 'repet[dask]'``); dask-jobqueue for SLURM is
another.

- Bounded submission: about twice as many tasks as the cluster has worker threads are in
  flight, never the whole batch (100,000 futures would swamp the scheduler).
- Outcomes come back in input order, as each becomes known.
- A worker that dies mid-task (out of memory, killed) has its tasks retried by Dask, up to
  ``distributed.scheduler.allowed-failures`` times (3 by default). A task that still fails
  may only have been beside the one that killed the worker, so it is tried again alone, with
  nothing else in flight; failing alone too, the input is a ``failed`` outcome saying so, and
  the batch goes on. A retried task first removes the temporary ``.part`` files its dead
  predecessor left beside its outputs.
- Each worker keeps its large arrays from one song to the next (:mod:`.heap`): Dask's nanny
  starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which turns off glibc's dynamic mmap
  threshold, and a worker's tasks run in a thread whose arena unmaps its free heaps. A local
  cluster is started without the variable, and a worker plugin sets the thresholds and a top
  pad with ``mallopt`` on every worker (:func:`~.heap.steady_heap`).
- A SLURM cluster (dask-jobqueue's ``SLURMCluster``) is checked before anything starts: its
  settings must give the jobs' size (:func:`check_slurm_settings`), and SLURM is asked whether
  it would accept the worker jobs (``sbatch --test-only``) before they are submitted, since
  dask-jobqueue retries a refused submission for ever while the batch waits for workers.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import sys
import time
from collections.abc import Iterator

from ..errors import MissingDependencyError, ParameterError
from .folders import clean_up_after, remove_stale_parts
from .heap import steady_heap
from .settings import Outcome

#: Tasks in flight per worker thread of the cluster.
IN_FLIGHT_PER_THREAD = 2
#: Jobs held (in flight, or done and waiting for an earlier one) per task slot, at most.
HELD_PER_SLOT = 4
#: Seconds between two counts of the cluster's worker threads during a batch.
RESIZE_EVERY = 1.0
CLUSTERS = ("local", "slurm")

#: Dask settings for the workers of a local cluster. Each worker samples its running task's
#: stack every 10 ms for the dashboard's profile, and its event loop and monitors wake up many
#: times a second: on two cores that took CPU from the separations themselves (16 thirty-second
#: songs: 4.83 s with Dask's defaults, 4.67 s without the profiler, 4.45 s with calmer loops
#: as well, against 4.03 s for ``--jobs 2``; medians of 5 runs, tasks' own times then equal).
QUIET_WORKERS = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "200ms",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}


def require_dask() -> None:
    """Raise :class:`MissingDependencyError` unless dask.distributed can be imported."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "batches on Dask need dask.distributed: pip install 'repet[dask]'"
        ) from None


#: What the workers of a local cluster log, with a traceback, when a heartbeat meets the
#: scheduler closing at the end of a batch (about one batch in five here): harmless, and not
#: for the user's terminal, which those workers share.
HEARTBEAT_FAILED = "Failed to communicate with scheduler during heartbeat."


class _QuietHeartbeat(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != HEARTBEAT_FAILED


def quiet_heartbeat_failures() -> None:
    """Keep :data:`HEARTBEAT_FAILED` out of this process's ``distributed.worker`` log (a local
    cluster's workers call it as they start); every other record goes through."""
    logger = logging.getLogger("distributed.worker")
    if not any(isinstance(f, _QuietHeartbeat) for f in logger.filters):
        logger.addFilter(_QuietHeartbeat())


def _task(task, job):
    """What a worker runs for one input: no stale temporary files, then the job."""
    remove_stale_parts(job.targets)
    return task(job)


class Dask:
    """Runs the jobs as Dask tasks.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://10.0.0.5:8786``.
    scheduler_file : path, optional
        The file a scheduler started with ``--scheduler-file`` wrote.
    cluster : {"local", "slurm"}, optional
        Start a cluster for the batch: ``local``, a LocalCluster of ``workers`` processes on
        this machine; ``slurm``, a dask-jobqueue SLURMCluster (its settings from dask-jobqueue's
        usual configuration file) scaled to ``workers`` jobs.
    workers : int, optional
        Worker processes to start (local default: one per core; slurm default: 1).
    log : callable, optional
        Called with lines worth showing (the dashboard's address); a local cluster starts
        its dashboard only when there is a ``log``.
    notice : callable, optional
        Called with what a user must know to understand a wait (SLURM worker jobs still in
        the queue when the batch begins).

    Raises
    ------
    ParameterError
        Not one of ``scheduler``, ``scheduler_file`` and ``cluster``; an unknown ``cluster``;
        ``slurm`` without the size of its jobs in dask-jobqueue's settings.
    MissingDependencyError
        ``slurm`` without dask-jobqueue, or without SLURM's ``sbatch``.
    """

    def __init__(
        self,
        *,
        scheduler: str | None = None,
        scheduler_file: str | os.PathLike | None = None,
        cluster: str | None = None,
        workers: int | None = None,
        log=None,
        notice=None,
    ):
        given = [x is not None for x in (scheduler, scheduler_file, cluster)]
        if sum(given) != 1:
            raise ParameterError(
                "give one of `scheduler`, `scheduler_file` and `cluster` to run on Dask"
            )
        if cluster is not None and cluster not in CLUSTERS:
            raise ParameterError(f"`cluster` must be one of {', '.join(CLUSTERS)}")
        self.scheduler, self.scheduler_file, self.cluster = scheduler, scheduler_file, cluster
        self.requested = workers
        self.verbose = log is not None
        self.log = log or (lambda line: None)
        self.notice = notice or (lambda line: None)
        from ..parallel import cpu_threads

        if cluster == "slurm":
            check_slurm_settings()
        if cluster == "local":
            self.workers = max(1, workers or cpu_threads())
            #: Each local worker process runs one input at a time with its share of the cores.
            self.threads_per_job = max(1, cpu_threads() // self.workers)
        else:
            self.workers = max(1, workers or 1)
            #: Workers elsewhere run one input per worker thread, each on one thread (start
            #: them with as many threads, or processes, as they have cores).
            self.threads_per_job = 1

    def _connect(self):
        """A client, and the cluster started for it (None for a scheduler given)."""
        import dask
        from distributed import Client

        if self.cluster == "local":
            from distributed import LocalCluster

            settings = {
                "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                **QUIET_WORKERS,
            }
            if sys.platform.startswith("linux"):
                # The first workers are forked from this process, which has imported what
                # they need: 0.1 s to start and 0.02 s to close instead of 0.46 s and 0.17 s
                # for spawned ones. Only while the cluster starts, when this process's
                # main thread waits and holds no lock; a worker restarted later is spawned.
                settings["distributed.worker.multiprocessing-method"] = "fork"
            with dask.config.set(settings):
                cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=":0" if self.verbose else None,  # 0.1-0.2 s to start
                )
            return Client(cluster), cluster
        if self.cluster == "slurm":
            from dask_jobqueue import SLURMCluster

            try:
                cluster = SLURMCluster()
            except ValueError as exc:  # a setting dask-jobqueue cannot use
                raise ParameterError(
                    f"`cluster` slurm: dask-jobqueue's settings ({_jobqueue_file()}): {exc}"
                ) from None
            try:
                # dask-jobqueue submits the jobs in the background and, when sbatch refuses
                # them, retries for ever while the batch waits for workers that never come.
                refused = _refused(cluster.job_script())
                if refused is not None:
                    raise ParameterError(
                        f"`cluster` slurm: SLURM refuses the worker jobs ({refused}); they are "
                        f"made from dask-jobqueue's settings in {_jobqueue_file()}"
                    )
                cluster.scale(jobs=self.workers)
                return Client(cluster), cluster
            except BaseException:
                close_cluster(cluster)
                raise
        if self.scheduler_file is not None:
            return Client(scheduler_file=os.fspath(self.scheduler_file)), None
        return Client(self.scheduler), None

    def outcomes(self, task, jobs: list, progress) -> Iterator:
        from distributed import as_completed
        from distributed.diagnostics.plugin import WorkerPlugin

        class Thresholds(WorkerPlugin):
            name = "repet-malloc-thresholds"

            def setup(self, worker):
                steady_heap()

        class Quiet(WorkerPlugin):
            name = "repet-quiet-heartbeat"

            def setup(self, worker):
                quiet_heartbeat_failures()

        stream = enumerate(jobs)  # taken as tasks are submitted: a plan is never a list here
        client, cluster = self._connect()
        try:
            client.register_plugin(Thresholds())
            if self.cluster == "local":  # its workers write to this terminal
                client.register_plugin(Quiet())
            if client.dashboard_link:
                self.log(f"Dask dashboard: {client.dashboard_link}")
            if self.cluster == "slurm" and not client.nthreads():
                jobs = f"{self.workers} SLURM job{'s' if self.workers != 1 else ''}"
                self.notice(
                    f"waiting for the workers' {jobs} to leave SLURM's queue (squeue lists "
                    "them); the batch starts as they do"
                )
            sizing = {"at": -math.inf, "slots": 2}

            def slots() -> int:
                """Tasks in flight: :data:`IN_FLIGHT_PER_THREAD` per thread of the workers
                there now, asked again at most every :data:`RESIZE_EVERY` seconds: workers
                that join later (a SLURM job out of the queue, each of many cores) get
                their share."""
                now = time.monotonic()
                if now - sizing["at"] >= RESIZE_EVERY:
                    threads = sum(client.nthreads().values()) or self.workers
                    sizing.update(at=now, slots=max(2, IN_FLIGHT_PER_THREAD * threads))
                return sizing["slots"]

            held: dict[int, object] = {}  # the jobs submitted whose outcomes are not handed on
            exhausted = False
            suspects: collections.deque[int] = collections.deque()
            isolated: set[int] = set()
            futures = {}
            running = as_completed()

            def submit(i: int, key: str) -> None:
                future = client.submit(_task, task, held[i], pure=False, key=key)
                futures[future] = i
                running.add(future)

            def submit_more():
                nonlocal exhausted
                # A dead worker fails every task it held, the one that killed it and the ones
                # queued beside it: those are tried again alone, one at a time, so only an
                # input that kills its worker by itself is failed.
                if isolated & set(futures.values()):
                    return
                if suspects:
                    if not futures:
                        i = suspects.popleft()
                        isolated.add(i)
                        submit(i, f"repet-{i}-alone")
                    return
                # Outcomes wait for the ones before them: what is held is bounded too.
                while not exhausted and _room(len(futures), len(held), slots()):
                    item = next(stream, None)
                    if item is None:
                        exhausted = True
                        break
                    held[item[0]] = item[1]
                    submit(item[0], f"repet-{item[0]}")

            submit_more()
            done: dict[int, Outcome] = {}
            following = 0
            for future in running:
                i = futures.pop(future)
                try:
                    done[i] = future.result()
                except Exception as exc:  # the task never raises: the worker died under it
                    if type(exc).__name__ == "KilledWorker" and i not in isolated:
                        suspects.append(i)
                    else:
                        clean_up_after(held[i].targets)  # what the killed attempts left
                        done[i] = Outcome(
                            source=str(held[i].source),
                            status="failed",
                            error=f"{held[i].source}: {_death(exc)}",
                        )
                future.release()
                while following in done:
                    outcome = done.pop(following)
                    held.pop(following)
                    if progress is not None and round(outcome.duration) > 0:
                        progress(round(outcome.duration))
                    following += 1
                    yield outcome
                submit_more()  # after the outcomes handed on, which make room
        finally:
            client.close()
            if cluster is not None:
                close_cluster(cluster)


def close_cluster(cluster) -> None:
    """Close a cluster started for a batch, and with it the worker jobs it submitted.

    A start cut short by Ctrl-C leaves distributed unable to close the cluster (its ``sync``
    helper raises UnboundLocalError once the coroutine it ran was cancelled): then the jobs
    dask-jobqueue had submitted are cancelled here with their own cancel command (``scancel``),
    so that no worker job is left in SLURM's queue and the interruption, not that error, is
    what the batch reports.
    """
    try:
        cluster.close()
    except Exception:
        jobs = list(dict(getattr(cluster, "workers", None) or {}).values())
        ids = [str(job.job_id) for job in jobs if getattr(job, "job_id", None)]
        if ids:
            import subprocess

            command = getattr(jobs[0], "cancel_command", None) or "scancel"
            try:
                subprocess.run([*command.split(), *ids], capture_output=True, timeout=120)
            except (OSError, subprocess.TimeoutExpired):
                pass  # nothing more can be done from here


def _room(in_flight: int, held: int, slots: int) -> bool:
    """Whether one more job may be submitted: fewer than ``slots`` tasks in flight, and fewer
    than :data:`HELD_PER_SLOT` jobs per slot held."""
    return in_flight < slots and held < HELD_PER_SLOT * slots


def _jobqueue_file() -> str:
    """Where dask-jobqueue's settings are read from: ``jobqueue.yaml`` in dask's configuration
    folder (``~/.config/dask``, or ``$DASK_CONFIG``)."""
    import dask.config

    return os.path.join(dask.config.PATH, "jobqueue.yaml")


def check_slurm_settings() -> None:
    """Raise unless a SLURM cluster can be started from here: dask-jobqueue installed, the size
    of the worker jobs (``cores``, ``memory``) set in dask-jobqueue's settings (it has no
    defaults for them), and SLURM's ``sbatch`` on PATH.

    Raises
    ------
    MissingDependencyError
        dask-jobqueue or ``sbatch`` is missing.
    ParameterError
        ``cores`` or ``memory`` is not set.
    """
    import shutil

    from .. import signals

    try:
        import dask

        with signals.kept():  # dask-jobqueue replaces the SIGINT handler when imported
            import dask_jobqueue  # noqa: F401  (adds its defaults to dask's settings)
    except ImportError:
        raise MissingDependencyError(
            "`cluster` slurm needs dask-jobqueue: pip install 'repet[slurm]'"
        ) from None
    settings = dask.config.get("jobqueue.slurm", default={}) or {}
    missing = [key for key in ("cores", "memory") if settings.get(key) is None]
    if missing:
        raise ParameterError(
            f"`cluster` slurm needs the size of its worker jobs: set {' and '.join(missing)} "
            f"under jobqueue: slurm: in {_jobqueue_file()} (the documentation's 'Dask clusters' "
            "has a whole file)"
        )
    if shutil.which("sbatch") is None:
        raise MissingDependencyError(
            "`cluster` slurm submits its workers with SLURM's sbatch, which is not on PATH: "
            "run repet where SLURM jobs are submitted"
        )


def _refused(script: str) -> str | None:
    """Why SLURM would refuse the job ``script`` (``sbatch --test-only``, which submits
    nothing), or None if it would accept it."""
    import subprocess

    try:
        answer = subprocess.run(
            ["sbatch", "--test-only"],
            input=script,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        return "sbatch --test-only did not answer within 120 s"
    if answer.returncode == 0:
        return None
    lines = [
        line.removeprefix("sbatch: ").removeprefix("error: ").strip()
        for line in answer.stderr.splitlines()
    ]
    return "; ".join(line for line in lines if line) or f"sbatch exit status {answer.returncode}"


def _death(exc: BaseException) -> str:
    """A one-line reason for a task that did not return."""
    name = type(exc).__name__
    if name == "KilledWorker":
        return (
            "the worker running it died every time it was tried (out of memory? killed?); "
            "not tried again"
        )
    return f"the cluster could not run it ({name}: {exc})"
