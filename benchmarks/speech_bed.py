"""Speech over a music bed: the podcast-style items of the synthetic set under several settings.

Each item (benchmarks/synthetic.py: two voices over a looping bed that ducks while anyone
speaks, music-only intro and outro) is separated as `repet separate` does (quality.run_method)
with each setting of :data:`SETTINGS`, and both stems are scored with BSS Eval as ``repet evaluate``
does (mir_eval's figures); the table is the mean over the items.

    python benchmarks/speech_bed.py        # needs the synthetic set (make bench-tools)

With ``--beds`` it checks the warning about a bed that does not loop instead: the same speech
over the loops and over beds that do not loop (synthetic.BED_VARIANTS, built at first use into
benchmarks/cache/speech_beds), each item's spectral recurrence as ``repet analyze`` measures it
(and whether ``repet separate`` warns), and its SDR with the defaults.
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


def beds() -> int:
    from repet_cli.analyze import analyze
    from repet_cli.period import LOW_RECURRENCE

    folders = synthetic.generate(log=print)
    variants = synthetic.generate(synthetic.BEDS_CACHE, specs=synthetic.BED_VARIANTS, log=print)
    if folders is None or variants is None:
        return 0
    podcasts = [f for f in folders if f.name.startswith("podcast")] + variants
    print(
        f"| item | bed | spectral recurrence | warned (below {LOW_RECURRENCE:g}) "
        "| bed SDR | voice SDR |"
    )
    print("|---|---|---|---|---|---|")
    for folder in podcasts:
        mixture, truth, sr = quality.LOADERS["synthetic"](folder)
        found = analyze(mixture, sr=sr)
        background, foreground, _ = quality.run_method(mixture, sr, RepetParams(), quality.SEGMENT)
        scores = ev.evaluate(truth, {"background": background, "foreground": foreground})
        item, _, bed = folder.name.partition("bpm")
        warned = "yes" if found.recurrence < LOW_RECURRENCE else "no"
        print(
            f"| {item}bpm | {bed.strip('_') or 'loop'} | {found.recurrence:.3f} at "
            f"{found.recurrence_period:.2f} s | {warned} "
            f"| {scores['background']['sdr']:.2f} | {scores['foreground']['sdr']:.2f} |",
            flush=True,
        )
    return 0


def main() -> int:
    if "--beds" in sys.argv[1:]:
        return beds()
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
