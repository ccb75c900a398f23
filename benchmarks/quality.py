"""Separation quality on real songs: every track of ../shared/eval, with exact ground truth.

For each track (mixture = vocals + accompaniment) this separates the mixture with repet's
settings and scores both stems with the code of `repet evaluate` (BSS Eval from mir_eval per
channel, averaged over channels; SI-SDR). Two reference rows use the same code: the mixture
itself as both estimates (the floor) and the ideal ratio mask (an oracle ceiling for masking
methods). Peer rows come from benchmarks/results/peers/*.json where present.

    python benchmarks/quality.py                 # or: make bench-quality
    python benchmarks/quality.py --eval DIR      # another folder of tracks

Writes benchmarks/results/quality.md and quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from repet_cli import RepetParams, load_audio, separate, spectral
from repet_cli import evaluate as ev
from repet_cli.params import CLASSIC_HIGH_PASS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EVAL = ROOT.parent / "shared" / "eval"
RESULTS = ROOT / "benchmarks" / "results"

#: What is measured: name -> parameters of repet (None: a reference row computed here).
METHODS: dict[str, RepetParams | None] = {
    "mixture (floor)": None,
    "ideal ratio mask (ceiling)": None,
    "repet (defaults)": RepetParams(),
    "adaptive (defaults)": RepetParams(algorithm="adaptive"),
    "repet-sim (defaults)": RepetParams(algorithm="repet-sim"),
    "2dft (defaults)": RepetParams(algorithm="2dft"),
    "repet as published (--mask soft --high-pass 100)": RepetParams(
        mask="soft", high_pass=CLASSIC_HIGH_PASS
    ),
    # Ablations: each change of the defaults on its own.
    "repet --mask wiener --high-pass 100": RepetParams(mask="wiener", high_pass=CLASSIC_HIGH_PASS),
    "repet --mask soft --high-pass 150": RepetParams(mask="soft"),
}


def ideal_ratio_mask(mixture, background, foreground, *, sr):
    """Oracle soft mask |B| / (|B| + |F|) on repet's STFT, applied with the mixture phase."""
    n_fft, hop = RepetParams().stft_sizes(sr)
    stft = [spectral.stft(x, n_fft=n_fft, hop=hop) for x in (mixture, background, foreground)]
    b, f = np.abs(stft[1]), np.abs(stft[2])
    total = b + f
    mask = np.divide(b, total, out=np.ones_like(b), where=total > 0)
    est_bg = spectral.istft(mask * stft[0], n_fft=n_fft, hop=hop, length=mixture.shape[-1])
    return est_bg, mixture - est_bg


def score_track(folder: Path) -> dict:
    """Scores of every method on one track folder."""
    mixture, sr, _ = load_audio(folder / "mixture.wav")
    refs = ev.reference_files(folder)
    truth = {stem: load_audio(refs[stem])[0] for stem in ev.STEMS}
    out = {}
    for name, params in METHODS.items():
        start = time.perf_counter()
        period = None
        if name.startswith("mixture"):
            bg, fg = mixture, mixture
        elif name.startswith("ideal"):
            bg, fg = ideal_ratio_mask(mixture, truth["background"], truth["foreground"], sr=sr)
        else:
            result = separate(mixture, sr=sr, params=params)
            bg, fg, period = result.background, result.foreground, result.period
        seconds = time.perf_counter() - start
        scores = ev.evaluate(truth, {"background": bg, "foreground": fg})
        out[name] = {"scores": scores, "period": period, "seconds": seconds}
    return out


def load_peers() -> dict[str, dict]:
    """Peer measurements committed under results/peers/: name -> {"tracks", "mean"}."""
    peers = {}
    for path in sorted((RESULTS / "peers").glob("*.json")):
        data = json.loads(path.read_text())
        for name, entry in data.get("algorithms", {}).items():
            if name.lower().startswith("mixture"):
                continue
            peers[name] = entry
    return peers


def fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


