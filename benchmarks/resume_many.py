"""Resuming a very large batch from its ledger: every input done, nothing to run again.

Writes N names into a list, a ledger that records each as done with the default options, and
each one's two stems (empty files: the rerun must not open them), then runs

    repet separate --files-from LIST -o OUT --ledger LEDGER --skip-existing -j 2 --json -q

and reports its wall time, the parent's peak memory, and that every input was skipped.

    python benchmarks/resume_many.py                  # 200,000 names
    python benchmarks/resume_many.py --count 1000000  # 3 million files: minutes to write
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from many_names import run_measured  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000, help="names in the list")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        # The options' hash the command records (one missing input, run once).
        (root / "one.txt").write_text(f"{root}/missing.wav\n")
        probe = [sys.executable, "-m", "repet_cli", "separate", "--files-from",
                 str(root / "one.txt"), "-o", str(root / "o"), "--skip-existing",
                 "--json", "-q"]  # fmt: skip
        options = json.loads(run_measured(probe, root)[3])["options_hash"]
        names = [f"{root}/corpus/{k // 1000:04d}/{k:07d}.wav" for k in range(args.count)]
        (root / "list.txt").write_text("\n".join(names) + "\n")
        start = time.perf_counter()
        with open(root / "ledger.jsonl", "w") as ledger:
            for name in names:
                ledger.write(json.dumps({"input": name, "status": "ok", "options": options}))
                ledger.write("\n")
        for k in range(args.count):
            track = root / "out" / f"{k:07d}"
            track.mkdir(parents=True)
            (track / "background.wav").touch()
            (track / "foreground.wav").touch()
        print(f"wrote {args.count:,} names, their ledger and stems in "
              f"{time.perf_counter() - start:.0f} s")  # fmt: skip
        command = [
            sys.executable, "-m", "repet_cli", "separate", "--files-from", str(root / "list.txt"),
            "-o", str(root / "out"), "--ledger", str(root / "ledger.jsonl"), "--skip-existing",
            "-j", "2", "--json", "-q",
        ]  # fmt: skip
        code, seconds, peak, stdout = run_measured(command, root)
        record = json.loads(stdout)
        skipped = all(r["status"] == "skipped" for r in record["inputs"])
        print(f"rerun of {args.count:,} inputs the ledger records as done:")
        print(f"  exit status          {code}")
        print(f"  wall time            {seconds:7.1f} s")
        print(f"  parent peak memory   {peak:7.0f} MB")
        print(f"  every input skipped  {skipped} ({record['summary']})")
        print(f"measured on {platform.machine()}, Python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
