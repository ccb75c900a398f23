"""Planning a batch: the inputs found, every output's path decided, before any work.

:func:`find_inputs` turns folders into the files under them; :func:`plan` gives each input a
:class:`Job` (its stems' paths from a ``filename`` template, and where the record of how they
were made goes), refusing inputs that would write the same file or overwrite an input;
:func:`shard` picks one share of a batch for a job array; :func:`names_from` reads a list of
inputs and :func:`dataset_inputs` finds a dataset's mixtures. Nothing here opens an input but
:func:`with_headers` and :meth:`Job.in_folder`.
"""

from __future__ import annotations

import dataclasses
import os
import string
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .. import remote
from ..errors import ParameterError
from ..files import STDIN
from ..formats import AudioInfo
from ..io import probe

STEMS = ("background", "foreground")


#: What other separators call the stems: the names accepted for them (the files keep REPET's).
STEM_ALIASES = {
    "vocals": "foreground",
    "voice": "foreground",
    "instrumental": "background",
    "accompaniment": "background",
    "karaoke": "background",
}


DEFAULT_FILENAME = "{track}/{stem}.{ext}"


FILENAME_FIELDS = ("track", "trackext", "parent", "stem", "ext")


#: Extensions a folder given as input is searched for (audio, and video whose audio track is
#: separated), lower case without the dot.
PCM_EXTENSIONS = ("wav", "wave", "aif", "aiff", "aifc", "w64", "rf64", "caf", "au", "snd")


LOSSLESS_EXTENSIONS = ("flac", "alac", "ape", "wv")


LOSSY_EXTENSIONS = ("mp3", "ogg", "oga", "opus", "m4a", "m4b", "aac", "wma", "ac3", "mp2", "amr")


VIDEO_EXTENSIONS = ("mp4", "m4v", "mov", "mkv", "webm", "avi", "wmv", "mpg", "mpeg", "ts", "3gp")


MEDIA_EXTENSIONS = PCM_EXTENSIONS + LOSSLESS_EXTENSIONS + LOSSY_EXTENSIONS + VIDEO_EXTENSIONS


def default_format(source: str | os.PathLike) -> str:
    """The output format of an input when none is asked for, from its extension alone.

    WAV for uncompressed inputs (WAV, AIFF, ...: the outputs keep their sample format); FLAC
    for everything else: FLAC inputs, and lossy or video inputs (MP3, M4A, MP4, ...), whose
    stems would otherwise be 32-bit float WAV files many times the input's size. FLAC is
    lossless, so the stems lose nothing more than the input had lost already.
    """
    ext = os.path.splitext(os.fspath(source))[1].lower().lstrip(".")
    return "wav" if ext in PCM_EXTENSIONS or not ext else "flac"


FIGURE = "repet.png"


#: The record of how a track's stems were made, beside them; each set of stems has its own
#: (:func:`sidecar_name`), so that stems of another format in the same folder keep theirs.
SIDECAR = "repet.json"


@dataclass(frozen=True)
class Job:
    """One input, the files it will produce (None: that stem is not written), and what its
    header said (None: not read yet, or unreadable)."""

    source: Path | str  # a str: a URL (see repet_cli.remote)
    background: Path | str | None
    foreground: Path | str | None
    info: AudioInfo | None = None
    #: Where the record of how the stems were made goes (:data:`SIDECAR`); None: nowhere.
    sidecar: Path | None = None
    #: A job that writes no stem but the copy of its video input with the stem
    #: ``Settings.video`` as its sound: that copy (the stem goes through a temporary file).
    video: Path | None = None

    @property
    def remote(self) -> bool:
        """True if the input or the outputs are URLs."""
        return any(isinstance(p, str) for p in (self.source, *self.targets))

    @property
    def targets(self) -> tuple[Path, ...]:
        """The files written, background first (or the video copy alone)."""
        return tuple(p for p in (self.background, self.foreground, self.video) if p is not None)

    @property
    def figure(self) -> Path:
        """Where the input's figure goes: ``repet.png`` beside its (first) stem."""
        return self.targets[0].parent / FIGURE

    @property
    def duration(self) -> float:
        """The input's length in seconds (0 when its header cannot be read)."""
        return 0.0 if self.info is None else self.info.duration

    @classmethod
    def in_folder(cls, source, folder, *, ext: str = "wav") -> Job:
        """The job writing ``folder/background.<ext>`` and ``folder/foreground.<ext>``."""
        source, folder = Path(source), Path(folder)
        return cls(source, *(folder / f"{stem}.{ext}" for stem in STEMS), info=probe(source))


