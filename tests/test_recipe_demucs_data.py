"""DEMUCS recipe data preparation on small fake trees in the published Valentini and DNS-2020 layouts."""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from recipe_scripts import load_script, recipe_dir

from metric import read_audio, read_enhancement_manifest
from metric.data.enhancement import LayoutError
from metric.resample import resample_array

ROOT = Path(__file__).resolve().parents[1]
recipe_dir("demucs")
from demucs.data import NoisyCleanSegments  # noqa: E402

prepare = load_script("demucs", "prepare_data").prepare

SPEECH = ROOT / "metric" / "assets" / "sample_audio" / "ref.wav"  # real speech, 22,050 Hz


def speech(rate: int, seconds: float, seed: int) -> np.ndarray:
    """A real-speech excerpt at ``rate`` starting at a seed-dependent offset."""
    audio, _ = read_audio(SPEECH, rate, mono=True)
    start = (seed * 3331) % (len(audio) - int(seconds * rate))
    return 0.5 * audio[start : start + int(seconds * rate)]


def write_pair(clean_path: Path, noisy_path: Path, rate: int, seconds: float, seed: int) -> np.ndarray:
    clean = speech(rate, seconds, seed)
    noise = np.random.default_rng(seed).normal(0, 0.02, len(clean)).astype(np.float32)
    clean_path.parent.mkdir(parents=True, exist_ok=True)
    noisy_path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(clean_path, clean, rate, subtype="FLOAT")
    sf.write(noisy_path, clean + noise, rate, subtype="FLOAT")
    return clean


def make_valentini(root: Path) -> dict[str, np.ndarray]:
    clean = {}
    for name, seed in [("p226_001", 1), ("p226_002", 2), ("p286_001", 3), ("p287_004", 4)]:
        clean[name] = write_pair(root / "clean_trainset_28spk_wav" / f"{name}.wav",
                                 root / "noisy_trainset_28spk_wav" / f"{name}.wav", 48000, 0.5, seed)
    for name, seed in [("p232_001", 5), ("p257_010", 6)]:
        clean[name] = write_pair(root / "clean_testset_wav" / f"{name}.wav", root / "noisy_testset_wav" / f"{name}.wav",
                                 48000, 0.4, seed)
    return clean


def make_dns(root: Path) -> dict[str, np.ndarray]:
    clean = {}
    for fileid in [0, 1, 2, 3, 21]:
        clean[f"training_fileid_{fileid}"] = write_pair(
            root / "training/clean" / f"clean_fileid_{fileid}.wav",
            root / "training/noisy" / f"book_0{fileid}_chp_0009_reader_0{fileid}_snr{fileid}_fileid_{fileid}.wav",
            16000, 0.5, fileid + 10)
    for condition in ["no_reverb", "with_reverb"]:
        for fileid in [0, 1]:
            base = root / "test_set/synthetic" / condition
            clean[f"test_{condition}_fileid_{fileid}"] = write_pair(
                base / "clean" / f"clean_fileid_{fileid}.wav",
                base / "noisy" / f"clnsp{fileid}_AirConditioner_snr5_tl-25_fileid_{fileid}.wav", 16000, 0.3, fileid + 20)
    return clean


