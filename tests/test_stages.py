"""The stages of the separation (repet_cli.stages), one at a time on small synthesized inputs."""

import numpy as np
import pytest

import synth
from repet_cli import RepetParams, pitch, spectral, stages
from repet_cli.algorithms import RepetOptions, Spectra

SR, N_FFT, HOP = 8000, 512, 128


def mixture_of(audio, *, sr=SR, n_fft=N_FFT, hop=HOP):
    return stages.Mixture(audio=np.atleast_2d(audio), sr=sr, n_fft=n_fft, hop=hop)


@pytest.fixture(scope="module")
def song():
    """A 1.5-s loop under a melody, stereo, and the magnitude spectrograms of all three."""
    background = synth.loop(period=1.5, sr=SR, duration=9.0, channels=2)
    mixture, foreground = synth.mix(
        background, synth.melody(sr=SR, duration=9.0, channels=2), ratio_db=-3.0
    )
    spectra = [
        stages.spectrograms(a, n_fft=N_FFT, hop=HOP, power=True)
        for a in (mixture, background, foreground)
    ]
    return mixture, spectra


def random_model(shape, seed=0):
    """A model as large as the spectrogram; model(start, stop) is a writable view of it."""
    W = np.random.default_rng(seed).random(shape, dtype=np.float32)
    return W, (lambda start, stop: W[..., start:stop])


# Mixture: the layout every pass shares.


