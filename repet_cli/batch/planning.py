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
from pathlib import Path

from .. import remote
from ..errors import ParameterError
from ..files import STDIN
from ..io import probe
from .layout import (  # noqa: F401 - names the package and its users import from here
    FIGURE,
    LOSSLESS_EXTENSIONS,
    LOSSY_EXTENSIONS,
    MEDIA_EXTENSIONS,
    PCM_EXTENSIONS,
    SIDECAR,
    STEMS,
    VIDEO_EXTENSIONS,
    Job,
    Layout,
    Plan,
    default_format,
    make_plan,
    resolving,
    sidecar_name,
)

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
) -> list[tuple[Path | str, Path]]:
    """The files to separate: ``(file, folder inside out)`` for each (a URL as text).

    A file stands for itself (folder ``.``); a folder stands for the files under it, at any
    depth, whose extension is one of ``extensions`` (default :data:`MEDIA_EXTENSIONS`), in
    sorted order, each with its folder relative to the one given, so the outputs keep the
    input's layout. Nothing is opened. A folder holding no such file stands for itself, and
    its job fails, saying so. (:func:`found_inputs` gives the same, held compactly.)
    """
    from .layout import folder_of, source_of

    found = found_inputs(inputs, extensions=extensions)
    return [(source_of(item), Path(folder_of(item))) for item in found]


def found_inputs(
    inputs: Iterable[str | os.PathLike], *, extensions: Iterable[str] | None = None
) -> list:
    """:func:`find_inputs`, held compactly for :func:`plan`: each file standing for itself as
    given (no new object for it), a file found in a folder as ``(file, folder inside out)``.

    A file stands for itself (folder ``.``); a folder stands for the files under it, at any
    depth, whose extension is one of ``extensions`` (default :data:`MEDIA_EXTENSIONS`), in
    sorted order, each with its folder relative to the one given, so the outputs keep the
    input's layout. Nothing is opened.

    A folder holding no such file stands for itself, and its job fails, saying so.
    """
    wanted = {e.lower().lstrip(".") for e in (extensions or MEDIA_EXTENSIONS)}
    found = []
    for item in inputs:
        # A file (or an object) stands for itself: kept as given, no new object for it (a
        # list of a million names holds nothing more than the names).
        if remote.is_url(item) or not os.path.isdir(item):
            found.append(item)
            continue
        path = Path(item)
        files = []
        for folder, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(names):
                if os.path.splitext(name)[1].lower().lstrip(".") in wanted:
                    here = Path(folder) / name
                    files.append((here, here.parent.relative_to(path)))
        found += files or [item]  # its job says what is wrong with it
    return found


def once_each(found: list) -> tuple[list, list[tuple[Path | str, int]]]:
    """``found`` (:func:`find_inputs`' pairs, or paths) with each file kept once, where it is
    first named, and the files named more than once with how many times.

    A file named in a list and found again in a folder given beside it is one input: its
    first naming decides where its outputs go (a folder's layout, if the folder came first).
    A local file is the same whatever path names it (``music/a.wav``, ``./music/a.wav``), a
    URL by its text.
    """
    import numpy as np

    from .layout import equal_hashes

    def key(item) -> str:
        source = item[0] if isinstance(item, tuple) else item
        return source if remote.is_url(source) else os.path.normcase(os.path.abspath(source))

    # Equal names found by sorting their hashes (a dict of a million names costs 250 MB).
    hashes = np.fromiter((hash(key(item)) for item in found), dtype=np.int64, count=len(found))
    dropped, repeated = set(), []
    for group in equal_hashes(hashes):
        first: dict[str, int] = {}
        for i in group.tolist():
            first.setdefault(key(found[i]), i)
        for name, i in first.items():
            again = [j for j in group.tolist() if j != i and key(found[j]) == name]
            if again:
                dropped.update(again)
                item = found[i]
                repeated.append((i, item[0] if isinstance(item, tuple) else item, len(again) + 1))
    kept = [item for i, item in enumerate(found) if i not in dropped] if dropped else list(found)
    return kept, [(source, n) for _, source, n in sorted(repeated, key=lambda r: r[0])]


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
) -> Plan:
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
    layout = Layout(out, template, format, stems, only_video)
    items = inputs if isinstance(inputs, list) else list(inputs)
    return make_plan(items, layout)


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
