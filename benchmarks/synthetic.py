"""A synthetic full-length test set with exact stems: songs and podcast-style items.

Real full-length songs with stems are scarce (../shared/fullsongs has two, of one genre). This
script composes, deterministically (fixed seeds, no input), songs and podcast-style items whose
arrangements stress what whole songs do and 7-s clips cannot: sections (intro, verses,
choruses that come back with the same melody, a bridge), drum fills, builds with a riser,
breaks without drums, an a cappella passage, long periods (a 4-bar cycle of 10.7 s at 90
bpm), tempi from 72 to 148 bpm, and a lead that is silent for a good part of the song; and
speech over a looping music bed that ducks while the voice speaks.

Music is written as MIDI (a small writer below) and rendered with FluidSynth and the FluidR3
General MIDI soundfont; speech comes from eSpeak NG. Each stem is rendered on its own, so the
ground truth is exact: ``mixture.wav = vocals.wav + accompaniment.wav`` sample for sample
(float32 WAV, 44.1 kHz, stereo). On Debian/Ubuntu::

    apt-get install fluidsynth fluid-soundfont-gm espeak-ng

    python benchmarks/synthetic.py            # builds benchmarks/cache/synthetic/ if needed
    python benchmarks/synthetic.py --force    # rebuild

The set is written to ``benchmarks/cache/synthetic/<item>/{mixture,accompaniment,vocals}.wav``
with a ``meta.json`` per item (tempo, sections with their times, the share of time the lead is
silent) and a ``VERSION`` stamp; it is rebuilt only when missing or when
:data:`GENERATOR_VERSION` changes. Change that number with anything that changes the audio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf

#: Bump with any change that changes the generated audio: the cache is rebuilt on a mismatch.
GENERATOR_VERSION = "2"
SR = 44100
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "cache" / "synthetic"
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")  # Debian's fluid-soundfont-gm
APT_PACKAGES = "fluidsynth fluid-soundfont-gm espeak-ng"
STEM_FILES = ("mixture.wav", "accompaniment.wav", "vocals.wav")
PPQ = 480  # MIDI ticks per quarter note
BAR = 4 * PPQ


# --------------------------------------------------------------------------------------------
# A minimal Standard MIDI File writer (format 1, one tempo).


def _varlen(value: int) -> bytes:
    """MIDI variable-length quantity: 7 bits a byte, high bit set on all but the last."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


class Midi:
    """Events on up to 16 channels, written as one track per channel plus a tempo track."""

    def __init__(self, bpm: float):
        self.bpm = bpm
        self.events: dict[int, list[tuple[int, int, bytes]]] = {}

    def _add(self, channel: int, tick: int, order: int, data: bytes) -> None:
        self.events.setdefault(channel, []).append((int(tick), order, data))

    def program(self, channel: int, program: int, *, tick: int = 0) -> None:
        self._add(channel, tick, 0, bytes([0xC0 | channel, program]))

    def cc(self, channel: int, tick: int, number: int, value: int) -> None:
        self._add(channel, tick, 1, bytes([0xB0 | channel, number, int(np.clip(value, 0, 127))]))

    def bend(self, channel: int, tick: int, value: int) -> None:
        """Pitch bend, ``value`` in [-8192, 8191] (0 = none)."""
        v = int(np.clip(value, -8192, 8191)) + 8192
        self._add(channel, tick, 1, bytes([0xE0 | channel, v & 0x7F, v >> 7]))

    def bend_range(self, channel: int, semitones: int) -> None:
        """Set the pitch-bend range (RPN 0) of a channel."""
        for number, value in ((101, 0), (100, 0), (6, semitones), (38, 0)):
            self.cc(channel, 0, number, value)

    def note(self, channel: int, tick: int, duration: int, pitch: int, velocity: int) -> None:
        velocity = int(np.clip(velocity, 1, 127))
        self._add(channel, tick + max(1, int(duration)), 0, bytes([0x80 | channel, pitch, 0]))
        self._add(channel, tick, 2, bytes([0x90 | channel, pitch, velocity]))

    def to_bytes(self) -> bytes:
        tempo = round(60_000_000 / self.bpm)
        tracks = [
            b"\x00\xff\x51\x03"
            + tempo.to_bytes(3, "big")
            + b"\x00\xff\x58\x04\x04\x02\x18\x08"
            + b"\x00\xff\x2f\x00"
        ]
        for channel in sorted(self.events):
            data = bytearray()
            last = 0
            for tick, _, event in sorted(self.events[channel], key=lambda e: (e[0], e[1])):
                data += _varlen(tick - last) + event
                last = tick
            data += b"\x00\xff\x2f\x00"
            tracks.append(bytes(data))
        out = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big")
        out += len(tracks).to_bytes(2, "big") + PPQ.to_bytes(2, "big")
        for track in tracks:
            out += b"MTrk" + len(track).to_bytes(4, "big") + track
        return out


# --------------------------------------------------------------------------------------------
# Songs: an arrangement of sections over 4-bar chord progressions.

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
DRUMS = 9  # MIDI channel 10
KICK, SNARE, CLAP, HAT, OPEN_HAT, CRASH, RIDE = 36, 38, 39, 42, 46, 49, 51
TOMS = (50, 50, 48, 48, 47, 47, 45, 45)


@dataclass(frozen=True)
class Section:
    """One section: which parts play (see :data:`KINDS`) for ``bars`` bars."""

    kind: str
    bars: int


