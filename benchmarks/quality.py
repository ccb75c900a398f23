"""Separation quality with exact ground truth: 7-s clips, full songs and a synthetic set.

Three sets, each skipped with a message where absent:

- ``clips``: every track of ../shared/eval (MUSDB18 7-s previews, ``mixture.wav`` and stems);
- ``fullsongs``: the whole songs of ../shared/fullsongs (mixture = vocals.ogg +
  accompaniment.ogg, read as float32);
- ``synthetic``: the songs and podcast-style items that benchmarks/synthetic.py generates into
  benchmarks/cache/synthetic/ (needs fluidsynth, fluid-soundfont-gm and espeak-ng).

Each mixture is separated as ``repet separate`` does by default (segment by segment, see
:func:`run_method`) with every method of :data:`METHODS`, and both stems are scored with BSS
Eval (512-tap ``bss_eval_sources`` per channel, averaged over channels) and SI-SDR, the
definition of ``repet evaluate``. Two reference rows use the same code: the mixture itself as
both estimates (the floor) and the ideal ratio mask (an oracle ceiling for masking methods).
Every set is scored by ``repet_cli.evaluate``, which gives mir_eval's figures (checked by
tests/test_bsseval.py and benchmarks/check_scorer.py) in a fraction of its time and memory.

    python benchmarks/quality.py                    # or: make bench-quality
    python benchmarks/quality.py --sets fullsongs,synthetic --methods "repet (defaults)" \\
        --out "$(mktemp -d)"                        # a subset, results kept apart

Writes quality.md and quality.json to --out (default benchmarks/results/).
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
import soundfile as sf

from repet_cli import RepetParams, load_audio, spectral
from repet_cli import evaluate as ev

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
RESULTS = ROOT / "benchmarks" / "results"
#: The CLI's default ``--segment`` in seconds: inputs up to 1.5 times as long are separated whole.
SEGMENT = 300.0
#: REPET as published: the plain ratio mask and a 100-Hz high-pass (Rafii & Pardo 2013).
CLASSIC_HIGH_PASS = 100.0

FLOOR = "mixture (floor)"
CEILING = "ideal ratio mask (ceiling)"
#: What is measured: name -> parameters of repet (None: a reference row computed here).
#: Add a row by adding an entry.
METHODS: dict[str, RepetParams | None] = {
    FLOOR: None,
    CEILING: None,
    "repet (defaults)": RepetParams(),
    "adaptive (defaults)": RepetParams(algorithm="adaptive"),
    "repet-sim (defaults)": RepetParams(algorithm="repet-sim"),
    "2dft (defaults)": RepetParams(algorithm="2dft"),
    "repet as published (--mask soft --high-pass 100 --window 0 --no-follow-level)": (
        RepetParams.build(mask="soft", high_pass=CLASSIC_HIGH_PASS, window=0.0, follow_level=False)
    ),
    "previous default (--mask wiener --window 0)": RepetParams.build(mask="wiener", window=0.0),
    # Ablations: each part of the default taken away on its own (clips and full songs only).
    "repet --window 12": RepetParams.build(window=12.0),
    "repet --no-voice-model": RepetParams(voice_model=False),
    "repet --no-voice-model --no-voice-gate": RepetParams(voice_model=False, voice_gate=False),
    "repet --no-voice-gate": RepetParams(voice_gate=False),
    "repet --high-pass-ramp 0": RepetParams(high_pass_ramp=0.0),
    "repet --foreground-gain 0.7": RepetParams(foreground_gain=0.7),
    "repet --mask wiener --window 12": RepetParams.build(mask="wiener", window=12.0),
    "adaptive --mask wiener": RepetParams(algorithm="adaptive", mask="wiener"),
    "repet-sim --mask wiener": RepetParams(algorithm="repet-sim", mask="wiener"),
    "2dft --mask wiener": RepetParams(algorithm="2dft", mask="wiener"),
}
#: Methods measured on some sets only (the ablations: the synthetic set would take long).
ONLY_ON = {name: ("clips", "fullsongs") for name in list(METHODS)[8:]}


def methods_for(name: str, methods: list[str]) -> list[str]:
    """The methods of ``methods`` that are measured on set ``name``."""
    return [m for m in methods if name in ONLY_ON.get(m, (name,))]


SETS = ("clips", "fullsongs", "synthetic")
SET_TITLES = {
    "clips": "clips: ../shared/eval (MUSDB18 7-s previews)",
    "fullsongs": "fullsongs: ../shared/fullsongs (whole songs, mixture = sum of the Ogg stems)",
    "synthetic": "synthetic: benchmarks/synthetic.py (rendered songs and podcast-style items)",
}
#: Figures measured elsewhere and quoted, not measured by this script: set -> name -> means.
QUOTED = {
    "fullsongs": {
        "zafarrafii/REPET-Python `extended`": {
            "background": {"sdr": 6.45, "si_sdr": 4.01},
            "foreground": {"sdr": -2.12},
        },
        "zafarrafii/REPET-Python `original`": {
            "background": {"sdr": 8.14, "si_sdr": 1.60},
            "foreground": {"sdr": -1.86},
        },
    }
}
QUOTED_SOURCE = (
    "quoted from the project's issue 13 (the authors' code measured by the project on the "
    "shared full songs); not measured by this script"
)


def run_method(mixture: np.ndarray, sr: int, params: RepetParams, segment: float):
    """Separate ``mixture`` (channels, samples) as ``repet separate --segment SEGMENT`` does.

    Through ``separate_segments`` of ``repet_cli.segments``: an input up to 1.5 segments long
    is separated whole, a longer one segment by segment with crossfaded backgrounds;
    ``segment`` 0 separates the whole input at once (``--segment 0``). Returns the background,
    the foreground and the period found in each segment (seconds, None where not applicable).
    """
    from repet_cli.segments import separate_segments

    backgrounds, foregrounds = [], []

    def write(background, foreground):
        backgrounds.append(np.array(background, copy=True))
        foregrounds.append(np.array(foreground, copy=True))

    reports = separate_segments(
        lambda start, stop: mixture[:, start:stop],
        write,
        n_samples=mixture.shape[-1],
        sr=sr,
        params=params,
        segment=segment,
    )
    periods = [r.period for r in reports]
    return np.concatenate(backgrounds, axis=-1), np.concatenate(foregrounds, axis=-1), periods


def ideal_ratio_mask(mixture, background, foreground, *, sr):
    """Oracle soft mask |B| / (|B| + |F|) on repet's STFT, applied with the mixture phase."""
    n_fft, hop = RepetParams().stft_sizes(sr)
    stft = [spectral.stft(x, n_fft=n_fft, hop=hop) for x in (mixture, background, foreground)]
    b, f = np.abs(stft[1]), np.abs(stft[2])
    total = b + f
    mask = np.divide(b, total, out=np.ones_like(b), where=total > 0)
    est_bg = spectral.istft(mask * stft[0], n_fft=n_fft, hop=hop, length=mixture.shape[-1])
    return est_bg, mixture - est_bg


