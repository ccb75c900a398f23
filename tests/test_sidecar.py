"""Each track's stems come with a record of how they were made, and --skip-existing heeds it."""

from __future__ import annotations

import hashlib
import json

from helpers import run
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


def test_skip_existing_keeps_stems_made_alike_and_remakes_others(tmp_path):
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
    assert entry["status"] == "ok"
    assert "made with other options; separated again" in entry["warnings"][0]
    assert stem.read_bytes() != before
    record = json.loads((out / "song" / "repet.json").read_text())
    assert record["options"]["params"]["mask"] == "wiener"
