"""Inputs and outputs in object storage, against a real S3-speaking server on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import run
from synth import write_song

pytest.importorskip("s3fs", reason="needs the s3 extra (repet[s3])")
pytest.importorskip("moto", reason="needs moto's server (the dev extra)")

SR = 16000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3(monkeypatch):
    """moto's S3 server on a free port of 127.0.0.1, a bucket in it, and s3fs pointed at it."""
    import fsspec

    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # wait until it accepts connections
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "no S3 server"
                time.sleep(0.05)
        for name, value in {
            "FSSPEC_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        fsspec.config.conf.clear()
        fsspec.config.set_conf_env(fsspec.config.conf)
        fs = fsspec.filesystem("s3", skip_instance_cache=True)
        fs.mkdir("bucket")
        yield fs
    finally:
        server.terminate()
        server.wait(timeout=30)
        import fsspec

        fsspec.config.conf.clear()
        fsspec.config.set_conf_env(fsspec.config.conf)


def test_s3_input_and_output_give_the_same_bytes_as_local_files(tmp_path, s3):
    song = write_song(tmp_path / "song.wav", sr=SR, seconds=6.0)
    s3.put_file(str(song), "bucket/in/song.wav")
    result = run("separate", "s3://bucket/in/song.wav", "-o", "s3://bucket/out")
    assert result.exit_code == 0, result.output
    local = run("separate", song, "-o", tmp_path / "local")
    assert local.exit_code == 0
    for stem in ("background", "foreground"):
        uploaded = s3.cat_file(f"bucket/out/song/{stem}.wav")
        assert uploaded == (tmp_path / "local" / "song" / f"{stem}.wav").read_bytes()
    # A local input to an S3 output, and an S3 input to a local folder.
    assert run("separate", song, "-o", "s3://bucket/up", "--stems", "foreground").exit_code == 0
    assert s3.ls("bucket/up/song") == ["bucket/up/song/foreground.wav"]
    down = run("separate", "s3://bucket/in/song.wav", "-o", tmp_path / "down")
    assert down.exit_code == 0
    assert (tmp_path / "down" / "song" / "background.wav").read_bytes() == (
        tmp_path / "local" / "song" / "background.wav"
    ).read_bytes()


def test_existing_objects_are_not_overwritten_and_uploads_are_create_only(tmp_path, s3):
    from repet_cli import remote
    from repet_cli.errors import OutputExistsError

    song = write_song(tmp_path / "song.wav", sr=SR, seconds=6.0)
    assert run("separate", song, "-o", "s3://bucket/out").exit_code == 0
    before = s3.cat_file("bucket/out/song/background.wav")
    again = run("separate", song, "-o", "s3://bucket/out", "--mask", "soft")
    assert again.exit_code == 1 and "exists already" in again.stderr
    assert s3.cat_file("bucket/out/song/background.wav") == before
    # The store itself refuses a second create (two runs racing past the check above).
    with pytest.raises(OutputExistsError, match="exists already"):
        remote.upload(song, "s3://bucket/out/song/background.wav", overwrite=False)
    assert s3.cat_file("bucket/out/song/background.wav") == before
    assert run("separate", song, "-o", "s3://bucket/out", "--overwrite").exit_code == 0
    skipped = run("separate", song, "-o", "s3://bucket/out", "--skip-existing")
    assert skipped.exit_code == 0 and "skipped" in skipped.output


def test_a_failed_upload_leaves_no_object(tmp_path, s3, monkeypatch):
    from repet_cli import remote

    song = write_song(tmp_path / "song.wav", sr=SR, seconds=6.0)
    real = remote.upload

    def second_fails(local, url, *, overwrite):
        if url.endswith("foreground.wav"):
            raise remote.AudioWriteError("cannot upload (connection reset)", path=url)
        real(local, url, overwrite=overwrite)

    monkeypatch.setattr(remote, "upload", second_fails)
    result = run("separate", song, "-o", "s3://bucket/out")
    assert result.exit_code == 1 and "cannot upload (connection reset)" in result.stderr
    assert not s3.exists("bucket/out/song/background.wav")  # both or neither


def test_a_missing_object_fails_alone_with_one_line(tmp_path, s3):
    good = write_song(tmp_path / "good.wav", sr=SR, seconds=6.0)
    result = run("separate", "s3://bucket/nothing.wav", good, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "error: s3://bucket/nothing.wav: no such object" in result.stderr
    assert (tmp_path / "out" / "good" / "background.wav").is_file()


def test_a_transient_upload_failure_is_retried_with_retries(tmp_path, s3, monkeypatch):
    import json

    from repet_cli import remote

    song = write_song(tmp_path / "song.wav", sr=SR, seconds=6.0)
    real, failures = remote.upload, []

    def flaky(local, url, *, overwrite):
        if not failures:
            failures.append(url)
            raise remote.AudioWriteError("cannot upload (timeout)", path=url, transient=True)
        real(local, url, overwrite=overwrite)

    monkeypatch.setattr(remote, "upload", flaky)
    once = run("separate", song, "-o", "s3://bucket/a")
    assert once.exit_code == 1 and "cannot upload (timeout)" in once.stderr
    failures.clear()
    ledger = tmp_path / "ledger.jsonl"
    retried = run("separate", song, "-o", "s3://bucket/b", "--retries", "1", "--ledger", ledger)
    assert retried.exit_code == 0, retried.output
    assert s3.exists("bucket/b/song/foreground.wav")
    assert json.loads(ledger.read_text())["attempt"] == 2
    # A bad input is not retried: it fails at once, whatever --retries says.
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    result = run("separate", bad, "-o", "s3://bucket/c", "--retries", "3", "--json")
    assert result.exit_code == 1
