"""Separation quality: BSS Eval (SDR, SIR, SAR) and SI-SDR of a background/foreground pair.

Whole-signal figures are ``bss_eval_sources`` (BSS Eval v3; Vincent, Gribonval & Fevotte
2006; 512-tap distortion filter) on each channel separately, with the two stems as the two
sources, averaged over channels: the figures of ``mir_eval.separation.bss_eval_sources``
(to 1e-6 dB; :mod:`repet_cli.bsseval` computes them a block at a time, without mir_eval).
SI-SDR is the scale-invariant SDR of Le Roux, Wisdom, Erdogan & Hershey, "SDR - half-baked or
well done?", ICASSP 2019, also per channel and averaged.

Framewise figures (:func:`evaluate_framewise`) are the SiSEC 2018 ones: BSS Eval v4 as museval
computes it (multichannel distortion filters fitted on the whole track, SDR, ISR, SIR and SAR
on 1-s windows), summarised by the median over windows.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import EvaluationError

STEMS = ("background", "foreground")
SHORT = {"background": "bg", "foreground": "fg"}
METRICS = ("sdr", "sir", "sar", "si_sdr")
#: The SiSEC figures, in museval's order.
FRAME_METRICS = ("sdr", "isr", "sir", "sar")
#: Samples summed at a time for SI-SDR.
SI_SDR_BLOCK = 1 << 18
#: Window and hop of the framewise figures (SiSEC 2018: 1 s, no overlap).
FRAME_SECONDS = 1.0

Scores = dict[str, dict[str, float]]  # stem -> metric -> dB


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB of one signal, shape (samples,).

    The reference is scaled by the least-squares gain ``alpha = <s, s_hat> / ||s||^2``;
    SI-SDR = 10 log10(||alpha s||^2 / ||s_hat - alpha s||^2) (Le Roux et al. 2019, eq. 2).
    Sums are taken in float64 a block at a time (no full-length float64 copies).
    """
    s, s_hat = np.asarray(reference), np.asarray(estimate)
    spans = [slice(i, i + SI_SDR_BLOCK) for i in range(0, s.shape[-1], SI_SDR_BLOCK)]

    def f64(x, span):
        return x[span].astype(np.float64)

    ss = sum(float(np.dot(f64(s, k), f64(s, k))) for k in spans)
    sh = sum(float(np.dot(f64(s, k), f64(s_hat, k))) for k in spans)
    alpha = sh / ss
    noise = 0.0
    for k in spans:
        e = f64(s_hat, k) - alpha * f64(s, k)
        noise += float(np.dot(e, e))
    if noise == 0:  # the estimate is the reference, scaled: as BSS Eval says of it
        return float("inf")
    return float(10 * np.log10(alpha * alpha * ss / noise))


def _stacks(references: dict, estimates: dict) -> tuple[np.ndarray, np.ndarray]:
    """(stems, channels, samples) arrays of both, checked: same shape."""
    ref = np.stack([np.atleast_2d(references[s]) for s in STEMS])
    est = np.stack([np.atleast_2d(estimates[s]) for s in STEMS])
    if ref.shape != est.shape:
        raise EvaluationError(
            f"estimates have shape {est.shape[1:]} (channels, samples) but references have "
            f"{ref.shape[1:]}"
        )
    return ref, est


def _check_not_silent(ref: np.ndarray, est: np.ndarray) -> None:
    for name, stack in (("reference", ref), ("estimated", est)):
        for i, stem in enumerate(STEMS):
            silent = np.flatnonzero(~np.any(stack[i], axis=-1))
            if silent.size:
                raise EvaluationError(
                    f"the {name} {stem} is silent in channel {silent[0] + 1}; "
                    "BSS Eval is undefined for a silent source"
                )


def evaluate(
    references: dict[str, np.ndarray],
    estimates: dict[str, np.ndarray],
    *,
    workers: int = 1,
    progress: Callable[[float], None] | None = None,
) -> Scores:
    """SDR, SIR, SAR and SI-SDR of both stems, per channel then averaged over channels.

    Parameters
    ----------
    references, estimates : dict
        ``{"background": array, "foreground": array}``, every array of one shape
        ``(channels, samples)`` (or ``(samples,)``).
    workers : int
        Threads for the FFTs.
    progress : callable, optional
        Called with the fraction of the work done since the last call.

    Returns
    -------
    dict
        ``{stem: {"sdr": dB, "sir": dB, "sar": dB, "si_sdr": dB}}``.

    Raises
    ------
    EvaluationError
        Shapes differ, or a channel of a stem is silent (BSS Eval is undefined for it).
    """
    ref, est = _stacks(references, estimates)
    return scores_of(ref, est, workers=workers, progress=progress)