def stem_named(name: str) -> str:
    """The stem a name stands for: "background" or "foreground", or one of their
    :data:`STEM_ALIASES` ("vocals" is the foreground, "karaoke" the background), any case.

    Raises
    ------
    ParameterError
    """
    key = name.lower()
    if key in STEMS:
        return key
    if key in STEM_ALIASES:
        return STEM_ALIASES[key]
    known = ", ".join(STEMS + tuple(STEM_ALIASES))
    raise ParameterError(f"`stems` {name!r} is not a stem; name one of {known}")


def check_template(template: str) -> None:
    """Refuse a ``filename`` template that cannot name two distinct stems of every input.

    Raises
    ------
    ParameterError
    """
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ParameterError(f"`filename` {template!r}: {exc}") from None
    allowed = ", ".join("{" + f + "}" for f in FILENAME_FIELDS)
    unknown = fields - set(FILENAME_FIELDS)
    if unknown or "" in fields:
        bad = ", ".join(sorted("{" + f + "}" for f in unknown)) or "{}"
        raise ParameterError(f"`filename` {template!r}: unknown field {bad}; use {allowed}")
    if "stem" not in fields:
        raise ParameterError(
            f"`filename` {template!r} must contain {{stem}}, or both stems get one name"
        )
    if os.path.isabs(template):
        raise ParameterError(f"`filename` {template!r} must be relative to `out`")


def find_inputs(
    inputs: Iterable[str | os.PathLike], *, extensions: Iterable[str] | None = None
) -> list[tuple[Path, Path]]:
    """The files to separate: ``(file, folder inside out)`` for each.

    A file stands for itself (folder ``.``); a folder stands for the files under it, at any
    depth, whose extension is one of ``extensions`` (default :data:`MEDIA_EXTENSIONS`), in
    sorted order, each with its folder relative to the one given, so the outputs keep the
    input's layout. Nothing is opened.

    A folder holding no such file stands for itself, and its job fails, saying so.
    """
    wanted = {e.lower().lstrip(".") for e in (extensions or MEDIA_EXTENSIONS)}
    found = []
    for item in inputs:
        if remote.is_url(item):  # an object: no folder search
            found.append((item, Path(".")))
            continue
        path = Path(item)
        if not path.is_dir():
            found.append((path, Path(".")))
            continue
        files = []
        for folder, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(names):
                if os.path.splitext(name)[1].lower().lstrip(".") in wanted:
                    here = Path(folder) / name
                    files.append((here, here.parent.relative_to(path)))
        found += files or [(path, Path("."))]  # its job says what is wrong with it
    return found


def once_each(found: list) -> tuple[list, list[tuple[Path | str, int]]]:
    """``found`` (:func:`find_inputs`' pairs, or paths) with each file kept once, where it is
    first named, and the files named more than once with how many times.

    A file named in a list and found again in a folder given beside it is one input: its
    first naming decides where its outputs go (a folder's layout, if the folder came first).
    A local file is the same whatever path names it (``music/a.wav``, ``./music/a.wav``), a
    URL by its text.
    """
    kept, first, count = [], {}, {}
    for item in found:
        source = item[0] if isinstance(item, tuple) else item
        key = source if remote.is_url(source) else os.path.normcase(os.path.abspath(source))
        if key in first:
            count[key] += 1
            continue
        first[key], count[key] = source, 1
        kept.append(item)
    return kept, [(first[key], n) for key, n in count.items() if n > 1]


def names_from(path: str | os.PathLike, *, null: bool = False) -> list[str]:
    """The input names listed in a file (standard input for ``-``), one per line, or ending
    with NUL where ``null`` (as ``find -print0`` writes them); empty names are passed over.

    Raises
    ------
    ParameterError
        The list cannot be read.
    """
    try:
        if os.fspath(path) == STDIN:
            data = sys.stdin.buffer.read()
        else:
            data = Path(path).read_bytes()
    except OSError as exc:
        raise ParameterError(f"`files_from` {path}: {exc.strerror or exc}") from None
    text = os.fsdecode(data)
    names = text.split("\0") if null else text.splitlines()
    return [n for n in names if n and (null or n.strip())]


