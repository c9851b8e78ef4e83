"""MelGAN recipe: data preparation on small fake LJSpeech-1.1 and VCTK-0.92 trees, training segments."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "melgan"
sys.path.insert(0, str(RECIPE))

from melgan.data import SegmentDataset, prepare_ljspeech, prepare_vctk, read_manifest  # noqa: E402


def _tone(seconds: float, rate: int, freq: float) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _fake_ljspeech(root: Path, n: int = 12) -> list[str]:
    (root / "wavs").mkdir(parents=True)
    ids = [f"LJ001-{i:04d}" for i in range(1, n + 1)]
    lines = []
    for i, utt in enumerate(ids):
        sf.write(root / "wavs" / f"{utt}.wav", _tone(0.5 + 0.1 * i, 22050, 200 + 10 * i), 22050, subtype="PCM_16")
        lines.append(f"{utt}|Printing, in the only sense {i}|Printing, in the only sense number {i}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ids


def test_ljspeech_manifests_split_without_overlap(tmp_path):
    ids = _fake_ljspeech(tmp_path / "LJSpeech-1.1")
    paths = prepare_ljspeech(tmp_path / "LJSpeech-1.1", tmp_path / "manifests", n_valid=2, n_test=3, seed=0)
    splits = {name: read_manifest(path) for name, path in paths.items()}
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [7, 2, 3]
    seen = [e["utterance_id"] for s in splits.values() for e in s]
    assert sorted(seen) == sorted(ids)  # every utterance exactly once
    entry = splits["train"][0]
    assert entry["sample_rate"] == 22050 and entry["speaker"] == "LJ"
    assert Path(entry["path"]).is_file()
    index = int(entry["utterance_id"].split("-")[1]) - 1
    assert entry["num_samples"] == int((0.5 + 0.1 * index) * 22050)
    assert entry["text"] == f"Printing, in the only sense number {index}"  # normalised column
    # Same seed, same split.
    again = prepare_ljspeech(tmp_path / "LJSpeech-1.1", tmp_path / "again", n_valid=2, n_test=3, seed=0)
    assert read_manifest(again["test"]) == splits["test"]


def test_ljspeech_missing_pieces_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="metadata.csv"):
        prepare_ljspeech(tmp_path, tmp_path / "m")
    _fake_ljspeech(tmp_path / "LJ", n=3)
    (tmp_path / "LJ" / "wavs" / "LJ001-0002.wav").unlink()
    with pytest.raises(FileNotFoundError, match="LJ001-0002"):
        prepare_ljspeech(tmp_path / "LJ", tmp_path / "m", n_valid=1, n_test=1)


def _fake_vctk(root: Path, speakers=("p225", "p226", "p227"), per_speaker=3):
    for s_index, speaker in enumerate(speakers):
        (root / "wav48_silence_trimmed" / speaker).mkdir(parents=True)
        (root / "txt" / speaker).mkdir(parents=True)
        for u in range(1, per_speaker + 1):
            utt = f"{speaker}_{u:03d}"
            audio = _tone(0.4, 48000, 300 + 100 * s_index)
            sf.write(root / "wav48_silence_trimmed" / speaker / f"{utt}_mic1.flac", audio, 48000)
            sf.write(root / "wav48_silence_trimmed" / speaker / f"{utt}_mic2.flac", audio, 48000)  # ignored
            (root / "txt" / speaker / f"{utt}.txt").write_text(f"Please call Stella {speaker} {u}.\n")


def test_vctk_manifests_hold_out_whole_speakers_and_resample_to_22050(tmp_path):
    _fake_vctk(tmp_path / "VCTK-Corpus-0.92")
    paths = prepare_vctk(tmp_path / "VCTK-Corpus-0.92", tmp_path / "manifests", n_test_speakers=1, n_valid=1)
    splits = {name: read_manifest(path) for name, path in paths.items()}
    assert {e["speaker"] for e in splits["test"]} == {"p227"}  # last speaker id
    assert len(splits["test"]) == 3
    assert {e["speaker"] for e in splits["train"] + splits["valid"]} == {"p225", "p226"}
    assert len(splits["train"]) + len(splits["valid"]) == 6 and len(splits["valid"]) == 1
    entry = splits["test"][0]
    assert entry["utterance_id"] == "p227_001" and entry["text"] == "Please call Stella p227 1."
    audio, rate = sf.read(entry["path"])
    assert rate == 22050 and entry["sample_rate"] == 22050
    assert abs(len(audio) - 0.4 * 22050) <= 1
    # The 500 Hz tone survives resampling: spectral peak at 500 Hz.
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    assert abs(np.argmax(spectrum) * 22050 / len(audio) - 500) < 5
    # Explicit held-out speakers; resampled files are reused.
    paths = prepare_vctk(tmp_path / "VCTK-Corpus-0.92", tmp_path / "manifests", test_speakers=["p225"], n_valid=1)
    assert {e["speaker"] for e in read_manifest(paths["test"])} == {"p225"}


def test_vctk_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="wav48_silence_trimmed"):
        prepare_vctk(tmp_path, tmp_path / "m")
    _fake_vctk(tmp_path / "V", speakers=("p225", "p226"), per_speaker=2)
    with pytest.raises(ValueError, match="p999"):
        prepare_vctk(tmp_path / "V", tmp_path / "m", test_speakers=["p999"])
    with pytest.raises(ValueError, match="n_test_speakers"):
        prepare_vctk(tmp_path / "V", tmp_path / "m", n_test_speakers=2)


def test_segment_dataset_crops_pads_and_resamples(tmp_path):
    long = tmp_path / "long.wav"
    short = tmp_path / "short.wav"
    other_rate = tmp_path / "rate.wav"
    sf.write(long, _tone(1.0, 22050, 440), 22050)
    sf.write(short, _tone(0.05, 22050, 440), 22050)
    sf.write(other_rate, _tone(1.0, 16000, 440), 16000)
    entries = [
        {"path": str(p), "sample_rate": r, "num_samples": n}
        for p, r, n in ((long, 22050, 22050), (short, 22050, 1102), (other_rate, 16000, 16000))
    ]
    for cache in (True, False):
        dataset = SegmentDataset(entries, segment_length=4096, min_items=7, cache=cache)
        assert len(dataset) == 9  # repeated to fill at least 7 items
        segments = [dataset[i] for i in range(3)]
        assert all(s.shape == (1, 4096) for s in segments)
        assert segments[0].abs().max() > 0.29
        assert segments[1][0, 1102:].abs().max() == 0  # zero-padded tail
        assert segments[1][0, :1102].abs().max() > 0.29
        assert segments[2].abs().max() > 0.28  # 16 kHz file read at 22,050 Hz
