"""How long planning a very large batch takes: ``--files-from`` with N names, nothing opened.

Writes N file names (of files that do not exist: planning must not open them, so they need
not) into a list, then times what `repet separate --files-from LIST` does before the first
input is separated: reading the list, looking for folders among the names, and
:func:`repet_cli.batch.plan` (output paths, collisions, inputs that are also outputs).

    python benchmarks/plan_many.py             # 150,000 names
    python benchmarks/plan_many.py --count 1000000   # issue 27's limit: 60 s
"""

from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time
from pathlib import Path

from repet_cli import batch
from repet_cli.batch.planning import found_inputs, names_from, once_each


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=150_000, help="names in the list")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        listing = root / "list.txt"
        names = (f"{root}/fma_full/{k // 1000:03d}/{k:06d}.mp3" for k in range(args.count))
        listing.write_text("\n".join(names) + "\n")
        times = {}
        start = time.perf_counter()
        found = names_from(listing, null=False)
        times["read the list"] = time.perf_counter() - start
        start = time.perf_counter()
        inputs = found_inputs(found)
        times["look for folders"] = time.perf_counter() - start
        start = time.perf_counter()
        inputs, _ = once_each(inputs)
        times["each input once"] = time.perf_counter() - start
        start = time.perf_counter()
        jobs = batch.plan(inputs, root / "out")
        times["plan the outputs"] = time.perf_counter() - start
    assert len(jobs) == args.count
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"planning {args.count:,} inputs (none of them opened), as `repet separate` does:")
    for step, seconds in times.items():
        print(f"  {step:18s} {seconds:6.2f} s")
    print(f"  {'total':18s} {sum(times.values()):6.2f} s")
    print(f"  peak memory of the process: {peak:.0f} MB")
    print(f"measured on {platform.machine()}, Python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
