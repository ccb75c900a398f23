"""The command-line options that several commands share: their click declarations, the
groups a command gets them in (:class:`~repet_cli.batch.request.Inputs`, ...), and how its
messages name them."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from pathlib import Path

import click

from .algorithms import ALGORITHMS, DEFAULT_ALGORITHM
from .algorithms import adaptive as adaptive_defaults
from .algorithms import ft2d as ft2d_defaults
from .algorithms import repet as repet_defaults
from .algorithms import similarity as similarity_defaults
from .algorithms.base import DEFAULT_MAX_PERIOD, DEFAULT_MIN_PERIOD
from .batch import DEFAULT_FILENAME, STEM_ALIASES, STEMS
from .batch.request import Extras, Inputs, Outputs, Running
from .errors import ParameterError, RepetError
from .params import (
    ALGORITHM_OPTIONS,
    DEFAULT_FOREGROUND_GAIN,
    DEFAULT_HIGH_PASS,
    DEFAULT_KAM_RAMP,
    RepetParams,
)
from .segments import CROSSFADE, DEFAULT_SEGMENT

#: Library parameter names that messages may quote, besides the separation options.
COMMAND_NAMES = ("overwrite", "skip_existing", "segment", "subtype", "format", "filename", "out")
COMMAND_NAMES += ("shard", "stems", "ext", "video", "stream", "bitrate", "ledger", "fail_fast")
COMMAND_NAMES += ("cluster", "scheduler", "scheduler_file", "files_from", "dataset")
COMMAND_NAMES += ("references", "framewise", "plot", "report", "json")
COMMAND_NAMES += ("reference_background", "reference_foreground")
#: What the command line calls otherwise than ``--name``.
SPELLED = {"inputs": "INPUT", "out='-'": "-o -", "verbose": "-v"}


def option_names(message: str) -> str:
    """Name parameters in a library message as the options that set them.

    The library quotes parameter names in backticks (`` `min_period` ``); here they become
    ``--min-period`` (or as :data:`SPELLED` says).
    """
    if "`" not in message:  # most are plain (a batch's messages: one per input)
        return message
    return _quoted().sub(
        lambda m: SPELLED.get(m.group(1)) or "--" + m.group(1).replace("_", "-"), message
    )


@functools.cache
def _quoted() -> re.Pattern:
    """What :func:`option_names` replaces: a parameter's name in backticks."""
    names = [f.name for f in dataclasses.fields(RepetParams)] + list(ALGORITHM_OPTIONS)
    fields = "|".join(re.escape(n) for n in names + list(COMMAND_NAMES) + list(SPELLED))
    return re.compile(rf"`({fields})`")


def usage(exc: RepetError) -> click.UsageError:
    """A library error as a usage error (exit status 2), its options named as given."""
    return click.UsageError(option_names(str(exc)))


def grouped(name: str, build: Callable, names) -> Callable:
    """A decorator: the command gets the options ``names`` as one argument,
    ``name=build(**their values)``, instead of one argument each."""

    def decorate(command):
        @functools.wraps(command)
        def with_group(*args, **kwargs):
            kwargs[name] = build(**{key: kwargs.pop(key) for key in names if key in kwargs})
            return command(*args, **kwargs)

        return with_group

    return decorate


#: Paths are checked by the commands themselves, one file at a time (click's own readability
#: check would stop a whole batch at one unreadable file).
PATH = click.Path(path_type=Path, readable=False)

