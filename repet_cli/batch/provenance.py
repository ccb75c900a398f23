"""How the outputs were made: the record beside each job's stems (:data:`SIDECAR`), the
batch's ledger, and the hash of the options that both carry.

A record describes the files there now (:func:`read_record`), so that a rerun can tell stems
made with other options (:func:`made_otherwise`) and a report can describe what is on disk
(:func:`on_disk`).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import time
from pathlib import Path

from .. import signals
from ..errors import write_error
from ..files import STDIN, replace_file
from .planning import Job
from .settings import Outcome, Settings


def options_hash(settings: Settings) -> str:
    """A short hash of everything in ``settings`` that changes the stems' content or format
    (not where they go, nor how the batch runs), for the ledger and the record beside the
    stems.

    It is made of the settings as given (options not given are None), not of the effective
    values a record shows (:func:`write_sidecar`): records and ledgers written before records
    showed those still match, and the hash does not depend on the input's sample rate."""
    import hashlib
    import json

    what = {
        "params": repr(_as_defaults(settings.params)),
        "segment": settings.segment,
        "format": settings.format,
        "subtype": settings.subtype,
        "bitrate": settings.bitrate,
        "stream": settings.stream,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def _as_defaults(params):
    """``params`` with every option given at the value its default would have (an explicit
    ``--high-pass-ramp 50``, say) written as not given: the same stems, the same hash."""
    if params is None:
        return params

    def canonical(value):
        for field in dataclasses.fields(value):
            given = getattr(value, field.name)
            if given is None or dataclasses.is_dataclass(given):
                continue
            try:
                unset = dataclasses.replace(value, **{field.name: None})
            except (TypeError, ValueError):  # an option that must be given
                continue
            if unset.effective() == value.effective():
                value = unset
        return value

    options = getattr(params, "options", None)
    if options is not None and dataclasses.is_dataclass(options):
        params = dataclasses.replace(params, options=canonical(options))
    return canonical(params)


class Ledger:
    """An append-only JSON-lines record of a batch, one line per finished input.

    Each line: input, status, error, outputs (path and sha256 of each), duration, seconds,
    attempt, host, repet version, the hash of the options (:func:`options_hash`) and the time.
    Written by the process that runs the batch only (workers return outcomes), each line
    flushed as it is written, so a batch stopped at any point leaves whole lines.
    """

    def __init__(self, path: str | os.PathLike, *, settings: Settings):
        self.path = Path(path)
        self.options = options_hash(settings)

    def done(self) -> set[str]:
        """The inputs (absolute paths) with an ``ok`` record made with the same options; lines
        that are not whole JSON records (a line cut by a crash) are passed over. Only the
        paths are kept: a ledger of a million inputs is read in the memory of their names."""
        import json

        found: set[str] = set()
        if not self.path.is_file():
            return found
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("status") == "ok" and record.get("options") == self.options:
                    found.add(os.path.abspath(record["input"]))
        return found

    def append(self, outcome: Outcome) -> None:
        """Add the record of one outcome.

        Raises
        ------
        AudioWriteError
            The ledger cannot be written.
        """
        import json
        import socket

        from .. import __version__

        record = {
            "input": outcome.source,
            "status": outcome.status,
            "error": outcome.error,
            "outputs": [{"path": p, "sha256": _sha256(p)} for p in outcome.outputs]
            if outcome.status == "ok"
            else [],
            "duration": outcome.duration,
            "seconds": round(outcome.seconds, 3),
            "attempt": outcome.attempts,
            "host": socket.gethostname(),
            "version": __version__,
            "options": self.options,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        line = (json.dumps(record) + "\n").encode("utf-8")
        try:
            # One write(2) of the whole line to a file opened for appending: the runs of a job
            # array may share one ledger, and their lines never interleave (on a local file
            # system; tests/test_shard_ledger.py writes one from four processes at once).
            with signals.deferred():
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
                try:
                    written = os.write(fd, line)
                finally:
                    os.close(fd)
            if written != len(line):
                raise OSError(errno.EIO, "the ledger took part of a line")
        except OSError as exc:
            raise write_error(exc, path=self.path) from None


def _sha256(path: str) -> str | None:
    import hashlib

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def input_sha256(job: Job) -> str | None:
    """The checksum of a job's input for its record: a local regular file only (a named pipe
    is read once, standard input is not a file, a URL is downloaded by the job)."""
    if job.sidecar is None or isinstance(job.source, str) or str(job.source) == STDIN:
        return None
    return _sha256(os.fspath(job.source)) if os.path.isfile(job.source) else None


#: The sidecar beside a job's stems that holds its scores with ``framewise`` (museval's
#: layout: ``targets`` -> ``frames`` -> ``metrics``, plus the whole-signal figures).
SCORES_FILE = "scores.json"


def made_otherwise(job: Job, settings: Settings) -> bool:
    """True if the record of a job's stems (:func:`read_record`, else the scores kept with
    ``framewise``) says that options other than these made them."""
    if isinstance(job.targets[0], str):
        return False
    records = [read_record(job)]
    if settings.framewise:
        try:
            records.append(json.loads((Path(job.targets[0]).parent / SCORES_FILE).read_text()))
        except (OSError, ValueError):
            pass
    for record in records:
        if isinstance(record, dict) and record.get("options_hash") is not None:
            return record["options_hash"] != options_hash(settings)
    return False


def write_sidecar(job: Job, outcome: Outcome, *, settings: Settings) -> None:
    """Record beside the stems how they were made: repet's version, every option with the
    value the separation used (:meth:`~repet_cli.params.RepetParams.effective`: defaults filled
    in, the STFT sizes for the input's sample rate) and their hash (:func:`options_hash`), the
    algorithm, the periods and confidences found, the warnings, the input's checksum and
    duration, the time taken, the outputs with their sizes (which tie the record to these
    files), and the scores and figure when there are some (a file written whole, or not at
    all)."""
    from .. import __version__

    record = {
        "repet": __version__,
        "input": os.path.abspath(job.source),
        "input_sha256": outcome.input_sha256,
        "duration": outcome.duration,
        "options_hash": options_hash(settings),
        "options": {
            "params": settings.params.effective(sr=outcome.samplerate),
            "segment": settings.segment,
            "format": settings.format,
            "subtype": settings.subtype,
            "bitrate": settings.bitrate,
            "stream": 0 if settings.stream is None else settings.stream,
        },
        "algorithm": settings.params.algorithm,
        "found": outcome.found,
        "periods": list(outcome.periods),
        "confidences": list(outcome.confidences),
        "warnings": list(outcome.warnings),
        "outputs": [os.path.basename(p) for p in outcome.outputs],
        "output_bytes": [_size(p) for p in outcome.outputs],
        "seconds": round(outcome.seconds, 3),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if outcome.figure is not None:
        record["figure"] = os.path.basename(outcome.figure)
    if outcome.scores is not None:
        record["scores"] = outcome.scores
    if outcome.framewise is not None:
        record["framewise_median"] = outcome.framewise
    replace_file(job.sidecar, json.dumps(record, indent=1) + "\n")


def _size(path) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def read_record(job: Job) -> dict | None:
    """The record of a job's stems (:func:`write_sidecar`) if it describes the files there
    now: it names them, and they have the sizes it gives. None where there is no record, it
    cannot be read, or it is about other files (the stems were replaced, or removed)."""
    if job.sidecar is None or not job.targets:
        return None
    try:
        record = json.loads(job.sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("outputs"), list):
        return None
    stems = [os.path.basename(p) for p in job.targets]
    if record["outputs"][: len(stems)] != stems:
        return None
    sizes = [_size(p) for p in job.targets]
    if None in sizes:
        return None
    recorded = record.get("output_bytes")
    if isinstance(recorded, list) and recorded[: len(sizes)] != sizes:
        return None
    return record


def on_disk(job: Job, outcome: Outcome) -> Outcome:
    """What a job's outputs are now, for a report: ``outcome`` where this run separated the
    input; else, where the job's stems are there with their record (:func:`read_record`),
    an outcome "skipped" that says what the record says (what was found, the confidences,
    the warnings, the scores and figure), with this run's error, if any, as a warning; else
    ``outcome`` (the input failed, and nothing of it is there)."""
    if outcome.status == "ok":
        return outcome
    record = read_record(job)
    if record is None:
        return outcome
    folder = Path(job.targets[0]).parent
    figure = folder / record["figure"] if isinstance(record.get("figure"), str) else None
    warnings = tuple(str(w) for w in record.get("warnings") or ())
    if outcome.error is not None:
        warnings += (f"this run: {outcome.error}",)
    return dataclasses.replace(
        outcome,
        status="skipped",
        error=None,
        found=str(record.get("found") or ""),
        periods=tuple(record.get("periods") or ()),
        confidences=tuple(record.get("confidences") or ()),
        warnings=warnings + outcome.warnings,
        outputs=tuple(str(p) for p in job.targets),
        figure=str(figure) if figure is not None and figure.is_file() else None,
        scores=outcome.scores or record.get("scores"),
        framewise=outcome.framewise or record.get("framewise_median"),
        duration=record.get("duration") or outcome.duration,
        input_sha256=record.get("input_sha256"),
    )
