"""`repet evaluate`'s scores of many tracks: which true stems each track is scored against,
each track's scores (:func:`score_track`), and what they add up to: the JSON summary and the
tables (:func:`summary`, :func:`table_lines`). The scoring itself is :mod:`repet_cli.evaluate`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import ParameterError


@dataclass(frozen=True)
class TrackScores:
    """One track's scores: the whole-signal figures (stem -> metric -> dB) and, framewise,
    every window's figures and their medians (the SiSEC 2018 figures)."""

    whole: dict
    frames: dict | None = None
    medians: dict | None = None


def single_track(
    *, background: str | os.PathLike | None, foreground: str | os.PathLike | None, folder
) -> dict | None:
    """The true stems of a single track (``{"background": ..., "foreground": ...}``), or None
    where ``folder`` holds one folder of them per track; either, not both.

    Raises
    ------
    ParameterError
    """
    single = background is not None or foreground is not None
    if single and (background is None or foreground is None):
        raise ParameterError("give both `reference_background` and `reference_foreground`")
    if single == (folder is not None):
        raise ParameterError(
            "give either `reference_background`/`reference_foreground` (one track) or "
            "`references` DIR (many tracks)"
        )
    return {"background": background, "foreground": foreground} if single else None


def tracks_of(estimates: Iterable[Path], *, single: bool = False) -> dict[str, Path]:
    """Track name -> folder of estimated stems (:func:`~repet_cli.evaluate.find_estimates`),
    one only for a ``single`` track's true stems.

    Raises
    ------
    EvaluationError
        A path holds no estimates, or two tracks have the same name.
    ParameterError
        Several tracks for a single track's true stems.
    """
    from .evaluate import find_estimates

    tracks = find_estimates(list(estimates))
    if single and len(tracks) != 1:
        raise ParameterError(
            f"`reference_background`/`reference_foreground` describe one track, but "
            f"{len(tracks)} estimate folders were found; use `references` DIR for many"
        )
    return tracks


def score_track(
    folder: Path,
    references: dict,
    *,
    framewise: bool = False,
    workers: int = 1,
    progress: Callable[[float], None] | None = None,
) -> TrackScores:
    """The scores of the stems ``repet separate`` wrote in ``folder`` against ``references``
    (stem -> file, :func:`~repet_cli.evaluate.reference_files`); ``progress`` is told of the
    fractions of the track done (0.1 once the stems are read).

    Raises
    ------
    RepetError
        The stems cannot be read or compared.
    """
    from . import evaluate as ev

    estimates = {stem: folder / ev.ESTIMATE_NAMES[stem] for stem in ev.STEMS}
    ref, est, sr = ev.load_stems(references, estimates)
    if progress is not None:
        progress(0.1)
    scored = None if progress is None else (lambda f: progress(0.9 * f))
    if framewise:
        whole, frames, medians = ev.framewise_scores_of(
            ref, est, sr, workers=workers, progress=scored
        )
        return TrackScores(whole, frames, medians)
    return TrackScores(ev.scores_of(ref, est, workers=workers, progress=scored))


def summary(scored: dict[str, TrackScores], failed: list[str], *, framewise: bool) -> dict:
    """The JSON summary: each track's scores, their mean, the failures; framewise, each
    track's medians and windows and the median over tracks. NaN and infinities are null."""
    from . import evaluate as ev

    tracks = {name: s.whole for name, s in scored.items()}
    record = {
        "tracks": tracks,
        "mean": ev.average(list(tracks.values())) if tracks else None,
        "failed": failed,
    }
    if framewise:
        medians = [s.medians for s in scored.values()]
        record["framewise"] = {
            "window_s": ev.FRAME_SECONDS,
            "tracks": {
                name: {"median": s.medians, "frames": s.frames} for name, s in scored.items()
            },
            "median": ev.median_over_tracks(medians) if medians else None,
        }
    return finite(record)


def table_lines(scored: dict[str, TrackScores], *, framewise: bool) -> list[str]:
    """The table of the tracks' scores and, for several, their mean; framewise, of their
    SiSEC figures and the median over tracks (no lines for no track)."""
    from . import evaluate as ev

    if not scored:
        return []
    if framewise:
        rows = [(name, s.medians) for name, s in scored.items()]
        median = ev.median_over_tracks([m for _, m in rows])
        table = rows + ([("median", median)] if len(rows) > 1 else [])
        return [
            "SiSEC 2018 (BSS Eval v4, median over 1-s windows):",
            ev.format_table(table, metrics=ev.FRAME_METRICS),
        ]
    rows = [(name, s.whole) for name, s in scored.items()]
    table = rows + ([("mean", ev.average([w for _, w in rows]))] if len(rows) > 1 else [])
    return [ev.format_table(table)]


def finite(value):
    """JSON has no NaN or infinity: those become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value
