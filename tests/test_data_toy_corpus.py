"""The embedded toy corpus: real speech, split by speaker, correct formats, and honest noisy/clean pairs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from metric.data import toy

SPLITS = ("train", "valid", "test")


def read(path):
    data, rate = sf.read(path, dtype="float64")
    return data, rate


def frame_db(audio: np.ndarray, frame: int) -> np.ndarray:
    count = len(audio) // frame
    return 10 * np.log10(np.mean(audio[: count * frame].reshape(count, frame) ** 2, axis=1) + 1e-12)


def speech_evidence(audio: np.ndarray, rate: int) -> tuple[float, float]:
    """(voiced fraction of the active frames, spread of frame levels in dB).

    Speech alternates voiced sounds (a clear pitch period of 2.5-16 ms, i.e. 60-400 Hz) with unvoiced
    sounds and pauses, so both numbers are moderate; stationary noise has almost no voiced frames and
    a steady tone is voiced everywhere with no level spread.
    """
    frame = int(0.03 * rate)
    levels = frame_db(audio, frame)
    active = levels > levels.max() - 30
    lo, hi = int(rate / 400), int(rate / 60)
    voiced = 0
    for index in np.flatnonzero(active):
        x = audio[index * frame:(index + 1) * frame]
        x = x - x.mean()
        ac = np.correlate(x, x, "full")[frame - 1:]
        if ac[0] <= 0:
            continue
        # normalise by the overlap so long lags are not penalised
        ac = ac / ac[0] * frame / (frame - np.arange(frame))
        voiced += ac[lo:hi].max() > 0.6
    spread = float(np.percentile(levels, 90) - np.percentile(levels, 10))
    return voiced / max(1, int(active.sum())), spread


def looks_like_speech(audio: np.ndarray, rate: int) -> bool:
    voiced, spread = speech_evidence(audio, rate)
    return 0.2 <= voiced <= 0.99 and spread >= 10.0


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(clean ** 2) / np.sum((noisy - clean) ** 2)))


def test_speakers_are_disjoint_across_splits_and_at_least_four():
    by_split = {split: set(toy.speakers(split)) for split in SPLITS}
    assert all(by_split.values()), by_split
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not by_split[a] & by_split[b], (a, b)
    assert len(set().union(*by_split.values())) >= 4
    for split in SPLITS:
        for rate in (16000, 22050):
            assert {u.speaker for u in toy.utterances(split, rate)} == by_split[split]


def test_enough_utterances_per_split():
    counts = {split: len(toy.utterances(split)) for split in SPLITS}
    assert counts["train"] >= 60 and counts["valid"] >= 15 and counts["test"] >= 15, counts
    for split in SPLITS:
        assert [u.utterance_id for u in toy.utterances(split, 16000)] == \
               [u.utterance_id for u in toy.utterances(split, 22050)]


@pytest.mark.parametrize("rate", [16000, 22050])
def test_files_are_mono_pcm16_at_the_stated_rate_and_1_to_4_seconds(rate):
    for split in SPLITS:
        for utt in toy.utterances(split, rate):
            info = sf.info(utt.path)
            assert (info.samplerate, info.channels, info.subtype) == (rate, 1, "PCM_16"), utt.path
            assert 1.0 <= info.duration <= 4.0, (utt.path, info.duration)
            assert utt.path.parent.name == utt.speaker and utt.path.stem == utt.utterance_id


def test_both_rates_hold_the_same_audio():
    for utt16, utt22 in zip(toy.utterances("valid", 16000), toy.utterances("valid", 22050)):
        a, _ = read(utt16.path)
        b, _ = read(utt22.path)
        assert abs(len(a) / 16000 - len(b) / 22050) < 1e-3
        # same loudness and the same level contour (frames of 20 ms)
        la, lb = frame_db(a, 320), frame_db(b, 441)
        n = min(len(la), len(lb))
        loud = la[:n] > la.max() - 30
        assert np.median(np.abs(la[:n][loud] - lb[:n][loud])) < 1.0


def test_every_utterance_is_real_speech_at_a_normalised_level():
    for split in SPLITS:
        for utt in toy.utterances(split):
            audio, rate = read(utt.path)
            assert looks_like_speech(audio, rate), (utt.path, speech_evidence(audio, rate))
            levels = frame_db(audio, 320)
            active = levels[levels > levels.max() - 40]
            level = 10 * np.log10(np.mean(10 ** (active / 10)))
            assert -30 < level < -22, (utt.path, level)
            assert np.max(np.abs(audio)) < 0.95


def test_speech_check_rejects_noise_tones_and_silence():
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    assert not looks_like_speech(0.1 * rng.standard_normal(32000), 16000)
    assert not looks_like_speech(0.1 * np.sin(2 * np.pi * 180 * t), 16000)
    assert not looks_like_speech(1e-4 * rng.standard_normal(32000) * (t > 1), 16000)


@pytest.mark.parametrize("split", SPLITS)
def test_enhancement_pairs_match_the_speech_files_and_the_manifest(split):
    pairs = toy.enhancement_pairs(split)
    speech = {u.utterance_id: u for u in toy.utterances(split)}
    conditions = {c.utterance_id: c for c in toy.enhancement_conditions(split)}
    assert len(pairs) == len(speech) == len(conditions)
    for noisy_path, clean_path in pairs:
        assert noisy_path.name == clean_path.name and noisy_path.is_file()
        assert noisy_path.parent.name == "noisy" and clean_path.parent.name == "clean"
        clean, rate = read(clean_path)
        noisy, noisy_rate = read(noisy_path)
        assert rate == noisy_rate == 16000 and len(clean) == len(noisy)
        assert sf.info(noisy_path).subtype == "PCM_16" and sf.info(noisy_path).channels == 1
        utt = speech[clean_path.stem]
        np.testing.assert_array_equal(clean, read(utt.path)[0])
        condition = conditions[clean_path.stem]
        assert condition.speaker == utt.speaker
        assert abs(condition.duration_s - len(clean) / rate) < 1e-3
        assert abs(snr_db(clean, noisy) - condition.snr_db) < 0.5, (noisy_path, condition)


def test_noise_kinds_and_snrs_cover_the_design():
    rows = [c for split in SPLITS for c in toy.enhancement_conditions(split)]
    kinds = {c.noise_kind for c in rows}
    assert {"white", "pink", "brown", "babble"} <= kinds
    assert {c.snr_db for c in rows} >= {0.0, 5.0, 10.0, 15.0}
    train = toy.enhancement_conditions("train")
    assert len({c.noise_kind for c in train}) >= 4 and len({c.snr_db for c in train}) >= 4


def test_noise_colours_have_their_spectral_slopes():
    """White noise is flat, pink falls ~3 dB/octave and brown ~6 dB/octave (500 Hz -> 4 kHz)."""
    slopes = {}
    for kind in ("white", "pink", "brown"):
        residuals = []
        for noisy_path, clean_path in toy.enhancement_pairs("train"):
            condition = next(c for c in toy.enhancement_conditions("train") if c.utterance_id == clean_path.stem)
            if condition.noise_kind == kind:
                residuals.append(read(noisy_path)[0] - read(clean_path)[0])
        noise = np.concatenate(residuals)
        spectrum = np.abs(np.fft.rfft(noise)) ** 2
        freqs = np.fft.rfftfreq(len(noise), 1 / 16000)
        band = lambda f: spectrum[(freqs > f / 1.2) & (freqs < f * 1.2)].mean()
        slopes[kind] = 10 * np.log10(band(4000) / band(500)) / 3  # dB per octave
    assert abs(slopes["white"]) < 1.0, slopes
    assert -4.5 < slopes["pink"] < -1.5, slopes
    assert -7.5 < slopes["brown"] < -4.5, slopes


def test_manifests_and_licenses_describe_every_speaker():
    root = toy.toy_root()
    with open(root / "speech" / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    listed = {(r["split"], r["speaker"], r["utterance_id"]) for r in rows}
    on_disk = {(s, u.speaker, u.utterance_id) for s in SPLITS for u in toy.utterances(s)}
    assert listed == on_disk
    licenses = (root / "LICENSES").read_text(encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8")
    for row in rows:
        assert row["package"] in licenses and row["speaker"] in licenses and row["speaker"] in readme
    for text in ("CC-BY-SA-3.0", "CC-BY-3.0", "GNU GENERAL PUBLIC LICENSE", "GNU LESSER GENERAL PUBLIC LICENSE"):
        assert text in licenses


def test_total_size_is_under_20_mb():
    total = sum(p.stat().st_size for p in toy.toy_root().rglob("*") if p.is_file())
    assert total < 20_000_000, total


def test_unknown_split_or_rate_is_a_clear_error():
    with pytest.raises(ValueError, match="split"):
        toy.utterances("dev")
    with pytest.raises(ValueError, match="16000"):
        toy.utterances("train", sample_rate=8000)
    with pytest.raises(ValueError, match="split"):
        toy.enhancement_pairs("validation")
    with pytest.raises(ValueError, match="split"):
        toy.speakers("all")
