"""Behaviour of every perturbation family on real speech (the official sample clip)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import stft as scipy_stft
from scipy.stats import spearmanr

from metric.data import toy
from metric.perturb import FAMILIES, Chain, describe, derived_seed, perturb, random_families
from metric.perturb.filters import band_split
from metric.perturb.room import room_impulse_response, stretched_response, time_stretch
from metric.resample import resample_array

RATE = 16000
LEVELS = np.linspace(0.0, 1.0, 6)


@pytest.fixture(scope="module")
def speech(clips) -> np.ndarray:
    """2.5 s of real speech at 16 kHz."""
    return resample_array(clips["ref"], 22050, RATE)


@pytest.fixture(scope="module")
def noise_recording() -> np.ndarray:
    """A stand-in 'recorded' noise: low-passed noise with a hum, 1.3 s (shorter than the speech: must loop)."""
    rng = np.random.default_rng(123)
    t = np.arange(int(1.3 * RATE)) / RATE
    return (0.05 * np.sin(2 * np.pi * 120 * t) + 0.05 * np.convolve(rng.standard_normal(len(t)), np.ones(8) / 8, "same"))


BABBLE = {"sources": toy.babble_sources(RATE)}


def options(family: str, noise_recording) -> dict:
    if family == "babble":
        return BABBLE
    return {"noise_files": [noise_recording]} if family == "noise_file" else {}


def log_spectral_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over frames of the RMS difference (dB) of the power spectra."""
    A = np.abs(scipy_stft(a, nperseg=512, noverlap=384)[2]) ** 2
    B = np.abs(scipy_stft(b, nperseg=512, noverlap=384)[2]) ** 2
    diff = 10 * np.log10(A + 1e-8) - 10 * np.log10(B + 1e-8)
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=0))))


def snr_db(reference: np.ndarray, degraded: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / max(np.sum((reference - degraded) ** 2), 1e-30)))


@pytest.fixture(scope="module")
def toy_speech() -> np.ndarray:
    """Another talker: 2 s of a toy-corpus test utterance (16 kHz)."""
    from metric.data import toy

    longest = max(toy.utterances("test", sample_rate=RATE), key=lambda u: sf.info(u.path).frames)
    audio, _ = sf.read(longest.path, dtype="float32")
    return audio[: 2 * RATE]


@pytest.mark.parametrize("content", ["sample_clip", "toy_utterance"])
@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "time_shift"])
def test_change_grows_with_level(family, content, speech, toy_speech, noise_recording):
    x = speech if content == "sample_clip" else toy_speech
    seeds = (0, 1) if family in random_families() else (0,)
    change = [
        np.mean([log_spectral_distance(x, perturb(x, RATE, family, level, seed=s, **options(family, noise_recording))) for s in seeds])
        for level in LEVELS
    ]
    rho = spearmanr(LEVELS, change)[0]
    assert rho >= 0.9, f"{family}: log-spectral distance per level {np.round(change, 2)} (Spearman {rho:.2f})"
    assert change[-1] > change[0] + 0.5, f"{family}: level 1 barely differs from level 0: {change}"


def test_time_shift_moves_the_signal_by_the_documented_amount(speech):
    for level in (0.2, 0.6, 1.0):
        y = perturb(speech, RATE, "time_shift", level, seed=3)
        expected = describe("time_shift", level, RATE)["shift_samples"]
        corr = np.correlate(np.pad(y, expected + 10), speech, "valid")
        measured = int(np.argmax(corr)) - (expected + 10)
        assert abs(measured) == expected


@pytest.mark.parametrize("family", FAMILIES)
def test_contract_length_dtype_range(family, speech, noise_recording):
    loud = np.clip(speech * 8.0, -1.0, 1.0).astype(np.float64)  # near full scale: families must not overflow
    for signal in (speech, loud, speech[:1001], speech[:1], speech[:0]):
        y = perturb(signal, RATE, family, 0.7, seed=5, **options(family, noise_recording))
        assert y.dtype == np.float32
        assert y.shape == signal.shape
        assert np.all(np.isfinite(y)) and np.all(np.abs(y) <= 1.0)


