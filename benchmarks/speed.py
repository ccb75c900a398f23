"""Speed and memory of whole `repet separate` processes, against the issue's targets.

What is measured, and how:

- **Test songs.** 44.1 kHz stereo, 16-bit WAV: a loop (noise bursts like drums plus bass and
  chord tones, a 2.0-s pattern repeated exactly) plus a melody of random tones that never
  repeats. Written in blocks to ``benchmarks/.cache/`` (git-ignored, reused while its length
  is right), so even the 60-min song needs only a few tens of MB to make. Seeded: every run
  benchmarks the same audio.
- **Separation runs.** ``repet separate FILE --out TMP --overwrite -q --algorithm A`` as a child
  process, default settings otherwise; ``classic`` is REPET as published (``--mask soft --high-
  pass 100 --window 0``), and the default's time is compared with it per size. Wall time is
  ``time.perf_counter`` around the child's whole life; peak RSS is ``ru_maxrss`` from
  ``os.wait4`` on that child (Linux counts the child and any descendants it reaped, so a process
  pool's largest worker shows, not the sum). Children are started by a small stdlib-only spawner
  process, because Linux also counts the parent's memory at fork/exec in the child's
  ``ru_maxrss`` (see ``SPAWNER``). Each algorithm gets one uncounted warm-up run on the smallest
  song first (compiled caches, imports from disk); then the median of ``--runs`` runs per size
  (default 3, 1 for the 60-min song). MB and GB are decimal (10^6 and 10^9 bytes).
- **Floor.** In this process, on the 3-min song: STFT (n_fft 2048, hop 512, Hann; scipy.fft
  with all workers on a strided frame view) of both channels, the median of the magnitude
  over period-aligned segments (one period = the loop, in frames), and the inverse STFT by
  overlap-add. No file I/O, no interpreter start-up: the least work any REPET must do. The
  ratio of `repet separate --algorithm repet` on the 3-min song to this floor shows what the
  rest costs. It leaves out start-up, reading and writing, so whole runs are set against the
  next one too.
- **Floor, part by part** (issue 17): each part timed on its own, median of 5, and their sum:
  a bare process importing numpy, scipy.fft and soundfile; reading the 3-min input with
  soundfile; the project's own ``spectral.stft``, one period-aligned median and
  ``spectral.istft``, called bare; writing two 16-bit WAV stems with soundfile. Classic REPET
  and the defaults are set against it (targets: classic <= 1.1x the floor, the defaults <=
  1.25x classic).
- **Start-up.** ``repet --help`` and ``repet --version``, median of 5 whole processes.
- **Batch.** 48 copies of the 30-s song in one ``repet separate`` call with ``--jobs 1``,
  ``--jobs 2`` and ``--cluster local --jobs 2`` (Dask; skipped, and said so, where an option
  or dask.distributed is missing): files per second, their ratios, and Dask's cost per input.

    python benchmarks/speed.py                      # 30 s, 3 min, 10 min; all algorithms
    python benchmarks/speed.py --hour               # plus 60 min (or: make bench)
    python benchmarks/speed.py --quick --algorithms repet

Writes benchmarks/results/speed.md (the table printed) and speed.json (every run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import scipy.fft
import soundfile as sf

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results"

SR = 44_100
CHANNELS = 2
PERIOD = 2.0  # seconds; the loop's pattern, an exact number of samples at SR
BLOCK_PERIODS = 30  # synthesis block: 30 patterns = 60 s, ~21 MB of float32 stereo
SYNTH_VERSION = 1  # bump when the synthesis changes, so cached songs are rebuilt

ALGORITHMS = ("repet", "repet-sim", "adaptive", "2dft", "classic")
#: The command-line flags of each row: an algorithm with its defaults, or REPET as published
#: (one period for the whole input, the ratio mask, a 100-Hz high-pass).
FLAGS = {
    "classic": ["--mask", "soft", "--high-pass", "100", "--window", "0", "--no-follow-level"],
}
#: The default (`repet`) may cost at most this many times classic REPET (the whole-songs issue).
CLASSIC_RATIO_MAX = 2.5
DEFAULT_SIZES = (30, 180, 600)
HOUR = 3600
FLOOR_SIZE = 180
N_FFT, HOP = 2048, 512
BATCH_FILES, BATCH_SIZE = 48, 30
STARTUP_RUNS, FLOOR_RUNS = 5, 5
MB = 1e6


# --------------------------------------------------------------------------- test songs


def loop_pattern(*, seed: int = 0) -> np.ndarray:
    """One period of the loop, shape (CHANNELS, round(PERIOD * SR)), float32, peak 0.5."""
    rng = np.random.default_rng(seed)
    n = int(round(PERIOD * SR))
    t = np.arange(n) / SR
    pattern = np.zeros((CHANNELS, n))
    for position, decay, level in ((0.0, 0.08, 1.0), (0.3, 0.04, 0.6), (0.55, 0.1, 0.8)):
        start = int(position * n)
        burst = rng.standard_normal(n - start) * np.exp(-np.arange(n - start) / (decay * SR))
        pan = rng.uniform(0.5, 1.0, CHANNELS)
        pattern[:, start:] += level * pan[:, None] * burst[None, :]
    for first, second, level in ((110.0, 146.8, 0.5), (440.0, 392.0, 0.3)):
        freq = np.where(t < PERIOD / 2, first, second)
        pattern += level * np.sin(2 * np.pi * freq * t)[None, :]
    return (pattern * (0.5 / np.max(np.abs(pattern)))).astype(np.float32)


def melody_notes(*, seed: int = 1) -> Iterator[np.ndarray]:
    """Endless non-repeating tones (300 Hz to 2 kHz, 0.1 to 0.4 s), mono float32, peak ~1."""
    rng = np.random.default_rng(seed)
    while True:
        length = int(rng.uniform(0.1, 0.4) * SR)
        freq = float(np.exp(rng.uniform(np.log(300.0), np.log(2000.0))))
        t = np.arange(length) / SR
        note = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t)
        note *= np.minimum(1.0, np.minimum(t / 0.01, (length / SR - t) / 0.01))
        yield (note / 1.3).astype(np.float32)


class Melody:
    """Reads the melody block by block; notes that straddle a block boundary carry over."""

    def __init__(self, *, seed: int = 1) -> None:
        self._notes = melody_notes(seed=seed)
        self._pending = np.zeros(0, np.float32)

    def read(self, n: int) -> np.ndarray:
        parts, have = [self._pending], len(self._pending)
        while have < n:
            note = next(self._notes)
            parts.append(note)
            have += len(note)
        samples = np.concatenate(parts)
        self._pending = samples[n:]
        return samples[:n]


def song_path(seconds: int) -> Path:
    return CACHE / f"loop-melody-v{SYNTH_VERSION}-{seconds}s.wav"


def is_cached(path: Path, frames: int) -> bool:
    if not path.is_file():
        return False
    try:
        info = sf.info(str(path))
    except RuntimeError:
        return False
    return (info.frames, info.samplerate, info.channels) == (frames, SR, CHANNELS)


def make_song(seconds: int) -> Path:
    """The test song of this length, synthesized into the cache unless already there."""
    path = song_path(seconds)
    frames = seconds * SR
    if is_cached(path, frames):
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    pattern = loop_pattern()
    block = np.tile(pattern, BLOCK_PERIODS)  # starts on a pattern boundary, so tiling is exact
    melody = Melody()
    melody_gains = np.array([0.15, 0.11], np.float32)[:, None]  # about as loud as the loop
    partial = path.with_name(path.name + ".part")
    with sf.SoundFile(
        str(partial), "w", SR, CHANNELS, subtype="PCM_16", format="WAV"
    ) as out:  # atomic: an interrupted synthesis leaves no short song behind
        for start in range(0, frames, block.shape[1]):
            n = min(block.shape[1], frames - start)
            mixture = block[:, :n] + melody_gains * melody.read(n)[None, :]
            out.write(np.clip(mixture, -1.0, 1.0).T)
    partial.replace(path)
    return path


def batch_folder(source: Path) -> list[Path]:
    """BATCH_FILES copies of ``source`` with distinct names, in one cache folder."""
    folder = CACHE / f"batch-{source.stem}"
    folder.mkdir(parents=True, exist_ok=True)
    copies = [folder / f"song{i + 1:02d}.wav" for i in range(BATCH_FILES)]
    for copy in copies:
        if not copy.is_file() or copy.stat().st_size != source.stat().st_size:
            shutil.copyfile(source, copy)
    return copies


# --------------------------------------------------------------------------- child processes


@dataclass
class Run:
    """One whole child process: wall seconds, peak RSS (KiB), exit status, stderr tail."""

    wall_s: float
    rss_kib: int | None  # None: not a child process (the in-process floor)
    exit: int
    stderr_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.exit == 0


# The children are started by a small stdlib-only Python process, not by this one: Linux counts
# the memory of the process that forks and execs into the child's ru_maxrss (the high-water mark
# of the address space that exec replaces), so children of this numpy-laden process would all
# report at least its peak (~1 GB after the floor). The spawner stays ~10 MB, below any repet run.
SPAWNER = """
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    with open(job["stderr"], "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            job["argv"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
    print(json.dumps({"wall_s": wall, "rss_kib": usage.ru_maxrss, "exit": proc.returncode}))
    sys.stdout.flush()
"""


class Spawner:
    """Runs whole child processes one at a time through the small spawner process."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", SPAWNER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __enter__(self) -> Spawner:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait()

    def run(self, argv: list[str]) -> Run:
        """Run ``argv`` to the end: wall time, and its own rusage from ``os.wait4`` on its pid."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        with tempfile.NamedTemporaryFile(prefix="repet-bench-", suffix=".err") as err:
            self._proc.stdin.write(json.dumps({"argv": argv, "stderr": err.name}) + "\n")
            self._proc.stdin.flush()
            reply = self._proc.stdout.readline()
            if not reply:
                raise RuntimeError("the spawner process died; see its traceback above")
            done = json.loads(reply)
            lines = Path(err.name).read_bytes().decode(errors="replace").strip().splitlines()
        return Run(done["wall_s"], done["rss_kib"], done["exit"], lines[-1] if lines else "")


def repet_executable() -> str:
    """The `repet` beside this interpreter (the project venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "repet"
    if beside.is_file():
        return str(beside)
    found = shutil.which("repet")
    if found is None:
        sys.exit("no `repet` beside this Python nor on PATH: run `make bench` or install repet")
    return found


class Repet:
    """The `repet` CLI under test: its options, and whole timed runs of it."""

    def __init__(self, spawner: Spawner) -> None:
        self.exe = repet_executable()
        self.spawner = spawner
        self.separate_help = subprocess.run(
            [self.exe, "separate", "--help"], capture_output=True, text=True, check=False
        ).stdout
        self.quiet = ["-q"] if "--quiet" in self.separate_help else []

    def has_option(self, option: str) -> bool:
        return option in self.separate_help.split()

    def run(self, *args: str, prefix: list[str] | None = None) -> Run:
        return self.spawner.run([*(prefix or []), self.exe, *args])

    def separate(
        self, inputs: list[Path], extra: list[str], prefix: list[str] | None = None
    ) -> Run:
        """One ``repet separate`` into a fresh output folder, removed afterwards; ``prefix``
        runs it under another command (``taskset``)."""
        with tempfile.TemporaryDirectory(prefix="repet-bench-") as out:
            files = map(str, inputs)
            flags = ["--out", out, "--overwrite", *self.quiet, *extra]
            return self.run("separate", *files, *flags, prefix=prefix)

    def separations(
        self, inputs: list[Path], extra: list[str], runs: int, prefix: list[str] | None = None
    ) -> list[Run]:
        """Up to ``runs`` separations; stops at the first failure."""
        done = []
        for _ in range(runs):
            done.append(self.separate(inputs, extra, prefix))
            if not done[-1].ok:
                break
        return done


# --------------------------------------------------------------------------- floor


def hann(n: int) -> np.ndarray:
    """Periodic Hann window (the STFT kind), float32."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


def stft(x: np.ndarray, window: np.ndarray) -> np.ndarray:
    """(C, n) -> (C, frames, n_fft // 2 + 1) complex64; zero-padded by n_fft // 2 each side."""
    padded = np.pad(x, ((0, 0), (N_FFT // 2, N_FFT // 2)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=-1)[:, ::HOP]
    return scipy.fft.rfft(frames * window, axis=-1, workers=-1)


def istft(spec: np.ndarray, window: np.ndarray, length: int) -> np.ndarray:
    """Overlap-add inverse of :func:`stft` (hop = n_fft / 4), shape (C, length)."""
    frames = scipy.fft.irfft(spec, n=N_FFT, axis=-1, workers=-1)
    frames *= window
    channels, count = frames.shape[:2]
    overlap = N_FFT // HOP
    chunks = frames.reshape(channels, count, overlap, HOP)  # frame t, chunk j -> hop t + j
    squared = (window**2).reshape(overlap, HOP)
    out = np.zeros((channels, count + overlap - 1, HOP), np.float32)
    norm = np.zeros((count + overlap - 1, HOP), np.float32)
    for j in range(overlap):
        out[:, j : j + count] += chunks[:, :, j]
        norm[j : j + count] += squared[j]
    start = N_FFT // 2
    out, norm = out.reshape(channels, -1), norm.reshape(-1)
    return out[:, start : start + length] / norm[start : start + length]


def repeating_median(magnitude: np.ndarray, period: int) -> np.ndarray:
    """Median over the whole period-aligned segments, (C, frames, F) -> (C, period, F).

    ``np.partition`` rather than ``np.median``: the same values, faster (a floor should be low).
    """
    channels, count, bins = magnitude.shape
    segments = count // period
    aligned = magnitude[:, : segments * period].reshape(channels, segments, period, bins)
    middle = [(segments - 1) // 2, segments // 2]  # one index when the count is odd
    ranked = np.partition(aligned, sorted(set(middle)), axis=1)
    return 0.5 * (ranked[:, middle[0]] + ranked[:, middle[1]])


def floor_once(x: np.ndarray, window: np.ndarray, period: int) -> np.ndarray:
    spec = stft(x, window)
    repeating_median(np.abs(spec), period)
    return istft(spec, window, x.shape[-1])


def time_floor(path: Path) -> dict:
    """Median wall time of the in-process floor on ``path`` (loaded once, not timed)."""
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = np.ascontiguousarray(data.T)
    window = hann(N_FFT)
    period = int(round(PERIOD * sr / HOP))
    error = float(np.max(np.abs(floor_once(x, window, period) - x)))  # warm-up and sanity check
    if error > 1e-4:
        raise RuntimeError(f"floor STFT does not invert (max error {error:.2e}): a bug here")
    runs = []
    for _ in range(FLOOR_RUNS):
        start = time.perf_counter()
        floor_once(x, window, period)
        runs.append(time.perf_counter() - start)
    return {"runs_s": runs, "median_s": statistics.median(runs), "period_frames": period}


def parts_floor(path: Path, spawner: Spawner) -> dict:
    """Issue 17's floor: the work no run can avoid, each part timed on its own (median of
    FLOOR_RUNS), and their sum.

    - a bare Python process that imports numpy, scipy.fft and soundfile (a child process);
    - reading the input with soundfile (float32);
    - the project's own ``spectral.stft``, one period-aligned median of the magnitudes and the
      project's own ``spectral.istft`` of the spectrogram, called bare (the mixture comes back:
      no mask is applied, so nothing in it can be slower than a separation needs);
    - writing two stems with soundfile in the default output format of a 16-bit WAV input
      (16-bit WAV).
    """
    from repet_cli import spectral

    importing = [
        spawner.run([sys.executable, "-c", "import numpy, scipy.fft, soundfile"])
        for _ in range(FLOOR_RUNS)
    ]
    info = sf.info(str(path))
    n_fft, hop = N_FFT, HOP
    period = int(round(PERIOD * info.samplerate / hop))

    def read():
        data, _ = sf.read(str(path), dtype="float32", always_2d=True)
        return np.ascontiguousarray(data.T)

    x = read()

    def transform():
        spec = spectral.stft(x, n_fft=n_fft, hop=hop)  # (C, F, T)
        magnitude = np.abs(spec)
        count = magnitude.shape[-1] // period
        aligned = magnitude[..., : count * period].reshape(*magnitude.shape[:-1], count, period)
        middle = sorted({(count - 1) // 2, count // 2})  # np.partition: median by selection
        np.partition(aligned, middle, axis=-2)
        return spectral.istft(spec, n_fft=n_fft, hop=hop, length=x.shape[-1])

    error = float(np.max(np.abs(transform() - x)))  # warm-up and sanity check
    if error > 1e-4:
        raise RuntimeError(f"the project's STFT does not invert (max error {error:.2e})")

    def write():  # 16-bit samples made in numpy (faster than libsndfile's conversion)
        with tempfile.TemporaryDirectory(prefix="repet-floor-") as folder:
            for stem in ("background", "foreground"):
                pcm = np.clip(np.rint(x.T * 32768.0), -32768, 32767).astype(np.int16)
                sf.write(f"{folder}/{stem}.wav", pcm, info.samplerate, subtype="PCM_16")

    def timed(fn) -> list[float]:
        runs = []
        for _ in range(FLOOR_RUNS):
            start = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - start)
        return runs

    parts = {
        "start a process importing numpy, scipy.fft, soundfile": [r.wall_s for r in importing],
        "read the input (soundfile, float32)": timed(read),
        "STFT + period median + inverse STFT (repet_cli.spectral)": timed(transform),
        "write two 16-bit WAV stems (soundfile)": timed(write),
    }
    medians = {k: statistics.median(v) for k, v in parts.items()}
    return {"parts": medians, "runs_s": parts, "total_s": sum(medians.values())}


def parts_floor_rows(floor: dict, rows: list[Row]) -> tuple[list[Row], list[str]]:
    """The floor's parts and sum as rows, and classic REPET and the defaults against it."""
    label = size_label(FLOOR_SIZE)
    out = [
        Row(label, f"floor part: {name}", None, [Run(s, None, 0) for s in floor["runs_s"][name]])
        for name in floor["parts"]
    ]
    total = Row(label, "floor: the sum of its parts", FLOOR_SIZE, [Run(floor["total_s"], None, 0)])
    out.append(total)
    notes = []
    classic = next((r for r in rows if r.size == label and r.what == "classic"), None)
    default = next((r for r in rows if r.size == label and r.what == "repet"), None)
    if classic is not None and not classic.failed:
        ratio = classic.wall_s / floor["total_s"]
        ok = verdict(ratio <= CLASSIC_FLOOR_RATIO_MAX)
        total.note = f"classic / floor = {ratio:.2f}, target <= {CLASSIC_FLOOR_RATIO_MAX:g}: {ok}"
        notes.append(f"- {label}: classic REPET / floor (sum of its parts) = {ratio:.2f} ({ok})")
        if default is not None and not default.failed:
            ratio = default.wall_s / classic.wall_s
            ok = verdict(ratio <= DEFAULT_CLASSIC_RATIO_MAX)
            notes.append(
                f"- {label}: default / classic REPET = {ratio:.2f} (issue 17's target <= "
                f"{DEFAULT_CLASSIC_RATIO_MAX:g}: {ok})"
            )
    return out, notes


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """The issue's bound for one row; ``strict`` means < rather than <=."""

    wall_s: float | None = None
    rss_mb: float | None = None
    strict: bool = False

    def text(self) -> str:
        op = "<" if self.strict else "<="
        parts = []
        if self.wall_s is not None:
            parts.append(f"{op} {self.wall_s:g} s")
        if self.rss_mb is not None:
            size = f"{self.rss_mb / 1000:g} GB" if self.rss_mb >= 1000 else f"{self.rss_mb:g} MB"
            parts.append(f"{op} {size}")
        return " and ".join(parts)

    def met(self, wall_s: float, rss_mb: float | None) -> bool:
        def within(value: float | None, bound: float | None) -> bool:
            if bound is None:
                return True
            return value is not None and (value < bound if self.strict else value <= bound)

        return within(wall_s, self.wall_s) and within(rss_mb, self.rss_mb)


def target_for(size: int, algorithm: str) -> Target | None:
    if size == HOUR:
        return Target(rss_mb=800)  # issue 17: every algorithm on a 60-min song
    return {
        (30, "repet"): Target(wall_s=1.0),
        (180, "repet"): Target(wall_s=2.0, rss_mb=400),
        (600, "repet"): Target(wall_s=7.0, rss_mb=1200),
        (180, "repet-sim"): Target(wall_s=10.0, rss_mb=1000, strict=True),
    }.get((size, algorithm))


STARTUP_TARGET = Target(wall_s=0.3)
FLOOR_RATIO_MAX = 1.5
#: Issue 17: classic REPET within 1.1x of the floor (sum of its parts), the defaults within
#: 1.25x of classic REPET.
CLASSIC_FLOOR_RATIO_MAX = 1.1
DEFAULT_CLASSIC_RATIO_MAX = 1.25
#: Issue 17: a batch with -j at its default against the same batch on one core.
BATCH_RATIO_MIN = 1.8
#: Issue 17: REPET-SIM, adaptive and 2DFT within this many times REPET's time on the same song.
ALGORITHM_RATIO_MAX = 2.0
#: Throughput of a local Dask cluster of 2 workers against --jobs 2 (issue 15; 0.95 on 48
#: songs since issue 27).
DASK_RATIO_MIN = 0.95


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


# --------------------------------------------------------------------------- results


@dataclass
class Row:
    """One line of the table, with every run behind its medians."""

    size: str
    what: str
    audio_s: float | None
    runs: list[Run]
    target: Target | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def failed(self) -> Run | None:
        return next((r for r in self.runs if not r.ok), None)

    @property
    def wall_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def rss_mb(self) -> float | None:
        if any(r.rss_kib is None for r in self.runs):
            return None
        return statistics.median(r.rss_kib * 1024 / MB for r in self.runs)

    def target_cell(self) -> str:
        if self.target is None or not self.runs:
            return self.note
        if self.failed:
            return f"{self.target.text()}: NOT met (run failed)"
        cell = f"{self.target.text()}: {verdict(self.target.met(self.wall_s, self.rss_mb))}"
        return f"{cell}; {self.note}" if self.note else cell

    def cells(self) -> list[str]:
        audio = "" if self.audio_s is None else f"{self.audio_s:g}"
        if not self.runs:
            return [self.size, self.what, audio, "", "", "", self.note]
        failure = self.failed
        if failure is not None:
            why = describe_exit(failure.exit)
            tail = f": {failure.stderr_tail}" if failure.stderr_tail else ""
            cells = [self.size, self.what, audio, f"failed ({why}){tail}", "", ""]
            return [*cells, self.target_cell()]
        rtf = "" if self.audio_s is None else f"{self.audio_s / self.wall_s:.1f}"
        rss = "" if self.rss_mb is None else f"{self.rss_mb:.0f}"
        return [
            self.size,
            self.what,
            audio,
            f"{self.wall_s:.2f}",
            rss,
            rtf,
            self.target_cell(),
        ]

    def record(self) -> dict:
        ok = not self.failed and bool(self.runs)
        return {
            "size": self.size,
            "what": self.what,
            "audio_s": self.audio_s,
            "runs": [asdict(r) for r in self.runs],
            "median_wall_s": self.wall_s if ok else None,
            "median_rss_mb": self.rss_mb if ok else None,
            "target": None if self.target is None else self.target.text(),
            "target_met": None
            if self.target is None
            else ok and self.target.met(self.wall_s, self.rss_mb),
            "note": self.note,
            **self.extra,
        }


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def size_label(seconds: float) -> str:
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def markdown_table(rows: list[Row]) -> list[str]:
    header = [
        "size",
        "algorithm",
        "audio s",
        "wall s (median)",
        "peak RSS MB (median)",
        "real-time factor",
        "target",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [c.replace("|", "\\|") for c in row.cells()]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


# --------------------------------------------------------------------------- machine facts


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def total_ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return None


def version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_state() -> str:
    """Short commit of the checkout, and whether the package has uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "no git checkout"
    dirty = git("status", "--porcelain", "--", "repet_cli")
    return f"git {commit}" + (", uncommitted changes in repet_cli/" if dirty else "")


def machine_facts(repet: Repet) -> dict:
    version = subprocess.run([repet.exe, "--version"], capture_output=True, text=True, check=False)
    ram = total_ram_gb()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "ram_gb": None if ram is None else round(ram, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "librosa": version_of("librosa"),
        "repet": version.stdout.strip() or version_of("repet"),
        "source": git_state(),
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def facts_lines(facts: dict) -> list[str]:
    ram = "unknown" if facts["ram_gb"] is None else f"{facts['ram_gb']:g} GB"
    return [
        f"- CPU: {facts['cpu']}, {facts['cores']} cores ({facts['cores_usable']} usable), "
        f"RAM {ram}",
        f"- Python {facts['python']}, numpy {facts['numpy']}, scipy {facts['scipy']}, "
        f"librosa {facts['librosa']}",
        f"- {facts['repet']} ({facts['source']})",
        f"- Measured {facts['date_utc']}",
    ]


# --------------------------------------------------------------------------- the benchmark


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def runs_for(size: int, args: argparse.Namespace) -> int:
    if args.runs is not None:
        return args.runs
    return 1 if args.quick or size >= HOUR else 3


def separation_rows(
    repet: Repet, songs: dict[int, Path], args: argparse.Namespace
) -> tuple[list[Row], dict]:
    """Warm-up per algorithm on the smallest song, then every (size, algorithm)."""
    rows, warmups = [], {}
    smallest = songs[min(songs)]
    for algorithm in args.algorithms:
        log(f"warm-up: {algorithm}")
        warm = repet.separate([smallest], flags_of(algorithm))
        warmups[algorithm] = asdict(warm)
        if not warm.ok:
            log(f"  warm-up failed ({describe_exit(warm.exit)}): {warm.stderr_tail}")
    for size, song in sorted(songs.items()):
        for algorithm in args.algorithms:
            n = runs_for(size, args)
            log(f"{size_label(size)} {algorithm}: {n} run(s)")
            runs = repet.separations([song], flags_of(algorithm), n)
            rows.append(Row(size_label(size), algorithm, size, runs, target_for(size, algorithm)))
    return rows, warmups


def flags_of(algorithm: str) -> list[str]:
    return FLAGS.get(algorithm, ["--algorithm", algorithm])


def classic_notes(rows: list[Row]) -> list[str]:
    """Per size where they ran: the default's time against classic REPET's (issue 13's bound
    and issue 17's), and the other algorithms' against the default's."""
    notes = []
    for size in dict.fromkeys(r.size for r in rows):
        default = next((r for r in rows if r.size == size and r.what == "repet"), None)
        if default is None or default.failed:
            continue
        classic = next((r for r in rows if r.size == size and r.what == "classic"), None)
        if classic is not None and not classic.failed:
            ratio = default.wall_s / classic.wall_s
            ok, tight = ratio <= CLASSIC_RATIO_MAX, ratio <= DEFAULT_CLASSIC_RATIO_MAX
            default.note = (
                f"repet / classic = {ratio:.2f}, target <= {CLASSIC_RATIO_MAX:g}: {verdict(ok)}"
                f", <= {DEFAULT_CLASSIC_RATIO_MAX:g}: {verdict(tight)}"
            )
            notes.append(
                f"- {size}: default repet / classic REPET = {ratio:.2f} (<= "
                f"{CLASSIC_RATIO_MAX:g}: {verdict(ok)}; issue 17's <= "
                f"{DEFAULT_CLASSIC_RATIO_MAX:g}: {verdict(tight)})"
            )
        for other in ("repet-sim", "adaptive", "2dft"):
            row = next((r for r in rows if r.size == size and r.what == other), None)
            if row is None or row.failed:
                continue
            ratio = row.wall_s / default.wall_s
            ok = verdict(ratio <= ALGORITHM_RATIO_MAX)
            row.note = (row.note + "; " if row.note else "") + (
                f"{other} / repet = {ratio:.2f}, target <= {ALGORITHM_RATIO_MAX:g}: {ok}"
            )
            notes.append(f"- {size}: {other} / repet = {ratio:.2f} ({ok})")
    return notes


def startup_rows(repet: Repet) -> list[Row]:
    rows = []
    for flag in ("--help", "--version"):
        repet.run(flag)  # warm-up
        runs = [repet.run(flag) for _ in range(STARTUP_RUNS)]
        rows.append(Row("", f"`repet {flag}`", None, runs, STARTUP_TARGET))
    return rows


def floor_rows(floor: dict, rows: list[Row]) -> tuple[Row, float | None]:
    """The floor as a row of its own, and the REPET-to-floor ratio where REPET ran on 3 min."""
    label = size_label(FLOOR_SIZE)
    floor_row = Row(
        label,
        "floor (in-process STFT + median + iSTFT)",
        FLOOR_SIZE,
        [Run(s, None, 0) for s in floor["runs_s"]],
        extra={"floor": floor},
    )
    repet = next((r for r in rows if r.size == label and r.what == "repet"), None)
    if repet is None or repet.failed or not repet.runs:
        floor_row.note = "ratio n/a: no successful `repet` run on the 3-min song"
        return floor_row, None
    ratio = repet.wall_s / floor["median_s"]
    floor_row.note = (
        f"repet / floor = {ratio:.2f}, target <= {FLOOR_RATIO_MAX:g}: "
        f"{verdict(ratio <= FLOOR_RATIO_MAX)}"
    )
    return floor_row, ratio


def one_core() -> list[str] | None:
    """A command prefix that pins a process and its children to one core (``taskset``), or
    None where there is no taskset or no affinity mask."""
    taskset = shutil.which("taskset")
    if taskset is None or not hasattr(os, "sched_getaffinity"):
        return None
    return [taskset, "-c", str(min(os.sched_getaffinity(0)))]


def batch_rows(repet: Repet, args: argparse.Namespace) -> tuple[list[Row], dict]:
    """BATCH_FILES copies of the 30-s song: on one core, with -j at its default, with
    ``--jobs 2``, and on a local Dask cluster of 2 workers.

    The setups take turns, one run each per round, so that their ratios compare runs made
    under the same conditions (this machine's speed drifts by 10-40 % over half an hour).
    """
    what = f"{BATCH_FILES} x {size_label(BATCH_SIZE)}"
    inputs = batch_folder(make_song(BATCH_SIZE))
    pinned = one_core()
    one, default, jobs2, dask = (
        "batch on one core (taskset -c)",
        "batch, repet (-j at its default)",
        "batch, repet --jobs 2",
        "batch, repet --cluster local --jobs 2",
    )
    setups = [(one, [], pinned)] if pinned else []
    setups += [(default, [], None)]
    if repet.has_option("--jobs"):
        setups += [(jobs2, ["--jobs", "2"], None)]
    summary: dict = {}
    skipped_dask = None
    if not repet.has_option("--cluster") or importlib.util.find_spec("distributed") is None:
        skipped_dask = "skipped: no --cluster option, or dask.distributed is not installed"
        log(f"batch on Dask: {skipped_dask}")
    else:
        setups += [(dask, ["--cluster", "local", "--jobs", "2"], None)]
    n = runs_for(BATCH_SIZE, args)
    log(f"batch setups, taking turns: {', '.join(label for label, _, _ in setups)}; {n} round(s)")
    runs: dict[str, list[Run]] = {label: [] for label, _, _ in setups}
    for _ in range(n):
        for label, flags, prefix in setups:
            if runs[label] and not runs[label][-1].ok:
                continue  # failed once: not run again
            runs[label] += repet.separations(inputs, flags, 1, prefix=prefix or [])
    rows, fps = [], {}
    for label, _, _ in setups:
        row = Row(what, label, BATCH_FILES * BATCH_SIZE, runs[label])
        if not row.failed:
            fps[label] = BATCH_FILES / row.wall_s
            row.note = f"{fps[label]:.2f} files/s"
        rows.append(row)
    summary["files_per_s"] = {k: v for k, v in fps.items() if k != dask}
    if pinned is None:
        summary["one_core"] = "skipped: no taskset here"
    if one in fps and default in fps:
        ratio = fps[default] / fps[one]
        summary["ratio"] = ratio
        rows[1].note += (
            f"; default / one core = {ratio:.2f}, target >= {BATCH_RATIO_MIN:g}: "
            f"{verdict(ratio >= BATCH_RATIO_MIN)}"
        )
    if skipped_dask is not None:
        rows.append(Row(what, dask, None, [], note=skipped_dask))
    elif dask in fps and jobs2 in fps:
        row = rows[-1]
        ratio = fps[dask] / fps[jobs2]
        overhead = (row.wall_s - BATCH_FILES / fps[jobs2]) / BATCH_FILES
        summary.update(dask_files_per_s=fps[dask], dask_ratio=ratio, dask_overhead_s=overhead)
        row.note = (
            f"{fps[dask]:.2f} files/s; Dask / jobs 2 = {ratio:.2f}, target >= "
            f"{DASK_RATIO_MIN:g}: {verdict(ratio >= DASK_RATIO_MIN)}; {overhead:+.2f} s per input "
            "(cluster start-up included)"
        )
    return rows, summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=list(DEFAULT_SIZES),
        help="song lengths in seconds, comma-separated (default: 30,180,600)",
    )
    parser.add_argument(
        "--algorithms",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        default=list(ALGORITHMS),
        help=f"comma-separated (default: {','.join(ALGORITHMS)})",
    )
    parser.add_argument(
        "--runs", type=int, help="timed runs per row (default: 3; 1 for 60 min and --quick)"
    )
    parser.add_argument("--hour", action="store_true", help="add the 60-min song")
    parser.add_argument("--quick", action="store_true", help="sizes 30,180 and 1 run: a try-out")
    parser.add_argument(
        "--readme-table",
        action="store_true",
        help="print the README's speed table from benchmarks/results/speed.json and stop",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = [30, 180]
    if args.hour and HOUR not in args.sizes:
        args.sizes.append(HOUR)
    unknown = sorted(set(args.algorithms) - set(ALGORITHMS))
    if unknown:
        parser.error(f"unknown algorithm(s) {', '.join(unknown)}; choose from {ALGORITHMS}")
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    if not args.sizes or min(args.sizes) < 3 * PERIOD:
        parser.error(f"sizes must be at least {3 * PERIOD:g} s (three periods of the loop)")
    return args


def report(facts: dict, rows: list[Row], summary: list[str], args: argparse.Namespace) -> str:
    command = "python benchmarks/speed.py " + " ".join(args.argv)
    lines = [
        "# Speed and memory of whole `repet separate` runs",
        "",
        *facts_lines(facts),
        f"- Command: `{command.strip()}`",
        "",
        "Synthesized 44.1 kHz stereo 16-bit songs (a 2.0-s loop plus a non-repeating melody). "
        "Wall time and peak RSS of the whole child process (`os.wait4`), median of the runs "
        "listed in speed.json; MB = 10^6 bytes; real-time factor = audio seconds per wall "
        "second. Floor: STFT + period-aligned median + inverse STFT in plain numpy/scipy.",
        "",
        *markdown_table(rows),
        "",
        *summary,
    ]
    return "\n".join(lines) + "\n"


def readme_table(record: dict) -> str:
    """The README's speed table (wall time and peak memory per size and algorithm, and the
    defaults against classic REPET) from a speed.json record."""

    def cell(row: dict | None) -> str:
        if row is None or row["median_wall_s"] is None:
            return ""
        wall = row["median_wall_s"]
        wall_text = f"{wall:.2f} s" if wall < 10 else f"{wall:.1f} s"
        return f"{wall_text}, {row['median_rss_mb']:.0f} MB"

    rows = [r for r in record["rows"] if r["what"] in ALGORITHMS]
    names = ("repet", "repet-sim", "adaptive", "2dft", "classic")
    lines = [
        "| input | `repet` (defaults) | `repet-sim` | `adaptive` | `2dft` | classic "
        "| defaults / classic |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in dict.fromkeys(r["size"] for r in rows):
        found = {r["what"]: r for r in rows if r["size"] == size}
        default, classic = found.get("repet"), found.get("classic")
        ratio = ""
        if default and classic and default["median_wall_s"] and classic["median_wall_s"]:
            ratio = f"{default['median_wall_s'] / classic['median_wall_s']:.2f}"
        cells = [cell(found.get(name)) for name in names]
        lines.append(f"| {size} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.readme_table:  # the README's table from the last results, no timing
        print(readme_table(json.loads((RESULTS / "speed.json").read_text())))
        return 0
    args.argv = argv
    with Spawner() as spawner:
        return measure(args, Repet(spawner))


def compile_package() -> None:
    """Compile repet_cli to bytecode, as a pip-installed package has it: an editable install
    under PYTHONDONTWRITEBYTECODE would otherwise compile its modules in every timed process
    (about 40 ms each here)."""
    import compileall

    spec = importlib.util.find_spec("repet_cli")
    if spec is not None and spec.submodule_search_locations:
        compileall.compile_dir(spec.submodule_search_locations[0], quiet=1)


def measure(args: argparse.Namespace, repet: Repet) -> int:
    facts = machine_facts(repet)
    log("compiling repet_cli to bytecode (as installed packages are)")
    compile_package()

    log("synthesizing test songs into benchmarks/.cache/ (reused when present)")
    songs = {size: make_song(size) for size in sorted(set(args.sizes))}
    floor_song = songs.get(FLOOR_SIZE) or make_song(FLOOR_SIZE)

    rows, warmups = separation_rows(repet, songs, args)
    log("floor: in-process STFT + median + iSTFT on the 3-min song")
    floor_row, floor_ratio = floor_rows(time_floor(floor_song), rows)
    log("floor, part by part: process start, read, STFT + median + iSTFT, write")
    floor = parts_floor(floor_song, repet.spawner)
    part_rows, part_notes = parts_floor_rows(floor, rows)
    log("start-up: repet --help, repet --version")
    start_rows = startup_rows(repet)
    batch, batch_summary = batch_rows(repet, args)

    summary = [f"- Floor ratio (repet on 3 min / floor): {floor_row.note}", *part_notes]
    summary += classic_notes(rows)
    for label, fps in batch_summary["files_per_s"].items():
        summary.append(f"- {label}: {fps:.2f} files/s")
    if "ratio" in batch_summary:
        ok = verdict(batch_summary["ratio"] >= BATCH_RATIO_MIN)
        summary.append(
            f"- Batch ratio, -j at its default / one core: {batch_summary['ratio']:.2f} "
            f"(target >= {BATCH_RATIO_MIN:g}: {ok})"
        )
    if "dask_ratio" in batch_summary:
        ok = verdict(batch_summary["dask_ratio"] >= DASK_RATIO_MIN)
        summary.append(
            f"- Batch ratio, local Dask / --jobs 2: {batch_summary['dask_ratio']:.2f} "
            f"(target >= {DASK_RATIO_MIN:g}: {ok})"
        )
    all_rows = [*rows, floor_row, *part_rows, *start_rows, *batch]
    text = report(facts, all_rows, summary, args)
    print(text)

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "speed.md").write_text(text)
    record = {
        "machine": facts,
        "settings": {
            "sizes_s": sorted(set(args.sizes)),
            "algorithms": args.algorithms,
            "runs": {str(s): runs_for(s, args) for s in sorted(set(args.sizes))},
            "sample_rate": SR,
            "channels": CHANNELS,
            "loop_period_s": PERIOD,
            "separate_flags": ["--overwrite", *repet.quiet],
        },
        "warmups": warmups,
        "rows": [r.record() for r in all_rows],
        "floor_ratio": floor_ratio,
        "floor_parts": {"parts_s": floor["parts"], "total_s": floor["total_s"]},
        "batch": batch_summary,
    }
    (RESULTS / "speed.json").write_text(json.dumps(record, indent=2) + "\n")
    log("wrote benchmarks/results/speed.md and speed.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
