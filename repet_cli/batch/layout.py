"""A planned batch held compactly: :class:`Plan`, a sequence of jobs built as they are asked
for, and the checks that need every output path at once, made over 64-bit hashes.

A batch of a million names must fit in memory: a :class:`~repet_cli.batch.planning.Job` with
its paths takes about 2 KB, the names themselves about 140 bytes. So a plan keeps the inputs
as given and :class:`Layout` (the ``out`` folder, the ``filename`` template, the format)
makes any job's paths again when it is needed; the checks that compare every output with
every other (two inputs writing one file, an output that is an input, folders that hold
several tracks) sort hashes of the paths, and compare the paths themselves only where two
hashes are equal.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .. import remote
from ..errors import ParameterError
from ..files import STDIN
from ..formats import AudioInfo
from ..io import probe

STEMS = ("background", "foreground")

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


@dataclasses.dataclass(frozen=True, slots=True)
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


def resolving(template: str, first: Path, second: Path) -> str | None:
    """A ``filename`` template that tells ``first`` and ``second`` apart, built on ``template``:
    by extension where theirs differ (song.wav, song.mp3), else by folder name; None if
    neither tells them apart."""
    first, second = (Path(remote.name_of(p)) if isinstance(p, str) else p for p in (first, second))
    if first.suffix.lower() != second.suffix.lower() and "{trackext}" not in template:
        if "{track}" in template:
            return template.replace("{track}", "{track}.{trackext}", 1)
        return "{trackext}/" + template
    parents = [os.path.basename(os.path.dirname(os.path.abspath(p))) for p in (first, second)]
    if "{parent}" not in template and parents[0] != parents[1]:
        return "{parent}/" + template
    return None


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where each input's outputs go: ``out``, the ``filename`` template, the output format
    (None: each input's default), the stems written and whether only a video copy is."""

    out: Path | str
    template: str
    format: str | None
    stems: tuple[str, ...]
    only_video: bool

    @property
    def out_url(self) -> bool:
        return isinstance(self.out, str)

    def inside(self, source, folder, *, url: bool | None = None) -> dict[str, str]:
        """Each stem's path inside ``out``, as the template makes it, for ``source``: a Path,
        or a URL as text (or, with ``url`` given, the name of either as text)."""
        url = isinstance(source, str) if url is None else url
        name = remote.name_of(source) if url else _name(source)
        ext = self.format or default_format(source)
        if self.only_video:  # the copy keeps the video's container
            ext = os.path.splitext(name)[1].lower().lstrip(".") or "mp4"
        stem, suffix = _stem_suffix(name)
        fields = {
            "track": "stdin" if not url and os.fspath(source) == STDIN else stem,
            "trackext": suffix.lstrip("."),
            "parent": remote.parent_name(source)
            if url
            else os.path.basename(os.path.dirname(os.path.abspath(source))),
        }
        return {
            stem: os.path.join(folder, self.template.format(stem=stem, ext=ext, **fields))
            for stem in self.stems
        }

    def paths(self, source, folder) -> dict[str, Path | str]:
        """Each stem's output: a path under ``out``, or a URL."""
        inside = self.inside(source, folder)
        if self.out_url:
            return {stem: remote.join(self.out, *Path(p).parts) for stem, p in inside.items()}
        return {stem: self.out / p for stem, p in inside.items()}


def _name(source) -> str:
    """``Path(source).name``, without making the Path where the text is plain."""
    if isinstance(source, str) and not source.endswith("/"):
        name = os.path.basename(source)
        if name not in ("", ".", ".."):
            return name
    return Path(source).name


def _stem_suffix(name: str) -> tuple[str, str]:
    """A file name's stem and suffix, as pathlib splits them (``a.tar.gz``: ``a.tar``,
    ``.gz``; ``.hidden`` and ``a.``: no suffix)."""
    i = name.rfind(".")
    if 0 < i < len(name) - 1:
        return name[:i], name[i:]
    return name, ""


def source_of(item) -> Path | str:
    """The input of a planned item: a URL as text, a local file as a Path."""
    source = item[0] if isinstance(item, tuple) else item
    return source if remote.is_url(source) else Path(source)


def folder_of(item) -> str | os.PathLike:
    """The folder inside ``out`` of a planned item (``.`` for a file standing for itself)."""
    return item[1] if isinstance(item, tuple) else "."


