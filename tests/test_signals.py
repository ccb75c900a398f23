"""Ctrl-C and SIGTERM: raised once, held back over deferred blocks, no-ops without an owner."""

import os
import signal
import threading

import pytest

from repet_cli import signals


def test_sigterm_raises_terminated_once_and_a_second_one_during_clean_up_is_ignored():
    cleaned = []
    with signals.handled():
        with pytest.raises(signals.Terminated):
            try:
                os.kill(os.getpid(), signal.SIGTERM)  # the handler raises right after this
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # a second one, as a process pool sends
                cleaned.append(True)  # clean-up ran to its end
    assert cleaned == [True]


def test_ctrl_c_raises_keyboard_interrupt_and_the_handlers_are_restored():
    before = signal.getsignal(signal.SIGINT)
    with signals.handled(), pytest.raises(KeyboardInterrupt) as info:
        os.kill(os.getpid(), signal.SIGINT)
    assert not isinstance(info.value, signals.Terminated)
    assert signals.exit_status(info.value) == 130 and "Ctrl-C" in signals.describe(info.value)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_signal_in_a_deferred_block_is_raised_when_the_block_ends():
    done = []
    with signals.handled(), pytest.raises(signals.Terminated) as info:
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("after the signal")
        done.append("never")  # pragma: no cover
    assert done == ["after the signal"] and signals.exit_status(info.value) == 143


def test_deferred_does_nothing_without_an_owner_of_the_signals():
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            assert False, "the library's block must not hold a caller's signals"  # noqa: B011
    finally:
        signal.signal(signal.SIGTERM, previous)


def _blocked_in(pid: int) -> int:
    """The mask of blocked signals of process ``pid`` (Linux /proc)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("SigBlk:"):
            return int(line.split()[1], 16)
    raise AssertionError("no SigBlk line")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_a_pool_worker_starts_with_ctrl_c_blocked_until_its_own_handlers_are_in():
    import multiprocessing

    stopping = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    context = multiprocessing.get_context("fork")
    ready, go = context.Event(), context.Event()

    def worker():
        ready.set()  # forked within blocked(): SIGINT and SIGTERM wait
        go.wait(30)
        signals.worker_handlers()
        os._exit(0 if _blocked_in(os.getpid()) & stopping == 0 else 1)

    done = []
    with signals.handled():
        with pytest.raises(signals.Terminated):
            with signals.blocked():
                child = context.Process(target=worker)
                child.start()
                # To this thread: a signal sent to the process may reach another thread of
                # pytest's that does not block it.
                signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
                done.append("inside")
        assert done == ["inside"]
        assert ready.wait(30)
        assert _blocked_in(child.pid) & stopping == stopping
        go.set()
        child.join(30)
    assert child.exitcode == 0  # worker_handlers unblocked them