#: What each kind of section plays. drums: "full", "light", "build" or None; lead: the name of
#: the melody the vocals sing (None: vocals silent); prog: which chord progression.
KINDS = {
    "intro": dict(drums="light", bass=False, keys=True, pad=True, lead=None, prog="verse"),
    "verse": dict(drums="full", bass=True, keys=True, pad=False, lead="verse", prog="verse"),
    "build": dict(drums="build", bass=True, keys=True, pad=True, lead="pre", prog="chorus"),
    "chorus": dict(drums="full", bass=True, keys=True, pad=True, lead="chorus", prog="chorus"),
    "break": dict(drums=None, bass=True, keys=False, pad=True, lead=None, prog="verse"),
    "bridge": dict(drums="full", bass=True, keys=True, pad=True, lead="bridge", prog="bridge"),
    "acappella": dict(drums=None, bass=False, keys=False, pad=False, lead="chorus", prog="chorus"),
    "solo": dict(drums="full", bass=True, keys=True, pad=False, lead=None, prog="verse"),
    "outro": dict(drums="full", bass=True, keys=True, pad=True, lead=None, prog="chorus"),
}


@dataclass(frozen=True)
class Song:
    name: str
    seed: int
    bpm: float
    tonic: int  # MIDI note of the key's tonic in octave 4
    scale: tuple[int, ...]
    style: str  # drum, bass and keys patterns: "ballad", "hiphop", "house", "rock"
    progs: dict[str, tuple[int, int, int, int]]  # section prog -> scale degree of each bar
    programs: dict[str, int]  # part -> General MIDI program (0-based)
    sections: tuple[Section, ...]
    rap: bool = False  # verses spoken by eSpeak NG instead of sung by the lead patch
    vocal_db: float = -3.0  # vocals vs accompaniment, RMS over the whole song


def _sections(spec: str) -> tuple[Section, ...]:
    """Sections from "intro 4, verse 8, ...": kind and bars."""
    return tuple(Section(kind, int(bars)) for kind, bars in (p.split() for p in spec.split(",")))


SONGS = (
    Song(
        name="song1_ballad_72bpm",
        seed=101,
        bpm=72,
        tonic=57,
        scale=MINOR,
        style="ballad",
        progs={"verse": (0, 5, 2, 6), "chorus": (5, 2, 6, 0), "bridge": (3, 4, 0, 4)},
        programs={"keys": 0, "pad": 48, "bass": 32, "lead": 53, "solo": 73},
        sections=_sections(
            "intro 4, verse 8, build 2, chorus 8, break 4, verse 8, build 2, "
            "chorus 8, solo 4, bridge 4, acappella 2, chorus 8, outro 4"
        ),
        vocal_db=-2.0,
    ),
    Song(
        name="song2_hiphop_90bpm",
        seed=202,
        bpm=90,
        tonic=62,
        scale=MINOR,
        style="hiphop",
        progs={"verse": (0, 0, 5, 4), "chorus": (5, 6, 0, 0), "bridge": (3, 3, 4, 4)},
        programs={"keys": 4, "pad": 89, "bass": 38, "lead": 52, "solo": 11},
        sections=_sections(
            "intro 8, verse 16, chorus 8, verse 16, chorus 8, break 4, bridge 8, "
            "acappella 2, chorus 8, outro 8"
        ),
        rap=True,
        vocal_db=-3.0,
    ),
    Song(
        name="song3_house_118bpm",
        seed=303,
        bpm=118,
        tonic=65,
        scale=MAJOR,
        style="house",
        progs={"verse": (5, 3, 0, 4), "chorus": (0, 4, 5, 3), "bridge": (1, 4, 2, 5)},
        programs={"keys": 16, "pad": 88, "bass": 39, "lead": 54, "solo": 81},
        sections=_sections(
            "intro 16, verse 16, build 8, chorus 16, break 8, build 4, verse 16, "
            "chorus 16, bridge 8, acappella 2, build 4, chorus 16, outro 12"
        ),
        vocal_db=-4.0,
    ),
    Song(
        name="song4_rock_148bpm",
        seed=404,
        bpm=148,
        tonic=64,
        scale=MINOR,
        style="rock",
        progs={"verse": (0, 5, 3, 6), "chorus": (2, 6, 5, 6), "bridge": (5, 6, 0, 4)},
        programs={"keys": 30, "pad": 49, "bass": 34, "lead": 85, "solo": 29},
        sections=_sections(
            "intro 8, verse 16, build 8, chorus 16, verse 16, build 8, chorus 16, "
            "solo 16, break 8, acappella 2, chorus 16, outro 8"
        ),
        vocal_db=-5.0,
    ),
)