def test_the_blocks_cover_every_frame_once_and_a_strided_stft_is_every_other_frame():
    audio = np.random.default_rng(0).standard_normal((2, 5 * SR)).astype(np.float32)
    mixture = mixture_of(audio)
    assert mixture.shape == (2, N_FFT // 2 + 1, 1 + 5 * SR // HOP)
    assert len(mixture.spans) == 2
    covered = np.concatenate([np.arange(a, b) for a, b in mixture.spans])
    np.testing.assert_array_equal(covered, np.arange(mixture.n_frames))
    full = mixture.stft(0, mixture.n_frames)
    np.testing.assert_allclose(mixture.stft(3, 40, stride=2), full[..., 6:80:2], atol=1e-4)


# Stage 1: spectrograms.


def test_spectrograms_are_the_stft_magnitude_and_the_power_averaged_over_channels():
    audio = np.random.default_rng(1).standard_normal((2, 2 * SR)).astype(np.float32)
    V, P = stages.spectrograms(audio, n_fft=N_FFT, hop=HOP, power=True, threads=2)
    X = spectral.stft(audio, n_fft=N_FFT, hop=HOP)
    np.testing.assert_allclose(V, np.abs(X), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(P, np.mean(np.abs(X) ** 2, axis=0), rtol=1e-4, atol=1e-4)
    alone, none = stages.spectrograms(audio, n_fft=N_FFT, hop=HOP, threads=1)
    assert none is None
    np.testing.assert_array_equal(alone, V)  # the threads change nothing


# Stage 2: the model's masks.


@pytest.mark.parametrize(
    "mask, loop_share, melody_share",
    [("soft", 0.9, 0.1), ("binary", 0.95, 0.05), ("kam", 0.6, 0.25)],
)
def test_the_repeating_model_gives_the_loop_to_the_background_and_the_melody_not(
    song, mask, loop_share, melody_share
):
    mix, [(V, P), (V_loop, _), (V_melody, _)] = song
    options = RepetOptions()
    bounds = options.check_length(n_samples=mix.shape[-1], sr=SR, hop=HOP)
    spectra = Spectra(V=V, P=P, sr=SR, n_fft=N_FFT, hop=HOP)
    model, found = options.model(spectra, bounds=bounds, threads=1)
    assert found.period_frames * HOP / SR == pytest.approx(1.5, abs=0.02)
    M = stages.model_mask(model(0, V.shape[-1]), V, params=RepetParams(mask=mask))
    assert M.shape == V.shape and M.min() >= 0 and M.max() <= 1
    loop, melody = V_loop > 10 * V_melody, V_melody > 10 * V_loop
    # measured soft 0.96 / 0.04, binary 0.99 / 0.01, kam 0.65 / 0.18
    assert (M * V_loop)[loop].sum() / V_loop[loop].sum() > loop_share
    assert (M * V_melody)[melody].sum() / V_melody[melody].sum() < melody_share


def test_model_masks_without_a_later_pass_keep_nothing():
    V = np.random.default_rng(2).random((2, 33, 600), dtype=np.float32)
    _, model = random_model(V.shape)
    params = RepetParams(mask="soft")
    cache = stages.ModelMasks(model, params=params, shape=V.shape, passes=1, whole_model=False)
    M = cache((256, 512), V[..., 256:512])
    np.testing.assert_array_equal(
        M, stages.model_mask(model(256, 512), V[..., 256:512], params=params)
    )
    assert cache.kept is None and not cache.made.any() and cache.may_sample()


def test_every_pass_gets_the_mask_the_first_pass_kept_in_16_bit():
    V = np.random.default_rng(3).random((2, 33, 600), dtype=np.float32)
    _, model = random_model(V.shape)
    params = RepetParams()
    cache = stages.ModelMasks(model, params=params, shape=V.shape, passes=3, whole_model=False)
    assert not cache.may_sample()  # the first pass must see every frame, to keep them
    first = cache((0, 256), V[..., :256])
    exact = stages.model_mask(model(0, 256), V[..., :256], params=params)
    assert np.abs(first - exact).max() <= 0.5 / 65535 + 1e-7
    again = cache((0, 256), np.zeros_like(V[..., :256]))  # a later pass: V no longer matters
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(
        cache((0, 256), V[..., 0:256:2], slice(0, 256, 2)), first[..., ::2]
    )
    for span in ((256, 512), (512, 600)):
        cache(span, V[..., span[0] : span[1]])
    assert cache.may_sample()


def test_masks_written_over_a_whole_model_are_not_changed_by_what_a_pass_does_with_them():
    V = np.random.default_rng(4).random((1, 33, 300), dtype=np.float32)
    W, model = random_model(V.shape)
    params = RepetParams(mask="soft")
    exact = stages.model_mask(W[..., :256].copy(), V[..., :256], params=params)
    cache = stages.ModelMasks(model, params=params, shape=V.shape, passes=2, whole_model=True)
    assert cache.kept is None and cache.may_sample()
    first = cache((0, 256), V[..., :256])
    np.testing.assert_array_equal(W[..., :256], exact)  # the model's block holds its mask
    np.testing.assert_array_equal(first, exact)
    for _ in range(2):  # a later pass changes its mask in place, as the high-pass does
        later = cache((0, 256), V[..., :256])
        np.testing.assert_array_equal(later, exact)
        later[...] = 0.5


# Stage 3: the voice pass.


@pytest.fixture(scope="module")
def sung():
    """8 s of a 130-Hz voice-like tone with 19 partials, then 4 s of quiet noise; mono."""
    t = np.arange(8 * SR) / SR
    tone = 0.3 * sum(np.sin(2 * np.pi * h * 130.0 * t) / h for h in range(1, 20))
    noise = 0.05 * np.random.default_rng(0).standard_normal(4 * SR)
    mixture = mixture_of(np.concatenate([tone, noise]).astype(np.float32), n_fft=1024, hop=256)
    V, _ = stages.spectrograms(mixture.audio, n_fft=1024, hop=256)
    return mixture, V


def all_foreground(span, V):
    return np.zeros_like(V)


def test_the_voice_pass_opens_the_gate_and_follows_the_pitch_where_the_tone_sings(sung):
    mixture, V = sung
    found = stages.voice_pass(
        V, all_foreground, mixture=mixture, high_pass=150.0, track=True, threads=2
    )
    fps = mixture.frames_per_second
    tone, noise = slice(int(1 * fps), int(6 * fps)), slice(int(10 * fps), None)
    assert found.gain.shape == found.cutoffs.shape == (mixture.n_frames,)
    assert found.gain[tone].min() == 1 and found.gain[noise].max() == 0
    assert np.median(found.lead.f0[tone]) == pytest.approx(130, rel=0.02)
    assert not found.lead.voiced[noise].any()
    # The high-pass drops under the voice (0.8 x 130 Hz), not elsewhere.
    assert found.cutoffs[tone].max() < 110 and found.cutoffs[noise].min() == 150


def test_the_voice_pass_without_the_voice_model_or_the_high_pass_leaves_them_out(sung):
    mixture, V = sung
    found = stages.voice_pass(
        V, all_foreground, mixture=mixture, high_pass=0, track=False, threads=1
    )
    assert found.lead is None and found.cutoffs is None
    assert found.gain.max() == 1 and found.gain.min() == 0


# Stage 4: the final mask.

FREQUENCIES = spectral.frequencies(sr=SR, n_fft=N_FFT)  # 15.625 Hz apart


def final(M, voice=None, *, high_pass=150.0, ramp=0.0):
    frames = slice(0, M.shape[-1])
    return stages.final_mask(
        M.copy(),
        frames,
        voice=voice or stages.Voice(),
        frequencies=FREQUENCIES,
        high_pass=high_pass,
        ramp=ramp,
    )


def test_the_high_pass_gives_the_low_bins_to_the_background_with_a_ramp_above():
    M = np.full((2, FREQUENCIES.size, 4), 0.25, np.float32)
    cut = final(M)
    assert np.all(cut[:, FREQUENCIES < 150] == 1) and np.all(cut[:, FREQUENCIES >= 150] == 0.25)
    ramped = final(M, ramp=50.0)[0, :, 0]
    inside = (FREQUENCIES > 150) & (FREQUENCIES < 200)
    assert np.all((ramped[inside] > 0.25) & (ramped[inside] < 1))
    assert np.all(ramped[FREQUENCIES >= 200] == 0.25)


def test_a_cutoff_lowered_under_the_voice_keeps_its_fundamental_in_the_foreground():
    M = np.full((1, FREQUENCIES.size, 2), 0.25, np.float32)
    voice = stages.Voice(cutoffs=np.array([100.0, 150.0]))
    cut = final(M, voice)
    bin_ = np.flatnonzero(FREQUENCIES >= 120)[0]
    assert cut[0, bin_, 0] == 0.25 and cut[0, bin_, 1] == 1


def test_the_voice_gate_gives_a_frame_without_a_voice_to_the_background():
    M = np.full((2, FREQUENCIES.size, 3), 0.25, np.float32)
    gated = final(M, stages.Voice(gain=np.array([0.0, 0.5, 1.0], np.float32)), high_pass=0)
    assert np.all(gated[..., 0] == 1)
    np.testing.assert_allclose(gated[..., 1], 0.625)
    assert np.all(gated[..., 2] == 0.25)


def test_the_voice_model_keeps_the_partials_of_a_voiced_frame_and_shrinks_unvoiced_ones():
    M = np.full((1, FREQUENCIES.size, 2), 0.5, np.float32)
    lead = pitch.Track(f0=np.array([250.0, 0.0]), voiced=np.array([True, False]), strength=None)
    mask = final(M, stages.Voice(lead=lead), high_pass=0)[0]
    partial, between = FREQUENCIES == 500.0, FREQUENCIES == 375.0  # 2nd partial, 1.5 x f0
    assert mask[partial, 0] < 0.5 < mask[between, 0]  # more foreground on it, less beside
    # Unvoiced: no comb, every bin's foreground weighed by a tenth (UNVOICED), alike.
    np.testing.assert_allclose(mask[:, 1], 0.5 / (0.5 + 0.1 * 0.5), rtol=1e-6)


def test_a_strided_request_gets_the_masks_of_those_frames_of_the_whole_block():
    audio = np.random.default_rng(5).standard_normal((2, 6 * SR)).astype(np.float32)
    mixture = mixture_of(audio)
    V, _ = stages.spectrograms(audio, n_fft=N_FFT, hop=HOP)
    _, model = random_model(V.shape)
    masking = stages.Masking(
        model_masks=stages.ModelMasks(
            model, params=RepetParams(), shape=V.shape, passes=1, whole_model=True
        ),
        frequencies=mixture.frequencies,
        high_pass=150.0,
        ramp=50.0,
        voice=stages.Voice(gain=np.linspace(0, 1, mixture.n_frames, dtype=np.float32)),
    )
    span = mixture.spans[1]  # frames 256 to 375
    whole = masking.of(span, V[..., span[0] : span[1]])
    frames = slice(span[0] + 1, span[1], 2)
    np.testing.assert_allclose(
        masking.of(span, V[..., frames], frames), whole[..., 1::2], atol=1e-6
    )


# Stages 5 to 7: the Wiener filter, the background and the stems.


def masking_of(model, mixture, *, params=None, passes=1):
    params = RepetParams(mask="soft", high_pass=0) if params is None else params
    cache = stages.ModelMasks(
        model, params=params, shape=mixture.shape, passes=passes, whole_model=False
    )
    return stages.Masking(
        model_masks=cache, frequencies=mixture.frequencies, high_pass=params.high_pass, ramp=0
    )


def test_the_wiener_pass_learns_where_each_stem_sits_in_the_stereo_image():
    # The loop on the left only, the melody on the right only, and a model that knows the loop.
    loop = synth.loop(period=1.5, sr=SR, duration=6.0)
    melody = synth.melody(sr=SR, duration=6.0)
    mixture = mixture_of(np.concatenate([loop, melody]))
    V_loop, _ = stages.spectrograms(loop, n_fft=N_FFT, hop=HOP)
    oracle = np.concatenate([V_loop, np.zeros_like(V_loop)])
    masking = masking_of(lambda a, b: oracle[..., a:b], mixture)
    wiener = stages.wiener_pass(mixture, masking, threads=2)
    assert wiener.R_b.shape == wiener.R_f.shape == (mixture.frequencies.size, 2, 2)
    energy_b = np.abs(wiener.R_b).sum(axis=0)
    energy_f = np.abs(wiener.R_f).sum(axis=0)
    assert energy_b[0, 0] > 100 * energy_b[1, 1] and energy_f[1, 1] > 100 * energy_f[0, 0]


def test_with_a_mask_of_all_background_the_background_is_the_input(song):
    mix, _ = song
    mixture = mixture_of(mix)
    masking = masking_of(lambda a, b: np.full(mixture.shape[:2] + (b - a,), np.inf), mixture)
    made = stages.background_pass(
        mixture, masking, wiener=None, phase="mixture", keep_mask=True, threads=2
    )
    assert made.mask.shape == mixture.shape and np.all(made.mask == 1)
    background, foreground = stages.stems(made, mixture=mixture)
    np.testing.assert_allclose(background, mix, atol=1e-5)
    np.testing.assert_array_equal(foreground, mix - background)  # they add up exactly


def test_the_wiener_step_leaves_bins_given_wholly_to_one_stem_alone():
    rng = np.random.default_rng(6)
    X = (rng.standard_normal((2, 5, 7)) + 1j * rng.standard_normal((2, 5, 7))).astype(np.complex64)
    M = rng.random((2, 5, 7), dtype=np.float32)
    M[:, :, 0], M[:, :, 1] = 1, 0
    R = np.broadcast_to(np.eye(2, dtype=np.complex64), (5, 2, 2))
    for wiener in (None, stages.Wiener(R, R, 1e-9)):
        B = stages.block_background(X, np.abs(X), M, wiener=wiener)
        np.testing.assert_array_equal(B[..., 0], X[..., 0])
        assert np.abs(B[..., 1]).max() < 1e-6
    np.testing.assert_array_equal(stages.block_background(X, np.abs(X), M, wiener=None), M * X)


def test_without_phase_the_stems_are_rebuilt_from_their_magnitudes(song):
    mix, _ = song
    mixture = mixture_of(mix[:, : 2 * SR])
    masking = masking_of(lambda a, b: np.zeros(mixture.shape[:2] + (b - a,), np.float32), mixture)
    made = stages.background_pass(
        mixture, masking, wiener=None, phase="none", keep_mask=False, threads=1
    )
    assert made.inverse is None and made.mask is None
    silent, full = made.magnitudes
    assert silent.max() == 0 and full.shape == mixture.shape
    background, foreground = stages.stems(made, mixture=mixture)
    assert background.shape == foreground.shape == mixture.audio.shape
    assert np.abs(background).max() == 0
    assert synth.energy_db(foreground, mixture.audio) > -1  # a different phase, the same energy
