"""Each track's stems come with a record of how they were made, and --skip-existing heeds it."""

from __future__ import annotations

import hashlib
import json

import pytest

from helpers import run
from repet_cli.batch import plan, read_record
from synth import write_song

SR = 16000


def test_the_record_says_how_the_stems_were_made(tmp_path):
    song = write_song(tmp_path / "song.wav", sr=SR, seconds=4.0)
    out = tmp_path / "out"
    result = run("separate", song, "-o", out, "--mask", "wiener", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads((out / "song" / "repet.json").read_text())
    digest = hashlib.sha256(song.read_bytes()).hexdigest()
    assert record["input_sha256"] == digest
    assert record["options"]["params"]["mask"] == "wiener"
    assert record["algorithm"] == "repet"
    assert record["duration"] == 4.0
    assert len(record["periods"]) == len(record["confidences"]) == 1
    assert record["outputs"] == ["background.wav", "foreground.wav"]
    assert record["repet"] and record["options_hash"] and record["seconds"] > 0
    (entry,) = json.loads(result.stdout)["inputs"]
    assert entry["input_sha256"] == digest


def test_tracks_sharing_a_folder_get_a_record_each(tmp_path):
    songs = [write_song(tmp_path / f"{n}.wav", sr=SR, seconds=3.0) for n in ("a", "b")]
    out = tmp_path / "out"
    assert run("separate", *songs, "-o", out, "--filename", "{track}-{stem}.{ext}").exit_code == 0
    names = sorted(p.name for p in out.iterdir() if p.suffix == ".json")
    assert names == ["a-background.repet.json", "b-background.repet.json"]
    assert json.loads((out / "b-background.repet.json").read_text())["input"].endswith("b.wav")


def test_skip_existing_keeps_stems_made_alike_and_made_otherwise(tmp_path):
    song = write_song(tmp_path / "song.wav", sr=SR, seconds=4.0)
    out = tmp_path / "out"
    assert run("separate", song, "-o", out).exit_code == 0
    stem = out / "song" / "foreground.wav"
    before = stem.read_bytes()
    same = run("separate", song, "-o", out, "--skip-existing", "--json")
    assert json.loads(same.stdout)["inputs"][0]["status"] == "skipped"
    other = run("separate", song, "-o", out, "--skip-existing", "--mask", "wiener", "--json")
    assert other.exit_code == 0, other.stderr
    (entry,) = json.loads(other.stdout)["inputs"]
    assert entry["status"] == "skipped"  # never replaced without --overwrite
    assert "made with other options (see repet.json); kept" in entry["warnings"][0]
    assert "made with other options" in other.stderr
    assert stem.read_bytes() == before
    record = json.loads((out / "song" / "repet.json").read_text())
    assert record["options"]["params"]["mask"] != "wiener"


def test_stems_of_two_formats_in_one_folder_keep_their_own_records(tmp_path):
    """An MP3 separated to MP3, then to FLAC, into one folder: the MP3 stems keep the record
    of how they were made, and resuming the MP3 run leaves them alone."""
    pytest.importorskip("av")
    from repet_cli.media import MediaWriter

    song = tmp_path / "song.mp3"
    y = read_song(write_song(tmp_path / "song.wav", sr=SR, seconds=4.0))
    with MediaWriter(song, format="mp3", sr=SR, channels=y.shape[0]) as writer:
        writer.write(y)
    out = tmp_path / "out"
    folder = out / "song"
    assert run("separate", song, "-o", out, "--format", "mp3").exit_code == 0
    mp3s = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.mp3")}
    assert run("separate", song, "-o", out, "--format", "flac").exit_code == 0
    records = {p.name: json.loads(p.read_text()) for p in folder.glob("*.json")}
    assert {name: r["outputs"] for name, r in records.items()} == {
        "mp3.repet.json": ["background.mp3", "foreground.mp3"],
        "repet.json": ["background.flac", "foreground.flac"],  # FLAC: an MP3's default
    }
    assert records["mp3.repet.json"]["options"]["format"] == "mp3"
    again = run("separate", song, "-o", out, "--format", "mp3", "--skip-existing", "--json")
    assert again.exit_code == 0, again.stderr
    (entry,) = json.loads(again.stdout)["inputs"]
    assert entry["status"] == "skipped"
    assert "other options" not in again.stderr
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.mp3")} == mp3s


def test_a_record_does_not_vouch_for_stems_replaced_since(tmp_path):
    song = write_song(tmp_path / "song.wav", sr=SR, seconds=4.0)
    out = tmp_path / "out"
    assert run("separate", song, "-o", out).exit_code == 0
    job = plan([song], out)[0]
    assert read_record(job)["outputs"] == ["background.wav", "foreground.wav"]
    job.foreground.write_bytes(b"not the stem it recorded")
    assert read_record(job) is None


def read_song(path):
    import soundfile as sf

    y, _ = sf.read(path, dtype="float32")
    return y[None, :] if y.ndim == 1 else y.T
