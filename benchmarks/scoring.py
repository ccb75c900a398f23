"""BSS Eval for the benchmarks: mir_eval (the reference) or the same figures computed faster.

Both scorers follow the definition of ``repet evaluate``: ``bss_eval_sources`` (Vincent,
Gribonval & Fevotte 2006) with a 512-tap distortion filter on each channel separately, the two
stems (background, foreground) as the two sources in that order (no permutation search), then
the mean over channels; SI-SDR (Le Roux et al. 2019) per channel, averaged the same way.

``"mir_eval"`` calls ``mir_eval.separation.bss_eval_sources``, which recomputes complex FFTs of
every reference twice for each estimate: 122 s and 5.3 GB (peak of the process) for a 5.4-min
stereo song here. ``"fft"`` solves the same least-squares problems (normal equations of the
delayed references, dense solve as mir_eval does) but transforms each signal once per channel,
with real FFTs, and filters in the frequency domain: 40 s and 3.2 GB for that song, the same
figures to 1e-6 dB (``python benchmarks/check_scorer.py`` measures the agreement).

The result has the shape of ``repet_cli.evaluate.evaluate``:
``{stem: {"sdr", "sir", "sar", "si_sdr"}}`` in dB.
"""

from __future__ import annotations

import warnings

import numpy as np

STEMS = ("background", "foreground")
METRICS = ("sdr", "sir", "sar", "si_sdr")
SCORERS = ("mir_eval", "fft")
#: Taps of the distortion filter (mir_eval's bss_eval_sources uses 512).
FILTER_LENGTH = 512


def available(scorer: str) -> bool:
    """True if ``scorer`` can run here (mir_eval needs its package; "fft" only scipy)."""
    if scorer != "mir_eval":
        return True
    try:
        import mir_eval.separation  # noqa: F401
    except ImportError:
        return False
    return True


def si_sdr(ref: np.ndarray, est: np.ndarray) -> np.ndarray:
    """Scale-invariant SDR in dB over the last axis (Le Roux et al. 2019, eq. 2)."""
    alpha = np.sum(ref * est, axis=-1, keepdims=True) / np.sum(ref * ref, axis=-1, keepdims=True)
    target = alpha * ref
    noise = est - target
    return 10 * np.log10(np.sum(target**2, axis=-1) / np.sum(noise**2, axis=-1))


def _db(num: float, den: float) -> float:
    return np.inf if den == 0 else float(10 * np.log10(num / den))


def _solve(G: np.ndarray, D: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(G, D)
    except np.linalg.LinAlgError:  # what mir_eval falls back to as well
        return np.linalg.lstsq(G, D, rcond=None)[0]


def bss_eval_fft(refs: np.ndarray, ests: np.ndarray, *, flen: int = FILTER_LENGTH) -> np.ndarray:
    """SDR, SIR, SAR of one channel: (sources, samples) float64 each -> (sources, 3).

    For estimate j, the target is its least-squares projection on the delays 0..flen-1 of
    reference j, and the projection on the delays of all references splits the rest into
    interference and artifacts (Vincent et al. 2006, eqs. 9-12 with time-invariant filters).
    The Gram matrices come from correlations computed with one FFT per signal; the padded
    length ``n + flen - 1`` of the decomposition is mir_eval's.
    """
    from scipy import fft
    from scipy.linalg import toeplitz

    k, n = refs.shape
    size = n + flen - 1
    nfft = fft.next_fast_len(size, real=True)
    R = fft.rfft(refs, nfft, axis=-1)
    E = fft.rfft(ests, nfft, axis=-1)
    lags = np.arange(flen)

    def corr(a, b):  # c[m] = sum_t a(t + m) b(t), m in [-(flen-1), flen-1], as c[m mod nfft]
        return fft.irfft(a * np.conj(b), nfft)

    # G[(i, a), (j, b)] = <r_i(t - a), r_j(t - b)> = corr(r_j, r_i)[a - b]
    G = np.zeros((k * flen, k * flen))
    for i in range(k):
        for j in range(i, k):
            c = corr(R[j], R[i])
            block = toeplitz(c[lags], c[-lags])  # block[a, b] = c[a - b]
            G[i * flen : (i + 1) * flen, j * flen : (j + 1) * flen] = block
            G[j * flen : (j + 1) * flen, i * flen : (i + 1) * flen] = block.T
    out = np.empty((k, 3))
    for j in range(k):
        # D[(i, a)] = <r_i(t - a), e_j(t)> = corr(e_j, r_i)[a]
        D = np.concatenate([corr(E[j], R[i])[lags] for i in range(k)])
        own = slice(j * flen, (j + 1) * flen)
        c_own = _solve(G[own, own], D[own])
        c_all = _solve(G, D).reshape(k, flen)
        target = fft.irfft(R[j] * fft.rfft(c_own, nfft), nfft)[:size]
        proj = fft.irfft(np.sum(R * fft.rfft(c_all, nfft, axis=-1), axis=0), nfft)[:size]
        est = np.zeros(size)
        est[:n] = ests[j]
        out[j] = (
            _db(target @ target, np.sum((est - target) ** 2)),
            _db(target @ target, np.sum((proj - target) ** 2)),
            _db(proj @ proj, np.sum((est - proj) ** 2)),
        )
    return out


def bss_eval(refs: np.ndarray, ests: np.ndarray, *, scorer: str) -> np.ndarray:
    """SDR, SIR, SAR of one channel's sources, shape (sources, samples) -> (sources, 3)."""
    if scorer == "fft":
        return bss_eval_fft(refs, ests)
    if scorer == "mir_eval":
        import mir_eval.separation

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # deprecated in mir_eval 0.8
            sdr, sir, sar, _ = mir_eval.separation.bss_eval_sources(
                refs, ests, compute_permutation=False
            )
        return np.stack([sdr, sir, sar], axis=-1)
    raise ValueError(f"scorer must be one of {SCORERS}, got {scorer!r}")


def score(
    truth: dict[str, np.ndarray], estimates: dict[str, np.ndarray], *, scorer: str = "mir_eval"
) -> dict[str, dict[str, float]]:
    """Every metric of both stems, per channel then averaged over channels.

    ``truth`` and ``estimates`` map "background" and "foreground" to arrays of one shape
    ``(channels, samples)``. A silent channel in any stem raises ``ValueError`` (BSS Eval is
    undefined there), as ``repet evaluate`` does.
    """
    ref = np.stack([np.atleast_2d(truth[s]) for s in STEMS], axis=1).astype(np.float64)
    est = np.stack([np.atleast_2d(estimates[s]) for s in STEMS], axis=1).astype(np.float64)
    if ref.shape != est.shape:
        raise ValueError(f"estimates have shape {est.shape} but references have {ref.shape}")
    for name, stack in (("reference", ref), ("estimate", est)):
        silent = ~np.any(stack, axis=-1)  # (channels, sources)
        if silent.any():
            c, s = np.argwhere(silent)[0]
            raise ValueError(f"the {name} {STEMS[s]} is silent in channel {c + 1}")
    per_channel = [
        np.concatenate([bss_eval(r, e, scorer=scorer), si_sdr(r, e)[:, None]], axis=1)
        for r, e in zip(ref, est, strict=True)
    ]
    mean = np.mean(per_channel, axis=0)  # (sources, metrics)
    return {
        stem: {m: float(mean[i, j]) for j, m in enumerate(METRICS)} for i, stem in enumerate(STEMS)
    }


def average(scores: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Mean of each metric of each stem over items."""
    return {
        stem: {m: float(np.mean([s[stem][m] for s in scores])) for m in METRICS} for stem in STEMS
    }
