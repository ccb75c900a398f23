"""How much of the foreground estimate is voice, per item, and what subtracting less would do.

For every item of a set (``clips``, ``fullsongs`` or ``synthetic``, as benchmarks/quality.py
finds them) the defaults separate the mixture whole; then, with the true stems:

- ``a*``: the scale that best fits the foreground estimate to the true foreground
  (``<true, estimate> / <estimate, estimate>``): 1 when the estimate is all voice at the right
  level, small when it is mostly band;
- the background's SDR for ``mixture - a * foreground`` at a = 1.0 ... 0.5;
- the cues the separation itself has, to see whether any predicts ``a*``: the foreground's
  share of the energy, its share on the voice model's partials, the tracker's voiced share and
  median strength, the repetition confidence.

    python benchmarks/subtraction.py fullsongs      # one JSON line per item

(docs/quality.md, "The voice model", gives what it printed.)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402

from repet_cli import RepetParams, separate, spectral  # noqa: E402
from repet_cli import voice as voice_model  # noqa: E402

SCALES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)


def item_figures(name: str, mixture: np.ndarray, truth: dict, sr: int) -> dict:
    start = time.perf_counter()
    found = separate(mixture, sr=sr, params=RepetParams())
    estimate = found.foreground.astype(np.float64)
    true = truth["foreground"].astype(np.float64)
    out = {
        "item": name,
        "a*": round(float(np.sum(true * estimate) / max(np.sum(estimate**2), 1e-12)), 3),
        "energy share": round(
            float(np.sum(estimate**2) / max(np.sum(mixture.astype(np.float64) ** 2), 1e-12)), 3
        ),
        "confidence": None if found.confidence is None else round(found.confidence, 3),
    }
    if found.voice is not None:
        power = (
            np.abs(spectral.stft(found.foreground, n_fft=found.n_fft, hop=found.hop)) ** 2
        ).sum(0)
        f0 = found.voice.f0[: power.shape[1]]
        comb = voice_model.harmonic_weight(
            f0, frequencies=spectral.frequencies(sr=sr, n_fft=found.n_fft), leak=0.0, peak=1.0
        )
        voiced = f0 > 0
        out["on partials"] = round(float((comb * power[:, : len(f0)]).sum() / power.sum()), 3)
        out["voiced"] = round(float(voiced.mean()), 3)
        out["strength"] = (
            round(float(np.median(found.voice.strength[voiced])), 3) if voiced.any() else 0.0
        )
    for a in SCALES:
        background = mixture - a * found.foreground
        scores = quality.score(
            truth, {"background": background, "foreground": a * found.foreground}
        )
        out[f"bg SDR a={a}"] = round(scores["background"]["sdr"], 2)
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def main() -> int:
    set_name = sys.argv[1] if len(sys.argv) > 1 else "fullsongs"
    items = quality.find_items(set_name, clips_dir=quality.SHARED / "eval")
    if items is None:
        return 0
    for name, folder in items:
        print(json.dumps(item_figures(name, *quality.LOADERS[set_name](folder))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
