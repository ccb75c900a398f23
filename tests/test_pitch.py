"""The voice model: the lead's pitch track (repet_cli.pitch) and its comb (repet_cli.voice)."""

import numpy as np

import synth
from repet_cli import RepetParams, band_contours, pitch, separate, spectral, voice

SR = 22050
N_FFT, HOP = 1024, 256


def _sung(f0: np.ndarray, *, partials: int = 8) -> np.ndarray:
    """A voice-like tone following ``f0`` (Hz per sample, 0: silence): decaying partials."""
    phase = 2 * np.pi * np.cumsum(f0) / SR
    out = sum(np.sin(k * phase) / k for k in range(1, partials + 1))
    return (0.3 * out * (f0 > 0)).astype(np.float32)


def _track_of(y: np.ndarray) -> pitch.Track:
    V = np.abs(spectral.stft(y, n_fft=N_FFT, hop=HOP))
    f = spectral.frequencies(sr=SR, n_fft=N_FFT)
    return pitch.track(pitch.salience(V, frequencies=f), energy=(V**2).sum(axis=0))


def _cents(a, b):
    return 1200 * np.abs(np.log2(a / b))


def test_a_sung_line_with_vibrato_and_a_glide_is_followed_and_its_pauses_are_unvoiced():
    t = np.arange(int(6.0 * SR)) / SR
    vibrato = 2 ** (0.5 / 12 * np.sin(2 * np.pi * 5.5 * t))  # +-50 cents at 5.5 Hz
    glide = np.where(t < 3.5, 220.0, 220.0 * 2 ** ((np.minimum(t, 4.0) - 3.5) * 2 * 7 / 12))
    f0 = glide * vibrato
    f0[(t > 2.0) & (t < 2.8)] = 0  # a pause
    f0[t > 5.2] = 0
    y = _sung(f0) + 0.003 * np.random.default_rng(0).standard_normal(t.size).astype(np.float32)
    found = _track_of(y)
    frames = (np.arange(found.f0.size) * HOP).clip(max=t.size - 1)
    truth = f0[frames]
    sung = truth > 0
    inner = sung & (np.convolve(sung, np.ones(9), "same") > 8.5)  # away from the edges
    hit = found.voiced[inner] & (
        _cents(np.where(found.voiced, found.f0, 1)[inner], truth[inner]) < 50
    )
    assert hit.mean() > 0.9
    pause = (t[frames] > 2.2) & (t[frames] < 2.6)
    assert not found.voiced[pause].any()


def test_the_octave_below_a_pitch_is_not_taken_for_it():
    # Every partial of 300 Hz is also a partial of 150 Hz: the track must say 300.
    y = _sung(np.full(int(3.0 * SR), 300.0), partials=10)
    found = _track_of(y)
    voiced = found.f0[found.voiced]
    assert found.voiced.mean() > 0.8
    assert np.mean(_cents(voiced, 300.0) < 50) > 0.95


def _high_passed_track_of(y: np.ndarray) -> pitch.Track:
    """:func:`_track_of` of ``y`` after the high-pass the foreground's pitch is read behind
    (150 Hz, and a 50-Hz ramp)."""
    V = np.abs(spectral.stft(y, n_fft=N_FFT, hop=HOP))
    f = spectral.frequencies(sr=SR, n_fft=N_FFT)
    V *= np.clip((f - 150.0) / 50.0, 0.0, 1.0)[:, None]
    matrix = pitch.summation_matrix(f, pitch.candidates(), high_pass=150.0, ramp=50.0)
    S = pitch.salience(V, frequencies=f, matrix=matrix)
    return pitch.track(S, energy=(V**2).sum(axis=0))


def test_a_low_voice_behind_the_high_pass_is_not_followed_at_its_third_partial():
    # A low voice (90 Hz) rising and falling as quickly as speech does: the high-pass takes
    # its fundamental and most of its second partial, and a candidate at its third partial
    # (270 Hz), which collects partials 3, 6, 9... at the heaviest weights, took 30 % of the
    # frames while candidates counted the partials the high-pass had taken (19 % right).
    # Such fast glides are hard for the track either way.
    t = np.arange(int(4.0 * SR)) / SR
    f0 = 90.0 * 2 ** (6 / 12 * np.sin(2 * np.pi * 4.0 * t))
    found = _high_passed_track_of(_sung(f0, partials=40))
    truth = f0[(np.arange(found.f0.size) * HOP).clip(max=t.size - 1)]
    assert found.voiced.mean() > 0.8
    ratio = found.f0[found.voiced] / truth[found.voiced]
    assert np.mean(_cents(ratio, 3.0) < 50) < 0.15  # 11 %: the ramp still keeps some of both
    assert np.mean(_cents(ratio, 1.0) < 50) > 0.25  # 33 %