@pytest.mark.parametrize("family", FAMILIES)
def test_reproducible_per_seed_and_different_across_seeds(family, speech, noise_recording):
    kw = options(family, noise_recording)
    first = perturb(speech, RATE, family, 0.6, seed=11, **kw)
    again = perturb(speech.copy(), RATE, family, 0.6, seed=11, **kw)
    np.testing.assert_array_equal(first, again)
    others = [perturb(speech, RATE, family, 0.6, seed=s, **kw) for s in (12, 13, 14)]
    if family in random_families():
        assert any(not np.array_equal(first, other) for other in others)
    else:
        assert all(np.array_equal(first, other) for other in others)


@pytest.mark.parametrize("family", ["gain", "clipping", "dropout", "bandlimit", "eq", "time_shift", "pops"])
def test_level_zero_is_identity_where_the_family_allows(family, speech):
    np.testing.assert_allclose(perturb(speech, RATE, family, 0.0, seed=2), speech, atol=1e-6)


@pytest.mark.parametrize("family", ["white_noise", "pink_noise", "brown_noise", "babble"])
def test_level_zero_is_nearly_inaudible(family, speech):
    assert snr_db(speech, perturb(speech, RATE, family, 0.0, seed=2, **options(family, None))) > 45.0


def test_noise_families_hit_the_documented_noise_rms(speech, noise_recording):
    silence = np.zeros_like(speech)
    for family in ("white_noise", "pink_noise", "brown_noise", "babble", "noise_file"):
        for level in (0.3, 0.8):
            y = perturb(silence, RATE, family, level, seed=4, **options(family, noise_recording))
            assert np.sqrt(np.mean(y.astype(np.float64) ** 2)) == pytest.approx(describe(family, level, RATE)["noise_rms"], rel=0.02)


def test_white_noise_is_the_jnd_generators_uniform_noise(speech):
    silence = np.zeros(4 * RATE)
    for level in (0.2, 0.9):
        params = describe("white_noise", level, RATE)
        assert params["amplitude"] == pytest.approx(1e-4 * 800**level)
        y = perturb(silence, RATE, "white_noise", level, seed=3).astype(np.float64)
        assert y.min() >= 0.0 and y.max() < params["amplitude"]
        assert np.mean(y) == pytest.approx(params["amplitude"] / 2, rel=0.02)  # a DC offset ...
        assert np.std(y) == pytest.approx(params["amplitude"] / np.sqrt(12), rel=0.02)  # ... and 10.8 dB less AC
    # the draws do not depend on the level: a higher level scales the same noise
    low, high = (perturb(silence, RATE, "white_noise", v, seed=3).astype(np.float64) for v in (0.2, 0.9))
    np.testing.assert_allclose(high / describe("white_noise", 0.9, RATE)["amplitude"],
                               low / describe("white_noise", 0.2, RATE)["amplitude"], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("family", ["white_noise", "pink_noise", "brown_noise", "babble"])
def test_relative_noise_hits_the_snr_whatever_the_input_gain(family, speech):
    for level in (0.2, 0.7):
        expected = describe(family, level, RATE)["relative_snr_db"]
        assert expected == pytest.approx(55 - 58 * level)
        for gain in (1.0, 0.1):
            x = gain * speech
            y = perturb(x, RATE, family, level, seed=6, relative_to_signal=True, **options(family, None))
            assert snr_db(x, y) == pytest.approx(expected, abs=0.05)
    np.testing.assert_array_equal(perturb(np.zeros(RATE), RATE, "pink_noise", 0.5, relative_to_signal=True), np.zeros(RATE))


def test_noise_colours_have_their_spectral_slopes():
    silence = np.zeros(4 * RATE)
    def slope(family):
        y = perturb(silence, RATE, family, 1.0, seed=0).astype(np.float64)
        power = np.abs(np.fft.rfft(y)) ** 2
        freqs = np.fft.rfftfreq(len(y), 1 / RATE)
        band = (freqs > 100) & (freqs < 4000)
        return np.polyfit(np.log10(freqs[band]), 10 * np.log10(power[band]), 1)[0]  # dB per decade
    assert abs(slope("white_noise")) < 1.5
    assert slope("pink_noise") == pytest.approx(-10, abs=1.5)
    assert slope("brown_noise") == pytest.approx(-20, abs=1.5)


def test_babble_uses_the_sources_given(speech):
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)
    y = perturb(np.zeros_like(speech), RATE, "babble", 1.0, seed=0, sources=[tone])
    spectrum = np.abs(np.fft.rfft(y))
    peak_hz = np.argmax(spectrum) * RATE / len(y)
    assert peak_hz == pytest.approx(440, abs=2)