# --------------------------------------------------------------------------------------------
# The sets: set name -> items (name, loader); a loader returns (mixture, truth, sr).


def _load_wavs(folder: Path):
    """mixture.wav, accompaniment.wav and vocals.wav of a folder (MUSDB18's names)."""
    mixture, sr, _ = load_audio(folder / "mixture.wav")
    truth = {
        "background": load_audio(folder / "accompaniment.wav")[0],
        "foreground": load_audio(folder / "vocals.wav")[0],
    }
    return mixture, truth, sr


def _load_fullsong(folder: Path):
    stems = {}
    for stem, name in (("background", "accompaniment.ogg"), ("foreground", "vocals.ogg")):
        y, sr = sf.read(folder / name, dtype="float32", always_2d=True)
        stems[stem] = np.ascontiguousarray(y.T)
    return stems["background"] + stems["foreground"], stems, sr


def find_items(name: str, *, clips_dir: Path, log=print) -> list[tuple[str, Path]] | None:
    """(item, folder) of one set, or None (with a message) when the set is absent."""
    if name == "clips":
        if not clips_dir.is_dir():
            log(f"clips skipped: no evaluation set at {clips_dir} (it sits beside the project)")
            return None
        return [(p.name, p) for p in sorted(clips_dir.iterdir()) if (p / "mixture.wav").is_file()]
    if name == "fullsongs":
        folder = SHARED / "fullsongs"
        items = sorted(folder.glob("*/vocals.ogg")) if folder.is_dir() else []
        if not items:
            log(f"fullsongs skipped: no songs at {folder} (it sits beside the project)")
            return None
        return [(p.parent.name, p.parent) for p in items]
    if name == "synthetic":
        folders = synthetic.generate(log=log)
        return None if folders is None else [(p.name, p) for p in folders]
    raise ValueError(f"unknown set {name!r}; sets: {', '.join(SETS)}")