#: Drum patterns on a 16-step bar: instrument -> steps (velocity follows from the instrument).
DRUM_PATTERNS = {
    "ballad": {KICK: (0, 10), SNARE: (4, 12), HAT: (0, 2, 4, 6, 8, 10, 12, 14)},
    "hiphop": {KICK: (0, 7, 10), SNARE: (4, 12), HAT: (0, 2, 4, 6, 8, 10, 11, 12, 14)},
    "house": {KICK: (0, 4, 8, 12), CLAP: (4, 12), HAT: (0, 4, 8, 12), OPEN_HAT: (2, 6, 10, 14)},
    "rock": {KICK: (0, 6, 8), SNARE: (4, 12), HAT: (0, 2, 4, 6, 8, 10, 12, 14)},
}
DRUM_VELOCITY = {KICK: 105, SNARE: 100, CLAP: 95, HAT: 70, OPEN_HAT: 65, RIDE: 70, CRASH: 100}
#: Bass: (step, length in steps) on a 16-step bar, on the chord's root.
BASS_PATTERNS = {
    "ballad": ((0, 8), (8, 6), (14, 2)),
    "hiphop": ((0, 6), (7, 3), (10, 5)),
    "house": ((2, 2), (6, 2), (10, 2), (14, 2)),
    "rock": tuple((s, 2) for s in range(0, 16, 2)),
}
#: Keys: (step, length) hits of the whole chord; "arp" cycles through the chord tones in 8ths.
KEYS_PATTERNS = {
    "ballad": "arp",
    "hiphop": ((0, 5), (6, 2), (10, 5)),
    "house": ((3, 1), (6, 2), (11, 1), (14, 2)),
    "rock": tuple((s, 2) for s in range(0, 16, 2)),
}
#: Melody rhythms: (start, length) in 8th notes of a bar.
RHYTHMS = (
    ((0, 2), (2, 1), (3, 1), (4, 3)),
    ((0, 1), (1, 1), (2, 2), (4, 2), (6, 2)),
    ((1, 1), (2, 1), (3, 1), (4, 4)),
    ((0, 3), (3, 1), (4, 2), (6, 1)),
    ((0, 2), (2, 2), (4, 4)),
    ((2, 2), (4, 2), (6, 2)),
    ((0, 1), (1, 1), (2, 1), (3, 1), (4, 2), (6, 2)),
)


def _pitch(song: Song, step: int, octave_shift: int = 0) -> int:
    """MIDI note of scale step ``step`` (0 = tonic in octave 4; may be negative or > 6)."""
    octave, degree = divmod(step, len(song.scale))
    return song.tonic + 12 * (octave + octave_shift) + song.scale[degree]


def _chord(degree: int) -> tuple[int, int, int]:
    """Scale steps of the triad on ``degree``."""
    return degree, degree + 2, degree + 4


def _melody(song: Song, rng: np.random.Generator, prog: tuple[int, ...], bars: int, *, rests):
    """A melody of ``bars`` bars: per bar a list of (start 8th, length 8ths, MIDI note).

    A random walk on the scale that lands on chord tones on the strong beats; bars in
    ``rests`` are silent (breaths between lines), and the last sung bar ends on a long note.
    """
    out = []
    step = 2
    for b in range(bars):
        if b in rests:
            out.append([])
            continue
        tones = _chord(prog[b % 4])
        rhythm = RHYTHMS[rng.integers(len(RHYTHMS))]
        if b + 1 in rests or b == bars - 1:
            rhythm = ((0, 2), (2, 2), (4, 4))
        notes = []
        for start, length in rhythm:
            step += int(rng.choice((-2, -1, -1, 0, 1, 1, 2)))
            if start % 4 == 0:  # strong beat: nearest chord tone
                candidates = [t + 7 * k for t in tones for k in (-1, 0, 1)]
                step = min(candidates, key=lambda c: (abs(c - step), c))
            step = int(np.clip(step, -2, 9))
            notes.append((start, length, _pitch(song, step)))
        out.append(notes)
    return out


