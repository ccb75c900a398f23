"""What a batch is told and what it tells back: :class:`Settings` for every job, an
:class:`Outcome` per input, a :class:`Summary` of them (all picklable, for worker processes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..params import RepetParams
from ..segments import DEFAULT_SEGMENT

STATUSES = ("ok", "skipped", "failed")


#: Called with seconds of audio done (a whole number, > 0) as a batch progresses.
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Settings:
    """How every input of a batch is separated and written (picklable, for worker processes).

    Attributes
    ----------
    params : RepetParams
        The separation options.
    overwrite, skip_existing : bool
        Replace existing outputs; or leave inputs whose outputs all exist alone.
    segment : float
        Long inputs are separated in segments of about this many seconds (0: whole).
    threads : int, optional
        Threads for each job (default: one per core).
    format, subtype : str, optional
        Output format and sample format (see :func:`~repet_cli.formats.output_format`).
    bitrate : int, optional
        Bits per second of a lossy output format (MP3, Opus, M4A); by default a lossy input's
        own (:func:`output_bitrate`), else the format's default.
    stream : int, optional
        The audio stream of each input to separate (0: the first, the default).
    video : str, optional
        "background" or "foreground": for a video input, also write a copy of the video with
        that stem as its audio (the picture copied, not re-encoded), beside the stems as
        ``<stem>.<the video's extension>``.
    retries : int
        Times an input is tried again after a transient failure (a network transfer of
        object storage); a bad input is never retried.
    plot : bool
        Also draw each input's figure (needs matplotlib).
    references : path, optional
        Score each input against its true stems in ``references/<name>/``.
    framewise : bool
        With ``references``, also the SiSEC 2018 figures (BSS Eval v4 on 1-s windows), kept
        with every window's values in ``scores.json`` beside the stems (museval's layout).
    """

    params: RepetParams = dataclasses.field(default_factory=RepetParams)
    overwrite: bool = False
    skip_existing: bool = False
    segment: float = DEFAULT_SEGMENT
    threads: int | None = None
    format: str | None = None
    subtype: str | None = None
    bitrate: int | None = None
    stream: int | None = None
    video: str | None = None
    retries: int = 0
    plot: bool = False
    references: Path | None = None
    framewise: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one input (picklable: it comes back from worker processes). Slotted: a
    batch of a million inputs holds a million of them."""

    source: str
    status: str  # one of STATUSES
    error: str | None = None
    trace: str | None = None  # for an unexpected error (a bug): its traceback
    found: str = ""
    periods: tuple[float | None, ...] = ()
    confidences: tuple[float | None, ...] = ()  # how clearly each segment repeats (0 to 1)
    details: str = ""
    warnings: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    figure: str | None = None
    scores: dict | None = None  # stem -> metric -> dB, with references
    framewise: dict | None = None  # stem -> metric -> median dB over 1-s windows
    input_sha256: str | None = None
    samplerate: int | None = None  # the input's, where it was separated
    duration: float = 0.0
    seconds: float = 0.0
    attempts: int = 1
    #: The output disk cannot take more (read-only, full): the inputs after it would fail too.
    stops_batch: bool = False
    #: Ctrl-C or SIGTERM came once this input's stems and record were whole: it is done, and
    #: the batch stops after it.
    interruption: KeyboardInterrupt | None = None

    def as_dict(self) -> dict:
        """A JSON-ready record."""
        record = {"input": self.source, "status": self.status}
        if self.error is not None:
            record["error"] = self.error
        if self.status == "ok":
            record.update(
                found=self.found,
                periods=list(self.periods),
                confidences=list(self.confidences),
                warnings=list(self.warnings),
            )
        elif self.warnings:
            record["warnings"] = list(self.warnings)
        record.update(outputs=list(self.outputs), duration=self.duration, seconds=self.seconds)
        if self.attempts > 1:
            record["attempts"] = self.attempts
        if self.figure is not None:
            record["figure"] = self.figure
        if self.scores is not None:
            record["scores"] = self.scores
        if self.framewise is not None:
            record["framewise_median"] = self.framewise
        if self.input_sha256 is not None:
            record["input_sha256"] = self.input_sha256
        return record


@dataclass(frozen=True)
class Summary:
    """Counts of a batch's outcomes."""

    ok: int
    skipped: int
    failed: int
    not_started: int

    @classmethod
    def of(cls, outcomes: list[Outcome], *, planned: int) -> Summary:
        count = {s: sum(o.status == s for o in outcomes) for s in STATUSES}
        return cls(**count, not_started=planned - len(outcomes))

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "skipped": self.skipped,
            "failed": self.failed,
            "not started": self.not_started,
        }