def test_valentini_layout_becomes_16k_manifests(tmp_path):
    clean = make_valentini(tmp_path / "valentini")
    written = prepare("valentini", tmp_path / "out", tmp_path / "valentini")
    assert set(written) == {"train", "valid", "test"}
    splits = {split: read_enhancement_manifest(path) for split, path in written.items()}
    assert [e["id"] for e in splits["train"]] == ["p226_001", "p226_002"]
    assert [e["id"] for e in splits["valid"]] == ["p286_001", "p287_004"]  # held-out speakers
    assert [e["id"] for e in splits["test"]] == ["p232_001", "p257_010"]
    for entries in splits.values():
        for entry in entries:
            for key in ("noisy", "clean"):
                audio, rate = sf.read(entry[key], dtype="float32")
                assert rate == 16000 and entry["sample_rate"] == 16000
                assert len(audio) == entry["samples"] == len(clean[entry["id"]]) // 3
                assert str(tmp_path / "out") in entry[key]  # resampled copies, originals untouched
            # The clean file is the band-limited 16 kHz version of the original clean speech.
            expected = resample_array(clean[entry["id"]], 48000, 16000)
            got, _ = sf.read(entry["clean"], dtype="float32")
            assert np.max(np.abs(got - expected)) < 1e-3
    with open(tmp_path / "out" / "test.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == ["p232_001", "p257_010"]
    assert rows[0]["noisy"] == splits["test"][0]["noisy"]


def test_dns_layout_pairs_by_fileid(tmp_path):
    clean = make_dns(tmp_path / "dns")
    written = prepare("dns", tmp_path / "out", tmp_path / "dns")
    assert set(written) == {"train", "valid", "test", "test_reverb"}
    splits = {split: read_enhancement_manifest(path) for split, path in written.items()}
    assert [e["id"] for e in splits["valid"]] == ["training_fileid_0"]  # every 20th file id
    assert [e["id"] for e in splits["train"]] == ["training_fileid_1", "training_fileid_2", "training_fileid_3", "training_fileid_21"]
    assert [e["id"] for e in splits["test"]] == ["test_no_reverb_fileid_0", "test_no_reverb_fileid_1"]
    assert [e["id"] for e in splits["test_reverb"]] == ["test_with_reverb_fileid_0", "test_with_reverb_fileid_1"]
    for entries in splits.values():
        for entry in entries:
            noisy, _ = sf.read(entry["noisy"], dtype="float32")
            reference, _ = sf.read(entry["clean"], dtype="float32")
            assert entry["noisy"].endswith(f"fileid_{entry['id'].rsplit('_', 1)[1]}.wav")
            # 16 kHz files are used in place, and each noisy file is its clean file plus a little noise.
            assert str(tmp_path / "dns") in entry["noisy"]
            np.testing.assert_allclose(reference, clean[entry["id"]], atol=1e-6)
            assert abs(np.std(noisy - reference) - 0.02) < 0.003


def test_wrong_layouts_say_what_is_missing(tmp_path):
    with pytest.raises(LayoutError, match="noisy_testset_wav"):
        (tmp_path / "v" / "clean_trainset_28spk_wav").mkdir(parents=True)
        (tmp_path / "v" / "noisy_trainset_28spk_wav").mkdir()
        (tmp_path / "v" / "clean_testset_wav").mkdir()
        prepare("valentini", tmp_path / "out", tmp_path / "v")
    make_valentini(tmp_path / "v2")
    (tmp_path / "v2" / "noisy_testset_wav" / "p232_001.wav").unlink()
    with pytest.raises(LayoutError, match="p232_001"):
        prepare("valentini", tmp_path / "out2", tmp_path / "v2")
    with pytest.raises(LayoutError, match="training/clean"):
        prepare("dns", tmp_path / "out3", tmp_path / "v2")
    with pytest.raises(ValueError, match="path="):
        prepare("dns", tmp_path / "out4", None)


def test_toy_corpus_manifests(tmp_path):
    written = prepare("toy", tmp_path / "toy")
    splits = {split: read_enhancement_manifest(path) for split, path in written.items()}
    assert {"train", "valid", "test"} <= set(splits)
    ids = [set(e["id"] for e in entries) for entries in splits.values()]
    assert all(ids) and not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    entry = splits["test"][0]
    noisy, rate = sf.read(entry["noisy"], dtype="float32")
    reference, _ = sf.read(entry["clean"], dtype="float32")
    assert rate == 16000 and len(noisy) == len(reference) == entry["samples"]
    assert not np.allclose(noisy, reference)


def test_segments_dataset_cuts_and_pads(tmp_path):
    make_valentini(tmp_path / "v")
    written = prepare("valentini", tmp_path / "out", tmp_path / "v")
    entries = read_enhancement_manifest(written["train"])  # two files of 8000 samples
    data = NoisyCleanSegments(written["train"], segment_seconds=0.2, stride_seconds=0.1)
    per_file = (8000 - 3200) // 1600 + 1
    assert len(data) == 2 * per_file
    noisy, clean = data[1]
    whole, _ = sf.read(entries[0]["clean"], dtype="float32")
    assert noisy.shape == clean.shape == (3200,)
    np.testing.assert_array_equal(clean.numpy(), whole[1600:4800])
    long = NoisyCleanSegments(written["train"], segment_seconds=1.0)
    noisy, clean = long[0]
    assert noisy.shape == (16000,) and float(clean[8000:].abs().max()) == 0.0  # zero-padded tail
    whole_files = NoisyCleanSegments(written["train"], segment_seconds=None)
    assert len(whole_files) == 2 and whole_files[0][0].shape == (8000,)
    # The release's segmentation: starts every stride until a segment reaches the end, the last one padded.
    tail = NoisyCleanSegments(written["train"], segment_seconds=0.3, stride_seconds=0.25)
    assert len(tail) == 2 * 2  # 4800-sample segments starting at 0 and 4000 of 8000 samples
    noisy, clean = tail[1]
    np.testing.assert_array_equal(clean[:4000].numpy(), whole[4000:])
    assert noisy.shape == (4800,) and float(clean[4000:].abs().max()) == 0.0
    exact = NoisyCleanSegments(written["train"], segment_samples=3201, stride_seconds=0.1)
    assert exact[0][0].shape == (3201,)
    json.loads(Path(written["train"]).read_text())  # valid JSON