def test_an_input_whose_foreground_never_stands_out_of_the_band_has_no_voiced_frame():
    # An exact loop alone leaves -11 to -13 dB of itself in the foreground in every frame: the
    # tracker then has no lead to follow, however pitched the loop's notes.
    y = _sung(np.full(int(3.0 * SR), 220.0))
    V = np.abs(spectral.stft(y, n_fft=N_FFT, hop=HOP))
    f = spectral.frequencies(sr=SR, n_fft=N_FFT)
    S = pitch.salience(V, frequencies=f)
    energy = (V**2).sum(axis=0)
    for share_db, voiced in ((-11.0, False), (-6.0, True)):
        mixture = energy / 10 ** (share_db / 10)
        found = pitch.track(S, energy=energy, mixture_energy=mixture)
        assert found.voiced.any() == voiced


def test_a_one_frame_outlier_does_not_move_the_track():
    f0s = pitch.candidates()
    S = np.zeros((f0s.size, 200), dtype=np.float32)
    S[100, :] = 1.0
    S[30, 120] = 1.5  # one frame where another candidate scores a little higher
    found = pitch.track(S, f0s=f0s)
    assert found.voiced.all()
    assert np.all(found.f0 == f0s[100])


def test_silence_and_an_empty_input_are_unvoiced():
    for n in (0, 50):
        found = pitch.track(np.zeros((pitch.candidates().size, n), np.float32))
        assert found.f0.shape == (n,) and not found.voiced.any()


def test_the_comb_keeps_partials_and_leaves_unvoiced_frames_and_high_bins_to_the_weight_given():
    f = spectral.frequencies(sr=44100, n_fft=2048)
    w = voice.harmonic_weight(np.array([200.0, 0.0]), frequencies=f)
    on = np.argmin(np.abs(f - 600.0))  # the third partial
    between = np.argmin(np.abs(f - 700.0))
    assert w[on, 0] > 1.5 and np.isclose(w[between, 0], voice.LEAK)
    assert np.allclose(w[f >= voice.COMB_CEILING, 0], 1.0)
    assert np.allclose(w[:, 1], voice.UNVOICED)


def test_a_weight_of_one_leaves_a_mask_as_it_was_and_zero_gives_the_bin_to_the_background():
    mask = np.array([[0.2, 0.5, 0.9]], dtype=np.float32)
    assert np.allclose(voice.with_voice(mask.copy(), np.ones_like(mask)), mask)
    assert np.allclose(voice.with_voice(mask.copy(), np.zeros_like(mask)), 1.0)


def test_the_voice_model_keeps_a_sung_line_and_returns_a_non_repeating_hum_to_the_band():
    # A loop, a line sung over it in the middle, and a steady hum at 1.3 kHz that does not
    # repeat (it starts after the first bars): away from the voice's partials, it is the
    # band's.
    duration = 12.0
    t = np.arange(int(duration * SR)) / SR
    band = synth.loop(period=1.5, sr=SR, duration=duration, channels=2)
    hum = (0.08 * np.sin(2 * np.pi * 1310.0 * t) * (t > 4.0)).astype(np.float32)
    band = band + hum[None, :]
    f0 = np.where((t > 3.0) & (t < 9.0), 196.0 * 2 ** (np.floor((t - 3.0) / 0.75) % 4 / 6), 0.0)
    sung = _sung(f0)[None, :].repeat(2, axis=0)
    mixture = band + sung
    with_model = separate(mixture, sr=SR)
    without = separate(mixture, sr=SR, params=RepetParams(voice_model=False))
    error = synth.energy_db(with_model.foreground - sung, sung)
    error_before = synth.energy_db(without.foreground - sung, sung)
    assert error < error_before - 1.0  # dB: a cleaner voice
    assert with_model.voice is not None and without.voice is None
    frames = (np.arange(with_model.voice.f0.size) * (with_model.hop)).clip(max=t.size - 1)
    singing = (t[frames] > 3.5) & (t[frames] < 8.5)
    assert with_model.voice.voiced[singing].mean() > 0.8


