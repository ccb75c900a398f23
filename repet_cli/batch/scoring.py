"""A job's stems scored against its true stems (``references``): where those are, and the
scores kept beside the stems (:data:`~repet_cli.batch.provenance.SCORES_FILE`) for a rerun.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import EvaluationError
from ..files import replace_file
from ..parallel import cpu_threads
from .planning import Job
from .provenance import SCORES_FILE, options_hash
from .settings import Settings


def references_of(job: Job, references: Path) -> dict:
    """A job's true stems (:func:`~repet_cli.evaluate.load_stems`'s entries): those inside
    its input for a MUSDB18 ``.stem.mp4`` in ``references``, else the files of
    :func:`reference_folder`."""
    from .. import evaluate as ev

    source = Path(os.path.abspath(job.source))
    inside = Path(os.path.abspath(references)) in source.parents
    if inside and source.name.lower().endswith(ev.STEM_MP4):
        return ev.stem_mp4_references(source)
    return ev.reference_files(reference_folder(job, references))


def reference_folder(job: Job, references: Path) -> Path:
    """Where a job's true stems are: ``references/<input name>/``, else
    ``references/<input's folder name>/``, else, for an input inside ``references`` (a
    dataset's ``<track>/mixture.wav``), the input's own folder."""
    from .. import evaluate as ev

    source = Path(os.path.abspath(job.source))
    candidates = [references / job.source.stem, references / source.parent.name]
    if Path(os.path.abspath(references)) in source.parents:
        candidates.append(source.parent)
    folder = next((c for c in candidates if c.is_dir() and _has_references(c, ev)), None)
    if folder is None:
        raise EvaluationError(
            f"no reference folder {' or '.join(str(c) for c in dict.fromkeys(candidates))}"
        )
    return folder


def track_name(source) -> str:
    """A track's name: the file's, without ``.stem.mp4`` or the extension, or its folder's
    for a dataset's ``<track>/mixture.wav``."""
    from ..evaluate import STEM_MP4

    name = os.path.basename(os.fspath(source))
    if name.lower().endswith(STEM_MP4):
        return name[: -len(STEM_MP4)]
    stem, _ = os.path.splitext(name)
    parent = os.path.basename(os.path.dirname(os.path.abspath(source)))
    return parent if stem == "mixture" and parent else stem


def _has_references(folder: Path, ev) -> bool:
    try:
        ev.reference_files(folder)
    except EvaluationError:
        return False
    return True


def score(job: Job, *, settings: Settings) -> tuple[dict, dict | None]:
    """A job's whole-signal scores (`repet evaluate`) against its true stems (see
    :func:`reference_folder`) and, with ``settings.framewise``, the medians of the SiSEC
    figures; those and every window's values also go into :data:`SCORES_FILE` beside the
    stems, which a later run with the same options reads instead of scoring again.
    """
    from .. import evaluate as ev

    truth = references_of(job, settings.references)
    estimates = dict(zip(ev.STEMS, job.targets, strict=True))
    threads = settings.threads or cpu_threads()
    sidecar = Path(job.targets[0]).parent / SCORES_FILE
    if not settings.framewise:
        return ev.evaluate_files(truth, estimates, workers=threads), None
    digest = options_hash(settings)
    kept = ev.read_scores(sidecar, options_hash=digest, estimates=estimates)
    if kept is not None:
        return kept
    ref, est, sr = ev.load_stems(truth, estimates)
    whole, frames, medians = ev.framewise_scores_of(ref, est, sr, workers=threads)
    del ref, est
    record = ev.museval_record(
        track_name(job.source), frames, whole=whole, extra={"options_hash": digest}
    )
    replace_file(sidecar, json.dumps(record, indent=1))
    return whole, medians
