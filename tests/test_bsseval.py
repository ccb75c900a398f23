"""The block-wise BSS Eval gives mir_eval's and museval's figures."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

import synth
from repet_cli import bsseval
from repet_cli import evaluate as ev

SR = 16000
SHARED_EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"


def museval_metrics():
    """museval's metrics module alone (its package imports musdb, which needs ffmpeg)."""
    spec = importlib.util.find_spec("museval")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("needs museval (pip install -e '.[dev]')")
    path = Path(list(spec.submodule_search_locations)[0]) / "metrics.py"
    module_spec = importlib.util.spec_from_file_location("museval_metrics", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def mir_eval_sources(ref, est):
    separation = pytest.importorskip("mir_eval.separation", reason="needs mir_eval (dev extra)")
    out = []
    for c in range(ref.shape[1]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            sdr, sir, sar, _ = separation.bss_eval_sources(
                ref[:, c].astype(np.float64),
                est[:, c].astype(np.float64),
                compute_permutation=False,
            )
        out.append(np.stack([sdr, sir, sar], axis=-1))
    return np.stack(out, axis=1)  # (sources, channels, 3)


def museval_v4(ref, est, window):
    metrics = museval_metrics()
    sdr, isr, sir, sar, _ = metrics.bss_eval(
        np.moveaxis(ref, 1, 2).astype(np.float64),
        np.moveaxis(est, 1, 2).astype(np.float64),
        window=window,
        hop=window,
        framewise_filters=False,
        bsseval_sources_version=False,
    )
    return np.stack([sdr, isr, sir, sar])


def separation_like(seconds: float, seed: int = 0):
    """References (background, foreground) and estimates with leakage, filtering and noise,
    long enough to span several blocks."""
    rng = np.random.default_rng(seed)
    bg = synth.loop(period=0.5, sr=SR, duration=seconds, channels=2)
    fg = synth.melody(sr=SR, duration=seconds, channels=2)
    # Each channel gets noise of its own: synthetic channels that are copies of each other
    # make the multichannel least-squares problem singular, where no two solvers agree.
    ref = np.stack([bg, fg]) + 0.01 * rng.standard_normal((2, *bg.shape))
    ref = ref.astype(np.float32)
    smear = np.array([1.0, 0.3, -0.2, 0.1])
    est = np.empty_like(ref)
    for j in range(2):
        other = ref[1 - j]
        for c in range(2):
            filtered = np.convolve(ref[j, c], smear)[: ref.shape[-1]]
            est[j, c] = filtered + 0.2 * other[c] + 0.02 * rng.standard_normal(ref.shape[-1])
    return ref, est


def test_whole_signal_figures_are_mir_evals():
    ref, est = separation_like(9.0)  # 144,000 samples: three blocks
    assert ref.shape[-1] > 2 * bsseval.BLOCK_FFT
    ours = bsseval.sources(ref, est)
    theirs = mir_eval_sources(ref, est)
    assert np.abs(ours - theirs).max() < 1e-4


def test_framewise_figures_are_musevals_with_silent_windows_left_out():
    ref, est = separation_like(5.5, seed=1)
    ref[1, :, 2 * SR : 3 * SR] = 0  # the foreground is silent in the third window
    ours = bsseval.images_framewise(ref, est, window=SR, hop=SR, workers=2)
    theirs = museval_v4(ref, est, SR)
    assert ours.shape == theirs.shape == (4, 2, 5)  # whole windows only: 5 of 5.5 s
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    assert np.isnan(ours[:, :, 2]).all() and not np.isnan(ours[:, :, [0, 1, 3, 4]]).any()
    assert np.nanmax(np.abs(ours - theirs)) < 1e-4


def test_a_signal_shorter_than_a_window_is_one_window():
    ref, est = separation_like(0.6, seed=2)
    ours = bsseval.images_framewise(ref, est, window=SR, hop=SR)
    assert ours.shape == (4, 2, 1)
    assert np.abs(ours - museval_v4(ref, est, SR)).max() < 1e-4


def test_the_thread_count_does_not_change_the_figures():
    ref, est = separation_like(3.0, seed=4)
    one = bsseval.sources(ref, est, workers=1)
    two = bsseval.sources(ref, est, workers=2)
    assert np.abs(one - two).max() < 1e-9


def test_progress_adds_up_to_the_whole_work():
    ref, est = separation_like(9.0, seed=5)  # three blocks of samples, in each of 3 passes
    truth = dict(zip(ev.STEMS, ref, strict=True))
    estimates = dict(zip(ev.STEMS, est, strict=True))
    seen = []
    ev.evaluate_framewise(truth, estimates, SR, progress=seen.append)
    assert len(seen) >= 7 and sum(seen) == pytest.approx(1.0)


@pytest.mark.skipif(not SHARED_EVAL.is_dir(), reason="../shared/eval is not here")
def test_a_real_clip_scores_as_mir_eval_and_museval_score_it():
    from repet_cli import RepetParams, separate

    folder = sorted(p for p in SHARED_EVAL.iterdir() if (p / "mixture.wav").is_file())[0]
    refs = ev.reference_files(folder)
    ref, _, sr = ev.load_stems(refs, refs)
    result = separate(ref.sum(axis=0), sr=sr, params=RepetParams())
    est = np.stack([result.background, result.foreground]).astype(np.float32)
    assert np.abs(bsseval.sources(ref, est) - mir_eval_sources(ref, est)).max() < 1e-4
    ours = bsseval.images_framewise(ref, est, window=sr, hop=sr)
    assert np.nanmax(np.abs(ours - museval_v4(ref, est, sr))) < 1e-4