def test_the_candidate_range_is_read_when_used(monkeypatch):
    # The module's range is a setting to experiment with: changing it changes the grid (it was
    # bound once, when the module was imported, and an experiment with it silently did nothing).
    from repet_cli import pitch

    monkeypatch.setattr(pitch, "F0_RANGE", (100.0, 2000.0))
    grid = pitch.candidates()
    assert grid[0] == 100.0 and 1990.0 < grid[-1] <= 2000.0


FPS = 44100 / 512


def _notes(pattern: str, *, seconds: float = 1.0, rest: float = 0.25) -> np.ndarray:
    """A pitch track of notes, one per letter: ``v`` sung (a 5.5-Hz vibrato of +-40 cents
    around a drifting pitch), ``h`` held (an instrument's steady pitch); rests between."""
    out = []
    for k, kind in enumerate(pattern):
        t = np.arange(round(seconds * FPS)) / FPS
        base = 220.0 * 2 ** ((k % 7) / 12)
        if kind == "v":
            note = base * 2 ** ((40 * np.sin(2 * np.pi * 5.5 * t) + 30 * t) / 1200)
        else:
            note = np.full(t.size, base)
        out += [note, np.zeros(round(rest * FPS))]
    return np.concatenate(out)


def test_held_pitches_among_wavering_ones_are_taken_for_the_band():
    f0 = _notes("vvhvvhvv" * 5)  # 50 s of contours: a voice, and an instrument's held notes
    held = pitch.flat_contours(f0, frames_per_second=FPS)
    notes = np.split(f0, np.flatnonzero(np.diff(f0 > 0)) + 1)
    kinds = iter("vvhvvhvv" * 5)
    start = 0
    for part in notes:
        if part[0] > 0:
            assert held[start : start + part.size].all() == (next(kinds) == "h")
        start += part.size


def test_a_voice_that_holds_its_pitch_everywhere_or_a_short_clip_keeps_every_contour():
    # Relative to the input: a steady synthetic voice (every contour held) is its own typical
    # contour; and a clip of a few phrases is not judged at all.
    assert not pitch.flat_contours(_notes("h" * 40), frames_per_second=FPS).any()
    assert not pitch.flat_contours(_notes("vvhvvh"), frames_per_second=FPS).any()


def test_the_track_leaves_held_lines_unvoiced_given_the_frame_rate():
    f0s = pitch.candidates()
    truth = _notes("vvhvvhvv" * 5)
    at = np.abs(np.log2(np.maximum(truth, 1)[None, :] / f0s[:, None])).argmin(axis=0)
    S = np.zeros((f0s.size, truth.size), dtype=np.float32)
    S[at[truth > 0], np.flatnonzero(truth > 0)] = 1.0
    plain = pitch.track(S, f0s=f0s)
    judged = pitch.track(S, f0s=f0s, frames_per_second=FPS)
    held = pitch.flat_contours(truth, frames_per_second=FPS)
    assert plain.voiced[held].mean() > 0.9  # the tracker alone follows the held notes too
    assert judged.voiced[held].mean() < 0.1
    sung = (truth > 0) & ~held
    assert judged.voiced[sung].mean() > 0.9 and np.array_equal(
        judged.f0[judged.voiced], plain.f0[judged.voiced]
    )


def _stereo(f0: np.ndarray, *, sides: np.ndarray) -> np.ndarray:
    """Two channels of a voice-like tone following ``f0`` (Hz per STFT frame of ``HOP``
    samples); where ``sides`` (per frame) is true, the right channel's partials are 2.5 rad
    out of phase with the left's (a line widened over the stereo field)."""
    per_sample = np.repeat(f0, HOP)
    phase = 2 * np.pi * np.cumsum(per_sample) / SR
    shift = 2.5 * np.repeat(sides, HOP)
    left = sum(np.sin(k * phase) / k for k in range(1, 9))
    right = sum(np.sin(k * phase + shift) / k for k in range(1, 9))
    return (0.3 * np.stack([left, right]) * (per_sample > 0)).astype(np.float32)


