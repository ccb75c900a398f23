"""SiSEC-style framewise figures (BSS Eval v4, 1-s windows, median over windows, then over
items) of the defaults, the defaults without the voice model, and REPET as published, on the
clips and the full songs.

SiSEC 2016/2018 report framewise medians, not whole-item figures; this prints them beside
each other so that the project's figures can be read against published ones (for example
KAM1 on DSD100 in SiSEC 2016: vocals 2.45 / accompaniment 8.05 dB SDR, on other material).

    python benchmarks/framewise.py                  # both sets, about 15 minutes here
    python benchmarks/framewise.py --sets clips
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402

from repet_cli import RepetParams  # noqa: E402
from repet_cli import evaluate as ev  # noqa: E402

METHODS = {
    "repet (defaults)": RepetParams(),
    "repet --no-voice-model": RepetParams(voice_model=False),
    "repet as published (--mask soft --high-pass 100 --window 0 --no-follow-level)": (
        RepetParams.build(
            mask="soft", high_pass=quality.CLASSIC_HIGH_PASS, window=0.0, follow_level=False
        )
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="clips,fullsongs", help="clips, fullsongs or both")
    parser.add_argument("--eval", type=Path, default=quality.SHARED / "eval")
    args = parser.parse_args()
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        items = quality.find_items(name, clips_dir=args.eval)
        if not items:
            continue
        medians: dict[str, list] = {m: [] for m in METHODS}
        start = time.perf_counter()
        for _, folder in items:
            mixture, truth, sr = quality.LOADERS[name](folder)
            for method, params in METHODS.items():
                bg, fg, _ = quality.run_method(mixture, sr, params, quality.SEGMENT)
                _, _, found = ev.evaluate_framewise(
                    truth, {"background": bg, "foreground": fg}, sr, workers=2
                )
                medians[method].append(found)
        print(f"## {name}: {len(items)} items ({time.perf_counter() - start:.0f} s)\n")
        print("| method | bg SDR | fg SDR | bg SIR | fg SIR | bg SAR | fg SAR |")
        print("|---|---|---|---|---|---|---|")
        for method, found in medians.items():
            m = ev.median_over_tracks(found)
            b, f = m["background"], m["foreground"]
            print(
                f"| {method} | {b['sdr']:.2f} | {f['sdr']:.2f} | {b['sir']:.2f} | "
                f"{f['sir']:.2f} | {b['sar']:.2f} | {f['sar']:.2f} |"
            )
        print(flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
