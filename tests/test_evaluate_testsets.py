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
