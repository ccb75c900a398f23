"""`repet compare`: one song separated with several algorithms, timed and scored, and the
table of them.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import ParameterError, RepetError
from ..io import probe
from ..parallel import cpu_threads
from ..params import ALGORITHM_OPTIONS, RepetParams
from ..segments import DEFAULT_SEGMENT, describe
from .job import separate_job
from .planning import STEMS, Job
from .settings import Settings


def algorithm_values(
    algorithms: list[str], values: dict, *, given: Iterable[str] = ()
) -> dict[str, dict]:
    """Each algorithm's keywords for :meth:`~repet_cli.params.RepetParams.build` out of one set
    of flat ``values``: the shared options, and those of its own.

    Raises
    ------
    ParameterError
        An option ``given`` (with a value) belongs to none of the ``algorithms``.
    """
    for name in given:
        owners = ALGORITHM_OPTIONS.get(name)
        if owners and values.get(name) is not None and not set(owners) & set(algorithms):
            raise ParameterError(f"`{name}` applies to {' or '.join(owners)}, which is not run")
    return {
        algorithm: {
            k: v
            for k, v in values.items()
            if k not in ALGORITHM_OPTIONS or algorithm in ALGORITHM_OPTIONS[k]
        }
        for algorithm in algorithms
    }


def expected_seconds(song: str | os.PathLike, *, algorithms: int, scored: bool) -> float:
    """Seconds of audio a comparison goes through, for a progress bar: the song's length for
    each separation and :data:`SCORING_WEIGHT` of it for each scoring; 0 where the song cannot
    be read (its first separation says why)."""
    info = probe(song)
    if info is None:
        return 0.0
    return info.duration * (1 + (SCORING_WEIGHT if scored else 0)) * algorithms


def in_whole_seconds(update: Callable[[int], None]) -> Callable[[float], None]:
    """:func:`compare`'s progress (seconds done, in fractions) as whole seconds, passed on to
    ``update`` as they add up."""
    done = 0.0

    def advance(seconds: float) -> None:
        nonlocal done
        before = round(done)
        done += seconds
        if round(done) > before:
            update(round(done) - before)

    return advance


def compare(
    song: str | os.PathLike,
    params: dict[str, RepetParams],
    *,
    out: str | os.PathLike,
    segment: float = DEFAULT_SEGMENT,
    overwrite: bool = False,
    references: dict[str, Path] | None = None,
    progress: Callable[[float], None] | None = None,
) -> Iterator[tuple[str, dict | RepetError]]:
    """Separate one song with several algorithms into ``out/<track>/<algorithm>/``.

    Existing outputs are refused before any work unless ``overwrite``
    (:class:`~repet_cli.errors.OutputExistsError`, raised by the first step).

    Yields ``(algorithm, row)`` per entry of ``params``: the row holds what was found, the
    period, the time taken, the outputs and, with ``references`` (``{"background": path,
    "foreground": path}``), the scores of the files written; or ``(algorithm, error)``.
    ``progress`` is called with seconds of the song done, within each separation and each
    scoring (a scoring counts as :data:`SCORING_WEIGHT` times the song's length).
    """
    from .. import evaluate as ev
    from ..files import refuse_existing
    from ..spectral import warm_up

    song = Path(song)
    jobs = {
        algorithm: Job(song, *(Path(out) / song.stem / algorithm / f"{s}.wav" for s in STEMS))
        for algorithm in params
    }
    if not overwrite:  # before any work: "exists already; pass `overwrite` to replace it"
        refuse_existing(path for job in jobs.values() for path in job.targets)
    warm_up()  # so that the first algorithm's time does not include library start-up
    info = probe(song)
    for algorithm, p in params.items():
        job = dataclasses.replace(jobs[algorithm], info=info)
        start = time.perf_counter()
        try:
            settings = Settings(params=p, overwrite=overwrite, segment=segment, format="wav")
            samples = None
            if progress is not None and info is not None and info.samplerate:
                samples = _increments(progress, rate=info.samplerate)
            reports, _, _ = separate_job(job, settings=settings, progress=samples)
            row = {
                "algorithm": algorithm,
                "found": describe(reports),
                "period": reports[0].period if len(reports) == 1 else [r.period for r in reports],
                "seconds": time.perf_counter() - start,
                "outputs": [str(job.background), str(job.foreground)],
            }
            if references is not None:
                estimates = {"background": job.background, "foreground": job.foreground}
                scored = None
                if progress is not None and info is not None:
                    share = SCORING_WEIGHT * info.duration
                    scored = lambda f, share=share: progress(f * share)  # noqa: E731
                row["scores"] = ev.evaluate_files(
                    references, estimates, workers=cpu_threads(), progress=scored
                )
        except RepetError as exc:
            yield algorithm, exc
            continue
        yield algorithm, row


def _increments(progress: Callable[[float], None], *, rate: int) -> Callable[[int], None]:
    """A job's progress (samples done so far) as seconds done since the last call."""
    done = 0

    def advance(samples: int) -> None:
        nonlocal done
        if samples > done:
            progress((samples - done) / rate)
            done = samples

    return advance


#: The time a scoring takes against a separation of the same song, for progress bars.
SCORING_WEIGHT = 0.5


def compare_table(rows: list[dict]) -> str:
    """The table `repet compare` prints: one row per algorithm, scores where there are some."""
    header = ["algorithm", "found", "time (s)"]
    scored = all("scores" in r for r in rows)
    if scored:
        header += ["bg SDR", "bg SI-SDR", "fg SDR", "fg SI-SDR"]
    body = []
    for r in rows:
        line = [r["algorithm"], r["found"], f"{r['seconds']:.2f}"]
        if scored:
            s = r["scores"]
            line += [
                f"{s[stem][metric]:.2f}"
                for stem in ("background", "foreground")
                for metric in ("sdr", "si_sdr")
            ]
        body.append(line)
    widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(x, widths, strict=True))
        )
        for x in [header, *body]
    )