def dataset_inputs(folder: str | os.PathLike) -> list[tuple[Path, Path]]:
    """A dataset's mixtures as :func:`find_inputs` gives files: ``(…/<track>/mixture.wav,
    <track>'s folder under out)`` for MUSDB18-HQ, ``(…/<track>.stem.mp4, <track>)`` for
    MUSDB18, in sorted order.

    Raises
    ------
    ParameterError
        ``folder`` is not a folder, or holds no track.
    """
    from ..evaluate import STEM_MP4

    folder = Path(folder)
    if not folder.is_dir():
        raise ParameterError(f"`dataset`: {folder} is not a folder")
    found = []
    for here, dirs, files in os.walk(folder):
        dirs.sort()
        if "mixture.wav" in files:
            track = Path(here)
            found.append((track / "mixture.wav", track.relative_to(folder)))
        for name in sorted(files):  # MUSDB18: <subset>/<track>.stem.mp4, all stems inside
            if name.lower().endswith(STEM_MP4):
                path = Path(here) / name
                found.append((path, path.parent.relative_to(folder) / name[: -len(STEM_MP4)]))
    if not found:
        raise ParameterError(
            f"`dataset`: no <track>/mixture.wav (MUSDB18-HQ) or <track>.stem.mp4 (MUSDB18) "
            f"under {folder}"
        )
    return found


def plan(
    inputs: Iterable[str | os.PathLike | tuple[str | os.PathLike, str | os.PathLike]],
    out: str | os.PathLike,
    *,
    template: str = DEFAULT_FILENAME,
    format: str | None = None,
    stems: Iterable[str] = STEMS,
    video: str | None = None,
) -> list[Job]:
    """One job per input, before any work; no input is opened (that is each job's first step).

    Parameters
    ----------
    inputs : paths, or (path, folder) pairs
        The audio or video files, in order; a pair's folder (from :func:`find_inputs`) is put
        between ``out`` and the ``template``.
    out : path
        The folder the outputs go into.
    template : str
        Output paths inside ``out`` from ``{track}`` (the input's name without extension),
        ``{trackext}`` (its extension, without the dot), ``{parent}`` (its folder's name),
        ``{stem}`` (background or foreground) and ``{ext}`` (the output's extension).
    format : str, optional
        Output format; by default :func:`default_format` of each input.
    stems : names
        The stems written: "background", "foreground" or both (or :data:`STEM_ALIASES` of
        them: "vocals", "karaoke", ...); none, with ``video``, for jobs that write only a
        video.
    video : str, optional
        With no ``stems``: each job writes only the copy of its video input with this stem as
        its sound (:attr:`Job.video`), named by the template with the input's extension
        (``talk/foreground.mp4``); run it with ``Settings(video=...)`` of the same stem. (With
        stems, ``Settings.video`` alone asks for the copy beside them.)

    Raises
    ------
    ParameterError
        A bad template, an input given twice, two inputs that would write the same file, or
        an output that is an input.
    """
    check_template(template)
    stems = tuple(dict.fromkeys(stem_named(s) for s in stems))
    only_video = not stems
    if only_video:
        if video is None:
            raise ParameterError(
                "`stems` must name background, foreground or both, or none with `video`"
            )
        stems = (stem_named(video),)
    out_url = remote.is_url(out)
    out = out if out_url else Path(out)
    real_out = None if out_url else os.path.realpath(out)
    pairs = [item if isinstance(item, tuple) else (item, ".") for item in inputs]
    sources = [s if remote.is_url(s) else Path(s) for s, _ in pairs]
    owners: dict[str, Path | str] = {}
    real_targets: dict[str, Path] = {}
    jobs = []
    for source, (_, folder) in zip(sources, pairs, strict=True):
        ext = format or default_format(source)
        if only_video:  # the copy keeps the video's container
            ext = remote.name_of(source) if isinstance(source, str) else source.name
            ext = os.path.splitext(ext)[1].lower().lstrip(".") or "mp4"
        if isinstance(source, str):  # a URL
            absolute = source
            name = Path(remote.name_of(source))
            fields = {
                "track": name.stem,
                "trackext": name.suffix.lstrip("."),
                "parent": remote.parent_name(source),
            }
        else:
            absolute = os.path.abspath(source)
            fields = {
                "track": "stdin" if os.fspath(source) == STDIN else source.stem,
                "trackext": source.suffix.lstrip("."),
                "parent": os.path.basename(os.path.dirname(absolute)),
            }
        inside = {
            stem: os.path.join(folder, template.format(stem=stem, ext=ext, **fields))
            for stem in stems
        }
        if out_url:
            paths = {stem: remote.join(out, *Path(part).parts) for stem, part in inside.items()}
        else:
            paths = {stem: out / part for stem, part in inside.items()}
        for part, path in zip(inside.values(), paths.values(), strict=True):
            if out_url:
                key = path
            else:
                # Where it really goes: the folders under `out` are made by the jobs.
                real_targets[os.path.normpath(os.path.join(real_out, part))] = path
                key = os.path.normcase(os.path.abspath(path)).casefold()
            first = owners.setdefault(key, source)
            if first is source:
                continue
            if (first if isinstance(first, str) else os.path.abspath(first)) == absolute:
                raise ParameterError(f"{source} is given twice")
            better = _resolving(template, first, source)
            hint = f"tell them apart with `filename` '{better}' or " if better else ""
            raise ParameterError(
                f"{first} and {source} would both write {path}; {hint}separate them into "
                "different `out` folders (or give their common folder as the input, which "
                "keeps its layout)"
            )
        if only_video:
            jobs.append(Job(source, None, None, video=paths[stems[0]]))
        else:
            jobs.append(Job(source, paths.get("background"), paths.get("foreground")))
    jobs = _with_sidecars(jobs)
    folders: dict[str, str] = {}  # the real path of each input's folder, looked up once
    for source in sources if real_targets else ():
        if isinstance(source, str):
            continue
        name = os.path.abspath(source)
        head, tail = os.path.split(name)
        if head not in folders:
            folders[head] = os.path.realpath(head)
        real = os.path.realpath(name) if os.path.islink(name) else os.path.join(folders[head], tail)
        if real in real_targets:
            raise ParameterError(
                f"{real_targets[real]} is both an input and an output; choose another `out` "
                "folder or `filename`"
            )
    return jobs


