"""Batches on a real single-node SLURM (tests/slurm.py): ``--cluster slurm`` through
dask-jobqueue, and the documentation's job array, cancelled part-way and resumed.

The job-array script and dask-jobqueue's settings are read from docs/batches.md, so what a
user copies from there is what runs here. The tests marked ``slurm`` are skipped where SLURM
and munge are not installed (or not as root), and fail instead in CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import leftovers, run
from slurm import missing, single_node
from synth import write_song

ROOT = Path(__file__).resolve().parents[1]
BATCHES = ROOT / "docs" / "batches.md"
BIN = Path(sys.executable).parent
SR = 16000


def needs(module: str) -> None:
    """Skip without ``module`` (fail in CI, whose dev extra has it)."""
    if importlib.util.find_spec(module) is None:
        missing(f"needs {module} (pip install 'repet[slurm]')")


def doc_block(title: str) -> str:
    """The code block of docs/batches.md titled ``title``."""
    found = re.findall(
        rf'^```\w+ title="{re.escape(title)}"\n(.*?)^```$', BATCHES.read_text(), flags=re.M | re.S
    )
    assert len(found) == 1, f"docs/batches.md has no single block titled {title}"
    return found[0]


def tree(folder: Path) -> dict[str, bytes]:
    """The stems under ``folder``, by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.wav"))}


def identities(folder: Path) -> dict[str, tuple[int, int]]:
    """Inode and modification time of each stem: a stem written again changes both."""
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*.wav"))
    }


def records(folder: Path) -> list[tuple[str, dict]]:
    """The lines of the array's ledgers, each with its ledger's name."""
    return [
        (ledger.name, json.loads(line))
        for ledger in sorted(folder.glob("ledger-*.jsonl"))
        for line in ledger.read_text().splitlines()
    ]


