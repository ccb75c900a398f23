"""Speech over a music bed: the podcast-style items of the synthetic set under several settings.

Each item (benchmarks/synthetic.py: two voices over a looping bed that ducks while anyone
speaks, music-only intro and outro) is separated as `repet separate` does (quality.run_method)
with each setting of :data:`SETTINGS`, and both stems are scored with BSS Eval as ``repet evaluate``
does (mir_eval's figures); the table is the mean over the items.

    python benchmarks/speech_bed.py        # needs the synthetic set (make bench-tools)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402
import synthetic  # noqa: E402

from repet_cli import RepetParams  # noqa: E402
from repet_cli import evaluate as ev  # noqa: E402

SETTINGS = {
    "the defaults": RepetParams(),
    "--window 24": RepetParams.build(window=24.0),
    "--high-pass 100": RepetParams(high_pass=100.0),
    "--high-pass 60": RepetParams(high_pass=60.0),
    "--no-voice-gate": RepetParams(voice_gate=False),
    "previous defaults (--mask wiener)": RepetParams(mask="wiener"),
}


def main() -> int:
    folders = synthetic.generate(log=print)
    if folders is None:
        return 0
    podcasts = [f for f in folders if f.name.startswith("podcast")]
    rows: dict[str, list] = {name: [] for name in SETTINGS}
    for folder in podcasts:
        mixture, truth, sr = quality.LOADERS["synthetic"](folder)
        for name, params in SETTINGS.items():
            background, foreground, _ = quality.run_method(mixture, sr, params, quality.SEGMENT)
            scores = ev.evaluate(truth, {"background": background, "foreground": foreground})
            rows[name].append([scores[s]["sdr"] for s in ("background", "foreground")])
            print(
                f"{folder.name} {name}: SDR bed {rows[name][-1][0]:.2f}, voice "
                f"{rows[name][-1][1]:.2f}",
                file=sys.stderr,
                flush=True,
            )
    print(f"| settings | bed SDR | voice SDR |  (mean of {len(podcasts)} items)")
    print("|---|---|---|")
    for name, values in rows.items():
        bed, voice = np.mean(values, axis=0)
        print(f"| {name} | {bed:.2f} | {voice:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