def markdown(per_track: dict[str, dict], peers: dict[str, dict], eval_dir: Path) -> str:
    methods = list(METHODS)
    lines = [
        "# Separation quality on the shared evaluation set",
        "",
        f"{len(per_track)} tracks from `{eval_dir.name}/` (MUSDB18 7-s previews, see its "
        "SOURCES.md). Whole-clip BSS Eval SDR (mir_eval `bss_eval_sources`, 512-tap filter, per "
        "channel, averaged over channels) and SI-SDR, in dB; bg = background (accompaniment), "
        "fg = foreground (vocals).",
        "",
        "## Mean over tracks",
        "",
        "| method | bg SDR | bg SI-SDR | fg SDR | fg SI-SDR | bg SIR | bg SAR | fg SIR | fg SAR |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method in methods:
        mean = ev.average([t[method]["scores"] for t in per_track.values()])
        b, f = mean["background"], mean["foreground"]
        lines.append(
            f"| {method} | {fmt(b['sdr'])} | {fmt(b['si_sdr'])} | {fmt(f['sdr'])} | "
            f"{fmt(f['si_sdr'])} | {fmt(b['sir'])} | {fmt(b['sar'])} | {fmt(f['sir'])} | "
            f"{fmt(f['sar'])} |"
        )
    for name, peer in peers.items():
        b, f = peer["mean"]["background"], peer["mean"]["foreground"]
        lines.append(
            f"| {name} (measured, see results/peers) | {fmt(b['sdr'])} | {fmt(b.get('si_sdr'))} "
            f"| {fmt(f['sdr'])} | {fmt(f.get('si_sdr'))} | {fmt(b.get('sir'))} | "
            f"{fmt(b.get('sar'))} | {fmt(f.get('sir'))} | {fmt(f.get('sar'))} |"
        )
    for method in methods:
        if METHODS[method] is None:
            continue
        lines += ["", f"## Per track: {method}", ""]
        header = "| track | period (s) | bg SDR | bg SI-SDR | fg SDR | fg SI-SDR |"
        rule = "|---|---|---|---|---|---|"
        peer_names = list(peers)
        for name in peer_names:
            header += f" bg SDR vs {name} | fg SDR vs {name} |"
            rule += "---|---|"
        lines += [header, rule]
        for track, results in per_track.items():
            r = results[method]
            b, f = r["scores"]["background"], r["scores"]["foreground"]
            row = (
                f"| {track} | {fmt(r['period'])} | {fmt(b['sdr'])} | {fmt(b['si_sdr'])} | "
                f"{fmt(f['sdr'])} | {fmt(f['si_sdr'])} |"
            )
            for name in peer_names:
                theirs = peers[name]["tracks"].get(track)
                if theirs is None:
                    row += " | |"
                    continue
                db = b["sdr"] - theirs["background"]["sdr"]
                df = f["sdr"] - theirs["foreground"]["sdr"]
                row += f" {db:+.2f} | {df:+.2f} |"
            lines.append(row)
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL, help="folder of tracks")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    args = parser.parse_args()

    if not args.eval.is_dir():
        print(f"skipped: no evaluation set at {args.eval} (it sits beside the project)")
        return 0
    ev.require_mir_eval()
    tracks = sorted(p for p in args.eval.iterdir() if (p / "mixture.wav").is_file())
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        per_track = dict(zip((t.name for t in tracks), pool.map(score_track, tracks), strict=True))
    elapsed = time.perf_counter() - start

    peers = load_peers()
    table = markdown(per_track, peers, args.eval)
    footer = (
        f"\nMeasured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}; "
        f"{elapsed:.0f} s wall for the whole benchmark. Reproduce: `make bench-quality`.\n"
    )
    print(table + footer)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.md").write_text(table + footer)
    record = {
        "eval_set": args.eval.name,
        "metric": "mir_eval bss_eval_sources per channel (512-tap), mean over channels; SI-SDR",
        "methods": {
            name: {
                "params": None if params is None else repr(params),
                "tracks": {t: r[name] for t, r in per_track.items()},
                "mean": ev.average([r[name]["scores"] for r in per_track.values()]),
            }
            for name, params in METHODS.items()
        },
        "seconds": elapsed,
    }
    (args.out / "quality.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out / 'quality.md'} and quality.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
