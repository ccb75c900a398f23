"""Does the "fft" scorer give mir_eval's BSS Eval figures? Agreement and time on real material.

Separates each input with repet's defaults, scores the same estimates with both scorers of
benchmarks/scoring.py (and with ``repet_cli.evaluate``, which must equal the mir_eval path
exactly), and prints the largest difference per metric and the time each scorer took.

    python benchmarks/check_scorer.py                      # every clip + 60 s of each full song
    python benchmarks/check_scorer.py --clips 3 --seconds 60 --full-song
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from repet_cli import RepetParams, load_audio, separate
from repet_cli import evaluate as ev

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scoring  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def inputs(n_clips: int, seconds: float, full: bool):
    clips = sorted(p for p in (SHARED / "eval").iterdir() if (p / "mixture.wav").is_file())
    for folder in clips[:n_clips]:
        refs = ev.reference_files(folder)
        truth = {s: load_audio(refs[s])[0] for s in ev.STEMS}
        yield folder.name, truth, 44100
    for folder in sorted(p for p in (SHARED / "fullsongs").iterdir() if p.is_dir()):
        bg, sr = sf.read(folder / "accompaniment.ogg", dtype="float32", always_2d=True)
        fg, _ = sf.read(folder / "vocals.ogg", dtype="float32", always_2d=True)
        n = len(bg) if full else int(seconds * sr)
        yield (
            f"{folder.name} ({n / sr:.0f} s)",
            {"background": bg[:n].T.copy(), "foreground": fg[:n].T.copy()},
            sr,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=15, help="how many clips of shared/eval")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of each full song")
    parser.add_argument("--full-song", action="store_true", help="whole songs, fft scorer only")
    args = parser.parse_args()

    worst = dict.fromkeys(("sdr", "sir", "sar"), 0.0)
    print("| input | stem | metric | mir_eval | fft | diff | t mir_eval | t fft |")
    print("|---|---|---|---|---|---|---|---|")
    for name, truth, sr in inputs(args.clips, args.seconds, args.full_song):
        mixture = truth["background"] + truth["foreground"]
        result = separate(mixture, sr=sr, params=RepetParams())
        est = {"background": result.background, "foreground": result.foreground}
        t0 = time.perf_counter()
        try:
            fast = scoring.score(truth, est, scorer="fft")
        except ValueError as exc:  # a stem silent in this excerpt: BSS Eval is undefined
            print(f"| {name} | skipped: {exc} | | | | | | |")
            continue
        t_fast = time.perf_counter() - t0
        if args.full_song:
            print(f"| {name} | | | | | | | {t_fast:.1f} s |")
            continue
        t0 = time.perf_counter()
        ref = scoring.score(truth, est, scorer="mir_eval")
        t_ref = time.perf_counter() - t0
        lib = ev.evaluate(truth, est)
        assert all(
            np.isclose(lib[s][m], ref[s][m], rtol=0, atol=1e-9)
            for s in scoring.STEMS
            for m in scoring.METRICS
        ), (lib, ref)
        first = True
        for s in scoring.STEMS:
            for m in ("sdr", "sir", "sar"):
                diff = fast[s][m] - ref[s][m]
                worst[m] = max(worst[m], abs(diff))
                times = f"{t_ref:.1f} s | {t_fast:.1f} s" if first else " | "
                first = False
                print(
                    f"| {name} | {s} | {m} | {ref[s][m]:.4f} | {fast[s][m]:.4f} | "
                    f"{diff:+.1e} | {times} |"
                )
        sys.stdout.flush()
    if not args.full_song:
        print("\nlargest |difference| (dB): " + ", ".join(f"{m} {worst[m]:.1e}" for m in worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
