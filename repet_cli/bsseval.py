"""BSS Eval computed a block at a time: mir_eval's figures and museval's, in bounded memory.

Two definitions, both from Vincent, Gribonval & Fevotte, "Performance measurement in blind
audio source separation", IEEE TASLP 2006, with 512-tap distortion filters:

- :func:`sources` is ``bss_eval_sources`` (BSS Eval v3) as ``mir_eval.separation`` computes
  it, on each channel separately: the estimate is projected on the delays 0..511 of its own
  reference (the target) and of every reference (the target plus interference); SDR, SIR and
  SAR are energy ratios of these parts over the whole signal.
- :func:`images_framewise` is BSS Eval v4 as ``museval.metrics.bss_eval`` computes it for the
  SiSEC 2018 tables (Stoter, Liutkus & Ito, "The 2018 Signal Separation Evaluation Campaign",
  LVA/ICA 2018): multichannel filters (every channel of every reference to every channel of
  the estimate), fitted once on the whole signal, then SDR, ISR, SIR and SAR on windows
  (1 s with a 1-s hop for SiSEC); a window where any reference or estimate is silent is NaN.

Both solve the same least-squares problems as those packages, from correlations at lags
-511..511, but compute the correlations a block of samples at a time (cross-spectra summed
over blocks, one inverse FFT per pair at the end) and filter a block at a time. Neither
needs the signals' full-length spectra, which is what made mir_eval take 122 s and 5.3 GB for
a 5.4-minute stereo song. Arrays are ``(sources, channels, samples)``, any float dtype; the
work is done in float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Taps of the distortion filters (mir_eval's and museval's default).
FILTER_LENGTH = 512
#: FFT size of a block when correlating and filtering (2^16: 64,514 new samples a block).
BLOCK_FFT = 1 << 16

Progress = Callable[[int], None] | None


def _blocks(n: int, step: int) -> list[slice]:
    return [slice(s, min(s + step, n)) for s in range(0, n, step)]


def _segment(x: np.ndarray, start: int, stop: int) -> np.ndarray:
    """x[..., start:stop] in float64, zeros where the range leaves the signal."""
    n = x.shape[-1]
    out = np.zeros((*x.shape[:-1], stop - start))
    lo, hi = max(start, 0), min(stop, n)
    if hi > lo:
        out[..., lo - start : hi - start] = x[..., lo:hi]
    return out


class Correlations:
    """Correlations at lags -(L-1)..L-1 between references and estimates.

    ``corr(x, y)[m] = sum_t x(t + m) y(t)``, the linear (not circular) correlation of the
    whole signals, for every pair of reference channels and every (reference channel,
    estimate channel) pair.
    """

    def __init__(
        self,
        references: np.ndarray,
        estimates: np.ndarray,
        *,
        length: int = FILTER_LENGTH,
        workers: int = 1,
        progress: Progress = None,
    ):
        from scipy import fft

        nsrc, nchan, n = references.shape
        k = nsrc * nchan  # signals of each kind, (source, channel) in order
        self.length, self.nsrc, self.nchan = length, nsrc, nchan
        halo = length - 1
        size = BLOCK_FFT
        while size < 4 * (2 * halo + 1):
            size *= 2
        step = size - 2 * halo
        # pairs: (reference a, reference b) with a <= b, then (reference a, estimate b)
        rr = [(a, b) for a in range(k) for b in range(a, k)]
        re = [(a, b) for a in range(k) for b in range(k)]
        ia = np.array([a for a, _ in rr + re])
        ib = np.array([b for _, b in rr] + [k + b for _, b in re])
        spectra = np.zeros((len(ia), size // 2 + 1), dtype=np.complex128)
        product = np.empty_like(spectra)
        for block in _blocks(n, step):
            # a: the block with (L-1) samples either side; b: the block alone, zero-padded
            start, stop = block.start, block.stop
            a = _segment(references, start - halo, stop + halo).reshape(k, -1)
            a = fft.rfft(a, size, workers=workers)
            both = np.concatenate([references[..., block], estimates[..., block]])
            b = fft.rfft(both.reshape(2 * k, -1).astype(np.float64), size, workers=workers)
            np.multiply(a[ia], np.conj(b[ib]), out=product)
            spectra += product
            if progress is not None:
                progress(block.stop - block.start)
        lags = fft.irfft(spectra, size, workers=workers)[:, : 2 * halo + 1]
        self._rr = {pair: lags[i] for i, pair in enumerate(rr)}
        self._re = {pair: lags[len(rr) + i] for i, pair in enumerate(re)}

    def _index(self, source: int, channel: int) -> int:
        return source * self.nchan + channel

    def refs(self, i: int, c1: int, j: int, c2: int) -> np.ndarray:
        """corr(r_{i,c1}, r_{j,c2}) at lags -(L-1)..L-1 (index m + L - 1)."""
        a, b = self._index(i, c1), self._index(j, c2)
        return self._rr[a, b] if a <= b else self._rr[b, a][::-1]

    def ref_est(self, i: int, c1: int, j: int, c2: int) -> np.ndarray:
        """corr(r_{i,c1}, e_{j,c2}) at lags -(L-1)..L-1."""
        return self._re[self._index(i, c1), self._index(j, c2)]

    def gram(self, units: list[tuple[int, int]]) -> np.ndarray:
        """Inner products of the delayed references ``units`` ((source, channel) pairs):
        ``G[(u, a), (v, b)] = <r_u(t - a), r_v(t - b)> = corr(r_u, r_v)[b - a]``."""
        from scipy.linalg import toeplitz

        L = self.length
        G = np.empty((len(units) * L, len(units) * L))
        for p, u in enumerate(units):
            for q, v in enumerate(units):
                c = self.refs(*u, *v)
                # toeplitz(col, row)[a, b] = col[a - b] (a >= b), row[b - a] (b >= a)
                G[p * L : (p + 1) * L, q * L : (q + 1) * L] = toeplitz(c[L - 1 :: -1], c[L - 1 :])
        return G

    def cross(self, units: list[tuple[int, int]], estimate: tuple[int, int]) -> np.ndarray:
        """``D[(u, a)] = <r_u(t - a), e(t)> = corr(r_u, e)[-a]``."""
        L = self.length
        return np.concatenate([self.ref_est(*u, *estimate)[L - 1 :: -1] for u in units])


def _solve(G: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Least-squares filters, as mir_eval finds them (lstsq where G is singular)."""
    try:
        return np.linalg.solve(G, D)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(G, D, rcond=None)[0]


