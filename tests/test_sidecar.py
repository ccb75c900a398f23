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


def test_options_given_at_their_default_values_are_the_same_options(tmp_path):
    # "--high-pass-ramp 50" is the default: the stems are the same, so is their record's hash
    # (it differed, and --skip-existing warned "made with other options" of the same stems).
    song = write_song(tmp_path / "song.wav", sr=SR, seconds=4.0)
    out = tmp_path / "out"
    assert run("separate", song, "-o", out).exit_code == 0
    given = ("--high-pass-ramp", "50", "--foreground-gain", "0.8", "--voice-gate")
    again = run("separate", song, "-o", out, "--skip-existing", *given, "--json")
    assert again.exit_code == 0, again.stderr
    (entry,) = json.loads(again.stdout)["inputs"]
    assert entry["status"] == "skipped" and not entry.get("warnings"), entry
    assert "other options" not in again.stderr
    other = run("separate", song, "-o", out, "--skip-existing", "--high-pass-ramp", "80")
    assert "made with other options" in other.stderr  # a value that is not the default


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


def test_the_record_holds_the_values_used_for_options_not_given(tmp_path):
    """Options left at their defaults are recorded with the values the separation used (the
    STFT sizes for the input's sample rate), not as null: the record alone says what made the
    stems. Null stays only where a value does not apply or is found in the input."""
    song = write_song(tmp_path / "song.wav", sr=SR, seconds=4.0)
    out = tmp_path / "out"
    assert run("separate", song, "-o", out).exit_code == 0
    options = json.loads((out / "song" / "repet.json").read_text())["options"]
    params = options["params"]
    assert params["options"] == {
        "min_period": 0.8,
        "max_period": 16.0,
        "period": None,  # detected: the record's "periods" give it
        "window": 0.0,
        "follow_level": False,
    }
    assert {k: v for k, v in params.items() if k != "options"} == {
        "algorithm": "repet",
        "mask": "kam",
        "threshold": None,  # the binary mask's only
        "foreground_gain": 0.8,
        "phase": "mixture",
        "high_pass": 150.0,
        "high_pass_ramp": 50.0,
        "voice_gate": True,
        "voice_model": True,
        "n_fft": 1024,  # 40 ms at 16 kHz, rounded up to a power of two
        "hop": 256,
    }
    assert options["stream"] == 0 and options["segment"] == 300.0


def test_other_algorithms_record_the_values_they_used(tmp_path):
    song = write_song(tmp_path / "song.wav", sr=SR, seconds=4.0)
    out = tmp_path / "out"
    given = ("--mask", "binary", "--no-voice-gate", "--n-fft", "512", "--algorithm", "repet-sim")
    assert run("separate", song, "-o", out, *given, "--neighbors", "5").exit_code == 0
    params = json.loads((out / "song" / "repet.json").read_text())["options"]["params"]
    assert params["options"] == {
        "neighbors": 5,
        "min_separation": 1.0,
        "similarity_threshold": 0.0,
    }
    assert params["threshold"] == 0.5 and params["foreground_gain"] is None
    assert params["high_pass_ramp"] == 0.0  # a hard cut without the kernel-additive mask
    assert params["voice_gate"] is False and params["voice_model"] is False
    assert (params["n_fft"], params["hop"]) == (512, 128)


def test_records_written_before_they_held_the_values_used_still_vouch_for_their_stems(
    tmp_path,
):
    """The options' hash is made of the options as given, as it was before records showed
    the values used: a record of stems made with the same options, written by an earlier
    version (nulls for the defaults), is still a match for --skip-existing and --ledger."""
    import dataclasses

    from repet_cli import RepetParams
    from repet_cli.batch import Settings, options_hash

    # The hash that records and ledgers of earlier versions hold for the default options.
    assert options_hash(Settings()) == "6ebc97fbe5df1d96"
    song = write_song(tmp_path / "song.wav", sr=SR, seconds=4.0)
    out = tmp_path / "out"
    assert run("separate", song, "-o", out).exit_code == 0
    sidecar = out / "song" / "repet.json"
    record = json.loads(sidecar.read_text())
    assert record["options_hash"] == options_hash(Settings())
    # As an earlier version wrote it: the options as given, the defaults left null.
    record["options"]["params"] = dataclasses.asdict(RepetParams())
    record["options"]["stream"] = None
    sidecar.write_text(json.dumps(record, indent=1) + "\n")
    stem = out / "song" / "foreground.wav"
    before = stem.read_bytes()
    for given in ((), ("--mask", "kam", "--phase", "mixture")):
        again = run("separate", song, "-o", out, "--skip-existing", *given, "--json")
        assert again.exit_code == 0, again.stderr
        (entry,) = json.loads(again.stdout)["inputs"]
        assert entry["status"] == "skipped" and "warnings" not in entry
        assert "other options" not in again.stderr
    assert stem.read_bytes() == before
    other = run("separate", song, "-o", out, "--skip-existing", "--high-pass", "100")
    assert "made with other options (see repet.json); kept" in other.stderr