class Plan(Sequence):
    """The jobs of a batch, in input order; each :class:`~repet_cli.batch.planning.Job` is
    made when asked for (indexing, iterating). A slice is a plan too (a shard)."""

    def __init__(self, items: list, layout: Layout, shared: frozenset, index=None):
        self._items = items  # the inputs: sources, or (source, folder) pairs
        self._layout = layout
        self._shared = shared  # the folders whose records are named for their first stem
        self._index = range(len(items)) if index is None else index

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Plan(self._items, self._layout, self._shared, self._index[i])
        return self.job(self._items[self._index[i]])

    def __iter__(self) -> Iterator:
        for k in self._index:
            yield self.job(self._items[k])

    def __eq__(self, other) -> bool:
        if isinstance(other, Plan | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __repr__(self) -> str:
        return f"Plan({len(self)} jobs into {self._layout.out})"

    def source(self, i: int):
        """The input of job ``i``, without making the job."""
        return source_of(self._items[self._index[i]])

    def job(self, item):
        source = source_of(item)
        paths = self._layout.paths(source, folder_of(item))
        if self._layout.only_video:
            job = Job(source, None, None, video=paths[self._layout.stems[0]])
        else:
            job = Job(source, paths.get("background"), paths.get("foreground"))
        if job.targets and not isinstance(job.targets[0], str):  # local: its record
            first = Path(job.targets[0])
            alone = os.fspath(first.parent) not in self._shared
            job = dataclasses.replace(
                job, sidecar=first.parent / sidecar_name(first, source, alone=alone)
            )
        return job


def equal_hashes(hashes: np.ndarray) -> list[np.ndarray]:
    """The positions of each group of equal values in ``hashes`` (groups of two or more)."""
    if len(hashes) < 2:
        return []
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return []
    starts = np.flatnonzero(np.diff(np.concatenate(([False], same, [False])).astype(np.int8)) == 1)
    ends = np.flatnonzero(np.diff(np.concatenate(([False], same, [False])).astype(np.int8)) == -1)
    return [np.sort(order[a : b + 1]) for a, b in zip(starts, ends, strict=True)]


def make_plan(items: list, layout: Layout) -> Plan:
    """The plan of ``items`` (sources or (source, folder) pairs, each once), checked.

    Raises
    ------
    ParameterError
        An input given twice, two inputs that would write the same file, or an output that is
        an input (the first such, in input order, as a check of one input after the other
        would find it).
    """
    stems = layout.stems
    real_out = None if layout.out_url else os.path.realpath(layout.out)
    abs_out = None if layout.out_url else os.path.abspath(layout.out)
    count = len(items) * len(stems)
    keys = np.empty(count, dtype=np.int64)  # the hash of each output's path
    real = np.empty(count if real_out else 0, dtype=np.int64)  # of where it really goes
    parents = np.empty(len(items), dtype=np.int64)  # of each job's first stem's folder
    join, normpath, normcase = os.path.join, os.path.normpath, os.path.normcase
    for k, item in enumerate(items):
        raw = item[0] if isinstance(item, tuple) else item
        raw = raw if isinstance(raw, str) else os.fspath(raw)
        inside = layout.inside(raw, folder_of(item), url=remote.is_url(raw))
        for s, part in enumerate(inside.values()):
            if abs_out is None:  # a URL: its text
                key = remote.join(layout.out, *Path(part).parts)
            else:  # as _key makes it, from strings alone (no Path: a million of them is slow)
                key = normcase(normpath(join(abs_out, part))).casefold()
                real[k * len(stems) + s] = hash(normpath(join(real_out, part)))
            keys[k * len(stems) + s] = hash(key)
            if s == 0:
                parents[k] = hash(os.path.dirname(key))

    # Two inputs writing one file: the first collision in input order.
    worst = None  # (later job, stem position, earlier job, path)
    for group in equal_hashes(keys):
        owners: dict[str, int] = {}
        for position in group.tolist():
            k, s = divmod(position, len(stems))
            source = source_of(items[k])
            path = layout.paths(source, folder_of(items[k]))[stems[s]]
            first = owners.setdefault(_key(path, layout), k)
            if first != k and (worst is None or (k, s) < worst[:2]):
                worst = (k, s, first, path)
    if worst is not None:
        k, _, first_k, path = worst
        first, source = source_of(items[first_k]), source_of(items[k])
        same = (first if isinstance(first, str) else os.path.abspath(first)) == (
            source if isinstance(source, str) else os.path.abspath(source)
        )
        if same:
            raise ParameterError(f"{source} is given twice")
        better = resolving(layout.template, first, source)
        hint = f"tell them apart with `filename` '{better}' or " if better else ""
        raise ParameterError(
            f"{first} and {source} would both write {path}; {hint}separate them into "
            "different `out` folders (or give their common folder as the input, which "
            "keeps its layout)"
        )

    # An output that is an input.
    if real_out is not None and count:
        order = np.argsort(real)
        ordered = real[order]
        folders: dict[str, str] = {}  # the real path of each input's folder, looked up once
        for item in items:
            raw = item[0] if isinstance(item, tuple) else item
            if remote.is_url(raw):
                continue
            name = os.path.abspath(raw)
            head, tail = os.path.split(name)
            if head not in folders:
                folders[head] = os.path.realpath(head)
            where = (
                os.path.realpath(name)
                if os.path.islink(name)
                else os.path.join(folders[head], tail)
            )
            h = hash(where)
            at = int(np.searchsorted(ordered, h))
            while at < len(ordered) and ordered[at] == h:
                k, s = divmod(int(order[at]), len(stems))
                owner = source_of(items[k])
                inside = list(layout.inside(owner, folder_of(items[k])).values())[s]
                if os.path.normpath(os.path.join(real_out, inside)) == where:
                    path = layout.paths(owner, folder_of(items[k]))[stems[s]]
                    raise ParameterError(
                        f"{path} is both an input and an output; choose another `out` folder "
                        "or `filename`"
                    )
                at += 1

    # Folders that hold several tracks' stems: their records are named for the first stem.
    shared = set()
    for group in equal_hashes(parents):
        folders_here: dict[str, int] = {}
        for k in group.tolist():
            source = source_of(items[k])
            first = layout.paths(source, folder_of(items[k]))[stems[0]]
            if isinstance(first, str):
                continue
            name = os.fspath(first.parent)
            folders_here[name] = folders_here.get(name, 0) + 1
        shared.update(name for name, n in folders_here.items() if n > 1)
    return Plan(items, layout, frozenset(shared))


def _key(path, layout: Layout) -> str:
    """What makes two outputs the same file: a URL's text, a local path made absolute, its
    case folded (two names a case-insensitive file system takes for one)."""
    if layout.out_url:
        return path
    return os.path.normcase(os.path.abspath(path)).casefold()