def scores_of(ref: np.ndarray, est: np.ndarray, *, workers: int = 1, progress=None) -> Scores:
    """:func:`evaluate` of (stems, channels, samples) arrays, background first."""
    _check_not_silent(ref, est)
    return _whole(ref, est, None, workers=workers, progress=_fraction(progress, 2 * ref.shape[-1]))


def _fraction(progress, total: int):
    if progress is None:
        return None
    return lambda samples: progress(samples / total)


def _whole(ref, est, correlations, *, workers, progress) -> Scores:
    from . import bsseval

    bss = bsseval.sources(ref, est, correlations=correlations, workers=workers, progress=progress)
    si = np.array([[si_sdr(ref[i, c], est[i, c]) for c in range(ref.shape[1])] for i in range(2)])
    mean = np.concatenate([bss, si[..., None]], axis=-1).mean(axis=1)  # (stems, metrics)
    return {
        stem: {metric: float(mean[i, j]) for j, metric in enumerate(METRICS)}
        for i, stem in enumerate(STEMS)
    }


def evaluate_framewise(
    references: dict[str, np.ndarray],
    estimates: dict[str, np.ndarray],
    sr: int,
    *,
    window: float = FRAME_SECONDS,
    workers: int = 1,
    progress: Callable[[float], None] | None = None,
) -> tuple[Scores, dict[str, dict[str, list[float]]], Scores]:
    """Whole-signal scores (as :func:`evaluate`) and the SiSEC 2018 framewise ones.

    Returns
    -------
    whole : dict
        As :func:`evaluate`.
    frames : dict
        ``{stem: {"sdr": [dB per window], "isr": ..., "sir": ..., "sar": ...}}``; NaN for a
        window where a reference or an estimate is silent (museval's rule).
    medians : dict
        ``{stem: {metric: median over the windows that are not NaN}}`` (NaN if none).
    """
    ref, est = _stacks(references, estimates)
    return framewise_scores_of(ref, est, sr, window=window, workers=workers, progress=progress)


def framewise_scores_of(
    ref: np.ndarray,
    est: np.ndarray,
    sr: int,
    *,
    window: float = FRAME_SECONDS,
    workers: int = 1,
    progress=None,
):
    """:func:`evaluate_framewise` of (stems, channels, samples) arrays, background first."""
    from . import bsseval

    _check_not_silent(ref, est)
    n = ref.shape[-1]
    step = max(1, int(round(window * sr)))
    spans = bsseval.frames(n, step, step)
    total = 2 * n + sum(w.stop - w.start for w in spans)
    tick = _fraction(progress, total)
    corr = bsseval.Correlations(ref, est, workers=workers, progress=tick)
    whole = _whole(ref, est, corr, workers=workers, progress=tick)
    values = bsseval.images_framewise(
        ref, est, window=step, hop=step, correlations=corr, workers=workers, progress=tick
    )
    frames = {
        stem: {m: values[k, i].tolist() for k, m in enumerate(FRAME_METRICS)}
        for i, stem in enumerate(STEMS)
    }
    medians = {
        stem: {m: _nanmedian(values[k, i]) for k, m in enumerate(FRAME_METRICS)}
        for i, stem in enumerate(STEMS)
    }
    return whole, frames, medians


