"""Does `repet evaluate` give mir_eval's and museval's figures, and what does it cost?

Two parts, written to benchmarks/results/scoring.md:

- **Agreement.** Each clip of ../shared/eval and the first ``--seconds`` of each full song of
  ../shared/fullsongs is separated with repet's defaults; the estimates are scored by
  ``repet_cli.bsseval`` and by the reference implementations: ``mir_eval.separation.
  bss_eval_sources`` per channel (BSS Eval v3, whole signal) and museval's ``bss_eval`` (v4,
  1-s windows, the SiSEC 2018 definition). The largest difference of each metric is printed.
- **Cost.** ``repet evaluate`` (whole signal, then ``--framewise``) as a child process on the
  first 4 minutes of the longer full song, written as float WAV files: wall time and peak RSS
  (``os.wait4`` of a child started by a small process, as benchmarks/speed.py does). With
  ``--mir-eval``, mir_eval's own time and peak on the same files, in a child process too
  (about two minutes and several GB).

    python benchmarks/check_scorer.py                     # both parts
    python benchmarks/check_scorer.py --clips 3 --seconds 30 --no-cost
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from repet_cli import RepetParams, bsseval, separate
from repet_cli import evaluate as ev

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import Spawner  # noqa: E402  (children started by a small process: honest peaks)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
RESULTS = ROOT / "benchmarks" / "results"
#: Length of the song timed in the cost part (the issue's "4-minute stereo song").
COST_SECONDS = 240


def museval_metrics():
    """museval's metrics module alone (its package imports musdb, which needs ffmpeg)."""
    spec = importlib.util.find_spec("museval")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "metrics.py"
    module_spec = importlib.util.spec_from_file_location("museval_metrics", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def full_song(folder: Path, seconds: float | None):
    bg, sr = sf.read(folder / "accompaniment.ogg", dtype="float32", always_2d=True)
    fg, _ = sf.read(folder / "vocals.ogg", dtype="float32", always_2d=True)
    n = len(bg) if seconds is None else min(len(bg), int(seconds * sr))
    return np.stack([bg[:n].T, fg[:n].T]), sr


def inputs(n_clips: int, seconds: float):
    clips = sorted(p for p in (SHARED / "eval").glob("*") if (p / "mixture.wav").is_file())
    for folder in clips[:n_clips]:
        refs = ev.reference_files(folder)
        ref, _, sr = ev.load_stems(refs, refs)
        yield folder.name, ref, sr
    for folder in sorted(p for p in (SHARED / "fullsongs").glob("*") if p.is_dir()):
        ref, sr = full_song(folder, seconds)
        yield f"{folder.name} ({ref.shape[-1] / sr:.0f} s)", ref, sr


def agreement(args, out: list[str]) -> None:
    import mir_eval.separation

    museval = museval_metrics()
    out += [
        "## Agreement with mir_eval (v3, whole signal) and museval (v4, 1-s windows)",
        "",
        "| input | v3: largest difference (dB) | v4: largest difference, one window | v4: "
        "largest difference of a median over windows | repet | mir_eval | museval |",
        "|---|---|---|---|---|---|---|",
    ]
    worst = [0.0, 0.0, 0.0]
    for name, ref, sr in inputs(args.clips, args.seconds):
        result = separate(ref.sum(axis=0), sr=sr, params=RepetParams())
        est = np.stack([result.background, result.foreground]).astype(np.float32)
        t = time.perf_counter()
        ours3 = bsseval.sources(ref, est)
        ours4 = bsseval.images_framewise(ref, est, window=sr, hop=sr)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        theirs3 = []
        for c in range(ref.shape[1]):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                sdr, sir, sar, _ = mir_eval.separation.bss_eval_sources(
                    ref[:, c].astype(np.float64),
                    est[:, c].astype(np.float64),
                    compute_permutation=False,
                )
            theirs3.append(np.stack([sdr, sir, sar], axis=-1))
        t_mir = time.perf_counter() - t
        d3 = float(np.abs(ours3 - np.stack(theirs3, axis=1)).max())
        d4, m4, t_mus = float("nan"), float("nan"), float("nan")
        if museval is not None:
            t = time.perf_counter()
            v4 = museval.bss_eval(
                np.moveaxis(ref, 1, 2).astype(np.float64),
                np.moveaxis(est, 1, 2).astype(np.float64),
                window=sr,
                hop=sr,
                framewise_filters=False,
                bsseval_sources_version=False,
            )
            t_mus = time.perf_counter() - t
            theirs4 = np.stack(v4[:4])
            same_nan = np.array_equal(np.isnan(ours4), np.isnan(theirs4))
            d4 = float(np.nanmax(np.abs(ours4 - theirs4))) if same_nan else float("inf")
            medians = np.nanmedian(ours4, axis=-1) - np.nanmedian(theirs4, axis=-1)
            m4 = float(np.abs(medians).max())
        worst = [max(worst[0], d3), max(worst[1], d4), max(worst[2], m4)]
        line = (
            f"| {name} | {d3:.1e} | {d4:.1e} | {m4:.1e} | {t_ours:.1f} s | {t_mir:.1f} s "
            f"| {t_mus:.1f} s |"
        )
        print(line, flush=True)
        out.append(line)
    out += [
        "",
        f"Largest difference: v3 {worst[0]:.1e} dB; v4 {worst[1]:.1e} dB on one window, "
        f"{worst[2]:.1e} dB on a median over windows.",
        "",
    ]


MIR_EVAL_CHILD = """
import sys, warnings, numpy as np, soundfile as sf
import mir_eval.separation
folder = sys.argv[1]
ref = np.stack([sf.read(f"{folder}/truth/song/{n}.wav", always_2d=True)[0].T
                for n in ("background", "foreground")])
est = np.stack([sf.read(f"{folder}/est/song/{n}.wav", always_2d=True)[0].T
                for n in ("background", "foreground")])
warnings.simplefilter("ignore")
for c in range(ref.shape[1]):
    mir_eval.separation.bss_eval_sources(ref[:, c], est[:, c], compute_permutation=False)
"""


def cost(args, out: list[str]) -> None:
    songs = sorted(p for p in (SHARED / "fullsongs").glob("*") if p.is_dir())
    if not songs:
        out += ["Cost: skipped, ../shared/fullsongs is not here.", ""]
        return
    longest = max(songs, key=lambda p: sf.info(p / "accompaniment.ogg").frames)
    ref, sr = full_song(longest, COST_SECONDS)
    result = separate(ref.sum(axis=0), sr=sr, params=RepetParams())
    est = np.stack([result.background, result.foreground])
    repet = str(Path(sys.executable).parent / "repet")
    out += [
        f"## Cost on {ref.shape[-1] / sr:.0f} s of {longest.name} ({ref.shape[1]} channels, "
        f"{sr} Hz, float WAV files)",
        "",
        "| scorer | wall | peak RSS |",
        "|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for kind, stack in (("truth", ref), ("est", est)):
            (Path(tmp) / kind / "song").mkdir(parents=True)
            for name, y in zip(ev.STEMS, stack, strict=True):
                sf.write(Path(tmp) / kind / "song" / f"{name}.wav", y.T, sr, subtype="FLOAT")
        base = [repet, "evaluate", f"{tmp}/est", "--references", f"{tmp}/truth"]
        rows = [("repet evaluate", base), ("repet evaluate --framewise", [*base, "--framewise"])]
        if args.mir_eval:
            rows.append(("mir_eval bss_eval_sources", [sys.executable, "-c", MIR_EVAL_CHILD, tmp]))
        with Spawner() as spawner:
            for name, command in rows:
                run = spawner.run(command)
                line = f"| {name} | {run.wall_s:.1f} s | {run.rss_kib * 1024 / 1e6:.0f} MB |"
                if run.exit:
                    line += f" failed ({run.exit}: {run.stderr_tail}) |"
                print(line, flush=True)
                out.append(line)
    out.append("")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=15, help="how many clips of shared/eval")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of each full song")
    parser.add_argument("--no-agreement", action="store_true", help="skip the agreement part")
    parser.add_argument("--no-cost", action="store_true", help="skip the cost part")
    parser.add_argument("--mir-eval", action="store_true", help="time mir_eval too (slow)")
    args = parser.parse_args()
    out = ["# `repet evaluate` against mir_eval and museval", ""]
    if not args.no_agreement:
        agreement(args, out)
    if not args.no_cost:
        cost(args, out)
    out.append(
        f"Measured {time.strftime('%Y-%m-%d')} with {os.cpu_count()} cores. Reproduce: "
        f"`python benchmarks/check_scorer.py {' '.join(sys.argv[1:])}`.".rstrip()
    )
    text = "\n".join(out) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scoring.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