def repet(*args, cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    """``repet ARGS`` as a user runs it, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "repet_cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def cluster():
    """One single-node SLURM for the module's tests."""
    with single_node() as slurm:
        yield slurm


@pytest.fixture
def slurm(cluster, tmp_path):
    """The SLURM, its queue empty before the test and emptied after it; its environment
    (:attr:`env`) puts this Python's ``repet`` on PATH and reads dask-jobqueue's settings from
    the documentation's file, written to a folder of the test's own."""
    cluster.wait_empty()
    settings = tmp_path / "dask"
    settings.mkdir()
    (settings / "jobqueue.yaml").write_text(doc_block("jobqueue.yaml"))
    env = dict(cluster.env)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DASK_CONFIG"] = str(settings)
    cluster.env, saved = env, cluster.env
    try:
        yield cluster
    finally:
        cluster.env = saved
        cluster.cancel_all()


def songs(folder: Path, count: int, **kwargs) -> list[Path]:
    return [write_song(folder / f"s{k}.wav", sr=SR, **kwargs) for k in range(count)]


@pytest.mark.slurm
def test_cluster_slurm_gives_the_bytes_of_a_local_run(slurm, tmp_path):
    needs("dask_jobqueue")
    inputs = songs(tmp_path / "in", 3)
    local = run("separate", *inputs, "-o", tmp_path / "local", "-j", "1")
    assert local.exit_code == 0, local.output
    done = repet(
        "separate", *inputs, "-o", "out", "--cluster", "slurm", "-j", "2", "--json",
        cwd=tmp_path, env=slurm.env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [r["status"] for r in json.loads(done.stdout)["inputs"]] == ["ok"] * 3
    assert tree(tmp_path / "out") == tree(tmp_path / "local") != {}
    # The tasks ran in SLURM jobs (dask-jobqueue's job logs), which the batch's end cancelled.
    assert list((tmp_path / "dask-logs").glob("dask-worker-*.err")), "no worker job ran"
    slurm.wait_empty(timeout=60)


@pytest.mark.slurm
def test_the_documented_job_array_separates_each_input_once(slurm, tmp_path):
    inputs = songs(tmp_path / "in", 5)
    local = run("separate", *inputs, "-o", tmp_path / "local", "-j", "1")
    assert local.exit_code == 0, local.output
    (tmp_path / "list.txt").write_text("".join(f"{p}\n" for p in inputs))
    (tmp_path / "repet-array.sbatch").write_text(doc_block("repet-array.sbatch"))
    job = slurm.sbatch("repet-array.sbatch", cwd=tmp_path)
    assert slurm.wait_done(job) == {f"{job}_{k}": "COMPLETED" for k in range(3)}
    assert tree(tmp_path / "stems") == tree(tmp_path / "local") != {}
    ledgers = records(tmp_path)
    assert sorted(r["input"] for _, r in ledgers) == sorted(map(str, inputs))
    assert {r["status"] for _, r in ledgers} == {"ok"}
    assert {name for name, _ in ledgers} == {f"ledger-{k}.jsonl" for k in range(3)}
    assert leftovers(tmp_path / "stems") == []


@pytest.mark.slurm
def test_a_cancelled_array_task_resumes_leaving_nothing_partial(slurm, tmp_path):
    """Task 1's shard is s1 (short), then s4 (150 s, several seconds to separate): it is
    cancelled once its ledger records s1, so in the middle of s4."""
    inputs = songs(tmp_path / "in", 6)
    inputs[4] = write_song(tmp_path / "in" / "s4.wav", sr=SR, seconds=150.0, channels=1)
    local = run("separate", *inputs, "-o", tmp_path / "local", "-j", "1")
    assert local.exit_code == 0, local.output
    (tmp_path / "list.txt").write_text("".join(f"{p}\n" for p in inputs))
    (tmp_path / "repet-array.sbatch").write_text(doc_block("repet-array.sbatch"))
    job = slurm.sbatch("repet-array.sbatch", cwd=tmp_path)
    ledger = tmp_path / "ledger-1.jsonl"
    slurm.wait(
        lambda: ledger.is_file() and ledger.read_text().count("\n") >= 1,
        "task 1 to finish its first input",
        timeout=300,
    )
    slurm("scancel", f"{job}_1")
    states = slurm.wait_done(job)
    assert states[f"{job}_1"] == "CANCELLED", states
    stems = tmp_path / "stems"
    assert leftovers(stems) == []
    assert list(stems.glob("s4/*.wav")) == [], "s4 was finished before the cancel"
    assert "terminated (SIGTERM): stopped" in (tmp_path / f"repet-{job}_1.log").read_text()
    before = identities(stems)
    assert len(before) == 2 * 5  # two stems of each of the five other inputs

    again = slurm.sbatch("repet-array.sbatch", cwd=tmp_path)
    assert slurm.wait_done(again) == {f"{again}_{k}": "COMPLETED" for k in range(3)}
    assert tree(stems) == tree(tmp_path / "local")
    assert leftovers(stems) == []
    after = identities(stems)
    assert {k: after[k] for k in before} == before  # not written again
    ok = sorted(r["input"] for _, r in records(tmp_path) if r["status"] == "ok")
    assert ok == sorted(map(str, inputs))  # each input separated once
    ledgers: dict[str, set[str]] = {}
    for name, r in records(tmp_path):
        ledgers.setdefault(r["input"], set()).add(name)
    assert all(len(names) == 1 for names in ledgers.values()), ledgers  # in one ledger only


@pytest.mark.slurm
@pytest.mark.parametrize("when", ["queued", "told"])
def test_ctrl_c_while_the_worker_jobs_wait_stops_the_batch_and_cancels_them(slurm, tmp_path, when):
    """dask-jobqueue makes Ctrl-C a sys.exit() when imported: the batch then ended with status 0,
    no summary and no --json; it must stop as any batch does (130) and cancel its jobs.

    ``queued``: the Ctrl-C comes as soon as the jobs are in the queue, often while the cluster
    is still starting (distributed then failed to close it: "unexpected error", exit 1, the
    jobs left queued). ``told``: once the batch has said that it waits for them, and why.
    """
    needs("dask_jobqueue")
    inputs = songs(tmp_path / "in", 2)
    blocker = slurm.sbatch("--exclusive", "--wrap", "sleep 600", cwd=tmp_path)
    slurm.wait(lambda: slurm.states(blocker) == {blocker: "RUNNING"}, "the node to be taken")
    batch = subprocess.Popen(
        [sys.executable, "-m", "repet_cli", "separate", *map(str, inputs), "-o", "out",
         "--cluster", "slurm", "-j", "2", "--json"],
        cwd=tmp_path, env=slurm.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    waiting = "waiting for the workers' 2 SLURM jobs to leave SLURM's queue"
    try:
        seen = ""
        while when == "told" and waiting not in seen:  # a line on stderr, read as it comes
            line = batch.stderr.readline()
            assert line, f"the batch ended without saying it waits: {seen}"
            seen += line
        slurm.wait(
            lambda: sum(j["name"] == "dask-worker" for j in slurm.jobs()) == 2,
            "the two worker jobs to be queued",
        )
        batch.send_signal(signal.SIGINT)
        out, rest = batch.communicate(timeout=120)
        err = seen + rest
    finally:
        if batch.poll() is None:
            batch.kill()
    assert batch.returncode == 130, err
    assert "interrupted (Ctrl-C): stopped" in err and "Traceback" not in err, err
    assert json.loads(out)["interrupted"] == "interrupted (Ctrl-C)"
    slurm.wait(
        lambda: [j["id"] for j in slurm.jobs()] == [blocker], "the worker jobs to be cancelled"
    )


@pytest.mark.slurm
def test_worker_jobs_slurm_refuses_are_an_error_at_once(slurm, tmp_path):
    needs("dask_jobqueue")
    (song,) = songs(tmp_path / "in", 1)
    settings = Path(slurm.env["DASK_CONFIG"]) / "jobqueue.yaml"
    settings.write_text(settings.read_text() + "    queue: no-such-partition\n")
    done = repet("separate", song, "-o", "out", "--cluster", "slurm", cwd=tmp_path, env=slurm.env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "SLURM refuses the worker jobs" in done.stderr
    assert "invalid partition specified: no-such-partition" in done.stderr
    assert str(settings) in done.stderr
    assert slurm.jobs() == [] and not (tmp_path / "out").exists()


# Without SLURM: what a killed task leaves, what --cluster slurm checks before it starts.


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_running_a_killed_task_again_removes_its_temporary_files(tmp_path, jobs):
    """A task killed outright while it wrote (SIGKILL: the OOM killer, its time limit and
    KillWait past, a node lost) cannot clean up; the same command run again does."""
    inputs = songs(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert run("separate", inputs[0], "-o", out).exit_code == 0
    (out / "s1").mkdir()  # what the killed run was writing when it died
    for name in ("background.wav", "foreground.wav", "repet.json"):
        (out / "s1" / f".{name}.0123abcd.part").write_bytes(b"RIFF, cut short")
    result = run("separate", *inputs, "-o", out, "--skip-existing", "-j", jobs, "--json")
    assert result.exit_code == 0, result.output
    assert [r["status"] for r in json.loads(result.stdout)["inputs"]] == ["skipped", "ok"]
    assert leftovers(out) == []
    assert sorted(p.name for p in (out / "s1").iterdir()) == [
        "background.wav",
        "foreground.wav",
        "repet.json",
    ]


def settings_folder(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "dask"
    folder.mkdir()
    (folder / "jobqueue.yaml").write_text(text)
    return folder


def test_cluster_slurm_without_the_size_of_its_jobs_is_a_usage_error(tmp_path):
    needs("dask_jobqueue")
    (song,) = songs(tmp_path, 1, seconds=2.0)
    folder = settings_folder(tmp_path, "jobqueue:\n  slurm:\n    cores: 1\n")
    env = {**os.environ, "DASK_CONFIG": str(folder)}
    done = repet("separate", song, "--cluster", "slurm", cwd=tmp_path, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--cluster slurm needs the size of its worker jobs: set memory" in done.stderr
    assert str(folder / "jobqueue.yaml") in done.stderr


def test_cluster_slurm_without_sbatch_is_a_usage_error(tmp_path):
    needs("dask_jobqueue")
    (song,) = songs(tmp_path, 1, seconds=2.0)
    folder = settings_folder(tmp_path, doc_block("jobqueue.yaml"))
    env = {**os.environ, "DASK_CONFIG": str(folder), "PATH": str(tmp_path / "nothing")}
    done = repet("separate", song, "--cluster", "slurm", cwd=tmp_path, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "sbatch, which is not on PATH" in done.stderr


def test_checking_the_slurm_settings_keeps_the_ctrl_c_handler(tmp_path):
    """Importing dask-jobqueue replaces the SIGINT handler; repet's must survive the check."""
    needs("dask_jobqueue")
    (tmp_path / "sbatch").write_text("#!/bin/sh\n")
    (tmp_path / "sbatch").chmod(0o755)
    folder = settings_folder(tmp_path, doc_block("jobqueue.yaml"))
    code = (
        "import signal\n"
        "from repet_cli import signals\n"
        "from repet_cli.batch.dask import check_slurm_settings\n"
        "with signals.handled():\n"
        "    mine = signal.getsignal(signal.SIGINT)\n"
        "    check_slurm_settings()\n"
        "    assert signal.getsignal(signal.SIGINT) is mine, signal.getsignal(signal.SIGINT)\n"
        "import dask_jobqueue.runner\n"  # the check imported it (what it does is known)
    )
    env = {**os.environ, "DASK_CONFIG": str(folder), "PATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
