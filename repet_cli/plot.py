"""Figures of a separation: spectrograms, beat spectrum and mask on one page (``--plot``).

matplotlib is optional (the ``plot`` extra) and imported only here, only when a figure is
drawn. Figures have a fixed size and no timestamps, so the same input and options give the
same PNG.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import spectral
from .errors import MissingDependencyError

#: Time columns of the displayed spectrograms (frames are sampled evenly over the input).
COLUMNS = 800
#: Rows of the log-frequency axis of the displayed spectrograms.
ROWS = 240
#: Lowest frequency shown, in Hz.
LOWEST = 30.0
#: Figure size in inches and resolution: 1000 x 1300 pixels.
SIZE = (10.0, 13.0)
DPI = 100
#: Dynamic range of the spectrograms, in dB below their maximum.
RANGE_DB = 80.0


def require_matplotlib() -> None:
    """Raise :class:`MissingDependencyError` with the install hint when matplotlib is absent."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "figures need matplotlib: pip install 'repet[plot]' (or matplotlib)"
        ) from None


@dataclass(frozen=True, kw_only=True)
class Panels:
    """What a figure shows; every spectrogram is (ROWS, columns), log-frequency, power."""

    mixture: np.ndarray
    background: np.ndarray | None
    foreground: np.ndarray | None
    times: np.ndarray  # seconds of each column
    frequencies: np.ndarray  # Hz of each row
    beat_spectrum: np.ndarray | None  # lag 0 first
    lag_seconds: float  # seconds per beat-spectrum lag
    period: float | None  # seconds, marked with its multiples
    title: str
    search: tuple[float, float] | None = None  # the period search range in seconds, shaded
    pitch: tuple[np.ndarray, np.ndarray] | None = None  # the lead's (seconds, Hz; NaN: none)


def sampled_power(read, *, n_samples: int, sr: int, n_fft: int, columns: int = COLUMNS):
    """Power spectrogram of ``columns`` frames spread evenly over a signal, averaged over channels.

    Parameters
    ----------
    read : callable
        ``read(start, stop)`` returns samples as ``y[channels, n]`` (an ``AudioReader.read``).
    n_samples, sr, n_fft : int
        Length, sample rate and frame size.

    Returns
    -------
    power : np.ndarray, shape (ROWS, columns)
        On the log-frequency grid of :func:`log_grid`.
    times : np.ndarray, shape (columns,)
        Centre of each frame in seconds.
    """
    import scipy.fft

    centres = np.round(np.linspace(0, max(n_samples - 1, 0), columns)).astype(np.int64)
    window = spectral.window(n_fft)
    frames = []
    for c in centres:
        start, stop = c - n_fft // 2, c - n_fft // 2 + n_fft
        piece = read(max(start, 0), min(stop, n_samples))
        piece = np.pad(piece, [(0, 0), (max(-start, 0), max(stop - n_samples, 0))])
        frames.append(piece)
    X = scipy.fft.rfft(np.stack(frames, axis=-2) * window, axis=-1)  # (channels, columns, bins)
    power = np.mean(np.abs(X) ** 2, axis=0).T  # (bins, columns)
    return _to_log_grid(power, sr=sr, n_fft=n_fft), centres / sr


def log_grid(sr: int) -> np.ndarray:
    """Frequencies (Hz) of the ROWS rows of the displayed spectrograms, log-spaced."""
    return np.geomspace(LOWEST, sr / 2, ROWS)


def _to_log_grid(power: np.ndarray, *, sr: int, n_fft: int) -> np.ndarray:
    """Linear-frequency power (bins, columns) averaged into the rows of :func:`log_grid`."""
    edges = np.sqrt(log_grid(sr)[:-1] * log_grid(sr)[1:])
    bins = spectral.frequencies(sr=sr, n_fft=n_fft)
    row = np.clip(np.searchsorted(edges, bins), 0, ROWS - 1)
    total = np.zeros((ROWS, power.shape[1]))
    np.add.at(total, row, power)
    counts = np.bincount(row, minlength=ROWS)[:, None]
    # Rows no bin falls in (the lowest ones) take the nearest bin's value.
    nearest = np.clip(np.round(log_grid(sr) / (sr / n_fft)).astype(int), 0, len(bins) - 1)
    return np.where(counts > 0, total / np.maximum(counts, 1), power[nearest])