def test_noise_file_reads_files_and_loops(tmp_path, noise_recording, speech):
    path = tmp_path / "noise.flac"
    sf.write(path, resample_array(noise_recording, RATE, 48000), 48000)  # another rate: resampled on read
    y = perturb(np.zeros_like(speech), RATE, "noise_file", 1.0, seed=0, noise_files=[path])
    spectrum = np.abs(np.fft.rfft(y))
    assert np.argmax(spectrum) * RATE / len(y) == pytest.approx(120, abs=2)  # the hum survived
    with pytest.raises(ValueError, match="noise_files"):
        perturb(speech, RATE, "noise_file", 0.5)


def decay_time(h: np.ndarray, rate: int) -> float:
    """RT60 from Schroeder backward integration: fit -5 .. -25 dB and extrapolate to -60 dB (T20)."""
    tail = h[int(0.005 * rate):]
    energy = np.cumsum(tail[::-1] ** 2)[::-1]
    edc = 10 * np.log10(energy / energy[0])
    fit = (edc <= -5) & (edc >= -25)
    t = np.arange(len(edc)) / rate
    return float(-60 / np.polyfit(t[fit], edc[fit], 1)[0])


def test_reverb_stretches_the_room_response_by_the_documented_factor():
    base = room_impulse_response(0.15, RATE, np.random.default_rng(0))
    # low frequencies carry most of the energy and decay at the nominal rate; highs decay 2x faster
    assert decay_time(base, RATE) == pytest.approx(0.15, rel=0.25)
    for level in (0.3, 0.7, 1.0):
        params = describe("reverb", level, RATE)
        assert params["stretch"] == pytest.approx(7.0**level)
        h = stretched_response(base, params["stretch"], RATE)
        assert np.sum(h**2) == pytest.approx(1.0)
        assert decay_time(h, RATE) == pytest.approx(params["rt60_s"], rel=0.25)
        assert np.argmax(np.abs(h)) == 0  # the direct sound stays an impulse at the start