LOADERS = {"clips": _load_wavs, "fullsongs": _load_fullsong, "synthetic": _load_wavs}


def score(truth, estimates):
    """Scores of both stems, as ``repet evaluate`` computes them."""
    return ev.evaluate(truth, estimates)


def a_cappella_snr(folder: Path, voice: np.ndarray, estimate: np.ndarray, *, sr: int):
    """Signal-to-error ratio (dB) of the foreground over an item's a cappella passages (its
    ``meta.json`` sections of kind "acappella"): near 0 or below when the voice, alone there,
    went to the background. None when the item has none."""
    meta = folder / "meta.json"
    sections = json.loads(meta.read_text()).get("sections", []) if meta.is_file() else []
    spans = [(round(x["start"] * sr), round(x["end"] * sr)) for x in sections]
    spans = [span for x, span in zip(sections, spans, strict=True) if x["kind"] == "acappella"]
    if not spans:
        return None
    index = np.concatenate([np.arange(a, min(b, voice.shape[-1])) for a, b in spans])
    v = voice[:, index].astype(np.float64)
    error = v - estimate[:, index]
    return float(10 * np.log10(np.sum(v**2) / max(np.sum(error**2), 1e-20)))


def score_item(job: tuple[str, str, Path, tuple[str, ...], float]) -> dict:
    """Scores of the given methods on one item: method -> {scores, periods, seconds}.

    A method that fails on the item gets ``scores`` None and the ``error``; the others go on.
    """
    set_name, _, folder, methods, segment = job
    mixture, truth, sr = LOADERS[set_name](folder)
    out = {}
    for name in methods:
        params = METHODS[name]
        start = time.perf_counter()
        periods = None
        try:
            if name == FLOOR:
                bg, fg = mixture, mixture
            elif name == CEILING:
                bg, fg = ideal_ratio_mask(mixture, truth["background"], truth["foreground"], sr=sr)
            else:
                bg, fg, periods = run_method(mixture, sr, params, segment)
            seconds = time.perf_counter() - start
            scores = score(truth, {"background": bg, "foreground": fg})
        except Exception as exc:  # noqa: BLE001 - one failure must not lose a long run
            out[name] = {"scores": None, "error": f"{type(exc).__name__}: {exc}"}
            continue
        out[name] = {"scores": scores, "periods": periods, "seconds": seconds}
        if set_name == "synthetic":
            out[name]["a_cappella"] = a_cappella_snr(folder, truth["foreground"], fg, sr=sr)
        del bg, fg
    out["_seconds"] = mixture.shape[-1] / sr
    return out


# --------------------------------------------------------------------------------------------
# Report.


def mean_scores(results: list[dict]):
    """Mean scores over the items where the method worked, and how many those are."""
    good = [r["scores"] for r in results if r["scores"] is not None]
    return (ev.average(good) if good else None), len(good)


def fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


def fmt_periods(periods) -> str:
    if not periods or all(p is None for p in periods):
        return ""
    return "/".join("" if p is None else f"{p:.2f}" for p in periods)


def load_peers() -> dict[str, dict]:
    """Peer measurements on the clips under results/peers/: name -> {"tracks", "mean"}."""
    peers = {}
    for path in sorted((RESULTS / "peers").glob("*.json")):
        data = json.loads(path.read_text())
        for name, entry in data.get("algorithms", {}).items():
            if name.lower().startswith("mixture"):
                continue
            peers[name] = entry
    return peers


