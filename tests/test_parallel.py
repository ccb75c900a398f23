"""One threads budget: ``threads=`` (and so ``-j``) holds for every algorithm."""

import threading

import numpy as np
import pytest
import scipy.fft

import synth
from repet_cli import RepetParams, separate
from repet_cli.algorithms import ALGORITHMS
from repet_cli.parallel import blas_threads, ordered_map, thread_budget

SR = 8000


@pytest.fixture(scope="module")
def song():
    background = synth.loop(period=1.0, sr=SR, duration=8.0, channels=2)
    mixture, _ = synth.mix(background, synth.melody(sr=SR, duration=8.0, channels=2), ratio_db=-3)
    return mixture


def _threads_used(monkeypatch, run) -> tuple[int, set]:
    """Python threads started and FFT ``workers`` asked for while ``run()`` runs."""
    started, workers = [], set()
    start = threading.Thread.start

    def counting_start(self):
        started.append(self)
        return start(self)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    for name in ("rfft", "irfft", "rfft2", "irfft2"):
        real = getattr(scipy.fft, name)

        def recording(*args, _real=real, **kwargs):
            workers.add(kwargs.get("workers"))
            return _real(*args, **kwargs)

        monkeypatch.setattr(scipy.fft, name, recording)
    run()
    return len(started), workers


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_one_thread_means_one_thread_for_every_algorithm(monkeypatch, song, algorithm):
    params = RepetParams(algorithm=algorithm)
    started, workers = _threads_used(
        monkeypatch, lambda: separate(song, sr=SR, params=params, threads=1)
    )
    assert started == 0 and workers <= {None, 1}


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_more_threads_are_used_when_given(monkeypatch, song, algorithm):
    params = RepetParams(algorithm=algorithm)
    started, workers = _threads_used(
        monkeypatch, lambda: separate(song, sr=SR, params=params, threads=2)
    )
    assert started >= 2 or 2 in workers


def test_budget_and_ordered_map():
    assert thread_budget(3) == 3 and thread_budget(0) == 1 and thread_budget(None) >= 1
    assert list(ordered_map(lambda x: x * x, range(50), threads=4)) == [x * x for x in range(50)]
    assert np.array_equal(list(ordered_map(abs, [-1, 2], threads=1)), [1, 2])


def test_blas_is_held_to_the_threads_given_inside_the_block_only():
    from threadpoolctl import threadpool_info

    def counts():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = counts()
    with blas_threads(1):
        assert counts() == [1] * len(before)
    assert counts() == before
