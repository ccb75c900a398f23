"""Batches of inputs: plan the outputs, run the jobs on an executor, collect the outcomes.

The ``repet`` command is a thin layer over this package, and a Python program can do what it
does without it::

    from repet_cli import RepetParams
    from repet_cli.batch import Settings, plan, run

    jobs = plan(["a.wav", "b.flac"], "stems")          # stems/a/background.wav, ...
    for outcome in run(jobs, settings=Settings(params=RepetParams())):
        print(outcome.source, outcome.status, outcome.found or outcome.error)

One module per job, imports pointing down the list:

- :mod:`~repet_cli.batch.planning`: :func:`find_inputs` turns folders into the files under
  them; :func:`plan` decides every output path (a ``filename`` template), refuses inputs that
  would write the same file or overwrite an input, and opens no input (each job reads its own);
  :func:`shard` splits a batch between the tasks of a job array.
- :mod:`~repet_cli.batch.settings`: :class:`Settings`, :class:`Outcome`, :class:`Summary`.
- :mod:`~repet_cli.batch.provenance`: the record beside the stems, the ledger, the options'
  hash.
- :mod:`~repet_cli.batch.job` (with :mod:`~repet_cli.batch.folders`,
  :mod:`~repet_cli.batch.video` and :mod:`~repet_cli.batch.scoring`): :func:`run_job`
  separates one input and writes its stems atomically (both or neither), with optional
  scoring against true stems and a figure; every failure becomes an :class:`Outcome`, so a
  batch goes on.
- :mod:`~repet_cli.batch.executors`: :func:`run` runs many jobs on an executor,
  :class:`InProcess`, :class:`~repet_cli.batch.pool.ProcessPool` (worker processes, a
  bounded number of jobs in flight) or :class:`~repet_cli.batch.dask.Dask`, and yields their
  outcomes in input order; the outputs are the same whichever runs them.
- :mod:`~repet_cli.batch.request`: a `repet separate` run as data: :class:`Request` (its
  options in groups, :class:`Inputs`, :class:`Outputs`, :class:`Running`, :class:`Extras`,
  checked together on construction), :func:`prepare` (inputs found, outputs planned, before
  any work) and :func:`outcomes` (the run, with its ledger); with
  :mod:`~repet_cli.batch.piping` (one stem to standard output) and
  :mod:`~repet_cli.batch.messages` (what the run tells its user, as text).
- :mod:`~repet_cli.batch.comparison`: `repet compare`, one song and several algorithms.

Messages name library parameters in backticks (`` `overwrite` ``); the command line shows
them as its options (``--overwrite``).
"""

from __future__ import annotations

from .comparison import SCORING_WEIGHT, compare, compare_table
from .executors import InProcess, ProcessPool, run
from .folders import check_output_folder, make_folders, remove_empty_folders, remove_written
from .job import output_bitrate, run_job, separate_job
from .planning import (
    DEFAULT_FILENAME,
    FIGURE,
    FILENAME_FIELDS,
    LOSSLESS_EXTENSIONS,
    LOSSY_EXTENSIONS,
    MEDIA_EXTENSIONS,
    PCM_EXTENSIONS,
    SIDECAR,
    STEM_ALIASES,
    STEMS,
    VIDEO_EXTENSIONS,
    Job,
    check_figures,
    check_template,
    dataset_inputs,
    default_format,
    find_inputs,
    names_from,
    once_each,
    plan,
    shard,
    sidecar_name,
    stem_named,
    with_headers,
)
from .provenance import SCORES_FILE, Ledger, on_disk, options_hash, read_record, write_sidecar
from .request import (
    Extras,
    Inputs,
    Outputs,
    Prepared,
    Request,
    Running,
    executor_of,
    outcomes,
    prepare,
)
from .scoring import reference_folder, references_of, score, track_name
from .settings import STATUSES, Outcome, Progress, Settings, Summary
from .video import video_target, write_video

__all__ = [
    "DEFAULT_FILENAME",
    "FIGURE",
    "FILENAME_FIELDS",
    "LOSSLESS_EXTENSIONS",
    "LOSSY_EXTENSIONS",
    "MEDIA_EXTENSIONS",
    "PCM_EXTENSIONS",
    "SCORES_FILE",
    "SCORING_WEIGHT",
    "SIDECAR",
    "STATUSES",
    "STEMS",
    "STEM_ALIASES",
    "VIDEO_EXTENSIONS",
    "Extras",
    "InProcess",
    "Inputs",
    "Job",
    "Ledger",
    "Outcome",
    "Outputs",
    "Prepared",
    "ProcessPool",
    "Progress",
    "Request",
    "Running",
    "Settings",
    "Summary",
    "check_figures",
    "check_output_folder",
    "check_template",
    "compare",
    "compare_table",
    "dataset_inputs",
    "default_format",
    "executor_of",
    "find_inputs",
    "make_folders",
    "names_from",
    "on_disk",
    "once_each",
    "options_hash",
    "outcomes",
    "output_bitrate",
    "plan",
    "prepare",
    "read_record",
    "reference_folder",
    "references_of",
    "remove_empty_folders",
    "remove_written",
    "run",
    "run_job",
    "score",
    "separate_job",
    "shard",
    "sidecar_name",
    "stem_named",
    "track_name",
    "video_target",
    "with_headers",
    "write_sidecar",
    "write_video",
]
