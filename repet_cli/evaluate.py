"""Separation quality: BSS Eval (SDR, SIR, SAR) and SI-SDR of a background/foreground pair.

BSS Eval is computed by ``mir_eval.separation.bss_eval_sources`` (Vincent, Gribonval & Fevotte
2006; 512-tap distortion filter) on each channel separately, with the two stems as the two
sources, and averaged over channels. SI-SDR is the scale-invariant SDR of Le Roux, Wisdom,
Erdogan & Hershey, "SDR - half-baked or well done?", ICASSP 2019, also per channel and averaged.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .errors import EvaluationError, MissingDependencyError

STEMS = ("background", "foreground")
SHORT = {"background": "bg", "foreground": "fg"}
METRICS = ("sdr", "sir", "sar", "si_sdr")

Scores = dict[str, dict[str, float]]  # stem -> metric -> dB


def require_mir_eval():
    """Import mir_eval, or raise :class:`MissingDependencyError` with the install hint."""
    try:
        import mir_eval.separation
    except ImportError:
        raise MissingDependencyError(
            "evaluation needs the mir_eval package: pip install 'repet[eval]' "
            "(or pip install mir_eval)"
        ) from None
    return mir_eval.separation


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB of one signal, shape (samples,).

    The reference is scaled by the least-squares gain ``alpha = <s, s_hat> / ||s||^2``;
    SI-SDR = 10 log10(||alpha s||^2 / ||s_hat - alpha s||^2) (Le Roux et al. 2019, eq. 2).
    """
    s = np.asarray(reference, dtype=np.float64)
    s_hat = np.asarray(estimate, dtype=np.float64)
    alpha = np.dot(s, s_hat) / np.dot(s, s)
    target = alpha * s
    noise = s_hat - target
    return float(10 * np.log10(np.dot(target, target) / np.dot(noise, noise)))


def evaluate(references: dict[str, np.ndarray], estimates: dict[str, np.ndarray]) -> Scores:
    """SDR, SIR, SAR and SI-SDR of both stems, per channel then averaged over channels.

    Parameters
    ----------
    references, estimates : dict
        ``{"background": array, "foreground": array}``, every array of one shape
        ``(channels, samples)`` (or ``(samples,)``).

    Returns
    -------
    dict
        ``{stem: {"sdr": dB, "sir": dB, "sar": dB, "si_sdr": dB}}``.

    Raises
    ------
    EvaluationError
        Shapes differ, or a channel of a stem is silent (BSS Eval is undefined for it).
    """
    separation = require_mir_eval()
    ref = np.stack([np.atleast_2d(references[s]) for s in STEMS]).astype(np.float64)
    est = np.stack([np.atleast_2d(estimates[s]) for s in STEMS]).astype(np.float64)
    if ref.shape != est.shape:
        raise EvaluationError(
            f"estimates have shape {est.shape[1:]} (channels, samples) but references have "
            f"{ref.shape[1:]}"
        )
    for name, stack in (("reference", ref), ("estimated", est)):
        for i, stem in enumerate(STEMS):
            silent = np.flatnonzero(~np.any(stack[i], axis=-1))
            if silent.size:
                raise EvaluationError(
                    f"the {name} {stem} is silent in channel {silent[0] + 1}; "
                    "BSS Eval is undefined for a silent source"
                )
    per_channel = []
    for c in range(ref.shape[1]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # deprecated in mir_eval 0.8
            sdr, sir, sar, _ = separation.bss_eval_sources(
                ref[:, c], est[:, c], compute_permutation=False
            )
        si = [si_sdr(ref[i, c], est[i, c]) for i in range(len(STEMS))]
        per_channel.append(np.stack([sdr, sir, sar, si], axis=-1))  # (stems, metrics)
    mean = np.mean(per_channel, axis=0)
    return {
        stem: {metric: float(mean[i, j]) for j, metric in enumerate(METRICS)}
        for i, stem in enumerate(STEMS)
    }


def average(scores: list[Scores]) -> Scores:
    """Mean of each metric of each stem over tracks."""
    return {
        stem: {m: float(np.mean([s[stem][m] for s in scores])) for m in METRICS} for stem in STEMS
    }


#: Reference file names looked for in a track folder, per stem, in order: ours, then MUSDB18's.
REFERENCE_NAMES = {
    "background": ("background.wav", "accompaniment.wav"),
    "foreground": ("foreground.wav", "vocals.wav"),
}
ESTIMATE_NAMES = {"background": "background.wav", "foreground": "foreground.wav"}


def evaluate_files(
    references: dict[str, str | os.PathLike], estimates: dict[str, str | os.PathLike]
) -> Scores:
    """Load two reference and two estimated stems, check they match, and :func:`evaluate`.

    Raises
    ------
    EvaluationError
        Sample rates, channel counts or lengths differ (the message names both files).
    AudioReadError
        A file cannot be read.
    """
    from .io import load_audio

    require_mir_eval()
    loaded = {}
    for kind, paths in (("reference", references), ("estimate", estimates)):
        for stem in STEMS:
            y, sr, _ = load_audio(paths[stem])
            loaded[kind, stem] = (Path(paths[stem]), y, sr)
    first_path, first_y, first_sr = loaded["reference", "background"]
    for path, y, sr in loaded.values():
        for what, mine, theirs, unit in (
            ("sample rate", sr, first_sr, " Hz"),
            ("channel count", y.shape[0], first_y.shape[0], ""),
            ("length", y.shape[1], first_y.shape[1], " samples"),
        ):
            if mine != theirs:
                raise EvaluationError(
                    f"{what} differs: {path} has {mine}{unit}, {first_path} has {theirs}{unit}"
                )
    return evaluate(
        {stem: loaded["reference", stem][1] for stem in STEMS},
        {stem: loaded["estimate", stem][1] for stem in STEMS},
    )


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


def reference_files(folder: Path) -> dict[str, Path]:
    """The reference stems in a track folder (``background.wav`` or ``accompaniment.wav``, ...).

    Raises
    ------
    EvaluationError
        The folder is missing or lacks a stem.
    """
    if not folder.is_dir():
        raise EvaluationError(f"no reference folder {folder}")
    files = {}
    for stem, names in REFERENCE_NAMES.items():
        match = next((folder / n for n in names if (folder / n).is_file()), None)
        if match is None:
            raise EvaluationError(f"{folder} holds no reference {stem} ({' or '.join(names)})")
        files[stem] = match
    return files


def format_table(rows: list[tuple[str, Scores]], *, markdown: bool = False) -> str:
    """A table with one row per (name, scores): every metric of both stems, in dB."""
    header = ["track"] + [
        f"{SHORT[stem]} {metric.upper().replace('_', '-')}" for stem in STEMS for metric in METRICS
    ]
    body = [
        [name] + [f"{scores[stem][metric]:.2f}" for stem in STEMS for metric in METRICS]
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
