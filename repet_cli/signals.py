"""Ctrl-C and SIGTERM: one owner per process, one exception per interruption.

A process that runs separations (the ``repet`` command, or a worker process of a batch)
installs the handlers once, with :func:`handled` (or :func:`worker_handlers` in a worker).
Within it:

- SIGINT raises :class:`KeyboardInterrupt` and SIGTERM raises :class:`Terminated` (a
  ``KeyboardInterrupt`` too, so the same clean-up runs), **once**: a signal that arrives while
  the first one's exception is being handled is remembered, not raised again, so clean-up code
  is never cut short by a second signal (a process pool sends its workers a second SIGTERM
  moments after the first).
- :func:`deferred` holds signals back over a block that must not be cut in two (renaming a
  pair of files into place, removing temporary files); a signal that arrived during it is
  raised when the block ends, unless one was raised already.

Library code only ever enters :func:`deferred` blocks; it never installs handlers. Without
:func:`handled` around it (a library caller in their own process), :func:`deferred` does
nothing and Python's default Ctrl-C behaviour is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that the same clean-up runs."""


#: Exit status of a process stopped by each kind of interruption (128 + the signal number).
EXIT_STATUS = {"interrupted": 130, "terminated": 143}


def exit_status(exc: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM."""
    return EXIT_STATUS["terminated" if isinstance(exc, Terminated) else "interrupted"]


def describe(exc: BaseException) -> str:
    """``"terminated (SIGTERM)"`` or ``"interrupted (Ctrl-C)"``."""
    return "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"


class _Guard:
    """The state of this process's handlers (one instance, :data:`_GUARD`)."""

    def __init__(self) -> None:
        self.installed = False
        self.depth = 0  # nesting of deferred() blocks
        self.pending: int | None = None  # a signal that arrived while deferred
        self.raised = False  # an interruption was raised already
        self.idle_exit = False  # worker: a signal while no job runs ends the process at once
        self.busy = False

    def handle(self, signum: int, frame) -> None:
        if self.raised:
            return  # clean-up of the first interruption is running: let it finish
        if self.idle_exit and not self.busy:
            os._exit(128 + signum)
        if self.depth:
            self.pending = self.pending or signum
            return
        self.raise_for(signum)

    def raise_for(self, signum: int) -> None:
        self.raised = True
        if signum == signal.SIGTERM:
            raise Terminated()
        raise KeyboardInterrupt()


_GUARD = _Guard()


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def handled():
    """Within the block, SIGINT and SIGTERM raise once (see the module's docstring).

    The previous handlers come back afterwards. Outside the main thread (where Python cannot
    install handlers) the block runs as it is.
    """
    if not _in_main_thread() or _GUARD.installed:
        yield
        return
    previous = {s: signal.signal(s, _GUARD.handle) for s in (signal.SIGINT, signal.SIGTERM)}
    _GUARD.installed, _GUARD.raised, _GUARD.pending = True, False, None
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _GUARD.installed = False


def default_after() -> None:
    """Let SIGINT end this process as the system's default does, without Python's
    KeyboardInterrupt, once :func:`handled` blocks have restored the handlers they replaced:
    for a command-line entry point, whose work is over by then. No-op outside the main thread.
    """
    if _in_main_thread():
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def worker_handlers() -> None:
    """Install the handlers of a batch's worker process (a process pool's initializer).

    Ctrl-C is the parent's to handle (the terminal sends it to the whole process group), so
    the worker ignores it. SIGTERM ends an idle worker at once; in a busy one (inside
    :func:`busy`) it raises :class:`Terminated` once, so the job removes its temporary files.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _GUARD.handle)
    _GUARD.installed, _GUARD.idle_exit = True, True
    # A forked worker starts with a copy of its parent's state: none of it is its own.
    _GUARD.depth, _GUARD.pending, _GUARD.raised, _GUARD.busy = 0, None, False, False
    if hasattr(signal, "pthread_sigmask"):  # started within blocked(): now they may come
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)


_STOPPING = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def blocked():
    """Block SIGINT and SIGTERM in this thread over the block; sent to it, they arrive when the
    block ends (sent to the process, they may be taken by another thread that does not block
    them).

    Processes started within it (a pool's workers) begin with them blocked too, until
    :func:`worker_handlers` has installed the workers' own handlers: a Ctrl-C at that moment
    never finds a worker with its parent's handlers (a forked one) or none at all.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def busy():
    """Mark a worker process as running a job (a SIGTERM then cleans up before exiting)."""
    _GUARD.busy = True
    try:
        yield
    finally:
        _GUARD.busy = False


@contextlib.contextmanager
def deferred():
    """Hold SIGINT and SIGTERM back until the block ends (no-op without :func:`handled`)."""
    if not (_GUARD.installed and _in_main_thread()):
        yield
        return
    _GUARD.depth += 1
    try:
        yield
    finally:
        _GUARD.depth -= 1
        if _GUARD.depth == 0 and _GUARD.pending is not None:
            signum, _GUARD.pending = _GUARD.pending, None
            if not _GUARD.raised:
                _GUARD.raise_for(signum)


@contextlib.contextmanager
def kept():
    """Put back the handlers of SIGINT and SIGTERM that the block replaced: around the import
    of a library that installs its own when imported (dask-jobqueue's runner makes Ctrl-C a
    ``sys.exit()``, which ended a batch with exit status 0, no summary and no ``--json``).
    No-op outside the main thread."""
    if not _in_main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _STOPPING}
    try:
        yield
    finally:
        for s, handler in previous.items():
            if handler is not None and signal.getsignal(s) is not handler:
                signal.signal(s, handler)