def _db(num: float, den: float) -> float:
    return float("inf") if den == 0 else float(10 * np.log10(num / den))


def _check(references: np.ndarray, estimates: np.ndarray) -> None:
    if references.ndim != 3 or references.shape != estimates.shape:
        raise ValueError(
            "references and estimates must both have shape (sources, channels, samples); "
            f"got {references.shape} and {estimates.shape}"
        )


def sources(
    references: np.ndarray,
    estimates: np.ndarray,
    *,
    correlations: Correlations | None = None,
    workers: int = 1,
    progress: Progress = None,
) -> np.ndarray:
    """SDR, SIR and SAR in dB of each source in each channel, as mir_eval's
    ``bss_eval_sources(refs[:, c], ests[:, c], compute_permutation=False)`` gives them:
    shape (sources, channels, 3).
    """
    from scipy import fft

    _check(references, estimates)
    nsrc, nchan, n = references.shape
    corr = correlations or Correlations(references, estimates, workers=workers, progress=progress)
    L = corr.length
    # filters: own[j, c] (L,) on reference j; every[j, c] (nsrc, L) on every reference
    own = np.empty((nsrc, nchan, L))
    every = np.empty((nsrc, nchan, nsrc, L))
    for c in range(nchan):
        units = [(i, c) for i in range(nsrc)]
        G = corr.gram(units)
        for j in range(nsrc):
            D = corr.cross(units, (j, c))
            mine = slice(j * L, (j + 1) * L)
            own[j, c] = _solve(G[mine, mine], D[mine])
            every[j, c] = _solve(G, D).reshape(nsrc, L)
    # Filter a block at a time (overlap-add) and sum the energies of mir_eval's parts over
    # the padded length n + L - 1: target t, projection p, estimate e.
    size = BLOCK_FFT
    step = size - (L - 1)
    own_f = fft.rfft(own, size, axis=-1)
    every_f = fft.rfft(every, size, axis=-1)
    energy = np.zeros((nsrc, nchan, 5))  # |t|^2, |e-t|^2, |p-t|^2, |p|^2, |e-p|^2
    tail = np.zeros((2, nsrc, nchan, L - 1))
    for block in [*_blocks(n, step), slice(n, n)]:
        width = block.stop - block.start
        if width:
            R = fft.rfft(_segment(references, block.start, block.stop), size, workers=workers)
            target = fft.irfft(R * own_f, size, workers=workers)
            # p[j, c] = sum_i every[j, c, i] * r[i, c]
            proj = fft.irfft(np.einsum("icf,jcif->jcf", R, every_f), size, workers=workers)
            parts = np.stack([target, proj])[..., : width + L - 1]
            parts[..., : L - 1] += tail
            tail = parts[..., width:].copy()
            parts = parts[..., :width]
            e = _segment(estimates, block.start, block.stop)
        else:  # the last L - 1 samples of the padded signals: the estimate is zero there
            parts, e = tail, np.zeros((nsrc, nchan, L - 1))
        t, p = parts
        energy[..., 0] += np.einsum("...n,...n->...", t, t)
        energy[..., 1] += np.einsum("...n,...n->...", e - t, e - t)
        energy[..., 2] += np.einsum("...n,...n->...", p - t, p - t)
        energy[..., 3] += np.einsum("...n,...n->...", p, p)
        energy[..., 4] += np.einsum("...n,...n->...", e - p, e - p)
        if progress is not None and width:
            progress(width)
    out = np.empty((nsrc, nchan, 3))
    for j in range(nsrc):
        for c in range(nchan):
            tt, et, pt, pp, ep = energy[j, c]
            out[j, c] = (_db(tt, et), _db(tt, pt), _db(pp, ep))
    return out