def draw(panels: Panels, path: str | os.PathLike, *, dpi: int = DPI) -> None:
    """Draw the figure into a PNG at ``path`` (written whole or not at all).

    ``dpi`` scales it: the default gives 1000 x 1300 pixels.
    """
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    p = panels
    rows = [("mixture", p.mixture)]
    rows += [("background", p.background), ("foreground", p.foreground)]
    rows = [(name, data) for name, data in rows if data is not None]
    mask = None
    if p.background is not None:
        mask = np.clip(np.sqrt(p.background / np.maximum(p.mixture, 1e-20)), 0.0, 1.0)
    n = len(rows) + 1 + (mask is not None)
    fig = plt.figure(figsize=SIZE, dpi=dpi)
    # The panels start right under the title (matplotlib's default leaves ~100 px empty).
    grid = fig.add_gridspec(
        n, 2, width_ratios=[40, 1], hspace=0.55, wspace=0.03, top=0.95, bottom=0.045
    )
    fig.suptitle(p.title, fontsize=12, y=0.985)
    top = 10 * np.log10(max(float(p.mixture.max()), 1e-20))
    extent = [float(p.times[0]), float(p.times[-1]), 0, ROWS]
    shared = None

    def spectrogram(row: int, title: str, image: np.ndarray, **style):
        nonlocal shared
        ax = fig.add_subplot(grid[row, 0], sharex=shared)
        shared = shared or ax
        shown = ax.imshow(image, origin="lower", aspect="auto", extent=extent, **style)
        _frequency_ticks(ax, p.frequencies)
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_ylabel("Hz")
        fig.colorbar(shown, cax=fig.add_subplot(grid[row, 1]))
        return ax

    def decibels(power):
        return 10 * np.log10(np.maximum(power, 1e-20))

    db = {"vmin": top - RANGE_DB, "vmax": top, "cmap": "magma"}
    last = spectrogram(0, "Mixture: power spectrogram (dB)", decibels(p.mixture), **db)
    if p.pitch is not None:
        times, f0 = p.pitch
        rows_of = np.arange(len(p.frequencies)) + 0.5
        with np.errstate(invalid="ignore"):
            row_of_f0 = np.interp(np.log(f0), np.log(p.frequencies), rows_of)
        row_of_f0[~np.isfinite(f0)] = np.nan
        last.plot(times, row_of_f0, color="cyan", linewidth=0.8, label="lead voice's pitch")
        last.legend(loc="upper right", fontsize=8, frameon=False, labelcolor="cyan")
    ax = fig.add_subplot(grid[1, 0])
    ax.set_title(
        "Beat spectrum: how alike the song is to itself a lag later", fontsize=10, loc="left"
    )
    if p.beat_spectrum is not None:
        lags = np.arange(len(p.beat_spectrum)) * p.lag_seconds
        shown = lags <= beat_range(p)
        ax.plot(lags[shown][1:], p.beat_spectrum[shown][1:], color="black", linewidth=0.8)
        if p.search is not None:
            ax.axvspan(*p.search, color="tab:blue", alpha=0.08, lw=0, label="period search range")
            ax.legend(loc="upper left", fontsize=8, frameon=False)
        if p.period:
            k = 1
            while k * p.period <= lags[shown][-1]:
                ax.axvline(k * p.period, color="tab:red", linestyle="--" if k > 1 else "-", lw=1)
                k += 1
            ax.text(
                0.99,
                0.9,
                f"period {p.period:.3f} s",
                transform=ax.transAxes,
                ha="right",
                va="top",
                color="tab:red",
                fontsize=10,
            )
    ax.set_xlabel("lag (s)")
    ax.set_ylabel("similarity")
    row = 2
    if mask is not None:
        last = spectrogram(
            row,
            "Background mask (share of each bin's magnitude)",
            mask,
            vmin=0.0,
            vmax=1.0,
            cmap="viridis",
        )
        row += 1
    for name, data in rows[1:]:
        last = spectrogram(
            row, f"{name.capitalize()}: power spectrogram (dB)", decibels(data), **db
        )
        row += 1
    last.set_xlabel("time (s)")
    tmp = f"{os.fspath(path)}.part.png"
    try:
        fig.savefig(tmp, dpi=dpi, format="png", metadata={"Software": None})
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


