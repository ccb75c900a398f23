"""Light pictures for the listening report: a stem's spectrogram drawn with numpy, as a PNG.

A picture is :data:`WIDTH` columns wide, one short FFT per column (the file read once, a block
at a time), on a log-frequency axis from 50 Hz to 16 kHz (or half the sample rate), in dB below
the picture's loudest point. No matplotlib: a picture takes tens of milliseconds where a
figure takes about a second, so the report of a large batch costs little.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .files import replace_file

WIDTH = 720
HEIGHT = 96
FRAME = 2048
#: Frames read at a time.
BLOCK = 1 << 18
#: Colours of the palette (an indexed PNG).
LEVELS = 64
WINDOW = np.hanning(FRAME).astype(np.float32)
LOW_HZ, HIGH_HZ = 50.0, 16000.0
RANGE_DB = 80.0
#: Colours from quiet to loud (dark blue, violet, orange, pale yellow), interpolated.
ANCHORS = np.array(
    [[12, 14, 40], [70, 30, 110], [170, 50, 90], [240, 120, 40], [252, 236, 160]], dtype=float
)


def palette() -> np.ndarray:
    """The :data:`LEVELS` colours of the pictures, RGB uint8, quiet to loud."""
    position = np.linspace(0, 1, LEVELS) * (len(ANCHORS) - 1)
    low = np.minimum(position.astype(int), len(ANCHORS) - 2)
    frac = (position - low)[:, None]
    return np.round(ANCHORS[low] * (1 - frac) + ANCHORS[low + 1] * frac).astype(np.uint8)


def png(indices: np.ndarray, colours: np.ndarray) -> bytes:
    """A picture of palette ``indices`` (height, width) uint8 as PNG file bytes (8-bit
    indexed colour: a third of the bytes of RGB)."""
    height, width = indices.shape
    rows = np.zeros((height, 1 + width), dtype=np.uint8)  # filter byte 0 on every row
    rows[:, 1:] = indices

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", colours.tobytes())
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def columns(path: str | os.PathLike, *, width: int = WIDTH) -> tuple[np.ndarray, int]:
    """Magnitude spectra (width, FRAME // 2 + 1) of the mono sum, one frame per column spread
    over the file, and the sample rate. The file is read once, a block at a time."""
    from .soundfile_io import overlapping_blocks

    with overlapping_blocks(path, blocksize=BLOCK, overlap=FRAME) as (info, blocks):
        n, sr = info.frames, info.samplerate
        starts = np.linspace(0, max(0, n - FRAME), width).astype(int)
        frames = np.zeros((width, FRAME), dtype=np.float32)
        offset, k = 0, 0
        mono = np.zeros(0, dtype=np.float32)
        average = np.full(info.channels, 1 / info.channels, dtype=np.float32)
        for block in blocks:
            mono = block @ average  # faster than a mean over the short axis
            while k < width and starts[k] + FRAME <= offset + len(mono):
                piece = mono[starts[k] - offset : starts[k] - offset + FRAME]
                frames[k, : len(piece)] = piece
                k += 1
            offset += len(mono) - FRAME
            if k == width:
                break
        while k < width:  # a file shorter than a frame: what there is
            piece = mono[max(0, starts[k] - max(offset, 0)) :]
            frames[k, : len(piece)] = piece[:FRAME]
            k += 1
    from scipy import fft

    frames *= WINDOW
    return np.abs(fft.rfft(frames, axis=1)), sr


def image(magnitudes: np.ndarray, sr: int, *, height: int = HEIGHT, top_db: float) -> np.ndarray:
    """Palette indices (height, width) of the picture: log frequency upwards, dB below
    ``top_db``."""
    high = min(HIGH_HZ, sr / 2)
    rows = np.geomspace(high, LOW_HZ, height)  # top row first
    bins = np.fft.rfftfreq(FRAME, 1 / sr)
    # linear interpolation between the two bins around each row's frequency, as one product
    upper = np.clip(np.searchsorted(bins, rows), 1, len(bins) - 1)
    frac = (rows - bins[upper - 1]) / (bins[upper] - bins[upper - 1])
    weights = np.zeros((height, len(bins)), dtype=np.float32)
    weights[np.arange(height), upper - 1] = 1 - frac
    weights[np.arange(height), upper] = frac
    db = 20 * np.log10(np.maximum(weights @ magnitudes.T, 1e-10))
    levels = np.clip(1 - (top_db - db) / RANGE_DB, 0, 1)
    return np.round(levels * (LEVELS - 1)).astype(np.uint8)


def draw(stems: dict[str, str | os.PathLike], out: dict[str, Path]) -> dict[str, Path]:
    """A picture of each stem (``{name: audio path}``) into ``out[name]``, all on one dB scale
    (the loudest column of any stem sets the top); the pictures written. A file soundfile
    cannot read (an M4A or Opus stem) gets no picture."""
    spectra = {}
    for name, path in stems.items():
        try:
            spectra[name] = columns(path)
        except (RuntimeError, OSError, ValueError):  # not readable by libsndfile
            continue
    if not spectra:
        return {}
    top = max(20 * np.log10(max(float(m.max()), 1e-10)) for m, _ in spectra.values())
    written = {}
    for name, (magnitudes, sr) in spectra.items():
        picture = png(image(magnitudes, sr, top_db=top), palette())
        written[name] = replace_file(out[name], picture)
    return written