def test_time_stretch_keeps_the_spectrum_and_scales_the_duration():
    t = np.arange(int(1.0 * RATE)) / RATE
    tone = np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.2)
    longer = time_stretch(tone, 4.0, 1024)
    assert len(longer) == 4 * len(tone)
    spectrum = np.abs(np.fft.rfft(longer))
    assert np.argmax(spectrum) * RATE / len(longer) == pytest.approx(1000, abs=10)  # pitch kept (resampling would give 250 Hz)
    def decay_constant(x, start_s, stop_s):  # seconds per neper of the RMS envelope (20 ms frames)
        frames = x[int(start_s * RATE) : int(stop_s * RATE)].reshape(-1, RATE // 50)
        rms = np.sqrt(np.mean(frames**2, axis=1))
        return -1.0 / np.polyfit(np.arange(len(rms)) / 50, np.log(rms), 1)[0]
    assert decay_constant(tone, 0.1, 0.6) == pytest.approx(0.2, rel=0.02)
    assert decay_constant(longer, 0.4, 2.4) == pytest.approx(0.8, rel=0.1)  # the decay lasts 4x longer


def test_reverb_uses_measured_responses_when_given(speech, tmp_path):
    echo = np.zeros(RATE // 2)
    echo[0], echo[int(0.1 * RATE)] = 1.0, 0.9  # one strong reflection 100 ms late
    path = tmp_path / "room.wav"
    sf.write(path, echo, RATE)
    for source in ([echo], [path]):
        y = perturb(speech, RATE, "reverb", 0.0, seed=0, impulse_responses=source)
        expected = np.convolve(speech, echo / np.sqrt(np.sum(echo**2)))[: len(speech)]
        np.testing.assert_allclose(y, np.clip(expected, -1, 1), atol=1e-4)


def test_eq_bands_sum_back_and_cut_the_right_band(speech):
    low, mid, high = band_split(speech.astype(np.float64), RATE)
    np.testing.assert_allclose(low + mid + high, speech, atol=1e-6)
    def band_energy(x, lo, hi):
        power = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(len(x), 1 / RATE)
        return power[(freqs >= lo) & (freqs < hi)].sum()
    assert band_energy(low, 2000, 8000) < 1e-4 * band_energy(speech, 2000, 8000)
    assert band_energy(high, 0, 250) < 1e-4 * band_energy(speech, 0, 250)
    y = perturb(speech, RATE, "eq", 1.0, seed=9)  # the strongest band is cut by exactly 20 dB
    ratios = [10 * np.log10(band_energy(y, lo, hi) / band_energy(speech, lo, hi)) for lo, hi in ((0, 300), (650, 850), (2000, 8000))]
    assert min(ratios) == pytest.approx(-20.0, abs=1.5)
    assert max(ratios) <= 0.5


def test_bandlimit_removes_energy_above_the_cutoff(speech):
    y = perturb(speech, RATE, "bandlimit", 0.6, seed=0)
    cutoff = describe("bandlimit", 0.6, RATE)["cutoff_hz"]
    freqs = np.fft.rfftfreq(len(y), 1 / RATE)
    above = freqs > 1.5 * cutoff
    power_in = np.sum(np.abs(np.fft.rfft(speech))[above] ** 2)
    power_out = np.sum(np.abs(np.fft.rfft(y))[above] ** 2)
    assert power_out < 1e-4 * power_in


def test_damage_families_match_their_parameters(speech):
    n = len(speech)
    pops = perturb(speech, RATE, "pops", 0.5, seed=1)
    assert np.sum(pops != speech) == pytest.approx(describe("pops", 0.5, RATE)["fraction"] * n, rel=0.05)
    popped = pops[pops != speech]  # the signal's own extremes, half each (as the JND generator)
    assert set(np.unique(popped)) == {np.float32(speech.max()), np.float32(speech.min())}
    assert abs(np.sum(popped == np.float32(speech.max())) - np.sum(popped == np.float32(speech.min()))) <= 1
    quiet_pops = perturb(0.1 * speech, RATE, "pops", 0.5, seed=1)
    np.testing.assert_allclose(quiet_pops, 0.1 * pops, atol=1e-6)  # relative to the signal, not to full scale
    long = np.tile(speech, 8)
    dropped = perturb(long, RATE, "dropout", 0.5, seed=1)
    packet = int(0.02 * RATE)
    lost = [np.all(dropped[i : i + packet] == 0) and np.any(long[i : i + packet] != 0) for i in range(0, len(long) - packet, packet)]
    assert np.mean(lost) == pytest.approx(0.2, abs=0.04)
    clipped = perturb(speech, RATE, "clipping", 0.5, seed=0)
    assert np.max(np.abs(clipped)) == pytest.approx(np.max(np.abs(speech)) * 10 ** (-15 / 20), rel=1e-5)
    quiet = perturb(speech, RATE, "gain", 0.5, seed=0)
    assert 20 * np.log10(np.max(np.abs(quiet)) / np.max(np.abs(speech))) == pytest.approx(-10.0, abs=1e-3)


def test_damage_is_nested_across_levels_for_one_seed(speech):
    low = perturb(speech, RATE, "dropout", 0.3, seed=8) == 0
    high = perturb(speech, RATE, "dropout", 0.7, seed=8) == 0
    assert np.all(high[low & (speech != 0)])


def test_mulaw_compands_without_expanding_on_256_levels_at_the_input_rms(speech):
    rms = lambda x: float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))  # noqa: E731
    for level in (0.0, 0.5, 1.0):
        params = describe("mulaw", level, RATE)
        assert params["bits"] == pytest.approx(60.0**level)
        y = perturb(speech, RATE, "mulaw", level)
        assert len(np.unique(y)) <= 256
        assert rms(y) == pytest.approx(rms(speech), rel=1e-4)
    # mu = 1: nearly linear, so level 0 is mostly the 8-bit quantiser (about 20-30 dB SNR on speech)
    assert 15.0 < snr_db(speech, perturb(speech, RATE, "mulaw", 0.0)) < 40.0
    # mu = 2^60 - 1 and no expansion: every sample well above the quantiser's step goes to about +-1
    strongest = perturb(speech, RATE, "mulaw", 1.0)
    loud = np.abs(speech) > 1e-3
    assert np.all(np.sign(strongest[loud]) == np.sign(speech[loud]))
    assert np.ptp(np.abs(strongest[loud])) < 0.25 * np.max(np.abs(strongest))
    change = [snr_db(speech, perturb(speech, RATE, "mulaw", level)) for level in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert change == sorted(change, reverse=True), change


def test_griffin_lim_keeps_the_magnitude_and_loses_the_phase(speech):
    y = perturb(speech, RATE, "griffin_lim", 0.0, seed=0)
    assert snr_db(speech, y) < 3.0  # the waveform is different ...
    assert log_spectral_distance(speech, y) < 0.5 * log_spectral_distance(speech, perturb(speech, RATE, "griffin_lim", 1.0))


def test_chain_applies_links_in_order_with_derived_seeds(speech):
    chain = Chain([("white_noise", 0.3), ("mp3", 0.5), ("babble", 0.2, {"talkers": 2, **BABBLE})])
    y = chain(speech, RATE, seed=21)
    manual = perturb(speech, RATE, "white_noise", 0.3, seed=derived_seed(21, 0))
    manual = perturb(manual, RATE, "mp3", 0.5, seed=derived_seed(21, 1))
    manual = perturb(manual, RATE, "babble", 0.2, seed=derived_seed(21, 2), talkers=2, **BABBLE)
    np.testing.assert_array_equal(y, manual)
    np.testing.assert_array_equal(y, chain(speech, RATE, seed=21))
    assert not np.array_equal(y, chain(speech, RATE, seed=22))
    assert derived_seed(21, 0) != derived_seed(21, 1)
    assert Chain.parse(chain.spec()).spec() == "white_noise:0.3+mp3:0.5+babble:0.2"
    assert [d["family"] for d in chain.describe(RATE)] == ["white_noise", "mp3", "babble"]


def test_torch_input_and_errors(speech):
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(perturb(torch.from_numpy(speech), RATE, "pops", 0.4), perturb(speech, RATE, "pops", 0.4))
    with pytest.raises(ValueError, match="known families: .*white_noise"):
        perturb(speech, RATE, "whitenoise", 0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        perturb(speech, RATE, "gain", 1.5)
    with pytest.raises(ValueError, match="mono"):
        perturb(np.stack([speech, speech, speech]), RATE, "gain", 0.5)
    with pytest.raises(TypeError, match="int16"):
        perturb((speech * 32767).astype(np.int16), RATE, "gain", 0.5)
    with pytest.raises(ValueError, match="chain link"):
        Chain([("gain",)])


def test_babble_needs_sources_and_the_toy_corpus_offers_its_training_speech():
    with pytest.raises(ValueError, match="babble_sources"):
        perturb(np.zeros(RATE), RATE, "babble", 0.5)
    sources = toy.babble_sources(RATE)
    train = toy.utterances("train", sample_rate=RATE)
    assert len(sources) == min(12, len(train)) and sources[0] == str(train[0].path)
    assert len(set(sources)) == len(sources) and len({u.speaker for u in train if str(u.path) in sources}) > 1
    assert toy.babble_sources(22050)[0].endswith(".wav") and "/22k/" in toy.babble_sources(22050)[0]


def test_families_are_the_registry_in_a_stable_order():
    from metric.perturb.registry import registered_names

    assert FAMILIES == registered_names()
    # seeded datasets index into this order: it must not move
    assert FAMILIES == ("white_noise", "pink_noise", "brown_noise", "babble", "noise_file", "reverb", "eq", "mp3", "opus",
                        "mulaw", "pops", "dropout", "clipping", "bandlimit", "griffin_lim", "gain", "time_shift")


def test_the_perturbation_package_does_not_reach_into_the_datasets():
    import ast
    from pathlib import Path

    import metric.perturb

    for path in Path(metric.perturb.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.startswith("metric.data") for n in names), f"{path.name} imports {names}"