def set_markdown(name: str, per_item: dict[str, dict], methods, peers) -> list[str]:
    scorer_text = "`repet evaluate` (mir_eval's `bss_eval_sources` figures)"
    minutes = sum(r["_seconds"] for r in per_item.values()) / 60
    lines = [
        f"## Set {SET_TITLES[name]}",
        "",
        f"{len(per_item)} items, {minutes:.1f} min in all. Scorer: {scorer_text}.",
        "",
        "### Mean over items",
        "",
        "| method | bg SDR | bg SI-SDR | fg SDR | fg SI-SDR | bg SIR | bg SAR | fg SIR | fg SAR |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method in methods:
        mean, count = mean_scores([t[method] for t in per_item.values()])
        label = method if count == len(per_item) else f"{method} ({count} of {len(per_item)} items)"
        if mean is None:
            lines.append(f"| {label} | | | | | | | | |")
            continue
        b, f = mean["background"], mean["foreground"]
        lines.append(
            f"| {label} | {fmt(b['sdr'])} | {fmt(b['si_sdr'])} | {fmt(f['sdr'])} | "
            f"{fmt(f['si_sdr'])} | {fmt(b['sir'])} | {fmt(b['sar'])} | {fmt(f['sir'])} | "
            f"{fmt(f['sar'])} |"
        )
    for peer, entry in peers.items():
        b, f = entry["mean"]["background"], entry["mean"]["foreground"]
        lines.append(
            f"| {peer} (measured, see results/peers) | {fmt(b['sdr'])} | {fmt(b.get('si_sdr'))} "
            f"| {fmt(f['sdr'])} | {fmt(f.get('si_sdr'))} | {fmt(b.get('sir'))} | "
            f"{fmt(b.get('sar'))} | {fmt(f.get('sir'))} | {fmt(f.get('sar'))} |"
        )
    notes = []
    if FLOOR in methods:
        notes.append(
            "The floor's SAR only measures rounding: the mixture as an estimate holds no artifacts."
        )
    quoted = QUOTED.get(name, {})
    for peer, mean in quoted.items():
        b, f = mean["background"], mean["foreground"]
        lines.append(
            f"| {peer} (quoted, not measured here) | {fmt(b.get('sdr'))} | "
            f"{fmt(b.get('si_sdr'))} | {fmt(f.get('sdr'))} | {fmt(f.get('si_sdr'))} | | | | |"
        )
    if quoted:
        notes.append(f"Quoted rows: {QUOTED_SOURCE}.")
    if name == "synthetic":
        notes.append(
            "fg SNR a cappella: the foreground's signal-to-error ratio over the songs' a cappella "
            "passages (the voice alone; 0 dB or below if it went to the background)."
        )
    if notes:
        lines += ["", " ".join(notes)]
    for method in methods:
        if METHODS[method] is None:
            continue
        lines += ["", f"### Per item: {method}", ""]
        header = "| item | period (s) | bg SDR | bg SI-SDR | fg SDR | fg SI-SDR | separation (s) |"
        rule = "|---|---|---|---|---|---|---|"
        passages = any(r[method].get("a_cappella") is not None for r in per_item.values())
        if passages:
            header += " fg SNR a cappella |"
            rule += "---|"
        for peer in peers:
            header += f" bg SDR vs {peer} | fg SDR vs {peer} |"
            rule += "---|---|"
        lines += [header, rule]
        for item, results in per_item.items():
            r = results[method]
            if r["scores"] is None:
                lines.append(f"| {item} | failed: {r['error']} | | | | | |" + " | |" * len(peers))
                continue
            b, f = r["scores"]["background"], r["scores"]["foreground"]
            row = (
                f"| {item} | {fmt_periods(r['periods'])} | {fmt(b['sdr'])} | {fmt(b['si_sdr'])} "
                f"| {fmt(f['sdr'])} | {fmt(f['si_sdr'])} | {r['seconds']:.1f} |"
            )
            if passages:
                row += f" {fmt(r.get('a_cappella'))} |"
            for peer in peers:
                theirs = peers[peer]["tracks"].get(item)
                if theirs is None:
                    row += " | |"
                    continue
                db = b["sdr"] - theirs["background"]["sdr"]
                df = f["sdr"] - theirs["foreground"]["sdr"]
                row += f" {db:+.2f} | {df:+.2f} |"
            lines.append(row)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sets", default=",".join(SETS), help=f"comma-separated subset of {', '.join(SETS)}"
    )
    parser.add_argument(
        "--methods",
        default=None,
        help="comma-separated method names (see METHODS; a name may be shortened to any "
        "unique prefix); default: all",
    )
    parser.add_argument("--eval", type=Path, default=SHARED / "eval", help="folder of clips")
    parser.add_argument(
        "--segment", type=float, default=SEGMENT, help="as repet separate --segment (0: whole)"
    )
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    parser.add_argument("--list", action="store_true", help="list the methods and sets, then exit")
    args = parser.parse_args()

    if args.list:
        print("sets: " + ", ".join(SETS))
        print("methods:\n" + "\n".join(f"  {m}" for m in METHODS))
        return 0
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [s for s in sets if s not in SETS]
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}; sets: {', '.join(SETS)}")
    methods = list(METHODS)
    if args.methods:
        methods = []
        for wanted in (m.strip() for m in args.methods.split(",") if m.strip()):
            match = [m for m in METHODS if m == wanted] or [
                m for m in METHODS if m.startswith(wanted)
            ]
            if len(match) != 1:
                parser.error(f"--methods: {wanted!r} matches {len(match)} methods (see --list)")
            methods += [m for m in match if m not in methods]
    found = {s: find_items(s, clips_dir=args.eval, log=print) for s in sets}
    jobs = [
        (s, item, folder, tuple(methods_for(s, methods)), args.segment)
        for s, items in found.items()
        if items
        for item, folder in items
    ]
    if not jobs:
        print("nothing to measure")
        return 0
    start = time.perf_counter()
    # Long items first, so that two workers finish together.
    order = sorted(range(len(jobs)), key=lambda i: jobs[i][0] == "clips")
    results: dict[int, dict] = {}
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {i: pool.submit(score_item, jobs[i]) for i in order}
        for i in order:
            results[i] = futures[i].result()
            print(f"  scored {jobs[i][0]}/{jobs[i][1]}", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start
    per_set: dict[str, dict[str, dict]] = {s: {} for s in sets if found[s]}
    for i, job in enumerate(jobs):
        per_set[job[0]][job[1]] = results[i]

    peers = load_peers()
    lines = [
        "# Separation quality with exact ground truth",
        "",
        "BSS Eval SDR, SIR, SAR (`bss_eval_sources`, 512-tap filter, per channel, averaged over "
        "channels) and SI-SDR, in dB, of whole items; bg = background (accompaniment), "
        "fg = foreground (vocals or speech). Each mixture is separated as `repet separate` does "
        f"by default (`--segment {args.segment:g}`: an input longer than "
        f"{1.5 * args.segment:g} s is separated segment by segment). Period: the repeating "
        "period found (one per segment).",
        "",
    ]
    skipped = [s for s in sets if not found[s]]
    if skipped:
        lines += [f"Skipped (absent here): {', '.join(skipped)}.", ""]
    for s, per_item in per_set.items():
        lines += set_markdown(s, per_item, methods_for(s, methods), peers if s == "clips" else {})
        lines.append("")
    footer = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}; {elapsed:.0f} s wall for "
        f"{', '.join(per_set)} with {args.jobs} processes. Reproduce: `make bench-quality`.\n"
    )
    table = "\n".join(lines) + "\n" + footer
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.md").write_text(table)
    record = {
        "metric": "bss_eval_sources per channel (512-tap), mean over channels; SI-SDR",
        "segment": args.segment,
        "sets": {
            s: {
                "scorer": "repet evaluate",
                "items": {item: r["_seconds"] for item, r in per_item.items()},
                "methods": {
                    name: {
                        "params": None if METHODS[name] is None else repr(METHODS[name]),
                        "tracks": {t: r[name] for t, r in per_item.items()},
                        "mean": mean_scores([r[name] for r in per_item.values()])[0],
                    }
                    for name in methods_for(s, methods)
                },
            }
            for s, per_item in per_set.items()
        },
        "quoted": {s: {"source": QUOTED_SOURCE, "rows": QUOTED[s]} for s in per_set if s in QUOTED},
        "skipped": skipped,
        "seconds": elapsed,
    }
    (args.out / "quality.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out / 'quality.md'} and quality.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
