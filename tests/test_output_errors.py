"""An output folder that cannot take the stems: one clear error, said once, nothing partial."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from helpers import leftovers, run
from repet_cli import batch, files
from synth import write_song

SR = 16000


def songs(folder: Path, n: int) -> list[Path]:
    return [write_song(folder / f"s{k}.wav", sr=SR, seconds=3.0) for k in range(n)]


def test_a_read_only_output_disk_is_one_error_before_any_work(tmp_path, monkeypatch):
    inputs = songs(tmp_path / "in", 3)
    disk = tmp_path / "disk"
    disk.mkdir()
    real_access, real_statvfs = os.access, os.statvfs

    def access(path, mode, *args, **kwargs):
        return False if Path(path) == disk else real_access(path, mode, *args, **kwargs)

    class ReadOnly:
        f_flag = os.ST_RDONLY

    def statvfs(path):
        return ReadOnly() if Path(path) == disk else real_statvfs(path)

    monkeypatch.setattr(batch.folders.os, "access", access)
    monkeypatch.setattr(batch.folders.os, "statvfs", statvfs)
    result = run("separate", *inputs, "-o", disk / "stems")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(disk) in lines[0] and "read-only" in lines[0]
    assert "choose an output folder on a writable disk" in lines[0]
    assert list(disk.iterdir()) == []


def test_a_folder_without_write_permission_says_so(tmp_path, monkeypatch):
    inputs = songs(tmp_path / "in", 1)
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        batch.folders.os,
        "access",
        lambda path, mode, *a, **k: False if Path(path) == locked else real_access(path, mode),
    )
    result = run("separate", *inputs, "-o", locked)
    assert result.exit_code == 1
    assert "Permission denied" in result.stderr
    assert "choose an output folder you can write to" in result.stderr


def test_a_disk_that_fills_up_stops_the_batch_with_one_error(tmp_path, monkeypatch):
    inputs = songs(tmp_path / "in", 4)
    out = tmp_path / "out"
    calls = []
    real_open_temp = files.open_temp

    def open_temp(p):
        if p.suffix == ".wav":  # stems; each input's record (repet.json) goes through here too
            calls.append(p)
            if len(calls) > 2:  # the first input's two stems fit, then the disk is full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open_temp(p)

    monkeypatch.setattr(files, "open_temp", open_temp)
    result = run("separate", *inputs, "-o", out, "-j", "1", "--json")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if "No space left" in line]
    assert len(errors) == 2  # said as it happened, and once more in the summary of failures
    assert "the disk is full: free some space" in errors[0]
    assert "stopped: nothing more can be written there; 2 inputs not started" in result.stderr
    assert sorted(p.name for p in out.rglob("*.wav")) == ["background.wav", "foreground.wav"]
    assert leftovers(out) == []
    assert not (out / "s1").exists()  # no folder left behind by the failed input