def _spread_of(pattern: str):
    """The notes of ``pattern`` (:func:`_notes`; ``w`` a wavering note widened over the stereo
    field), whether each frame is widened, and what :func:`band_contours.spread_contours` finds."""
    f0 = _notes(pattern.replace("w", "v"))
    per_note = round(1.0 * FPS) + round(0.25 * FPS)  # a note and its rest
    sides = np.repeat([kind == "w" for kind in pattern], per_note)
    X = spectral.stft(_stereo(f0, sides=sides), n_fft=N_FFT, hop=HOP)[..., : f0.size]
    f = spectral.frequencies(sr=SR, n_fft=N_FFT)
    rows = band_contours.centre_rows(f)
    spread = band_contours.spread_contours(
        f0, band_contours.centredness(X[:, :rows]), np.abs(X), frequencies=f
    )
    return f0, sides, spread


def test_centredness_tells_a_centred_a_panned_and_an_out_of_phase_source_apart():
    rng = np.random.default_rng(0)
    s = (rng.standard_normal((1, 40, 30)) + 1j * rng.standard_normal((1, 40, 30))).astype(
        np.complex64
    )
    centred = band_contours.centredness(np.concatenate([s, s]))
    panned = band_contours.centredness(np.concatenate([s, np.zeros_like(s)]))
    opposed = band_contours.centredness(np.concatenate([s, -s]))
    silent = band_contours.centredness(np.zeros((2, 40, 30), dtype=np.complex64))
    assert np.allclose(centred, 1, atol=1e-3) and np.allclose(panned, 0.5, atol=1e-3)
    assert np.allclose(opposed, 0, atol=1e-3) and np.allclose(silent, 1)
    assert centred.dtype == np.float16


def test_a_line_spread_over_the_stereo_field_is_taken_for_the_band():
    # A centred voice (wavering) and a line widened over the stereo field (wavering too, so
    # only its stereo image tells it apart): the widened line's contours are the band's.
    f0, sides, spread = _spread_of("vvw" * 6)
    wide, sung = (f0 > 0) & sides, (f0 > 0) & ~sides
    assert spread[wide].mean() > 0.95 and not spread[sung].any()


def test_a_lead_that_is_itself_spread_keeps_every_contour():
    # When most contours are spread (a stereo synthesizer lead), spread tells nothing.
    _, _, spread = _spread_of("wwv" * 6)
    assert not spread.any()


def test_the_voice_model_leaves_a_widened_line_to_the_band(monkeypatch):
    # A loop; a centred sung line, then (for a third of the line) a widened one that does not
    # repeat: the voice model follows the first and not the second (without the stereo check
    # it follows both).
    duration = 16.0
    band = synth.loop(period=1.5, sr=SR, duration=duration, channels=2)
    frames = spectral.frame_count(band.shape[-1], hop=HOP)
    t = np.arange(frames) / FPS
    f0 = np.where((t > 2) & (t < 14), 196.0 * 2 ** ((30 * np.sin(2 * np.pi * 5.5 * t)) / 1200), 0)
    f0 *= 2 ** (np.floor(t / 0.8) % 4 / 6)
    sides = t > 10
    lines = _stereo(f0, sides=sides)[:, : band.shape[-1]]
    mixture = band + np.pad(lines, ((0, 0), (0, band.shape[-1] - lines.shape[-1])))
    checked = separate(mixture, sr=SR).voice
    monkeypatch.setattr(band_contours, "SPREAD", 0.0)
    unchecked = separate(mixture, sr=SR).voice
    n = min(checked.voiced.size, t.size)
    sung, wide = ((t > 2.5) & (t < 9.5))[:n], ((t > 10.5) & (t < 13.5))[:n]
    assert checked.voiced[:n][sung].mean() > 0.8 and unchecked.voiced[:n][wide].mean() > 0.8
    assert checked.voiced[:n][wide].mean() < 0.2


def test_the_frames_next_to_a_voiced_stretch_are_its_consonants():
    voiced = np.zeros(100, dtype=bool)
    voiced[40:60] = True
    near = voice.attached_frames(voiced, frames_per_second=50.0)  # 0.1 s: 5 frames
    assert np.flatnonzero(near).tolist() == [*range(35, 40), *range(60, 65)]
    assert not voice.attached_frames(np.zeros(10, dtype=bool), frames_per_second=50.0).any()