SEPARATION_OPTIONS: list = [
    click.option(
        "--algorithm",
        type=click.Choice(list(ALGORITHMS), case_sensitive=False),
        default=DEFAULT_ALGORITHM,
        show_default=True,
        help="repet: one repeating period. repet-sim: similar frames anywhere (verse/chorus "
        "structure, no fixed period). adaptive: a period that changes over time. 2dft: "
        "peaks of the 2-D Fourier transform of the spectrogram.",
    ),
    click.option(
        "--period",
        type=float,
        metavar="SECONDS",
        help="Force the repeating period instead of detecting it.",
    ),
    click.option(
        "--min-period",
        type=float,
        metavar="SECONDS",
        help=f"Shortest period to detect  [default: {DEFAULT_MIN_PERIOD:g}]",
    ),
    click.option(
        "--max-period",
        type=float,
        metavar="SECONDS",
        help="Longest period to detect, at most a third of the input  "
        f"[default: {DEFAULT_MAX_PERIOD:g}]",
    ),
    click.option(
        "--window",
        type=float,
        metavar="SECONDS",
        help="repet: a period and a repeating model of its own for every window of about this "
        "many seconds (sections of a song differ); 0: one for the whole input  "
        f"[default: {repet_defaults.DEFAULT_WINDOW:g}]",
    ),
    click.option(
        "--follow-level/--no-follow-level",
        default=None,
        help="repet: in inputs of a minute or more, the repeating model follows the bed's level "
        "over time (a music bed ducked under speech keeps its level changes in the "
        "background; measured on speech over a looped bed)  [default: off]",
    ),
    click.option(
        "--mask",
        type=click.Choice(["kam", "wiener", "soft", "binary"], case_sensitive=False),
        default="kam",
        show_default=True,
        help="kam: kernel-additive mask (the repeating model plus a percussive one against "
        "the mixture), refined by the Wiener filter. wiener: REPET's ratio mask refined by a "
        "multichannel Wiener filter (stereo placement helps). soft: REPET's ratio mask. "
        "binary: each bin goes wholly to one stem.",
    ),
    click.option(
        "--foreground-gain",
        type=float,
        metavar="G",
        help="kam only: weight of the foreground model; lower gives more to the background  "
        f"[default: {DEFAULT_FOREGROUND_GAIN:g}]",
    ),
    click.option(
        "--threshold",
        type=float,
        help="Binary mask only: a bin is background when model/mixture >= this  [default: 0.5]",
    ),
    click.option(
        "--phase",
        type=click.Choice(["mixture", "none"], case_sensitive=False),
        help="mixture: masks applied to the complex spectrum, stems add up to the input. "
        "none: each stem rebuilt from its magnitude alone (Griffin-Lim)  [default: mixture]",
    ),
    click.option("--no-phase", is_flag=True, help="Shorthand for --phase none."),
    click.option(
        "--high-pass",
        type=float,
        default=DEFAULT_HIGH_PASS,
        show_default=True,
        metavar="HZ",
        help="Everything below this frequency goes to the background (with the voice gate: "
        "lower under a pitched voice, to keep its fundamental); 0 turns it off "
        "(REPET as published: 100).",
    ),
    click.option(
        "--high-pass-ramp",
        type=float,
        metavar="HZ",
        help="Above --high-pass the foreground returns gradually over this many Hz  "
        f"[default: {DEFAULT_KAM_RAMP:g} with --mask kam, else 0]",
    ),
    click.option(
        "--voice-gate/--no-voice-gate",
        default=None,
        help="Give the foreground back to the background where it holds no pitched voice for "
        "seconds (intros, breaks, builds)  [default: on with --mask kam]",
    ),
    click.option(
        "--voice-model/--no-voice-model",
        default=None,
        help="Follow the lead voice's pitch and keep in the foreground only its partials (and "
        "a little of the rest) where it sings; the band's other non-repeating parts stay in "
        "the background. --no-voice-model --no-voice-gate keeps every non-repeating part (a "
        "solo, a fill) in the foreground, as REPET was published  [default: on with --mask kam]",
    ),
    click.option(
        "--n-fft", type=int, help="STFT size in samples  [default: power of two >= 40 ms]"
    ),
    click.option("--hop", type=int, help="STFT hop in samples  [default: n-fft / 4]"),
    click.option(
        "--analysis-window",
        type=float,
        metavar="SECONDS",
        help="adaptive: beat-spectrogram window  "
        f"[default: {adaptive_defaults.DEFAULT_ANALYSIS_WINDOW:g}]",
    ),
    click.option(
        "--analysis-step",
        type=float,
        metavar="SECONDS",
        help="adaptive: beat-spectrogram step  "
        f"[default: {adaptive_defaults.DEFAULT_ANALYSIS_STEP:g}]",
    ),
    click.option(
        "--repetitions",
        type=int,
        help="adaptive: median over the frames up to this many local periods before and "
        f"after each frame  [default: {adaptive_defaults.DEFAULT_REPETITIONS}]",
    ),
    click.option(
        "--neighbors",
        type=int,
        help="repet-sim: how many similar frames the median of each frame's model takes  "
        f"[default: {similarity_defaults.DEFAULT_NEIGHBORS}]",
    ),
    click.option(
        "--min-separation",
        type=float,
        metavar="SECONDS",
        help="repet-sim: least time between two frames chosen for the same frame  "
        f"[default: {similarity_defaults.DEFAULT_MIN_SEPARATION:g}]",
    ),
    click.option(
        "--similarity-threshold",
        type=float,
        help="repet-sim: least cosine similarity of a chosen frame, in [-1, 1]  "
        f"[default: {similarity_defaults.DEFAULT_THRESHOLD:g}]",
    ),
    click.option(
        "--rate-width",
        type=float,
        metavar="HZ",
        help="2dft: a peak must top this much of the rate (modulation) axis  "
        f"[default: {ft2d_defaults.DEFAULT_RATE_WIDTH:g}]",
    ),
    click.option(
        "--peak-threshold",
        type=float,
        help="2dft: a peak keeps 1 - (this x neighbourhood mean / peak)^2 of its energy  "
        f"[default: {ft2d_defaults.DEFAULT_THRESHOLD:g}]",
    ),
]