def _nanmedian(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(np.median(x)) if x.size else float("nan")


def average(scores: list[Scores]) -> Scores:
    """Mean of each metric of each stem over tracks."""
    return {
        stem: {m: float(np.mean([s[stem][m] for s in scores])) for m in METRICS} for stem in STEMS
    }


#: Reference file names looked for in a track folder, per stem, in order: ours, then MUSDB18's.
#: Reference files looked for in a track folder, per stem, in order: ours, MUSDB18's
#: accompaniment, then MUSDB18-HQ's three instrument stems, summed.
REFERENCE_NAMES = {
    "background": ("background.wav", "accompaniment.wav", ("drums.wav", "bass.wav", "other.wav")),
    "foreground": ("foreground.wav", "vocals.wav"),
}
#: museval's names of the two targets (its JSON layout), per stem.
MUSEVAL_TARGETS = {"background": "accompaniment", "foreground": "vocals"}
ESTIMATE_NAMES = {"background": "background.wav", "foreground": "foreground.wav"}


@dataclass(frozen=True)
class Stream:
    """One audio stream of a multi-stream file (MUSDB18's ``.stem.mp4``)."""

    path: Path
    index: int

    def __str__(self) -> str:
        return f"{self.path} (stream {self.index})"


#: MUSDB18's ``.stem.mp4`` streams: 0 the mixture, then drums, bass, other and vocals.
STEM_MP4 = ".stem.mp4"
STEM_MP4_STREAMS = {"background": (1, 2, 3), "foreground": (4,)}


def stem_mp4_references(path: Path) -> dict[str, Stream | tuple[Stream, ...]]:
    """The true stems inside a MUSDB18 ``.stem.mp4``: the accompaniment as the sum of its
    drums, bass and other streams, the vocals stream."""
    return {
        stem: tuple(Stream(Path(path), k) for k in ks) if len(ks) > 1 else Stream(Path(path), ks[0])
        for stem, ks in STEM_MP4_STREAMS.items()
    }


def _load(part) -> tuple[np.ndarray, int]:
    from .io import AudioReader

    if isinstance(part, Stream):
        with AudioReader(part.path, stream=part.index) as reader:
            return reader.read(0, reader.info.frames), reader.info.samplerate
    from .io import load_audio

    y, sr, _ = load_audio(part)
    return y, sr


def load_stems(
    references: dict[str, str | os.PathLike], estimates: dict[str, str | os.PathLike]
) -> tuple[np.ndarray, np.ndarray, int]:
    """Load two reference and two estimated stems and check that they match.

    An entry may be a path, a :class:`Stream` of a multi-stream file, or a tuple of these,
    whose sum is the stem (MUSDB18-HQ's drums, bass and other).

    Returns
    -------
    references, estimates : np.ndarray, shape (2, channels, samples), float32
        Background first.
    sr : int

    Raises
    ------
    EvaluationError
        Sample rates, channel counts or lengths differ (the message names both files).
    AudioReadError
        A file cannot be read.
    """
    stacks: dict[str, np.ndarray] = {}
    first = None
    for kind, paths in (("reference", references), ("estimate", estimates)):
        for i, stem in enumerate(STEMS):
            given = paths[stem]
            parts = list(given) if isinstance(given, tuple | list) else [given]
            parts = [p if isinstance(p, Stream) else Path(p) for p in parts]
            for k, path in enumerate(parts):  # several files: their sum (MUSDB18-HQ)
                y, sr = _load(path)
                if first is None:
                    first = (path, y.shape, sr)
                first_path, (channels, samples), first_sr = first
                for what, mine, theirs, unit in (
                    ("sample rate", sr, first_sr, " Hz"),
                    ("channel count", y.shape[0], channels, ""),
                    ("length", y.shape[1], samples, " samples"),
                ):
                    if mine != theirs:
                        raise EvaluationError(
                            f"{what} differs: {path} has {mine}{unit}, {first_path} has "
                            f"{theirs}{unit}"
                        )
                if kind not in stacks:  # one array per kind, filled in place: no second copy
                    stacks[kind] = np.empty((len(STEMS), channels, samples), dtype=np.float32)
                if k == 0:
                    stacks[kind][i] = y
                else:
                    stacks[kind][i] += y
                del y
    return stacks["reference"], stacks["estimate"], first[2]


def evaluate_files(
    references: dict[str, str | os.PathLike],
    estimates: dict[str, str | os.PathLike],
    *,
    workers: int = 1,
    progress: Callable[[float], None] | None = None,
) -> Scores:
    """:func:`evaluate` of the stems in these files (see :func:`load_stems`)."""
    ref, est, _ = load_stems(references, estimates)
    return scores_of(ref, est, workers=workers, progress=progress)


def is_estimate_folder(folder: Path) -> bool:
    """True if ``folder`` holds the two stems that ``repet separate`` writes."""
    return all((folder / name).is_file() for name in ESTIMATE_NAMES.values())


def find_estimates(paths: list[Path]) -> dict[str, Path]:
    """Track name -> estimate folder, for folders of stems or folders of such folders.

    Raises
    ------
    EvaluationError
        A path holds no estimates, or two tracks have the same name.
    """
    found: dict[str, Path] = {}
    for path in paths:
        if is_estimate_folder(path):
            folders = [path]
        elif path.is_dir():
            folders = sorted(p for p in path.iterdir() if p.is_dir() and is_estimate_folder(p))
        else:
            folders = []
        if not folders:
            raise EvaluationError(
                f"{path} holds no {' and '.join(ESTIMATE_NAMES.values())} (neither directly "
                "nor in its subfolders); give the folder that repet separate wrote"
            )
        for folder in folders:
            if folder.name in found:
                raise EvaluationError(
                    f"two estimates are both named {folder.name!r}: {found[folder.name]} and "
                    f"{folder}"
                )
            found[folder.name] = folder
    return found


def reference_files(folder: Path) -> dict[str, Path | tuple[Path, ...]]:
    """The reference stems in a track folder: ``background.wav`` or ``accompaniment.wav`` (or
    MUSDB18-HQ's ``drums.wav``, ``bass.wav`` and ``other.wav``, to be summed), and
    ``foreground.wav`` or ``vocals.wav``.

    Raises
    ------
    EvaluationError
        The folder is missing or lacks a stem.
    """
    if not folder.is_dir():
        raise EvaluationError(f"no reference folder {folder}")
    files: dict[str, Path | tuple[Path, ...]] = {}
    for stem, names in REFERENCE_NAMES.items():
        for name in names:
            parts = (name,) if isinstance(name, str) else name
            if all((folder / n).is_file() for n in parts):
                files[stem] = (
                    folder / name if isinstance(name, str) else tuple(folder / n for n in parts)
                )
                break
        else:
            wanted = " or ".join(n if isinstance(n, str) else " + ".join(n) for n in names)
            raise EvaluationError(f"{folder} holds no reference {stem} ({wanted})")
    return files


def museval_record(
    name: str,
    frames: dict[str, dict[str, list[float]]],
    *,
    whole: Scores | None = None,
    window: float = FRAME_SECONDS,
    extra: dict | None = None,
) -> dict:
    """A track's framewise scores in museval's JSON layout (``targets``, each with its
    ``frames``: ``time``, ``duration`` and ``metrics`` SDR, SIR, SAR, ISR), targets named as
    MUSDB18's (accompaniment, vocals); NaN stays NaN, as museval writes it. ``whole`` (the
    whole-signal figures), the repet version and ``extra`` are added beside."""
    from . import __version__

    targets = []
    for stem in STEMS:
        values = frames[stem]
        targets.append(
            {
                "name": MUSEVAL_TARGETS[stem],
                "frames": [
                    {
                        "time": t * window,
                        "duration": window,
                        "metrics": {m.upper(): values[m][t] for m in ("sdr", "sir", "sar", "isr")},
                    }
                    for t in range(len(values["sdr"]))
                ],
            }
        )
    record = {"name": name, "targets": targets, "repet_version": __version__}
    if whole is not None:
        record["whole"] = whole
    return {**record, **(extra or {})}


def medians_of(record: dict) -> Scores:
    """The median over windows of each metric of each stem in a :func:`museval_record`."""
    by_name = {t["name"]: t["frames"] for t in record["targets"]}
    out = {}
    for stem in STEMS:
        frames = by_name[MUSEVAL_TARGETS[stem]]
        out[stem] = {
            m: _nanmedian(
                np.array(
                    [
                        np.nan if f["metrics"][m.upper()] is None else f["metrics"][m.upper()]
                        for f in frames
                    ],
                    dtype=float,
                )
            )
            for m in FRAME_METRICS
        }
    return out


def read_scores(
    path: Path, *, options_hash: str, estimates: dict[str, str | os.PathLike]
) -> tuple[Scores, Scores] | None:
    """The whole-signal scores and framewise medians kept in ``path`` (a
    :func:`museval_record` written by a run with these options, after the estimates were
    last written); None where there is no such file."""
    import json

    try:
        if path.stat().st_mtime < max(os.stat(p).st_mtime for p in estimates.values()):
            return None
        record = json.loads(path.read_text())
        if record.get("options_hash") != options_hash or "whole" not in record:
            return None
        return record["whole"], medians_of(record)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def mean_over_tracks(scores: list[Scores]) -> Scores:
    """Mean of each metric of each stem over tracks, NaN left out."""
    metrics = list(scores[0][STEMS[0]])
    out = {}
    for stem in STEMS:
        out[stem] = {}
        for m in metrics:
            x = np.array([s[stem][m] for s in scores], dtype=float)
            x = x[np.isfinite(x)]
            out[stem][m] = float(x.mean()) if x.size else float("nan")
    return out


def median_over_tracks(scores: list[Scores]) -> Scores:
    """Median of each metric of each stem over tracks, NaN left out (SiSEC's aggregation)."""
    metrics = list(scores[0][STEMS[0]])
    return {
        stem: {m: _nanmedian(np.array([s[stem][m] for s in scores], dtype=float)) for m in metrics}
        for stem in STEMS
    }


def format_table(rows: list[tuple[str, Scores]], *, markdown: bool = False, metrics=METRICS) -> str:
    """A table with one row per (name, scores): every metric of both stems, in dB."""
    header = ["track"] + [
        f"{SHORT[stem]} {metric.upper().replace('_', '-')}" for stem in STEMS for metric in metrics
    ]
    body = [
        [name] + [f"{scores[stem][metric]:.2f}" for stem in STEMS for metric in metrics]
        for name, scores in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *body]
    )