def test_a_notes_attack_and_decay_beyond_the_tracked_contour_keep_its_pitch():
    f0 = np.zeros(110)
    f0[40:50], f0[50:60] = 200.0, 300.0  # a contour gliding up a fifth
    f0[71:80] = 400.0  # the next note, 11 frames later
    f0[89:95] = 500.0  # and the one after, 9 frames later
    attached = voice.attached_frames(f0 > 0, frames_per_second=50.0)  # 0.1 s: 5 frames
    held = voice.held_pitch(f0, attached)
    assert np.array_equal(held[f0 > 0], f0[f0 > 0])  # the tracked frames are untouched
    assert np.all(held[35:40] == 200.0) and np.all(held[60:65] == 300.0)
    assert held[65] == 0.0  # 6 frames from both notes: beyond reach
    assert np.all(held[66:71] == 400.0) and np.all(held[80:85] == 400.0)  # 84: a tie, earlier
    assert np.all(held[85:89] == 500.0) and np.all(held[95:100] == 500.0)
    assert not held[:35].any() and not held[100:].any()


def test_the_comb_follows_the_held_pitch_below_the_hiss_of_a_consonant():
    f = spectral.frequencies(sr=SR, n_fft=N_FFT)
    f0 = np.zeros(6)
    f0[3:] = 220.0
    attached = voice.attached_frames(f0 > 0, frames_per_second=FPS)
    held = voice.held_pitch(f0, attached)
    weight = voice.harmonic_weight(held, frequencies=f, attached=attached)
    voiced = voice.harmonic_weight(f0, frequencies=f)[:, 3]
    hiss, low = f >= voice.ATTACHED_HZ, f < voice.ATTACHED_HZ
    assert np.all(held[:3] == 220.0)
    assert np.array_equal(weight[low, 2], voiced[low])  # the note's partials, from the start
    assert np.all(weight[hiss, 2] == voice.ATTACHED)


def test_a_consonant_before_a_sung_note_keeps_its_hiss_in_the_foreground():
    f = spectral.frequencies(sr=SR, n_fft=N_FFT)
    f0 = np.zeros(6)
    f0[3:] = 220.0
    attached = voice.attached_frames(f0 > 0, frames_per_second=FPS)
    weight = voice.harmonic_weight(f0, frequencies=f, attached=attached)
    plain = voice.harmonic_weight(f0, frequencies=f)
    hiss, low = f >= voice.ATTACHED_HZ, f < voice.ATTACHED_HZ
    assert attached[:3].all()
    assert np.all(weight[hiss, 2] == voice.ATTACHED) and np.all(weight[low, 2] == voice.UNVOICED)
    assert np.all(plain[:, 2] == voice.UNVOICED)
    assert np.array_equal(weight[:, 3:], plain[:, 3:])


def test_the_hiss_of_an_s_before_each_sung_note_stays_with_the_voice(monkeypatch):
    # A loop; sung notes, each after 60 ms of high hiss (an "s"): the hiss is the voice's, so
    # it goes to the foreground with it, where without the attachment it went to the band.
    duration = 12.0
    rng = np.random.default_rng(3)
    band = synth.loop(period=1.5, sr=SR, duration=duration, channels=2)
    t = np.arange(band.shape[-1]) / SR
    onsets = np.arange(2.0, 10.0, 0.8)
    in_note = np.zeros(t.size, dtype=bool)
    in_hiss = np.zeros(t.size, dtype=bool)
    for onset in onsets:
        in_note |= (t >= onset) & (t < onset + 0.6)
        in_hiss |= (t >= onset - 0.06) & (t < onset)
    f0 = np.where(in_note, 196.0 * 2 ** ((30 * np.sin(2 * np.pi * 5.5 * t)) / 1200), 0.0)
    sung = _sung(f0)
    from scipy.signal import butter, sosfilt

    hiss = sosfilt(butter(4, 4000, "highpass", fs=SR, output="sos"), rng.standard_normal(t.size))
    hiss = (0.15 * hiss * in_hiss).astype(np.float32)
    voice_part = np.stack([sung + hiss] * 2)
    mixture = band + voice_part
    kept = separate(mixture, sr=SR).foreground
    monkeypatch.setattr(voice, "ATTACH_SECONDS", 0.0)
    dropped = separate(mixture, sr=SR).foreground

    def hiss_error(estimate):
        return synth.energy_db((estimate - voice_part)[:, in_hiss], voice_part[:, in_hiss])

    assert hiss_error(kept) < hiss_error(dropped) - 2.0  # dB (measured: -3.2 against -0.5)


