"""What `--report` adds to a batch: 200 eight-second songs separated with and without it.

The songs are synthesized (a loop under a melody, 44.1 kHz stereo 16-bit) into
benchmarks/.cache/ once. Each command runs as a child process (wall time of the whole run,
``-j`` at its default); the report's share is (with - without) / without. Also prints the size
of what the report wrote. Results go to benchmarks/results/report.md.

    python benchmarks/report_cost.py            # --songs 200 --runs 2
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
RESULTS = ROOT / "benchmarks" / "results"
SR = 44100
SECONDS = 8.0


def songs(n: int) -> Path:
    """A folder of ``n`` different 8-s songs (loop periods 0.8-2.0 s), made once."""
    folder = CACHE / f"report-songs-{n}"
    if folder.is_dir() and len(list(folder.glob("*.wav"))) == n:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(SECONDS * SR)) / SR
    for k in range(n):
        rng = np.random.default_rng(k)
        period = 0.8 + 1.2 * k / max(1, n - 1)
        phase = (t % period) / period
        loop = 0.3 * np.sin(2 * np.pi * 110 * (1 + (phase > 0.5)) * t) * np.exp(-8 * (t % period))
        noise = rng.standard_normal(len(t)) * 0.05 * (np.floor(phase * 4) % 2)
        tones = 0.2 * np.sin(2 * np.pi * np.cumsum(rng.uniform(300, 900, len(t))) / SR)
        song = np.stack([loop + noise + tones, 0.9 * loop + noise + 0.8 * tones], axis=1)
        sf.write(folder / f"song{k:03d}.wav", song.astype(np.float32), SR, subtype="PCM_16")
    return folder


def run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    folder = songs(args.songs)
    repet = str(Path(sys.executable).parent / "repet")
    times: dict[str, list[float]] = {"without": [], "with --report": []}
    size = 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            for label, extra in (("without", []), ("with --report", ["--report"])):
                out = Path(tmp) / "out"
                shutil.rmtree(out, ignore_errors=True)
                command = [repet, "separate", str(folder), "-o", str(out), "-q", *extra]
                times[label].append(run(command))
                if extra:
                    size = sum(p.stat().st_size for p in (out / "report").rglob("*"))
                    size += (out / "report.html").stat().st_size
    best = {k: min(v) for k, v in times.items()}
    share = best["with --report"] / best["without"] - 1
    lines = [
        "# What `--report` adds to a batch",
        "",
        f"{args.songs} songs of {SECONDS:g} s (44.1 kHz stereo), `repet separate FOLDER -q`, "
        f"-j default; best of {args.runs} runs each.",
        "",
        "| run | wall |",
        "|---|---|",
        *(f"| {k} | {v:.1f} s |" for k, v in best.items()),
        "",
        f"The report adds {100 * share:.0f} % (target <= 30 %) and writes {size / 1e6:.1f} MB "
        "(index, track pages, spectrograms).",
        "",
        f"Reproduce: `python benchmarks/report_cost.py --songs {args.songs} --runs {args.runs}`.",
    ]
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "report.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
