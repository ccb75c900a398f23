"""A batch of a million names, start to end: the parent's peak memory and the batch's time.

Writes N names of files that do not exist into a list (a missing file fails fast, so this
measures the batch machinery, not separation), then runs

    repet separate --files-from LIST -o OUT -j 2 --json

as a user would, and reports its exit status, the wall time, the parent process's peak
resident memory (``VmHWM``, read from /proc while it runs), and checks that ``--json`` lists
every input once, in order, each failed.

    python benchmarks/many_names.py                  # 1,000,000 names
    python benchmarks/many_names.py --count 100000

Issue 27's limits: parent peak at most 1 GB, the whole batch within 10 minutes on this
2-core machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def peak_memory(pid: int, seen: dict) -> None:
    """Keep the last ``VmHWM`` (peak resident set, kB) of ``pid`` in ``seen`` until it ends."""
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            text = status.read_text()
        except (FileNotFoundError, ProcessLookupError):
            return
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                seen["kB"] = int(line.split()[1])
        if "State:\tZ" in text:
            return
        time.sleep(0.2)


def run_measured(command: list[str], folder: Path) -> tuple[int, float, float, str]:
    """Run ``command`` (its output into files in ``folder``): its exit status, wall time in
    seconds, peak resident memory in MB, and standard output."""
    start = time.perf_counter()
    with open(folder / "stdout.txt", "w") as out, open(folder / "stderr.txt", "w") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err)
        seen: dict = {}
        watcher = threading.Thread(target=peak_memory, args=(process.pid, seen))
        watcher.start()
        code = process.wait()
        watcher.join()
    seconds = time.perf_counter() - start
    return code, seconds, seen.get("kB", 0) / 1024, (folder / "stdout.txt").read_text()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="names in the list")
    parser.add_argument("--jobs", type=int, default=2, help="-j for repet separate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        listing = root / "list.txt"
        with listing.open("w") as f:
            for k in range(args.count):
                f.write(f"{root}/corpus/{k // 1000:04d}/{k:07d}.mp3\n")
        command = [
            sys.executable, "-m", "repet_cli", "separate", "--files-from", str(listing),
            "-o", str(root / "out"), "-j", str(args.jobs), "--json", "-q",
        ]  # fmt: skip
        code, seconds, peak, stdout = run_measured(command, root)
        record = json.loads(stdout)
        inputs = record["inputs"]
        expected = [f"{root}/corpus/{k // 1000:04d}/{k:07d}.mp3" for k in range(args.count)]
        in_order = [r["input"] for r in inputs] == expected
        all_failed = all(r["status"] == "failed" for r in inputs)
        print(f"{args.count:,} missing names, repet separate --files-from -j {args.jobs} --json:")
        print(f"  exit status          {code} (1 expected: every input failed)")
        print(f"  wall time            {seconds:7.1f} s")
        print(f"  parent peak memory   {peak:7.0f} MB")
        print(f"  --json               {len(inputs):,} inputs, in order: {in_order}, "
              f"all failed: {all_failed}, summary {record['summary']}")  # fmt: skip
        print(f"measured on {platform.machine()}, Python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