def _compose(song: Song):
    """The accompaniment and vocals MIDI of a song, the section times and the lead's notes."""
    rng = np.random.default_rng(song.seed)
    tick_s = 60.0 / song.bpm / PPQ  # seconds per tick
    acc, voc = Midi(song.bpm), Midi(song.bpm)
    ch = {"keys": 0, "pad": 1, "bass": 2, "solo": 3, "riser": 4, "sweep": 5, "lead": 0}
    for part in ("keys", "pad", "bass", "solo"):
        acc.program(ch[part], song.programs[part])
    acc.program(ch["riser"], 81)  # Lead 2 (sawtooth): the riser's rising tone
    acc.program(ch["sweep"], 119)  # Reverse Cymbal
    acc.bend_range(ch["riser"], 12)
    for part, pan in (("keys", 44), ("pad", 84), ("bass", 64), ("solo", 76)):
        acc.cc(ch[part], 0, 10, pan)
    voc.program(ch["lead"], song.programs["lead"])
    voc.cc(ch["lead"], 0, 10, 64)
    melodies = {
        "verse": _melody(song, rng, song.progs["verse"], 8, rests={3, 7}),
        "pre": _melody(song, rng, song.progs["chorus"], 4, rests={3}),
        "chorus": _melody(song, rng, song.progs["chorus"], 8, rests=set()),
        "bridge": _melody(song, rng, song.progs["bridge"], 8, rests={7}),
    }
    solo = _melody(song, rng, song.progs["verse"], 8, rests=set())
    timeline = []  # (name, start s, end s)
    lead_spans = []  # (start s, end s) of each sung note
    rap_slots = []  # (start tick, end tick) of verse bars for the spoken verses
    tick = 0
    for index, section in enumerate(song.sections):
        kind = KINDS[section.kind]
        prog = song.progs[kind["prog"]]
        nxt = song.sections[index + 1] if index + 1 < len(song.sections) else None
        start = tick
        for b in range(section.bars):
            bar_tick = tick + b * BAR
            degree = prog[b % 4]
            tones = [_pitch(song, s) for s in _chord(degree)]
            root = _pitch(song, degree, -2)
            last = b == section.bars - 1
            # Drums.
            pattern = DRUM_PATTERNS[song.style]
            drums = kind["drums"]
            fill = last and drums == "full" and nxt is not None and nxt.kind != section.kind
            if drums in ("full", "light"):
                for inst, steps in pattern.items():
                    if drums == "light" and inst not in (HAT, OPEN_HAT, KICK):
                        continue
                    if drums == "light" and inst == KICK and b % 2:
                        continue
                    for s in steps:
                        if fill and s >= 8:
                            continue
                        vel = DRUM_VELOCITY[inst] - (25 if drums == "light" else 0)
                        vel += int(rng.integers(-6, 7))
                        acc.note(DRUMS, bar_tick + s * PPQ // 4, PPQ // 4, inst, vel)
                if b == 0 and drums == "full" and section.kind in ("chorus", "solo", "outro"):
                    acc.note(DRUMS, bar_tick, PPQ, CRASH, DRUM_VELOCITY[CRASH])
                if fill:
                    for k, tom in enumerate(TOMS):
                        vel = 85 + 3 * k + int(rng.integers(-5, 6))
                        acc.note(DRUMS, bar_tick + (8 + k) * PPQ // 4, PPQ // 4, tom, vel)
            elif drums == "build":
                per_bar = (4, 8, 16)[min(2, 3 * b // section.bars)] if section.bars > 1 else 16
                for k in range(per_bar):
                    t = bar_tick + k * BAR // per_bar
                    vel = 50 + int(60 * (b * per_bar + k) / (section.bars * per_bar))
                    acc.note(DRUMS, t, BAR // per_bar // 2, SNARE, vel)
                for q in range(4):
                    acc.note(DRUMS, bar_tick + q * PPQ, PPQ // 4, KICK, 95)
            # Bass.
            if kind["bass"]:
                if drums is None:
                    acc.note(ch["bass"], bar_tick, BAR - PPQ // 8, root, 85)
                else:
                    for s, length in BASS_PATTERNS[song.style]:
                        vel = 92 + int(rng.integers(-5, 6))
                        t, dur = bar_tick + s * PPQ // 4, length * PPQ // 4 - 20
                        acc.note(ch["bass"], t, dur, root, vel)
            # Keys.
            if kind["keys"]:
                keys = KEYS_PATTERNS[song.style]
                voicing = tones if song.style != "rock" else [root + 12, root + 19, root + 24]
                if keys == "arp":
                    low = [t - 12 for t in tones]
                    arp = [low[0], low[1], low[2], tones[0], low[2], low[1], tones[0], tones[1]]
                    for k, pitch in enumerate(arp):
                        vel = 62 + int(rng.integers(-6, 7))
                        acc.note(ch["keys"], bar_tick + k * PPQ // 2, PPQ // 2, pitch, vel)
                else:
                    for s, length in keys:
                        vel = 78 + int(rng.integers(-6, 7))
                        t, dur = bar_tick + s * PPQ // 4, length * PPQ // 4 - 15
                        for pitch in voicing:
                            acc.note(ch["keys"], t, dur, pitch, vel)
            # Pad: sustained chord, a swell through builds.
            if kind["pad"]:
                for pitch in tones:
                    acc.note(ch["pad"], bar_tick, BAR - 10, pitch - 12, 58)
            if section.kind == "acappella":
                for pitch in tones:  # all but silent: a faint pad under the voice
                    acc.note(ch["pad"], bar_tick, BAR - 10, pitch - 12, 8)
            # Solo instrument (part of the accompaniment).
            if section.kind == "solo":
                for s8, length, pitch in solo[b % len(solo)]:
                    t, dur = bar_tick + s8 * PPQ // 2, length * PPQ // 2 - 20
                    acc.note(ch["solo"], t, dur, pitch, 96)
            # Lead (the vocals stem).
            name = kind["lead"]
            if name and song.rap and section.kind == "verse":
                rap_slots.append((bar_tick, bar_tick + BAR))
            elif name:
                melody = melodies[name]
                for s8, length, pitch in melody[b % len(melody)]:
                    t0 = bar_tick + s8 * PPQ // 2
                    dur = length * PPQ // 2 - 30
                    voc.note(ch["lead"], t0, dur, pitch, 92 + int(rng.integers(-5, 6)))
                    lead_spans.append((t0 * tick_s, (t0 + dur) * tick_s))
        tick += section.bars * BAR
        if kind["drums"] == "build":  # riser: a sawtooth bending up an octave, swelling
            acc.note(ch["riser"], start, tick - start, _pitch(song, 0, -1), 70)
            for k in range(64):
                t = start + (tick - start) * k // 64
                acc.bend(ch["riser"], t, int(8191 * k / 63))
                acc.cc(ch["riser"], t, 11, 30 + int(97 * k / 63))
                acc.cc(ch["pad"], t, 11, 70 + int(57 * k / 63))
            acc.bend(ch["riser"], tick, 0)
            acc.cc(ch["pad"], tick, 11, 100)
            sweep = round(2.0 / tick_s)  # the reverse cymbal peaks on the next downbeat
            acc.note(ch["sweep"], max(start, tick - sweep), min(sweep, tick - start), 60, 90)
        if section.kind == "outro":  # fade out over the outro
            for k in range(33):
                t = start + (tick - start) * k // 32
                for c in range(6):
                    acc.cc(c, t, 11, int(127 * (1 - k / 32)))
                acc.cc(DRUMS, t, 11, int(127 * (1 - k / 32)))
        timeline.append((section.kind, start * tick_s, tick * tick_s))
    rap_spans = [(a * tick_s, b * tick_s) for a, b in rap_slots]
    return acc, voc, timeline, lead_spans, rap_spans, tick * tick_s


# --------------------------------------------------------------------------------------------
# Rendering.


def _render_midi(midi: Midi, folder: Path, name: str, soundfont: Path, n: int) -> np.ndarray:
    """Render with FluidSynth to (2, n) float64 (cut or zero-padded to ``n`` samples)."""
    mid, wav = folder / f"{name}.mid", folder / f"{name}.wav"
    mid.write_bytes(midi.to_bytes())
    subprocess.run(
        ["fluidsynth", "-n", "-i", "-q", "-g", "0.5", "-r", str(SR), "-O", "float", "-T", "wav",
         "-F", str(wav), str(soundfont), str(mid)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    y, sr = sf.read(wav, dtype="float64", always_2d=True)
    assert sr == SR, sr
    out = np.zeros((2, n))
    m = min(n, len(y))
    out[:, :m] = y[:m].T
    return out


def _speak(text: str, *, voice: str, pitch: int, speed: int, folder: Path, tag: str) -> np.ndarray:
    """eSpeak NG speech at 44.1 kHz, mono float64, leading and trailing silence trimmed."""
    from scipy.signal import resample_poly

    wav = folder / f"{tag}.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(wav), text],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    y, sr = sf.read(wav, dtype="float64")
    y = resample_poly(y, SR, sr) if sr != SR else y
    loud = np.flatnonzero(np.abs(y) > 1e-3)
    return y[loud[0] : loud[-1] + 1] if loud.size else y


RAP_LINES = (
    "Woke up early with the city in my ears",
    "Counting every train that rolled across the years",
    "Paper on the table and a pencil in my hand",
    "Writing down the rhythm of a never ending band",
    "Streetlights humming on a frequency of gold",
    "Every little story that the pavement ever told",
    "Keep the loop running, let the measure come around",
    "Four bars later it returns to the same old sound",
    "Bass line walking while the snare is holding time",
    "Every single echo is a copy of a rhyme",
    "Step into the signal where the quiet voices hide",
    "Pull the pattern out and let the singer ride",
    "Midnight on the corner and the speakers start to glow",
    "Nothing ever changes but the way the numbers flow",
    "Repeat it, repeat it, till the background knows your name",
    "Then take away the music and the words are not the same",
)

PODCAST_LINES = (
    "Welcome back to the show, where we talk about the sound of everyday things.",
    "Today we are looking at how music is made from loops and repetition.",
    "It is a topic that comes up every time someone opens a drum machine.",
    "Thanks for having me, it is great to be here again.",
    "I started recording music on a cheap four track machine in my bedroom.",
    "Back then, every loop had to be played by hand, over and over.",
    "So what changed when computers took over the studio?",
    "Mostly, the patience required went down, and the options went up.",
    "You can copy a bar and paste it a hundred times in a second.",
    "And that is exactly why so many songs have a repeating background.",
    "The singer changes the melody, but the band plays the same pattern.",
    "Which is handy if you want to take the voice out of a recording.",
    "Right, because whatever repeats can be modelled, and what does not repeat stands out.",
    "Let us take a short break and listen to a little bit of music.",
    "Before we go on, a quick note about our listeners' questions.",
    "Many of you asked how long it takes to prepare one episode.",
    "Honestly, the editing takes longer than the recording itself.",
    "We cut the pauses, level the voices, and add the music underneath.",
    "The music gets quieter while we speak, so the words stay clear.",
    "Engineers call that ducking, like a duck diving under the water.",
    "Then it comes back up when nobody is talking.",
    "What is the one tool you could not work without?",
    "A good pair of headphones, without any doubt.",
    "You hear every click, every breath, and every mistake.",
    "And what would you tell someone who wants to start today?",
    "Record something every week, even if it is short and imperfect.",
    "Listen back the next day, with fresh ears, and write down what you hear.",
    "That is great advice, and it costs nothing at all.",
    "We are almost out of time for this episode.",
    "Thank you so much for joining us and sharing your stories.",
    "It was a pleasure, see you next time.",
    "And thanks to everyone listening, until next week, take care.",
)


def _place_rap(vocals: np.ndarray, slots, lines, folder: Path) -> list[tuple[float, float]]:
    """Speak the lines into ``vocals`` (2, n), each on the first free bar of the verse slots."""
    spans = []
    free_from = 0.0
    k = 0
    for start, end in slots:
        if start < free_from or end - start < 1.0:
            continue
        line = lines[k % len(lines)]
        y = _speak(line, voice="en-us+m7", pitch=38, speed=175, folder=folder, tag=f"rap{k}")
        k += 1
        i = round(start * SR)
        m = min(len(y), vocals.shape[1] - i)
        vocals[:, i : i + m] += y[:m]
        spans.append((start, start + m / SR))
        free_from = start + m / SR + 0.2
    return spans


def _span_power(y: np.ndarray, spans) -> float:
    """Mean power of ``y`` (channels, n) over the time spans (start s, end s)."""
    parts = [y[:, round(a * SR) : round(b * SR)] for a, b in spans]
    return float(np.mean(np.concatenate(parts, axis=-1) ** 2))


def _absent_share(spans, duration: float, *, bridge: float = 0.6) -> float:
    """Share of ``duration`` without the lead: gaps under ``bridge`` s (breaths) count as sung."""
    covered, end = 0.0, -np.inf
    for a, b in sorted(spans):
        if a - end <= bridge and covered:
            covered += max(0.0, b - end)
        else:
            covered += b - a
        end = max(end, b)
    return float(1 - covered / duration)


def _song(song: Song, folder: Path, soundfont: Path):
    acc_midi, voc_midi, timeline, lead_spans, rap_slots, seconds = _compose(song)
    n = round((seconds + 2.0) * SR)  # 2 s of release and reverb tail
    accompaniment = _render_midi(acc_midi, folder, "accompaniment", soundfont, n)
    vocals = _render_midi(voc_midi, folder, "vocals", soundfont, n)
    if song.rap:  # spoken verses at the level of the sung lead
        rap = np.zeros_like(vocals)
        rap_spans = _place_rap(rap, rap_slots, RAP_LINES, folder)
        vocals += rap * np.sqrt(_span_power(vocals, lead_spans) / _span_power(rap, rap_spans))
        lead_spans += rap_spans
    meta = {
        "kind": "song",
        "bpm": song.bpm,
        "bar_seconds": 240.0 / song.bpm,
        "four_bar_seconds": 960.0 / song.bpm,
        "sections": [{"kind": k, "start": round(a, 3), "end": round(b, 3)} for k, a, b in timeline],
        "vocals_absent_share": round(_absent_share(lead_spans, n / SR), 3),
    }
    return accompaniment, vocals, song.vocal_db, meta


# --------------------------------------------------------------------------------------------
# Podcast-style items: speech over a looping, ducked music bed.


@dataclass(frozen=True)
class Podcast:
    name: str
    seed: int
    bpm: float
    loop_bars: int
    voices: tuple[tuple[str, int, int], ...]  # (eSpeak voice, pitch 0-99, words per minute)
    lines: tuple[int, int]  # which of PODCAST_LINES, [start, stop)
    intro: float = 10.0  # seconds of music alone at the start and the end
    outro: float = 10.0
    duck_db: float = -11.0
    # "loop" (the set's items); variants for the speech-over-a-bed check (speech_bed.py
    # --beds): "chords", the same instruments with chords, bass and drums that never come
    # back; "free", chords at free times with no tempo and no drums; "noise", pink noise.
    bed: str = "loop"


PODCASTS = (
    Podcast(
        name="podcast1_two_voices_84bpm",
        seed=505,
        bpm=84,
        loop_bars=4,
        voices=(("en-us+m3", 22, 150), ("en-gb+f3", 58, 165)),
        lines=(0, 32),
    ),
    Podcast(
        name="podcast2_two_voices_100bpm",
        seed=606,
        bpm=100,
        loop_bars=2,
        voices=(("en+m1", 30, 160), ("en-us+f2", 55, 170)),
        lines=(6, 30),
        intro=8.0,
        outro=12.0,
        duck_db=-12.0,
    ),
)


#: Chords (semitones from the tonic) the beds that do not loop draw from.
BED_CHORDS = (
    (0, 4, 7), (-3, 0, 4), (-7, -3, 0), (-5, -1, 2), (2, 5, 9),
    (-1, 2, 5), (4, 7, 11), (-8, -5, -1), (1, 5, 8), (3, 7, 10),
)  # fmt: skip


def _bed_midi(item: Podcast, bars: int) -> Midi:
    """The bed's music for ``bars`` bars (see :attr:`Podcast.bed`)."""
    if item.bed == "chords":
        return _chords_bed_midi(item, bars)
    if item.bed == "free":
        return _free_bed_midi(item, bars)
    return _loop_bed_midi(item, bars)


def _chords_bed_midi(item: Podcast, bars: int) -> Midi:
    """The loop's instruments on its tempo grid, every bar drawn afresh: chord, rhythm, drums."""
    rng = np.random.default_rng(item.seed + 1)
    midi = Midi(item.bpm)
    midi.program(0, 4)
    midi.program(1, 33)
    midi.program(2, 24 if item.loop_bars == 2 else 89)
    tonic = 60 if item.loop_bars == 4 else 62
    step = PPQ // 4  # a sixteenth
    for b in range(bars):
        t = b * BAR
        chord = [tonic + x for x in BED_CHORDS[int(rng.integers(len(BED_CHORDS)))]]
        for _ in range(int(rng.integers(1, 4))):
            s, length = int(rng.integers(0, 14)), int(rng.integers(2, 8))
            for pitch in chord:
                midi.note(0, t + s * step, length * step, pitch, 60)
        for _ in range(int(rng.integers(1, 4))):
            s = int(rng.integers(0, 14))
            midi.note(1, t + s * step, 4 * step, chord[int(rng.integers(3))] - 24, 78)
        if item.loop_bars == 2:
            for k in range(8):
                if rng.random() < 0.7:
                    pitch = chord[int(rng.integers(3))] + 12
                    midi.note(2, t + k * PPQ // 2, PPQ // 2, pitch, 50)
        else:
            for pitch in chord:
                midi.note(2, t, BAR - 10, pitch - 12, 40)
        for s in range(16):
            r = rng.random()
            if r < 0.15:
                midi.note(DRUMS, t + s * step, step, KICK, 80)
            elif r < 0.25:
                midi.note(DRUMS, t + s * step, step, 37, 70)
            elif r < 0.6:
                midi.note(DRUMS, t + s * step, step, 70, 45)
    return midi


def _free_bed_midi(item: Podcast, bars: int) -> Midi:
    """Chords held 0.8 to 4 beats and piano notes of free lengths: no tempo grid, no drums."""
    rng = np.random.default_rng(item.seed + 2)
    midi = Midi(item.bpm)
    midi.program(0, 0)  # Acoustic Grand Piano
    midi.program(1, 32)  # Acoustic Bass
    midi.program(2, 89)  # Warm pad
    t, end = 0, bars * BAR
    while t < end:
        length = int(rng.uniform(0.8, 4.0) * PPQ)
        chord = [60 + x for x in BED_CHORDS[int(rng.integers(len(BED_CHORDS)))]]
        for pitch in chord:
            midi.note(2, t, length, pitch - 12, 45)
        midi.note(1, t, length, chord[0] - 24, 70)
        u = t
        while u < t + length:
            note = int(rng.uniform(0.15, 0.9) * PPQ)
            pitch = chord[int(rng.integers(3))] + 12 * int(rng.integers(0, 2))
            midi.note(0, u, note, pitch, int(rng.integers(40, 80)))
            u += note
        t += length
    return midi


def _pink_noise(n: int, seed: int) -> np.ndarray:
    """Stereo pink noise (power falling as 1/f), shape (2, n), peak 0.3."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal((2, n)))
    f = np.arange(spectrum.shape[-1], dtype=np.float64)
    f[0] = 1.0
    y = np.fft.irfft(spectrum / np.sqrt(f), n=n)
    return y * (0.3 / np.abs(y).max())


def _loop_bed_midi(item: Podcast, bars: int) -> Midi:
    """A few bars of soft music (electric piano, bass, drums) looped for ``bars`` bars."""
    rng = np.random.default_rng(item.seed)
    midi = Midi(item.bpm)
    midi.program(0, 4)  # Electric Piano 1
    midi.program(1, 33)  # Electric Bass (finger)
    midi.program(2, 24 if item.loop_bars == 2 else 89)  # nylon guitar or warm pad
    tonic = 60 if item.loop_bars == 4 else 62
    prog = ((0, 4, 7), (-3, 0, 4), (-7, -3, 0), (-5, -1, 2))[: item.loop_bars]
    hits = [(int(rng.integers(0, 3)) * 2, 6), (8 + int(rng.integers(0, 2)) * 2, 6)]
    for b in range(bars):
        t = b * BAR
        chord = [tonic + x for x in prog[b % item.loop_bars]]
        for s, length in hits:
            for pitch in chord:
                midi.note(0, t + s * PPQ // 4, length * PPQ // 4, pitch, 60)
        midi.note(1, t, 6 * PPQ // 4, chord[0] - 24, 80)
        midi.note(1, t + 8 * PPQ // 4, 6 * PPQ // 4, chord[0] - 24, 74)
        if item.loop_bars == 2:
            for k in range(8):
                midi.note(2, t + k * PPQ // 2, PPQ // 2, chord[k % 3] + 12, 50)
        else:
            for pitch in chord:
                midi.note(2, t, BAR - 10, pitch - 12, 40)
        for s in (0, 10):
            midi.note(DRUMS, t + s * PPQ // 4, PPQ // 4, KICK, 80)
        for s in (4, 12):
            midi.note(DRUMS, t + s * PPQ // 4, PPQ // 4, 37, 70)  # side stick
        for s in range(0, 16, 2):
            midi.note(DRUMS, t + s * PPQ // 4, PPQ // 4, 70, 45)  # maracas
    return midi


def _podcast(item: Podcast, folder: Path, soundfont: Path):
    rng = np.random.default_rng(item.seed)
    # Speech: turns of one to three sentences, alternating voices, with pauses.
    clips, k, speaker = [], 0, 0
    lines = PODCAST_LINES[item.lines[0] : item.lines[1]]
    while k < len(lines):
        voice, pitch, speed = item.voices[speaker]
        for _ in range(int(rng.integers(1, 4))):
            if k >= len(lines):
                break
            y = _speak(lines[k], voice=voice, pitch=pitch, speed=speed, folder=folder, tag=f"s{k}")
            clips.append((y, float(rng.uniform(0.35, 0.8))))
            k += 1
        clips[-1] = (clips[-1][0], float(rng.uniform(0.8, 1.6)))  # longer pause at a turn
        if rng.random() < 0.15:  # now and then a long pause: the bed comes back up
            clips[-1] = (clips[-1][0], float(rng.uniform(3.5, 5.0)))
        speaker = 1 - speaker
    speech_len = sum(len(y) + round(p * SR) for y, p in clips)
    total = item.intro + speech_len / SR + item.outro
    bar = 240.0 / item.bpm
    bars = int(np.ceil(total / bar))
    n = round(total * SR)
    if item.bed == "noise":
        bed = _pink_noise(n, item.seed)
    else:
        bed = _render_midi(_bed_midi(item, bars + 1), folder, "bed", soundfont, n)
    speech = np.zeros(n)
    spans = []
    i = round(item.intro * SR)
    for y, pause in clips:
        speech[i : i + len(y)] = y
        spans.append((i / SR, (i + len(y)) / SR))
        i += len(y) + round(pause * SR)
    # Ducking: the bed goes down while anyone speaks (0.3 s attack before the voice), holds
    # through pauses under 2.5 s, and comes back up over 1 s.
    duck = np.ones(n)
    low = 10 ** (item.duck_db / 20)
    merged = []
    for a, b in spans:
        if merged and a - merged[-1][1] < 2.5:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    t = np.arange(n) / SR
    for a, b in merged:
        down = np.clip((t - (a - 0.3)) / 0.3, 0, 1)
        up = np.clip(1 - (t - (b + 0.2)) / 1.0, 0, 1)
        duck = np.minimum(duck, 1 - (1 - low) * np.minimum(down, up))
    fade = np.clip((total - t) / 3.0, 0, 1)  # the bed fades out over the last 3 s
    accompaniment = bed * (duck * fade)
    # Speech in the middle of the stereo image, at the bed's full level.
    bed_rms = np.sqrt(np.mean(bed[:, : round(item.intro * SR)] ** 2))
    speech_rms = np.sqrt(np.mean(np.concatenate([y for y, _ in clips]) ** 2))
    vocals = np.stack([speech, speech]) * (bed_rms / speech_rms)
    meta = {
        "kind": "podcast",
        "bpm": item.bpm,
        "loop_seconds": item.loop_bars * bar,
        "duck_db": item.duck_db,
        "speech": [{"start": round(a, 3), "end": round(b, 3)} for a, b in spans],
        "vocals_absent_share": round(_absent_share(spans, total), 3),
    }
    return accompaniment, vocals, None, meta


# --------------------------------------------------------------------------------------------
# The set.

ITEMS = tuple(s.name for s in SONGS) + tuple(p.name for p in PODCASTS)


def missing_tools(soundfont: Path = SOUNDFONT) -> list[str]:
    """What is missing to generate the set (empty when everything is there)."""
    missing = [tool for tool in ("fluidsynth", "espeak-ng") if shutil.which(tool) is None]
    if not soundfont.is_file():
        missing.append(str(soundfont))
    return missing


#: The podcast-style items again over beds that do not loop (``speech_bed.py --beds``).
BED_VARIANTS = tuple(
    replace(p, name=f"{p.name}_{bed}", bed=bed)
    for p in PODCASTS
    for bed in ("chords", "free", "noise")
)
BEDS_CACHE = ROOT / "benchmarks" / "cache" / "speech_beds"


def _stamp(specs) -> str:
    return json.dumps({"generator": GENERATOR_VERSION, "items": [s.name for s in specs]})


def is_current(out: Path = CACHE, specs=SONGS + PODCASTS) -> bool:
    """True if ``out`` holds every item of ``specs`` of this generator version."""
    stamp = out / "VERSION"
    if not stamp.is_file() or stamp.read_text() != _stamp(specs):
        return False
    return all((out / s.name / f).is_file() for s in specs for f in STEM_FILES)


def _build(spec, out: Path, soundfont: Path) -> tuple[str, float, dict]:
    from scipy.io import wavfile

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f".{spec.name}-", dir=out) as tmp:
        work = Path(tmp)
        make = _song if isinstance(spec, Song) else _podcast
        accompaniment, vocals, vocal_db, meta = make(spec, work, soundfont)
        if vocal_db is not None:  # set the vocals' level against the accompaniment
            ratio = np.sqrt(np.mean(vocals**2) / np.mean(accompaniment**2))
            vocals = vocals * (10 ** (vocal_db / 20) / ratio)
        peak = np.max(np.abs(accompaniment + vocals))
        gain = 0.89 / peak  # mixture peaks at -1 dBFS
        acc32 = (accompaniment * gain).astype(np.float32)
        voc32 = (vocals * gain).astype(np.float32)
        mix32 = acc32 + voc32  # exact: the mixture is the float32 sum of the two stems
        final = work / "item"
        final.mkdir()
        for name, y in (("mixture", mix32), ("accompaniment", acc32), ("vocals", voc32)):
            # scipy writes no PEAK chunk (libsndfile's holds a time stamp): same bytes each run
            wavfile.write(final / f"{name}.wav", SR, np.ascontiguousarray(y.T))
        meta.update(
            name=spec.name,
            seconds=round(acc32.shape[1] / SR, 3),
            vocals_vs_accompaniment_db=round(
                float(10 * np.log10(np.mean(voc32.astype(np.float64) ** 2)
                                    / np.mean(acc32.astype(np.float64) ** 2))), 2),
            generator_version=GENERATOR_VERSION,
        )  # fmt: skip
        (final / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        target = out / spec.name
        if target.exists():
            shutil.rmtree(target)
        os.replace(final, target)
    return spec.name, time.perf_counter() - start, meta


def generate(
    out: Path = CACHE,
    *,
    force: bool = False,
    jobs: int = 2,
    soundfont: Path = SOUNDFONT,
    log=print,
    specs=SONGS + PODCASTS,
) -> list[Path] | None:
    """Build the set in ``out`` unless it is current; the item folders, or None if tools lack."""
    if not force and is_current(out, specs):
        return [out / s.name for s in specs]
    missing = missing_tools(soundfont)
    if missing:
        log(
            f"synthetic set skipped: {', '.join(missing)} not found; install with "
            f"`apt-get install {APT_PACKAGES}` (Debian/Ubuntu)"
        )
        return None
    out.mkdir(parents=True, exist_ok=True)
    (out / "VERSION").unlink(missing_ok=True)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for name, seconds, meta in pool.map(lambda spec: _build(spec, out, soundfont), specs):
            log(
                f"  {name}: {meta['seconds']:.0f} s of audio, vocals silent "
                f"{100 * meta['vocals_absent_share']:.0f} % of the time, "
                f"vocals/accompaniment {meta['vocals_vs_accompaniment_db']:+.1f} dB "
                f"(built in {seconds:.1f} s)"
            )
    (out / "VERSION").write_text(_stamp(specs))
    log(f"synthetic set written to {out} in {time.perf_counter() - start:.0f} s")
    return [out / s.name for s in specs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CACHE, help="folder of the set")
    parser.add_argument("--force", action="store_true", help="rebuild even if current")
    parser.add_argument("--jobs", type=int, default=2, help="items built at once")
    parser.add_argument("--soundfont", type=Path, default=SOUNDFONT, help="General MIDI .sf2")
    args = parser.parse_args()
    if not args.force and is_current(args.out):
        print(f"synthetic set is current (version {GENERATOR_VERSION}) in {args.out}")
        return 0
    folders = generate(args.out, force=args.force, jobs=args.jobs, soundfont=args.soundfont)
    return 0 if folders is not None else 1


if __name__ == "__main__":
    sys.exit(main())