def sidecar_name(first: Path, source, *, alone: bool) -> str:
    """The name of the record (:data:`SIDECAR`) of the stems whose first is ``first``.

    ``repet.json`` for a track alone in its folder, ``<first stem>.repet.json`` where the
    folder holds several tracks' stems; stems in another format than the input's default
    (:func:`default_format`) add their extension (``mp3.repet.json``,
    ``a-background.mp3.repet.json``): the MP3 and the FLAC stems of one song, written into
    one folder by two runs, each keep the record of how they were made.
    """
    name = remote.name_of(source) if isinstance(source, str) else os.fspath(source)
    ext = first.suffix.lower().lstrip(".")
    parts = ([] if alone else [first.stem]) + ([] if ext == default_format(name) else [ext])
    return ".".join([*parts, SIDECAR])


def _with_sidecars(jobs: list[Job]) -> list[Job]:
    """Each local job with its record's path (:func:`sidecar_name`), beside its first stem."""
    import collections

    def local(job: Job) -> bool:
        return bool(job.targets) and not isinstance(job.targets[0], str)

    sharing = collections.Counter(Path(j.targets[0]).parent for j in jobs if local(j))
    out = []
    for job in jobs:
        if local(job):
            first = Path(job.targets[0])
            name = sidecar_name(first, job.source, alone=sharing[first.parent] == 1)
            job = dataclasses.replace(job, sidecar=first.parent / name)
        out.append(job)
    return out


def shard(jobs: list[Job], spec: str) -> list[Job]:
    """The jobs of shard ``"K/N"``: every N-th job from the K-th (0-based), so that N runs with
    K = 0 .. N-1 (a job array) process every job exactly once between them.

    Raises
    ------
    ParameterError
        A spec that is not ``K/N`` with ``0 <= K < N``.
    """
    try:
        k, n = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ParameterError(f"`shard` must be K/N, e.g. 3/100, got {spec!r}") from None
    if not (n >= 1 and 0 <= k < n):
        raise ParameterError(f"`shard` {spec}: K must be 0 to N-1 (0/{n} .. {max(n, 1) - 1}/{n})")
    return jobs[k::n]


def with_headers(jobs: list[Job], *, stream: int | None = None) -> list[Job]:
    """The same jobs with what each input's header says (:func:`~repet_cli.io.probe`), for a
    progress bar in seconds of audio; opens every input, so large batches go without."""
    return [dataclasses.replace(job, info=probe(job.source, stream=stream)) for job in jobs]


def _resolving(template: str, first: Path, second: Path) -> str | None:
    """A ``filename`` template that tells ``first`` and ``second`` apart, built on ``template``:
    by extension where theirs differ (song.wav, song.mp3), else by folder name; None if
    neither tells them apart."""
    if first.suffix.lower() != second.suffix.lower() and "{trackext}" not in template:
        if "{track}" in template:
            return template.replace("{track}", "{track}.{trackext}", 1)
        return "{trackext}/" + template
    parents = [os.path.basename(os.path.dirname(os.path.abspath(p))) for p in (first, second)]
    if "{parent}" not in template and parents[0] != parents[1]:
        return "{parent}/" + template
    return None


def check_figures(jobs: list[Job]) -> None:
    """Refuse jobs whose figures would overwrite each other (two tracks in one folder).

    Raises
    ------
    ParameterError
    """
    drawn: dict[Path, Path] = {}
    for job in jobs:
        other = drawn.setdefault(job.figure, job.source)
        if other is not job.source:
            raise ParameterError(
                f"{other} and {job.source} would draw the same figure {job.figure}; give each "
                "track its own folder in `filename`"
            )
