"""Test-set builders: distinct content, shared acoustics, the right pairs."""

import numpy as np
import pytest
import soundfile as sf

from metric.evaluate.testsets import (
    build_acoustic_groups,
    build_monotonicity_set,
    load_clips,
    retrieval_queries,
    sample_common_area_pairs,
)


def _folder_of_tones(folder, count=4, seconds=1.2):
    folder.mkdir()
    t = np.arange(int(16000 * seconds)) / 16000
    for i in range(count):
        sf.write(folder / f"spk{i % 2}_{i}.wav", 0.3 * np.sin(2 * np.pi * (200 + 100 * i) * t), 16000)
    return folder


def test_clips_from_a_folder_have_equal_length_and_distinct_content(tmp_path):
    folder = _folder_of_tones(tmp_path / "wavs")
    clips = load_clips(folder, count=4, seconds=0.5)
    assert len({c.source for c in clips}) == 4 and all(len(c.waveform) == 8000 for c in clips)
    # more clips than files: further windows of the same files, still distinct keys
    more = load_clips(folder, count=8, seconds=0.5)
    assert len({c.key for c in more}) == 8
    with pytest.raises(ValueError, match="only 8 distinct"):
        load_clips(folder, count=9, seconds=0.5)
    every = load_clips(folder, count=None, seconds=0.5)  # every distinct clip, in the same order
    assert [c.key for c in every] == [c.key for c in more]


def test_acoustic_groups_share_their_perturbation_and_pairs_never_share_content(tmp_path):
    clips = load_clips(_folder_of_tones(tmp_path / "wavs"), count=4, seconds=0.5)
    groups = build_acoustic_groups(clips, ["white_noise:0.5", "mulaw:0.8"], progress=False)
    assert groups.labels == ["white_noise:0.5"] * 4 + ["mulaw:0.8"] * 4
    same, different = sample_common_area_pairs(groups, count=1000)
    assert len(same) == 2 * 4 * 3 and len(different) == 2 * 4 * 3  # ordered pairs, content always differs
    content = dict(zip(groups.keys, groups.contents))
    label = dict(zip(groups.keys, groups.labels))
    assert all(content[a] != content[b] and label[a] == label[b] for a, b in same)
    assert all(content[a] != content[b] and label[a] != label[b] for a, b in different)
    assert len(retrieval_queries(groups, per_group=2)) == 4


def test_monotonicity_set_pairs_each_clean_clip_with_its_perturbed_versions(tmp_path):
    clips = load_clips(_folder_of_tones(tmp_path / "wavs"), count=2, seconds=0.5)
    test_set = build_monotonicity_set(clips, ["white_noise"], ["white_noise+mulaw"], [0.2, 0.8], progress=False)
    assert len(test_set.pairs) == 2 * 2 * 2
    for (ref, deg), info in zip(test_set.pairs, test_set.info):
        assert ref == info["content"]
        error = np.mean((test_set.clips[ref] - test_set.clips[deg]) ** 2)
        assert error > 0
    assert {info["combined"] for info in test_set.info} == {True, False}


def _snr_db(reference, degraded):
    reference, degraded = np.asarray(reference, np.float64), np.asarray(degraded, np.float64)
    return 10 * np.log10(np.sum(reference**2) / np.sum((degraded - reference) ** 2))


def test_monotonicity_set_is_energy_controlled(tmp_path):
    from metric.perturb import describe

    clips = load_clips(_folder_of_tones(tmp_path / "wavs"), count=4, seconds=0.5)
    test_set = build_monotonicity_set(clips, ["white_noise", "dropout"], [], [0.5, 0.9], progress=False)
    gains = {}
    for (ref, deg), info in zip(test_set.pairs, test_set.info):
        original = next(c.waveform for c in clips if c.key == ref)
        gain = 10 ** (info["gain_db"] / 20)
        assert -20.0 <= info["gain_db"] <= 0.0
        np.testing.assert_allclose(test_set.clips[ref], original * gain, rtol=1e-5, atol=1e-7)  # the clean file carries it too
        assert gains.setdefault(ref, info["gain_db"]) == info["gain_db"]  # one gain per clip
        if info["family"] == "white_noise":  # the level is an SNR to the clean clip, whatever the gain
            assert _snr_db(test_set.clips[ref], test_set.clips[deg]) == pytest.approx(
                describe("white_noise", info["level"], 16000)["relative_snr_db"], abs=0.05)
    assert len(set(gains.values())) == 4 and max(gains.values()) - min(gains.values()) > 3.0
    # the random draws do not change with the level: the degradation is nested (lost packets)
    for clip in clips:
        low, high = (test_set.clips[f"monotonicity/{clip.key}|dropout:{level:g}"] for level in (0.5, 0.9))
        lost_low = (low == 0) & (test_set.clips[clip.key] != 0)
        assert lost_low.any() and np.all(high[lost_low] == 0)
    plain = build_monotonicity_set(clips, ["white_noise"], [], [0.2], progress=False, gain_db=(0.0, 0.0), relative_noise=False)
    np.testing.assert_array_equal(plain.clips[clips[0].key], clips[0].waveform)


def test_acoustic_groups_give_every_file_its_own_gain(tmp_path):
    clips = load_clips(_folder_of_tones(tmp_path / "wavs"), count=4, seconds=0.5)
    groups = build_acoustic_groups(clips, ["gain:0.0", "mulaw:0.8"], progress=False)
    peaks = [float(np.max(np.abs(groups.clips[k]))) / 0.3 for k in groups.keys[:4]]  # gain:0 leaves the tone as it is
    assert all(10 ** (-20 / 20) - 1e-4 <= p <= 1.0 + 1e-4 for p in peaks) and len(set(np.round(peaks, 4))) == 4


def test_mse_cannot_pass_the_default_monotonicity_set():
    """Energy alone (MSE) orders the levels within each recording, but not across recordings of random loudness."""
    from metric.evaluate.cli import register
    from metric.evaluate.scorers import build_scorer
    from metric.evaluate.suite import run_monotonicity
    import argparse

    defaults = register(argparse.ArgumentParser().add_subparsers()).parse_args(["monotonicity"])
    clips = load_clips(defaults.corpus, defaults.contents, defaults.seconds, defaults.sample_rate)
    result = {}
    for name, options in (("controlled", {}), ("uncontrolled", {"gain_db": (0.0, 0.0), "relative_noise": False})):
        test_set = build_monotonicity_set(clips, defaults.families, defaults.combinations, defaults.levels,
                                          defaults.sample_rate, defaults.seed, progress=False, **options)
        result[name] = run_monotonicity([build_scorer("mse")], test_set, progress=False)["metrics"]["mse"]
    assert result["controlled"]["mono"] < 0.65, result["controlled"]["per_family"]
    assert result["controlled"]["mono"] < result["uncontrolled"]["mono"] - 0.15
    assert result["controlled"]["mono_within_content"] > 0.95  # within one recording MSE still orders the levels