def test_the_partials_of_a_low_lead_weigh_more_where_the_percussive_median_spans_several():
    f = spectral.frequencies(sr=SR, n_fft=N_FFT)
    width = 9 * (f[1] - f[0])  # the percussive model's median spans 9 bins: 194 Hz here
    f0 = np.array([0.0, 400.0, 400.0, width, width / 2, 150.0, 100.0, 55.0])
    peak = voice.peak_weights(f0, voice.lead_frames(f0), frequencies=f, width_bins=9)
    # The lead's typical pitch (the lower quartile) is 100 Hz: 55 Hz is more than 0.75 octave
    # below it.
    expected = voice.PEAK * np.array([1, 1, 1, 1, 2, width / 150, width / 100, 1])
    assert np.allclose(peak, expected, rtol=1e-5)


def test_a_low_voice_over_a_loop_keeps_its_partials_out_of_the_background(monkeypatch):
    # A low sung voice (95 Hz): its partials lie 4.4 bins apart, and the percussive model's
    # 9-bin median over them is made of the voice itself.
    duration = 12.0
    t = np.arange(int(duration * SR)) / SR
    band = synth.loop(period=1.5, sr=SR, duration=duration, channels=2)
    f0 = 95.0 * 2 ** (np.sin(2 * np.pi * 0.5 * t) / 12 + 0.3 / 12 * np.sin(2 * np.pi * 5.0 * t))
    f0 = np.where((t > 3.0) & (t < 9.0), f0, 0.0)
    sung = 0.3 * _sung(f0, partials=40)[None, :].repeat(2, axis=0)
    S = np.abs(spectral.stft(sung, n_fft=N_FFT, hop=HOP)) ** 2
    above = spectral.frequencies(sr=SR, n_fft=N_FFT) >= 150.0  # below: the high-pass decides

    def leak(result):
        M = np.asarray(result.mask, dtype=np.float64)[..., : S.shape[-1]]
        return 10 * np.log10((M[:, above] ** 2 * S[:, above]).sum() / S[:, above].sum())

    boosted = leak(separate(band + sung, sr=SR, keep_mask=True))
    flat = np.full  # the same weight on every frame's partials, as before
    monkeypatch.setattr(
        voice, "peak_weights", lambda f0, *_, **__: flat(np.shape(f0), voice.PEAK, np.float32)
    )
    before = leak(separate(band + sung, sr=SR, keep_mask=True))
    assert boosted < before - 2.0  # dB of the voice above 150 Hz left in the background


def _timbred(pattern: str, *, seconds: float = 1.0, rest: float = 0.25):
    """Notes, one per letter, as audio and as a pitch track per STFT frame: ``v`` sung (a
    vibrato of +-40 cents; its two formants glide as its vowels change), ``i`` an instrument
    (a slight waver of +-12 cents, more than :func:`pitch.flat_contours` calls held; the same
    partials throughout), ``o`` a voice wavering like the instrument (its vowels still
    change), ``p`` the instrument with the voice's vibrato, ``s`` spoken (the voice's pitch
    waver, its vowels changing twice as fast). A capital letter: the same 1.5 octaves
    lower."""
    per_note, gap = round(seconds * FPS), round(rest * FPS)
    f0, sung, pace = [], [], []
    for k, letter in enumerate(pattern):
        t = np.arange(per_note) / FPS
        base = 220.0 * 2 ** ((k % 7) / 12 - (1.5 if letter.isupper() else 0))
        kind = letter.lower()
        cents = (40 if kind in "vps" else 12) * np.sin(2 * np.pi * 5.5 * t)
        f0 += [base * 2 ** (cents / 1200), np.zeros(gap)]
        sung += [np.full(per_note, kind in "vos"), np.zeros(gap, dtype=bool)]
        pace += [np.full(per_note + gap, 2.0 if kind == "s" else 1.0)]
    f0, sung = np.concatenate(f0), np.repeat(np.concatenate(sung), HOP)
    per_sample = np.repeat(f0, HOP)
    # the formants of the changing vowels, gliding at 3 and 2.3 Hz (twice that when spoken)
    turns = 2 * np.pi * np.cumsum(np.repeat(np.concatenate(pace), HOP)) / SR
    first = 550 + 250 * np.sin(3.0 * turns)
    second = 1600 + 700 * np.sin(2.3 * turns + 1.0)
    phase = 2 * np.pi * np.cumsum(per_sample) / SR
    y = np.zeros(per_sample.size)
    for h in range(1, 9):
        hz = h * per_sample
        formants = np.exp(-(((hz - first) / 150) ** 2)) + np.exp(-(((hz - second) / 200) ** 2))
        y += np.where(sung, 0.1 + formants, 1.0 / h) * np.sin(h * phase)
    return (0.1 * y * (per_sample > 0)).astype(np.float32), f0