segment_option = click.option(
    "--segment",
    type=float,
    default=DEFAULT_SEGMENT,
    show_default=True,
    metavar="SECONDS",
    help="Inputs longer than 1.5 segments are processed a segment of about this length at a "
    f"time, each with its own period (separated stems are crossfaded over {CROSSFADE:g} s), so "
    "memory stays flat however long the input; 0: always the whole input at once.",
)


def params_from(**values) -> RepetParams:
    """The separation options as parameters (``--no-phase`` is ``--phase none``); a usage
    error where they are wrong."""
    if values.pop("no_phase", False):
        if values["phase"] == "mixture":
            raise click.UsageError("--no-phase contradicts --phase mixture; give one of them")
        values["phase"] = "none"
    values["phase"] = values.get("phase") or "mixture"
    try:
        return RepetParams.build(**values)
    except ParameterError as exc:
        raise usage(exc) from None


def separation_options(command):
    """The options that choose how to separate (`separate`), as ``params``: a
    :class:`~repet_cli.params.RepetParams`."""
    for option in reversed(SEPARATION_OPTIONS):
        command = option(command)
    return grouped("params", params_from, [_option_name(o) for o in SEPARATION_OPTIONS])(command)


def shared_separation_options(command):
    """The separation options without --algorithm (`compare` runs several algorithms)."""
    for option in reversed(SEPARATION_OPTIONS[1:]):
        command = option(command)
    return command


ANALYSIS_OPTIONS = ("min_period", "max_period", "voice_model", "n_fft", "hop")


def analysis_options(command):
    """The separation options an analysis uses: the period range, the voice model (whose pitch
    track it shows) and the STFT sizes."""
    chosen = [o for o in SEPARATION_OPTIONS if _option_name(o) in ANALYSIS_OPTIONS]
    for option in reversed(chosen):
        command = option(command)
    return command


def _option_name(decorator) -> str:
    """The parameter name a click option decorator declares."""

    @decorator
    def probe(**kwargs):  # pragma: no cover - never called
        pass

    return probe.__click_params__[0].name


