#!/usr/bin/env python3
"""Measure nussl's REPET-family separators on a folder of evaluation tracks.

Peer measurement for the benchmark: runs nussl 1.1.9's primitive separators
with their default settings

    nussl.separation.primitive.Repet     (REPET)
    nussl.separation.primitive.RepetSim  (REPET-SIM)
    nussl.separation.primitive.FT2D      (2DFT)

on every track folder of EVAL_DIR (each holding mixture.wav, vocals.wav and
accompaniment.wav, with mixture = vocals + accompaniment), and scores the
estimates against background = accompaniment.wav, foreground = vocals.wav.
A "mixture" row (both stems estimated by the unprocessed mixture) is scored
too, as a sanity floor.

Metrics, for background and foreground separately:
  * BSS Eval (mir_eval.separation.bss_eval_sources) computed PER CHANNEL:
    for channel c, bss_eval_sources([ref_bg[c], ref_fg[c]],
    [est_bg[c], est_fg[c]], compute_permutation=False); SDR, SIR and SAR are
    then averaged over the channels.
  * SI-SDR (Le Roux et al., 2019) per channel, averaged over the channels:
    alpha = <s, s_hat> / ||s||^2,
    SI-SDR = 10 log10(||alpha s||^2 / ||s_hat - alpha s||^2).

nussl's mask separators return [background, foreground]; the script checks
this on every track by correlating both estimates with both references: the
order counts as confirmed when corr(est0, accompaniment) + corr(est1, vocals)
exceeds the swapped sum ("estimate0_is_background").

Usage:
    python measure_nussl.py EVAL_DIR OUTPUT_JSON [--algorithms Repet RepetSim FT2D]

nussl imports musdb -> stempeg, which refuses to import unless `ffmpeg` and
`ffprobe` are on PATH; neither is used by these separators.
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import soundfile as sf

METRIC_DESCRIPTION = (
    "mir_eval bss_eval_sources per channel, averaged over channels; SI-SDR per channel averaged"
)
STEMS = ("background", "foreground")
METRICS = ("sdr", "sir", "sar", "si_sdr")


def load_wav(path):
    """Return (channels, samples) float64 audio and the sample rate."""
    data, sr = sf.read(path, dtype="float64", always_2d=True)
    return data.T, sr


def fit_length(audio, length):
    """Trim or zero-pad (channels, samples) audio to `length` samples."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.shape[1] >= length:
        return audio[:, :length]
    return np.pad(audio, ((0, 0), (0, length - audio.shape[1])))


def si_sdr(reference, estimate):
    """Scale-invariant SDR in dB for one channel (Le Roux et al., 2019)."""
    alpha = np.dot(reference, estimate) / np.dot(reference, reference)
    target = alpha * reference
    noise = estimate - target
    return float(10 * np.log10(np.sum(target**2) / np.sum(noise**2)))


def score(ref_bg, ref_fg, est_bg, est_fg):
    """Per-channel BSS Eval + SI-SDR, averaged over channels.

    All inputs are (channels, samples) arrays of equal shape.
    Returns {"background": {metric: value}, "foreground": {...}}.
    """
    from mir_eval.separation import bss_eval_sources

    per_channel = {stem: {m: [] for m in METRICS} for stem in STEMS}
    for c in range(ref_bg.shape[0]):
        refs = np.stack([ref_bg[c], ref_fg[c]])
        ests = np.stack([est_bg[c], est_fg[c]])
        sdr, sir, sar, _ = bss_eval_sources(refs, ests, compute_permutation=False)
        for i, stem in enumerate(STEMS):
            per_channel[stem]["sdr"].append(float(sdr[i]))
            per_channel[stem]["sir"].append(float(sir[i]))
            per_channel[stem]["sar"].append(float(sar[i]))
            per_channel[stem]["si_sdr"].append(si_sdr(refs[i], ests[i]))
    return {
        stem: {m: float(np.mean(v)) for m, v in metrics.items()}
        for stem, metrics in per_channel.items()
    }


def correlation(a, b):
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


def run_nussl(name, mixture_path, length):
    """Run a nussl separator with default settings on a file.

    Returns (estimates, seconds) where estimates is the list of
    (channels, samples) arrays in nussl's output order.
    """
    import nussl
    from nussl.separation import primitive

    signal = nussl.AudioSignal(mixture_path)
    start = time.perf_counter()
    separator = getattr(primitive, name)(signal)
    estimates = separator()
    seconds = time.perf_counter() - start
    return [fit_length(e.audio_data, length) for e in estimates], seconds


def summarize(tracks):
    """Mean and median over tracks of each stem's metrics."""
    out = {"mean": {}, "median": {}}
    for stem in STEMS:
        for stat, fn in (("mean", np.mean), ("median", np.median)):
            out[stat][stem] = {m: float(fn([t[stem][m] for t in tracks.values()])) for m in METRICS}
    return out


