"""Inputs and outputs in object storage: ``s3://``, ``gs://``, ``az://`` ... URLs via fsspec.

A job whose input is a URL downloads it to a temporary file first; a job whose outputs are
URLs writes them to a temporary folder, then uploads each file whole. Writing straight into an
object-store handle is not safe for audio: libsndfile seeks back to finish a WAV or FLAC
header, which a streaming upload cannot do (measured with s3fs: a WAV claimed 220,522 frames
instead of 220,500, a FLAC 2^63-1, no error). Uploads are create-only (a conditional write,
``If-None-Match: *`` on S3) unless ``overwrite``, so two runs never clobber each other's stems.

fsspec and the filesystem of each scheme are optional (``pip install 'repet[s3]'`` for s3fs);
their settings come from their usual configuration: credentials from the environment or
``~/.aws``, an endpoint from ``FSSPEC_S3_ENDPOINT_URL``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import AudioReadError, AudioWriteError, MissingDependencyError, OutputExistsError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(name) -> bool:
    """True for a URL such as ``s3://bucket/key`` (``file://`` and plain paths are local)."""
    return isinstance(name, str) and bool(_URL.match(name)) and not name.startswith("file://")


def join(url: str, *parts: str) -> str:
    """``url`` with path parts appended (``.`` parts left out)."""
    pieces = [url.rstrip("/")] + [p.strip("/") for p in parts if p not in ("", ".")]
    return "/".join(pieces)


def name_of(url: str) -> str:
    """The last part of a URL's path: ``s3://b/music/song.wav`` -> ``song.wav``."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def parent_name(url: str) -> str:
    """The name of the folder a URL's object is in (``music`` above), or ""."""
    parts = url.split("://", 1)[-1].rstrip("/").split("/")
    return parts[-2] if len(parts) > 1 else ""


def _filesystem(url: str):
    try:
        import fsspec
    except ImportError:
        raise MissingDependencyError(
            f"{url}: URLs need fsspec and the filesystem of their scheme: "
            "pip install 'repet[s3]' (or gcsfs, adlfs)"
        ) from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise MissingDependencyError(f"{url}: {exc}") from None


def exists(url: str) -> bool:
    """True if the object exists."""
    fs, path = _filesystem(url)
    return bool(fs.exists(path))


def download(url: str, dest: Path) -> Path:
    """Copy the object ``url`` to the local file ``dest``; ``dest``.

    Raises
    ------
    AudioReadError
        No such object, no access, or the transfer failed (naming ``url``).
    """
    fs, path = _filesystem(url)
    try:
        fs.get_file(path, os.fspath(dest))
    except FileNotFoundError:
        raise AudioReadError("no such object", path=url) from None
    except PermissionError as exc:
        raise AudioReadError(f"access denied ({exc})", path=url) from None
    except Exception as exc:  # network, credentials...: one line naming the URL
        raise AudioReadError(
            f"cannot download ({type(exc).__name__}: {exc})", path=url, transient=True
        ) from None
    return dest


def upload(local: Path, url: str, *, overwrite: bool) -> None:
    """Copy the local file ``local`` to ``url`` whole; create-only unless ``overwrite``.

    Raises
    ------
    OutputExistsError
        The object exists and ``overwrite`` is off (checked by the store itself).
    AudioWriteError
        The upload failed; no object is left behind by it.
    """
    fs, path = _filesystem(url)
    try:
        fs.put_file(os.fspath(local), path, mode="overwrite" if overwrite else "create")
    except FileExistsError:
        raise OutputExistsError(
            "exists already; pass `overwrite` to replace it or `skip_existing` to keep it",
            path=url,
        ) from None
    except Exception as exc:
        raise AudioWriteError(
            f"cannot upload ({type(exc).__name__}: {exc})", path=url, transient=True
        ) from None


def remove(url: str) -> None:
    """Delete the object ``url`` if it is there (best effort)."""
    fs, path = _filesystem(url)
    try:
        fs.rm_file(path)
    except Exception:  # already gone, or no right to: nothing more to do here
        pass