OUTPUT_OPTIONS: list = [
    click.option(
        "-o",
        "--out",
        default="separated",
        show_default=True,
        metavar="DIR|URL|-",
        help="Output folder; each input gets OUT/<name>/background.wav and foreground.wav. "
        "A URL (s3://bucket/prefix, needs pip install 'repet[s3]') uploads them. "
        "'-': write the one stem chosen with --stems to standard output (WAV unless --format).",
    ),
    click.option(
        "--filename",
        default=DEFAULT_FILENAME,
        show_default=True,
        metavar="TEMPLATE",
        help="Output paths inside --out, from {track} (the input's name), {trackext} (its "
        "extension), {parent} (its folder's name), {stem} (background or foreground) and {ext} "
        "(the output's); e.g. '{parent}/{track}/{stem}.{ext}' for MUSDB-style folders of "
        "mixture.wav files.",
    ),
    click.option(
        "--format",
        "out_format",
        type=click.Choice(["wav", "flac", "ogg", "mp3", "opus", "m4a"], case_sensitive=False),
        help="Output format  [default: wav for WAV and AIFF inputs (their sample format kept), "
        "flac for the rest: FLAC, lossy and video inputs]",
    ),
    click.option(
        "--bitrate",
        metavar="RATE",
        help="Bit rate of mp3, opus and m4a outputs, e.g. 192k  [default: a lossy input's own "
        "(an MP3 at 128k gives 128k stems, not larger than itself); else 192k mp3 and m4a, "
        "128k opus]",
    ),
    click.option(
        "--stems",
        type=click.Choice(["both", *STEMS, "none", *STEM_ALIASES], case_sensitive=False),
        default="both",
        show_default=True,
        metavar="both|background|foreground|none",
        help="The stems written; none: only the --video copy. Other separators' names work "
        "too: vocals or voice for the foreground; instrumental, accompaniment or karaoke for "
        "the background (the files keep the names background and foreground).",
    ),
    click.option(
        "--video",
        type=click.Choice([*STEMS, *STEM_ALIASES], case_sensitive=False),
        metavar="foreground|background",
        help="For a video input (MP4, MOV, MKV, WebM), also write a copy of the video with this "
        "stem as its sound, beside the stems (e.g. foreground.mp4); the picture is copied, "
        "not re-encoded. With --stems none, only that copy is written.",
    ),
    click.option(
        "--subtype",
        metavar="SUBTYPE",
        help="Output sample format, e.g. PCM_16, PCM_24, FLOAT  [default: the input's where the "
        "format holds it, else FLOAT (wav) or PCM_24 (flac)]",
    ),
]


#: Folders given as inputs are searched alike by every command that takes them.
ext_option = click.option(
    "--ext",
    metavar="EXT[,EXT...]",
    help="Extensions a folder given as input is searched for, at any depth  [default: the "
    "audio and video extensions, e.g. wav,flac,mp3,m4a,mp4,mov,mkv]",
)


INPUT_OPTIONS: list = [
    click.option(
        "--files-from",
        type=PATH,
        metavar="FILE",
        help="Also separate the inputs named in FILE, one per line ('-': standard input).",
    ),
    click.option(
        "-0",
        "--null",
        is_flag=True,
        help="Names in --files-from end with NUL, not newline (as find -print0 writes them).",
    ),
    ext_option,
    click.option(
        "--stream",
        type=click.IntRange(min=0),
        help="Which audio stream of each input to separate (0: the first)  [default: 0]",
    ),
]


def _inputs(inputs=(), **values) -> Inputs:
    return Inputs(names=tuple(inputs), **values)


def input_options(command):
    """What `separate` reads: lists of names, folder searches, the audio stream; as
    ``inputs``, an :class:`~repet_cli.batch.request.Inputs` (with the INPUT arguments)."""
    for option in reversed(INPUT_OPTIONS):
        command = option(command)
    names = ["inputs"] + [_option_name(o) for o in INPUT_OPTIONS]
    return grouped("inputs", _inputs, names)(command)


def _outputs(out_format=None, **values) -> Outputs:
    return Outputs(format=out_format, **values)


def output_options(command):
    """Where and how `separate` writes: the folder, the file names, the format; as
    ``outputs``, an :class:`~repet_cli.batch.request.Outputs`."""
    for option in reversed(OUTPUT_OPTIONS):
        command = option(command)
    return grouped("outputs", _outputs, [_option_name(o) for o in OUTPUT_OPTIONS])(command)