def library_versions():
    import importlib.metadata as md

    versions = {"python": sys.version.split()[0]}
    for pkg in ("nussl", "numpy", "scipy", "librosa", "mir_eval", "torch", "soundfile"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return versions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("eval_dir", help="folder of track folders")
    parser.add_argument("output", help="path of the JSON file to write")
    parser.add_argument(
        "--algorithms",
        nargs="+",
        default=["Repet", "RepetSim", "FT2D"],
        help="nussl.separation.primitive class names",
    )
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore")
    slugs = sorted(
        d
        for d in os.listdir(args.eval_dir)
        if os.path.isfile(os.path.join(args.eval_dir, d, "mixture.wav"))
    )
    if not slugs:
        parser.error(f"no track folders with mixture.wav in {args.eval_dir}")

    versions = library_versions()

    # Warm-up (not recorded): the first call pays one-off costs such as
    # imports and numba/librosa JIT compilation, which would otherwise be
    # charged to the first track's wall time.
    first = os.path.join(args.eval_dir, slugs[0], "mixture.wav")
    for name in args.algorithms:
        run_nussl(name, first, 1)
    algorithms = {f"nussl {a}": {"tracks": {}} for a in args.algorithms}
    algorithms["mixture"] = {"tracks": {}}

    for slug in slugs:
        folder = os.path.join(args.eval_dir, slug)
        mixture, sr = load_wav(os.path.join(folder, "mixture.wav"))
        ref_bg, _ = load_wav(os.path.join(folder, "accompaniment.wav"))
        ref_fg, _ = load_wav(os.path.join(folder, "vocals.wav"))
        length = ref_bg.shape[1]

        result = score(ref_bg, ref_fg, fit_length(mixture, length), fit_length(mixture, length))
        algorithms["mixture"]["tracks"][slug] = result
        print(
            f"{slug:40s} mixture  bg SDR {result['background']['sdr']:6.2f}"
            f"  fg SDR {result['foreground']['sdr']:6.2f}",
            flush=True,
        )

        for name in args.algorithms:
            estimates, seconds = run_nussl(name, os.path.join(folder, "mixture.wav"), length)
            est_bg, est_fg = estimates[0], estimates[1]
            corr = {
                "est0_vs_accompaniment": correlation(est_bg, ref_bg),
                "est0_vs_vocals": correlation(est_bg, ref_fg),
                "est1_vs_accompaniment": correlation(est_fg, ref_bg),
                "est1_vs_vocals": correlation(est_fg, ref_fg),
            }
            result = score(ref_bg, ref_fg, est_bg, est_fg)
            result["wall_time_s"] = seconds
            result["num_estimates"] = len(estimates)
            # Estimate 0 is the background if the assignment
            # (0 -> accompaniment, 1 -> vocals) correlates better than the
            # swapped one.
            result["estimate0_is_background"] = (
                corr["est0_vs_accompaniment"] + corr["est1_vs_vocals"]
                > corr["est0_vs_vocals"] + corr["est1_vs_accompaniment"]
            )
            result["correlations"] = corr
            algorithms[f"nussl {name}"]["tracks"][slug] = result
            print(
                f"{slug:40s} {name:8s} bg SDR "
                f"{result['background']['sdr']:6.2f}  fg SDR "
                f"{result['foreground']['sdr']:6.2f}  "
                f"({seconds:.2f} s, est0=bg: "
                f"{result['estimate0_is_background']})",
                flush=True,
            )

    for algo in algorithms.values():
        algo.update(summarize(algo["tracks"]))
        times = [t["wall_time_s"] for t in algo["tracks"].values() if "wall_time_s" in t]
        if times:
            algo["mean_wall_time_s"] = float(np.mean(times))
            algo["estimate0_is_background_all_tracks"] = all(
                t["estimate0_is_background"] for t in algo["tracks"].values()
            )

    report = {
        "nussl_version": versions["nussl"],
        "metric": METRIC_DESCRIPTION,
        "settings": "nussl.separation.primitive classes with default "
        "arguments; input loaded with nussl.AudioSignal(path); "
        "estimates trimmed/zero-padded to reference length; "
        "estimate 0 scored as background, 1 as foreground; "
        "wall_time_s = separator construction + call, "
        "excluding file loading and scoring, after one "
        "unrecorded warm-up run of each algorithm",
        "library_versions": versions,
        "num_tracks": len(slugs),
        "algorithms": algorithms,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(report, f, indent=2)

    print("\nmeans over tracks (dB):")
    for algo in algorithms.values():
        bg, fg = algo["mean"]["background"], algo["mean"]["foreground"]
        print(
            f"{name:16s} bg SDR {bg['sdr']:6.2f} SI-SDR {bg['si_sdr']:6.2f}"
            f" | fg SDR {fg['sdr']:6.2f} SI-SDR {fg['si_sdr']:6.2f}"
        )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