def beat_range(p: Panels) -> float:
    """Longest lag drawn, in seconds: the whole period search range, and the period twice."""
    ends = [p.search[1] if p.search is not None else 16.0]
    if p.period:
        ends.append(2 * p.period)
    return max(ends)


def _frequency_ticks(ax, frequencies: np.ndarray) -> None:
    """Label the rows of a log-frequency image in Hz."""
    ticks = [
        f
        for f in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
        if frequencies[0] <= f <= frequencies[-1]
    ]
    rows = np.interp(np.log(ticks), np.log(frequencies), np.arange(len(frequencies)) + 0.5)
    ax.set_yticks(rows)
    ax.set_yticklabels([f"{f // 1000}k" if f >= 1000 else str(f) for f in ticks])


def panels_from_files(
    source,
    background=None,
    foreground=None,
    *,
    params=None,
    period: float | None = None,
    segment: float = 0.0,
    title: str = "",
    pitch: tuple[np.ndarray, np.ndarray] | None = None,
) -> Panels:
    """The panels of a figure, computed from the input file and (if given) its two stems.

    Spectrograms are sampled at :data:`COLUMNS` frames, so any length costs the same; the beat
    spectrum is the one of the input's first segment (of ``segment`` seconds; 0: all of it).
    """
    from .analyze import analyze
    from .errors import InputTooShortError
    from .io import AudioReader
    from .params import RepetParams

    params = RepetParams() if params is None else params
    spectra = {}
    for name, path in (("mixture", source), ("background", background), ("foreground", foreground)):
        if path is None:
            spectra[name] = None
            continue
        with AudioReader(path) as reader:
            info = reader.info
            n_fft, hop = params.stft_sizes(info.samplerate)
            spectra[name], times = sampled_power(
                reader.read, n_samples=info.frames, sr=info.samplerate, n_fft=n_fft
            )
            if name == "mixture":
                first = (
                    info.frames if not segment else min(info.frames, int(segment * info.samplerate))
                )
                try:
                    found = analyze(reader.read(0, first), sr=info.samplerate, params=params)
                    beat, lag_seconds = found.beat_spectrum, found.hop / found.sr
                    search = (found.min_lag * lag_seconds, found.max_lag * lag_seconds)
                except InputTooShortError:
                    beat, lag_seconds, search = None, hop / info.samplerate, None
                sr = info.samplerate
    return Panels(
        mixture=spectra["mixture"],
        background=spectra["background"],
        foreground=spectra["foreground"],
        times=times,
        frequencies=log_grid(sr),
        beat_spectrum=beat,
        lag_seconds=lag_seconds,
        period=period,
        title=title,
        search=search,
        pitch=pitch,
    )


def draw_analysis(
    path: str | os.PathLike, source, info, parts, *, params=None, segment: float = 0.0
):
    """Draw the figure of an analysis (:func:`~repet_cli.analyze.analyze_file`'s ``info``
    and ``parts``) into ``path``: the spectrogram with the lead's pitch, the beat spectrum,
    the period found. Returns the path written."""
    from pathlib import Path

    from .analyze import pitch_curve

    first = parts[0][2]
    title = f"{Path(source).name}: period {first.period:.3f} s, confidence {first.confidence:.2f}"
    return draw_file(
        path,
        source,
        params=params,
        period=first.period,
        segment=segment,
        title=title,
        pitch=pitch_curve(parts, info),
    )


def draw_file(
    path: str | os.PathLike,
    source,
    background=None,
    foreground=None,
    *,
    params=None,
    period: float | None = None,
    segment: float = 0.0,
    title: str = "",
    pitch: tuple[np.ndarray, np.ndarray] | None = None,
):
    """Draw the figure of an input file (and its stems) into ``path``; its folder is created.

    Returns the path written. See :func:`panels_from_files` and :func:`draw`; ``pitch`` (seconds
    and Hz, NaN where there is none) is drawn over the mixture's spectrogram.
    """
    from pathlib import Path

    panels = panels_from_files(
        source,
        background,
        foreground,
        params=params,
        period=period,
        segment=segment,
        title=title,
        pitch=pitch,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    draw(panels, path)
    return path
