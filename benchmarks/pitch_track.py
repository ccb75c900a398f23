"""How well the voice model's tracker follows the lead, and what a better one would be worth.

For every item of a set (``clips``, ``fullsongs`` or ``synthetic``, as benchmarks/quality.py
finds them) the defaults separate the mixture (as ``make bench-quality`` does) while the
track the voice model follows is kept (the voice pass's lead, after the checks that unvoice the
band's contours); the **reference** is the same tracker run on the clean vocal stem
alone (voiced where the vocal stem has a pitched voice; its own errors are small there, but it
is not a hand annotation). Printed per item, one JSON line:

- ``rpa``: raw pitch accuracy, the share of the reference's voiced frames tracked within 50
  cents (an unvoiced estimate counts as wrong); ``octave``: the share an octave off;
- ``vr`` / ``vfa``: voicing recall, and false alarms (frames voiced where the reference is not);
- with ``--oracle``, the whole-item SDR bg / fg (and the background's SI-SDR) of the
  separation when the tracker's output is replaced: ``oracle`` (the reference track),
  ``oracle voicing`` (the tracked pitch, voiced only where the reference is), ``oracle
  pitch`` (the tracker's voicing, the reference's pitch where both are voiced), beside
  ``tracked`` (the defaults); and where the tracker's false alarms lie: ``oracle sections``
  (the tracked pitch, unvoiced in the stretches of :data:`SECTION` seconds or more where the
  reference never sings: intros, solos, breaks) and ``oracle phrases`` (unvoiced in the
  shorter gaps between sung phrases); and ``oracle recall`` (the tracker's output, with the
  reference's pitch in the sung frames it leaves unvoiced); ``oracle while singing`` (the
  reference track, but the tracked pitch in the stretches of :data:`SECTION` seconds or more
  without singing: a perfect tracker that still keeps a solo instrument's lead in those
  stretches, as the foreground's definition asks). ``--ways`` runs only the ones named.

    python benchmarks/pitch_track.py fullsongs            # accuracy only (about 1 min a song)
    python benchmarks/pitch_track.py fullsongs --oracle   # and the headroom (7 more runs each)

(docs/quality.md, "The voice model", gives what it printed.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402

from repet_cli import RepetParams, pitch, spectral, stages  # noqa: E402

#: Cents within which a tracked pitch counts as right (MIREX's melody extraction tolerance).
TOLERANCE = 50.0
#: Seconds without singing from which a gap is a section of its own (an intro, a solo, a
#: break) rather than a pause between phrases.
SECTION = 10.0


def reference_track(voice: np.ndarray, band: np.ndarray, sr: int) -> np.ndarray:
    """The tracker on the clean vocal stem: f0 per STFT frame of the defaults, 0 unvoiced."""
    n_fft, hop = RepetParams().stft_sizes(sr)
    V = np.abs(spectral.stft(voice, n_fft=n_fft, hop=hop)).mean(axis=0)
    B = np.abs(spectral.stft(band, n_fft=n_fft, hop=hop)).mean(axis=0)
    frequencies = spectral.frequencies(sr=sr, n_fft=n_fft)
    energy = np.einsum("ft,ft->t", V, V)
    total = energy + np.einsum("ft,ft->t", B, B)
    S = pitch.salience(V, frequencies=frequencies)
    return pitch.track(S, energy=energy, mixture_energy=total).f0


def accuracy(estimate: np.ndarray, reference: np.ndarray) -> dict:
    """Raw pitch accuracy, octave errors, voicing recall and false alarms (see the module)."""
    n = min(len(estimate), len(reference))
    est, ref = np.asarray(estimate[:n]), np.asarray(reference[:n])
    sung, voiced = ref > 0, est > 0
    both = sung & voiced
    cents = np.full(n, np.inf)
    cents[both] = np.abs(1200 * np.log2(est[both] / ref[both]))

    def share(mask, of):
        return round(float(np.mean(mask[of])), 3) if of.any() else None

    return {
        "sung": round(float(np.mean(sung)), 3),
        "rpa": share(cents <= TOLERANCE, sung),
        "octave": share(np.abs(cents - 1200) <= TOLERANCE, sung),
        "vr": share(voiced, sung),
        "vfa": share(voiced, ~sung),
    }


def unsung_stretches(sung: np.ndarray) -> np.ndarray:
    """Per frame, how many frames long the stretch without singing it lies in (0 where sung)."""
    from scipy.ndimage import label

    stretch, _ = label(~np.asarray(sung, dtype=bool))
    return np.where(stretch > 0, np.bincount(stretch)[stretch], 0)


def replaced(
    tracked: np.ndarray, reference: np.ndarray, how: str, *, frames_per_second: float
) -> np.ndarray:
    """The track the separation is given instead of the tracked one (see the module); the
    frame rate places the sections."""
    ref = np.zeros(len(tracked))
    ref[: min(len(ref), len(reference))] = reference[: len(ref)]
    if how in ("oracle sections", "oracle phrases"):
        gap = unsung_stretches(ref > 0) / frames_per_second
        off = gap >= SECTION if how == "oracle sections" else (gap > 0) & (gap < SECTION)
        return np.where(off, 0.0, tracked)
    if how == "oracle":
        return ref
    if how == "oracle while singing":
        gap = unsung_stretches(ref > 0) / frames_per_second
        return np.where(gap >= SECTION, tracked, ref)
    if how == "oracle voicing":
        return np.where(ref > 0, tracked, 0.0)
    if how == "oracle pitch":
        return np.where(tracked > 0, np.where(ref > 0, ref, tracked), 0.0)
    if how == "oracle recall":
        return np.where((tracked == 0) & (ref > 0), ref, tracked)
    return tracked


def separated(mixture, truth, sr, *, reference=None, how="tracked"):
    """Scores of the defaults, the tracker's output replaced as ``how`` says; and the track
    the voice model followed: the voice pass's lead, after the checks that unvoice the band's
    contours (spread over the stereo field, an instrument's steady timbre), which judge a
    replaced track too."""
    real, real_pass = pitch.track, stages.voice_pass
    kept = {}
    rate = sr / RepetParams().stft_sizes(sr)[1]

    def tracking(S, **kwargs):
        found = real(S, **kwargs)
        f0 = found.f0
        if reference is not None:
            f0 = replaced(f0, reference, how, frames_per_second=rate)
        return pitch.Track(f0=f0, voiced=f0 > 0, strength=found.strength)

    def voice_pass(*args, **kwargs):
        found = real_pass(*args, **kwargs)
        if found.lead is not None:
            kept["f0"] = found.lead.f0
        return found

    pitch.track, stages.voice_pass = tracking, voice_pass
    try:
        bg, fg, _ = quality.run_method(mixture, sr, RepetParams(), quality.SEGMENT)
    finally:
        pitch.track, stages.voice_pass = real, real_pass
    scores = quality.score(truth, {"background": bg, "foreground": fg})
    return scores, kept.get("f0")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("set", choices=quality.SETS)
    parser.add_argument("--oracle", action="store_true", help="also the oracle separations")
    parser.add_argument(
        "--ways",
        type=lambda s: [w.strip() for w in s.split(",") if w.strip()],
        help="with --oracle: only these replacements, comma-separated (e.g. 'oracle,oracle pitch')",
    )
    args = parser.parse_args()
    ways = ("tracked", "oracle", "oracle voicing", "oracle pitch")
    ways += ("oracle sections", "oracle phrases", "oracle recall", "oracle while singing")
    if args.ways:
        unknown = sorted(set(args.ways) - set(ways))
        if unknown:
            parser.error(f"unknown --ways {', '.join(unknown)}; choose from {', '.join(ways)}")
        if not args.oracle:
            parser.error("--ways chooses among the oracle separations: add --oracle")
        ways = ("tracked", *args.ways)
    items = quality.find_items(args.set, clips_dir=quality.SHARED / "eval")
    if items is None:
        return 0
    for name, folder in items:
        mixture, truth, sr = quality.LOADERS[args.set](folder)
        reference = reference_track(truth["foreground"], truth["background"], sr)
        scores, tracked = separated(mixture, truth, sr)
        line = {"item": name, **accuracy(tracked, reference)}
        if args.oracle:
            for how in ways:
                if how != "tracked":
                    scores, _ = separated(mixture, truth, sr, reference=reference, how=how)
                line[how] = [round(scores[s]["sdr"], 2) for s in ("background", "foreground")]
                line[how].append(round(scores["background"]["si_sdr"], 2))
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