def _steady_of(pattern: str, **kwargs):
    """The notes of ``pattern`` (:func:`_timbred`) and what :func:`band_contours.steady_contours`
    finds in them."""
    y, f0 = _timbred(pattern, **kwargs)
    V = np.abs(spectral.stft(y[None], n_fft=N_FFT, hop=HOP))[..., : f0.size]
    f = spectral.frequencies(sr=SR, n_fft=N_FFT)
    return f0, band_contours.steady_contours(f0, V, frequencies=f, frames_per_second=FPS)


def _kinds(pattern: str, n_frames: int) -> np.ndarray:
    """The letter of :func:`_timbred`'s note in each of its ``n_frames`` frames."""
    per_note = round(1.0 * FPS) + round(0.25 * FPS)  # a note and its rest
    return np.repeat(list(pattern), per_note)[:n_frames]


def _share_found(pattern: str, f0: np.ndarray, found: np.ndarray) -> dict:
    """Per letter of ``pattern``, the share of its notes' frames in ``found``."""
    kinds = _kinds(pattern, f0.size)
    return {kind: found[(f0 > 0) & (kinds == kind)].mean() for kind in sorted(set(pattern))}


def test_an_instrument_that_holds_its_pitch_and_its_timbre_is_taken_for_the_band():
    # Among sung notes (vibrato, vowels changing): notes that hold both their pitch and their
    # partials are the band's; a voice holding its pitch (its vowels change) and the
    # instrument with a vibrato are not (either cue alone is not enough).
    pattern = "vvivvovvpv" * 4  # 50 s
    f0, steady = _steady_of(pattern)
    assert _share_found(pattern, f0, steady) == {"i": 1.0, "o": 0.0, "p": 0.0, "v": 0.0}


def test_far_below_the_lead_only_what_changes_its_timbre_like_a_voice_stays(monkeypatch):
    # Sung notes, and far below them (1.5 octaves) notes with the voice's vibrato: an
    # instrument's, whose partials hold their levels, and a spoken voice's (a rapped verse
    # under a sung chorus), whose vowels change. Down there only the voice stays voiced,
    # although the instrument's pitch wavers as much.
    pattern = "vvSvvPvv" * 5  # 50 s
    f0, steady = _steady_of(pattern)
    assert _share_found(pattern, f0, steady) == {"P": 1.0, "S": 0.0, "v": 0.0}
    monkeypatch.setattr(band_contours, "BELOW_STEADY", 0.0)
    _, unjudged = _steady_of(pattern)
    assert not unjudged.any()


def test_steadiness_is_not_judged_on_short_notes_or_a_short_input():
    # A note no longer than a syllable holds one vowel; a clip of a few phrases does not
    # tell how its lead changes.
    _, short_notes = _steady_of("vvivvovvpv" * 8, seconds=0.4, rest=0.1)
    _, short_input = _steady_of("vvivv")
    assert not short_notes.any() and not short_input.any()


def test_the_voice_model_leaves_an_instrument_that_holds_its_timbre_to_the_band(monkeypatch):
    # A loop under sung notes and an instrument's (50 s): the voice model follows the voice and
    # not the instrument, which the tracker alone follows too.
    y, f0 = _timbred("vvivvivvvi" * 4)
    band = synth.loop(period=1.5, sr=SR, duration=y.size / SR, channels=2)
    mixture = band[:, : y.size] + y[None, : band.shape[-1]]
    checked = separate(mixture, sr=SR).voice
    monkeypatch.setattr(band_contours, "STEADY", 0.0)
    unchecked = separate(mixture, sr=SR).voice
    kinds = _kinds("vvivvivvvi" * 4, f0.size)
    n = min(checked.voiced.size, f0.size)
    inner = (f0 > 0) & (np.convolve(f0 > 0, np.ones(9), "same") > 8.5)  # away from the edges
    sung, held = (inner & (kinds == "v"))[:n], (inner & (kinds == "i"))[:n]
    assert unchecked.voiced[:n][held].mean() > 0.8
    assert checked.voiced[:n][held].mean() < 0.1 and checked.voiced[:n][sung].mean() > 0.8