def frames(n: int, window: int, hop: int) -> list[slice]:
    """museval's windows over n samples: whole windows only, or one window of the whole
    signal when it is shorter than a window."""
    if window >= n:
        return [slice(0, n)]
    count = (n - window + hop) // hop
    return [slice(t * hop, t * hop + window) for t in range(count)]


def images_framewise(
    references: np.ndarray,
    estimates: np.ndarray,
    *,
    window: int,
    hop: int,
    correlations: Correlations | None = None,
    workers: int = 1,
    progress: Progress = None,
) -> np.ndarray:
    """BSS Eval v4 as museval computes it (``bss_eval(..., framewise_filters=False,
    bsseval_sources_version=False)``): SDR, ISR, SIR, SAR in dB of each source on each
    window, shape (4, sources, windows); NaN on windows where a reference or an estimate is
    silent.
    """
    from scipy import fft

    _check(references, estimates)
    nsrc, nchan, n = references.shape
    corr = correlations or Correlations(references, estimates, workers=workers, progress=progress)
    L = corr.length
    eps = np.finfo(float).eps
    units = [(i, c) for i in range(nsrc) for c in range(nchan)]
    G = corr.gram(units)
    G += eps * np.eye(len(G))
    # C[j]: every reference channel to each channel of estimate j; own[j]: reference j only
    C = np.empty((nsrc, nsrc, nchan, L, nchan))
    own = np.empty((nsrc, nchan, L, nchan))
    for j in range(nsrc):
        D = np.stack([corr.cross(units, (j, c)) for c in range(nchan)], axis=-1)
        C[j] = _solve(G, D).reshape(nsrc, nchan, L, nchan)
        mine = slice(j * nchan * L, (j + 1) * nchan * L)
        own[j] = _solve(G[mine, mine], D[mine]).reshape(nchan, L, nchan)
    windows = frames(n, window, hop)
    span = max(w.stop - w.start for w in windows)
    size = fft.next_fast_len(span + L - 1, real=True)
    C_f = fft.rfft(C, size, axis=-2)  # (j, i, c1, f, c)
    own_f = fft.rfft(own, size, axis=-2)  # (j, c1, f, c)
    out = np.full((4, nsrc, len(windows)), np.nan)
    chunk = max(1, (1 << 20) // max(1, size * nsrc * nchan))  # windows at once: ~100 MB
    for first in range(0, len(windows), chunk):
        group = windows[first : first + chunk]
        r = np.stack([_segment(references, w.start, w.stop) for w in group])  # (w, i, c, n)
        e = np.stack([_segment(estimates, w.start, w.stop) for w in group])
        R = fft.rfft(r, size, axis=-1, workers=workers)
        every = fft.irfft(np.einsum("wicf,jicfd->wjdf", R, C_f), size, workers=workers)
        mine = np.einsum("wjcf,jcfd->wjdf", R, own_f)
        mine = fft.irfft(mine, size, workers=workers)
        width = r.shape[-1]
        pad = width + L - 1
        s = np.zeros((*r.shape[:-1], pad))
        s[..., :width] = r
        est = np.zeros_like(s)
        est[..., :width] = e
        every, mine = every[..., :pad], mine[..., :pad]

        def energy(x):
            return np.einsum("wjcn,wjcn->wj", x, x)

        ratios = [
            (energy(s), energy(est - s)),  # SDR
            (energy(s), energy(mine - s)),  # ISR
            (energy(mine), energy(every - mine)),  # SIR
            (energy(every), energy(est - every)),  # SAR
        ]
        silent = np.any(np.all(r.sum(axis=2) == 0, axis=-1), axis=1) | np.any(
            np.all(e.sum(axis=2) == 0, axis=-1), axis=1
        )
        for m, (num, den) in enumerate(ratios):
            with np.errstate(divide="ignore"):
                value = np.where(den == 0, np.inf, 10 * np.log10(num / np.where(den == 0, 1, den)))
            value[silent] = np.nan
            out[m, :, first : first + len(group)] = value.T
        if progress is not None:
            progress(sum(w.stop - w.start for w in group))
    return out
