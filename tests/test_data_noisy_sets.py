"""The large toy test set: the toy test speakers' utterances under more noise kinds and SNRs, reproducible
from its seed, held out from the speakers that train and validate."""

import json

import numpy as np
import pytest
import soundfile as sf

from metric import prepare_toy_test_set
from metric.data import toy
from metric.data.noisy_sets import TEST_NOISE_KINDS, TEST_SNRS_DB, TRAINING_NOISE_KINDS, make_noise, mix_at_snr


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """Two conditions per test utterance (30 pairs)."""
    out = tmp_path_factory.mktemp("noisy_sets")
    return json.loads(prepare_toy_test_set(out, conditions_per_utterance=2).read_text()), out


def test_pairs_are_the_test_speakers_at_their_stated_snr(small_set):
    entries, _ = small_set
    test_utterances = {u.utterance_id: u.speaker for u in toy.utterances("test")}
    assert len(entries) == 2 * len(test_utterances) and len({e["id"] for e in entries}) == len(entries)
    assert {e["utterance"] for e in entries} == set(test_utterances)
    held_out = set(toy.speakers("train")) | set(toy.speakers("valid"))
    assert not {e["speaker"] for e in entries} & held_out
    for entry in entries:
        noisy, rate = sf.read(entry["noisy"])
        clean, _ = sf.read(entry["clean"])
        assert rate == 16000 and len(noisy) == len(clean) == entry["samples"]
        snr = 10 * np.log10(np.sum(clean**2) / np.sum((noisy - clean) ** 2))
        assert snr == pytest.approx(entry["snr_db"], abs=0.2)  # 16-bit files
        assert np.abs(noisy).max() <= 0.99 + 1e-4
    # Conditions are dealt without repetition: 30 pairs, 30 different (kind, SNR) conditions.
    conditions = {(e["noise_kind"], e["snr_db"]) for e in entries}
    assert len(conditions) == 30 and {kind for kind, _ in conditions} <= set(TEST_NOISE_KINDS)


def test_the_default_set_covers_every_kind_and_snr_and_is_reproducible(tmp_path, small_set):
    entries = json.loads(prepare_toy_test_set(tmp_path / "a").read_text())
    assert len(entries) == 60
    assert {e["noise_kind"] for e in entries} == set(TEST_NOISE_KINDS)
    assert {e["snr_db"] for e in entries} == set(TEST_SNRS_DB)
    assert set(TEST_NOISE_KINDS) - set(TRAINING_NOISE_KINDS) == {"speech_shaped", "modulated", "hum", "clicks"}
    # The same seed writes the same audio; another seed other conditions.
    again, _ = small_set
    repeat = json.loads(prepare_toy_test_set(tmp_path / "b", conditions_per_utterance=2).read_text())
    assert [e["id"] for e in repeat] == [e["id"] for e in again]
    assert np.array_equal(sf.read(repeat[3]["noisy"])[0], sf.read(again[3]["noisy"])[0])
    other = json.loads(prepare_toy_test_set(tmp_path / "c", conditions_per_utterance=2, seed=1).read_text())
    assert [e["id"] for e in other] != [e["id"] for e in again]


def test_noise_kinds_have_their_character():
    rng = np.random.default_rng(0)
    rate, n = 16000, 32000
    speech = [np.sin(2 * np.pi * 200 * np.arange(n) / rate) * np.hanning(n)]
    noises = {kind: make_noise(kind, n, rate, rng, speech=speech, music=speech) for kind in TEST_NOISE_KINDS}
    for kind, noise in noises.items():
        assert noise.shape == (n,) and np.sqrt(np.mean(noise**2)) == pytest.approx(1.0, rel=1e-6), kind
    spectrum = np.abs(np.fft.rfft(noises["hum"])) ** 2
    freqs = np.fft.rfftfreq(n, 1 / rate)
    fundamental = freqs[np.argmax(spectrum)]
    assert fundamental in (50.0, 60.0)  # the strongest line is the mains frequency
    kurtosis = lambda x: np.mean(x**4) / np.mean(x**2) ** 2  # noqa: E731
    assert kurtosis(noises["clicks"]) > 10 * kurtosis(noises["white"])  # impulsive
    envelope = np.abs(noises["modulated"]).reshape(-1, 400).mean(axis=1)  # 25 ms frames
    assert envelope.max() > 4 * np.percentile(envelope, 10)  # syllable-rate dips
    with pytest.raises(ValueError, match="babble noise needs speech"):
        make_noise("babble", n, rate, rng)
    with pytest.raises(ValueError, match="unknown noise kind 'rain'"):
        make_noise("rain", n, rate, rng)


def test_mixing_keeps_the_snr_when_it_scales_down_to_avoid_clipping():
    rng = np.random.default_rng(1)
    clean = 0.9 * np.sin(np.linspace(0, 200, 16000))
    noise = rng.standard_normal(16000)
    noisy, scaled = mix_at_snr(clean, noise, -5.0)
    assert np.abs(noisy).max() == pytest.approx(0.99)
    assert 10 * np.log10(np.sum(scaled**2) / np.sum((noisy - scaled) ** 2)) == pytest.approx(-5.0, abs=1e-9)
    gain = scaled.max() / clean.max()
    assert gain < 1 and np.allclose(scaled, gain * clean)  # clean scaled by the same gain
