"""A real single-node SLURM on 127.0.0.1 for the tests: its own munged, slurmctld and slurmd,
configured in a temporary folder, started for the tests and stopped after them.

It needs Debian's slurm-wlm and munge (``apt-get install slurm-wlm munge``) and root: the
daemons run as root (``SlurmUser=root``), as on a cluster's nodes. Without them the tests are
skipped, except in CI (``CI`` set, as CI services do), where they fail: CI cannot lose them
silently.

Nothing of the machine's own SLURM or munge is used or touched: the munge key, the sockets,
the ports, the state and the logs are this instance's own, so several can run at once.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

#: What the tests run: the daemons (in /usr/sbin) and the user commands.
DAEMONS = ("munged", "slurmctld", "slurmd")
COMMANDS = ("sbatch", "squeue", "sinfo", "scancel", "scontrol")
#: Where Debian puts the daemons, which a user's PATH may lack.
SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")
#: Seconds to wait for the daemons to start (the node idle) and to stop.
STARTUP = 120
#: A job in one of these states is over.
FINAL = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED"}


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *SBIN]))


def unavailable() -> str | None:
    """Why a single-node SLURM cannot run here, or None if it can."""
    missing = [name for name in DAEMONS + COMMANDS if _which(name) is None]
    if missing:
        return (
            f"needs SLURM and munge (apt-get install slurm-wlm munge): {', '.join(missing)} "
            "not found"
        )
    if os.geteuid() != 0:
        return "needs root: the single-node SLURM runs its daemons as root (SlurmUser=root)"
    return None


def in_ci() -> bool:
    """True on a CI service (``CI`` set to anything but false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(reason: str) -> None:
    """Skip the test for ``reason``, or fail it in CI, which must run every test."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: these tests must run there, not be skipped)")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def real_memory_mib() -> int:
    """Nine tenths of the machine's memory in MiB: the node's RealMemory (a node claiming more
    than it has would be drained)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 9 // 10 // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def slurm_conf(folder: Path, *, node: str, cpus: int, memory: int, ports: tuple[int, int]) -> str:
    """A minimal slurm.conf for one node on 127.0.0.1, everything under ``folder``.

    ``config_overrides`` makes the node what the file says whatever the hardware reports, and
    ``cons_tres`` with ``CR_Core`` gives each job its cores only, so that two one-core jobs run
    at once; no cgroups (``proctrack/linuxproc``, ``task/none``), no accounting.
    """
    return f"""\
ClusterName=repet-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder}/munge.socket
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=10
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} Sockets=1 CoresPerSocket={cpus} \
ThreadsPerCore=1 RealMemory={memory} State=UNKNOWN
PartitionName=test Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


class Slurm:
    """A running single-node SLURM: its commands, with ``SLURM_CONF`` pointing at its
    configuration (:attr:`env`), and waits on what they report."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.conf = folder / "slurm.conf"
        self.node = socket.gethostname().split(".")[0]
        self.cpus = max(2, os.cpu_count() or 1)
        #: The environment of a SLURM command for this cluster (and of the jobs it submits:
        #: sbatch exports the submitting environment to the job by default); none of the
        #: SLURM_ variables of a job the tests may themselves be running in.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        self.env["SLURM_CONF"] = str(self.conf)
        self.daemons: dict[str, subprocess.Popen] = {}

    # -- commands ----------------------------------------------------------------------------

    def __call__(self, *args, check: bool = True, timeout: float = 60, **kwargs):
        """Run a SLURM command (``slurm("squeue", "-h")``); its completed process, text out."""
        return subprocess.run(
            [_which(args[0]) or args[0], *map(str, args[1:])],
            env=kwargs.pop("env", self.env),
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            **kwargs,
        )

    def sbatch(self, *args, cwd, env=None) -> str:
        """Submit a job (``sbatch --parsable ARGS`` in ``cwd``); its id."""
        done = self("sbatch", "--parsable", *args, cwd=cwd, env=env or self.env)
        return done.stdout.strip().split(";")[0]

    def jobs(self) -> list[dict[str, str]]:
        """The jobs in the queue (pending, running, completing): id, name and state of each."""
        out = self("squeue", "-h", "-o", "%i|%j|%T").stdout
        return [
            dict(zip(("id", "name", "state"), line.split("|"), strict=True))
            for line in out.splitlines()
            if line.strip()
        ]

    def states(self, job: str) -> dict[str, str]:
        """The state of each task of ``job`` (``{"7_0": "COMPLETED", ...}``) while SLURM still
        knows it (MinJobAge, 5 minutes, after it ends); a plain job is one task, its own id."""
        done = self("scontrol", "-o", "show", "job", job, check=False)
        states = {}
        for record in done.stdout.splitlines() if done.returncode == 0 else []:
            fields = dict(re.findall(r"(\w+)=(\S*)", record))
            if "ArrayTaskId" in fields:
                key = f"{fields['ArrayJobId']}_{fields['ArrayTaskId']}"
            else:
                key = fields["JobId"]
            states[key] = fields["JobState"]
        return states

    def wait(self, condition, what: str, *, timeout: float = 120, every: float = 0.1):
        """Poll ``condition()`` until it returns something true (returned), for ``timeout``
        seconds, else fail saying ``what`` was awaited."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            self.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout} s for {what}; {self.describe()}")
            time.sleep(every)

    def wait_done(self, job: str, *, timeout: float = 300) -> dict[str, str]:
        """Wait until every task of ``job`` is over; their states."""

        def over():
            states = self.states(job)
            return states if states and set(states.values()) <= FINAL else None

        return self.wait(over, f"job {job} to end", timeout=timeout, every=0.2)

    def wait_empty(self, *, timeout: float = 120) -> None:
        """Wait until no job is queued, running or completing."""
        self.wait(lambda: not self.jobs(), "an empty queue", timeout=timeout)

    def cancel_all(self, *, timeout: float = 120) -> None:
        """Cancel every job and wait until they are gone."""
        if self.jobs():
            self("scancel", "--user", "root", check=False)
        self.wait_empty(timeout=timeout)

    def describe(self) -> str:
        """The queue and the last lines of the daemons' logs, for a failure's message."""
        parts = []
        with contextlib.suppress(Exception):
            parts.append(self("squeue", check=False, timeout=20).stdout)
        for name in ("slurmctld.log", "slurmd.log", "munged.err"):
            path = self.folder / name
            if path.is_file():
                tail = path.read_text(errors="replace").splitlines()[-15:]
                parts.append(f"--- {name}:\n" + "\n".join(tail))
        return "\n".join(parts)

    def check_alive(self) -> None:
        for name, proc in self.daemons.items():
            if proc.poll() is not None:
                raise AssertionError(
                    f"{name} exited with status {proc.returncode}; {self.describe()}"
                )

    # -- start and stop ----------------------------------------------------------------------

    def start(self) -> None:
        """Start munged, slurmctld and slurmd, and wait until ``sinfo`` reports the node idle."""
        folder = self.folder
        folder.chmod(0o755)  # munged wants its socket's folder open to every user
        for sub in ("state", "spool"):
            (folder / sub).mkdir()
        key = folder / "munge.key"
        key.write_bytes(os.urandom(128))  # munge's own key size (mungekey's default 1024 bits)
        key.chmod(0o600)
        socket_path = folder / "munge.socket"
        self._daemon(
            "munged",
            "--foreground",
            f"--key-file={key}",
            f"--socket={socket_path}",
            f"--pid-file={folder / 'munged.pid'}",
            f"--log-file={folder / 'munged.log'}",
            f"--seed-file={folder / 'munged.seed'}",
        )
        self.wait(socket_path.exists, "munged's socket", timeout=STARTUP)
        ports = (free_port(), free_port())
        self.conf.write_text(
            slurm_conf(
                folder, node=self.node, cpus=self.cpus, memory=real_memory_mib(), ports=ports
            )
        )
        self._daemon("slurmctld", "-D", "-f", self.conf)
        self._daemon("slurmd", "-D", "-f", self.conf)

        def idle():
            done = self("sinfo", "-h", "-N", "-o", "%T", check=False, timeout=60)
            return done.returncode == 0 and done.stdout.split() == ["idle"]

        self.wait(idle, "sinfo to report the node idle", timeout=STARTUP, every=0.2)

    def _daemon(self, name: str, *args) -> None:
        # Each daemon's own output (PMIx's "can not load PMIx library" errors are harmless).
        with open(self.folder / f"{name}.err", "wb") as err:
            self.daemons[name] = subprocess.Popen(
                [_which(name), *map(str, args)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is pytest's, not theirs
            )

    def stop(self) -> None:
        """Cancel what is left, then stop slurmd, slurmctld and munged (in that order)."""
        if "slurmd" in self.daemons and all(p.poll() is None for p in self.daemons.values()):
            with contextlib.suppress(Exception):
                self.cancel_all(timeout=60)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.daemons.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


@contextlib.contextmanager
def single_node() -> Iterator[Slurm]:
    """A single-node SLURM, running for the block, then stopped and its folder removed
    (skipped, or failed in CI, where it cannot run)."""
    reason = unavailable()
    if reason is not None:
        missing(reason)
    # A short path: munged's socket path must fit a sockaddr_un (108 bytes).
    folder = Path(tempfile.mkdtemp(prefix="repet-slurm-", dir="/tmp"))
    slurm = Slurm(folder)
    try:
        slurm.start()
        yield slurm
    finally:
        slurm.stop()
        shutil.rmtree(folder, ignore_errors=True)