BATCH_OPTIONS: list = [
    click.option(
        "-j",
        "--jobs",
        type=click.IntRange(min=0),
        default=None,
        help="Inputs separated in parallel processes (default: one per core, as many as the "
        "inputs and the available memory allow, 1 GB each; 0: one per core; 1: one input at a "
        "time, spread over all cores). The outputs are the same for any number.",
    ),
    click.option(
        "--cluster",
        type=click.Choice(["local", "slurm"], case_sensitive=False),
        help="Run the batch on a Dask cluster started for it: local (-j worker processes on "
        "this machine) or slurm (-j SLURM jobs, settings from dask-jobqueue's configuration); "
        "needs pip install 'repet[dask]'.",
    ),
    click.option(
        "--scheduler",
        metavar="ADDRESS",
        help="Run the batch on a running Dask scheduler, e.g. tcp://10.0.0.5:8786.",
    ),
    click.option(
        "--scheduler-file",
        type=PATH,
        metavar="FILE",
        help="Run the batch on the Dask scheduler that wrote FILE (dask scheduler "
        "--scheduler-file FILE).",
    ),
    click.option(
        "--retries",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Try an input again this many times after a transient failure (a download or "
        "upload of object storage); a bad input is never retried.",
    ),
    click.option(
        "--shard",
        metavar="K/N",
        help="Process every N-th input from the K-th (0-based) only: N runs with K = 0..N-1 "
        "(e.g. a SLURM job array: --shard $SLURM_ARRAY_TASK_ID/100) share a batch.",
    ),
    click.option(
        "--ledger",
        type=PATH,
        metavar="FILE.jsonl",
        help="Append one JSON line per finished input (status, outputs with sha256, time, host, "
        "version, a hash of the options); with --skip-existing, only inputs it records as done "
        "with the same options are skipped.",
    ),
    click.option("--overwrite", is_flag=True, help="Replace existing output files."),
    click.option(
        "--skip-existing",
        is_flag=True,
        help="Leave inputs whose outputs exist alone (resume a batch that was stopped).",
    ),
    click.option("--fail-fast", is_flag=True, help="Stop at the first input that fails."),
    click.option(
        "--plot",
        is_flag=True,
        help="Also draw each input's figure (spectrograms, beat spectrum, mask) as repet.png next "
        "to its stems; needs matplotlib (pip install 'repet[plot]').",
    ),
    click.option(
        "--references",
        type=PATH,
        metavar="DIR",
        help="Score each input's stems against the true ones in DIR/<name>/ (the input's name, "
        "else its folder's name): background.wav and foreground.wav, or MUSDB18's "
        "accompaniment.wav and vocals.wav (or MUSDB18-HQ's drums, bass and other, summed). SDR "
        "and SI-SDR go into the summary, --json and --report.",
    ),
    click.option(
        "--framewise",
        is_flag=True,
        help="With --references, also the SiSEC 2018 figures (BSS Eval v4 on 1-s windows, as "
        "museval computes them): each track's scores.json beside its stems (museval's layout) "
        "and a table of medians at the end.",
    ),
    click.option(
        "--dataset",
        type=PATH,
        metavar="DIR",
        help="Separate and score a MUSDB18(-HQ)-style dataset: every DIR/**/<track>/mixture.wav "
        "against the stems beside it, and every <track>.stem.mp4 against the stems inside it, "
        "into OUT/<track>/; the same as giving those files with "
        "--references DIR --framewise --skip-existing, so a second run resumes (unless "
        "--overwrite).",
    ),
    click.option(
        "--report",
        is_flag=True,
        help="Also write OUT/report.html, to open from disk in a browser: a sortable table of "
        "the inputs, each linking to its page with one player that switches between the "
        "mixture, the stems and the true stems at the same position, a live remix of the "
        "stems, their spectrograms and scores (and the figure, with --plot).",
    ),
    click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print a JSON summary on stdout (reports go to stderr).",
    ),
    click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors."),
    click.option(
        "-v", "--verbose", is_flag=True, help="Print STFT details and, on a crash, the traceback."
    ),
]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Shown:
    """What the command prints besides errors: nothing (``quiet``), or more (``verbose``)."""

    quiet: bool = False
    verbose: bool = False


def _extras(as_json=False, **values) -> Extras:
    return Extras(json=as_json, **values)


#: The groups of :data:`BATCH_OPTIONS`: each group's name, what builds it, and its options.
BATCH_GROUPS = (
    ("running", Running, [f.name for f in dataclasses.fields(Running)]),
    ("extras", _extras, ["plot", "references", "framewise", "dataset", "report", "as_json"]),
    ("shown", Shown, ["quiet", "verbose"]),
)


def batch_options(command):
    """How `separate` runs a batch and what it reports; as ``running``, ``extras`` and
    ``shown``: a :class:`~repet_cli.batch.request.Running`, an
    :class:`~repet_cli.batch.request.Extras` and a :class:`Shown`."""
    for option in reversed(BATCH_OPTIONS):
        command = option(command)
    for name, build, names in BATCH_GROUPS:
        command = grouped(name, build, names)(command)
    return command
