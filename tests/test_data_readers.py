"""Corpus readers and the JND loader on tiny fake trees in the exact published layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from metric.data.corpora import SpeechCorpus, audio_folder, librispeech, ljspeech, load_corpus, vctk
from metric.data.jnd import JNDPairs, read_jnd_labels


def tone(path: Path, freq: float, rate: int, seconds: float = 0.25) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.5 * np.sin(2 * np.pi * freq * t), rate)
    return path


def dominant_hz(x: np.ndarray, rate: int) -> float:
    return float(np.argmax(np.abs(np.fft.rfft(x))) * rate / len(x))


def test_librispeech_layout(tmp_path):
    root = tmp_path / "LibriSpeech"
    tone(root / "dev-clean" / "84" / "121123" / "84-121123-0000.flac", 400, 16000)
    tone(root / "dev-clean" / "84" / "121123" / "84-121123-0001.flac", 500, 16000)
    tone(root / "dev-clean" / "174" / "50561" / "174-50561-0000.flac", 600, 16000)
    (root / "dev-clean" / "84" / "121123" / "84-121123.trans.txt").write_text("84-121123-0000 GO DO YOU HEAR\n84-121123-0001 BUT IN LESS THAN FIVE MINUTES\n")
    tone(root / "dev-clean" / "stray.flac", 100, 16000)  # not in the <speaker>/<chapter>/ layout
    (root / "LICENSE.TXT").write_text("CC BY 4.0")
    utterances = librispeech(root)
    assert [u.utterance_id for u in utterances] == ["174-50561-0000", "84-121123-0000", "84-121123-0001"]
    assert [u.speaker for u in utterances] == ["174", "84", "84"]
    assert utterances[1].text == "GO DO YOU HEAR" and utterances[0].text is None
    assert librispeech(root / "dev-clean") == utterances  # a subset folder works as the root too
    corpus = SpeechCorpus(utterances, sample_rate=8000)
    item = corpus[2]
    assert item["waveform"].shape[0] == 2000 and item["speaker"] == "84"
    assert dominant_hz(item["waveform"].numpy(), 8000) == pytest.approx(500, abs=5)


def test_vctk_092_layout(tmp_path):
    root = tmp_path / "VCTK-Corpus-0.92"
    tone(root / "wav48_silence_trimmed" / "p225" / "p225_001_mic1.flac", 300, 48000)
    tone(root / "wav48_silence_trimmed" / "p225" / "p225_001_mic2.flac", 310, 48000)
    tone(root / "wav48_silence_trimmed" / "p315" / "p315_002_mic1.flac", 700, 48000)
    (root / "txt" / "p225").mkdir(parents=True)
    (root / "txt" / "p225" / "p225_001.txt").write_text("Please call Stella.\n")
    (root / "speaker-info.txt").write_text("ID  AGE  GENDER  ACCENTS  REGION COMMENTS\n")
    utterances = vctk(root)
    assert [(u.speaker, u.utterance_id, u.text) for u in utterances] == [
        ("p225", "p225_001", "Please call Stella."), ("p315", "p315_002", None)]
    assert [u.path.name for u in vctk(root, mic="mic2")] == ["p225_001_mic2.flac"]
    item = SpeechCorpus(utterances, sample_rate=16000)[1]
    assert item["waveform"].shape[0] == 4000  # 0.25 s at 48 kHz -> 16 kHz
    assert dominant_hz(item["waveform"].numpy(), 16000) == pytest.approx(700, abs=5)
    with pytest.raises(FileNotFoundError, match="wav48_silence_trimmed"):
        vctk(tmp_path)


def test_ljspeech_11_layout(tmp_path):
    root = tmp_path / "LJSpeech-1.1"
    tone(root / "wavs" / "LJ001-0001.wav", 250, 22050)
    tone(root / "wavs" / "LJ001-0002.wav", 350, 22050)
    (root / "metadata.csv").write_text(
        'LJ001-0001|Printing, in the only sense with which we are at present concerned, "differs"|'
        'Printing, in the only sense with which we are at present concerned, "differs"\n'
        "LJ001-0002|in being comparatively modern.|in being comparatively modern.\n", encoding="utf-8")
    utterances = ljspeech(root)
    assert [u.utterance_id for u in utterances] == ["LJ001-0001", "LJ001-0002"]
    assert utterances[0].text.endswith('"differs"') and {u.speaker for u in utterances} == {"LJ"}
    assert load_corpus("ljspeech", root) == utterances
    (root / "metadata.csv").write_text("LJ001-0001|a|a\nLJ009-0009|b|b\n")
    with pytest.raises(FileNotFoundError, match="LJ009-0009"):
        ljspeech(root)


def test_audio_folder(tmp_path):
    tone(tmp_path / "a" / "one.wav", 200, 16000)
    tone(tmp_path / "b" / "two.flac", 300, 24000)
    tone(tmp_path / "three.wav", 400, 16000)
    (tmp_path / "notes.txt").write_text("not audio")
    utterances = audio_folder(tmp_path)
    assert [u.utterance_id for u in utterances] == ["a/one", "b/two", "three"]
    assert [u.speaker for u in utterances] == ["a", "b", "unknown"]
    corpus = SpeechCorpus.from_layout("folder", tmp_path, sample_rate=16000, segment_seconds=0.1)
    assert corpus[1]["waveform"].shape[0] == 1600  # resampled from 24 kHz, then a 0.1 s excerpt
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no audio files"):
        audio_folder(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="folder not found"):
        audio_folder(tmp_path / "nowhere")


def test_shipped_jnd_label_files_parse():
    pairs = read_jnd_labels()
    counts = {s: sum(p.subset == s for p in pairs) for s in ("combined", "linear", "reverb", "eq")}
    assert counts == {"combined": 5650, "linear": 9438, "reverb": 2500, "eq": 3210}
    assert {p.label for p in pairs} == {0, 1}
    linear = [p for p in pairs if p.subset == "linear"]
    assert all(p.reference.startswith(f"{p.noise_type}_list/") for p in linear)
    assert "reverb_noise" in {p.noise_type for p in linear}  # written " reverb_noise" in the file


def _fake_jnd_tree(root: Path, pairs) -> None:
    """10 ms of noise at 48 kHz (the JND audio's rate) at every path the pairs name."""
    import io

    buffer = io.BytesIO()
    sf.write(buffer, 0.1 * np.random.default_rng(0).standard_normal(480), 48000, format="WAV", subtype="PCM_16")
    blob = buffer.getvalue()
    for name in {p.reference for p in pairs} | {p.perturbed for p in pairs}:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)


def test_jnd_pairs_on_a_complete_subset_tree(tmp_path):
    pairs = read_jnd_labels(["reverb"])
    _fake_jnd_tree(tmp_path, pairs)
    dataset = JNDPairs(tmp_path, subsets=["reverb"], sample_rate=16000)
    assert len(dataset) == 2500
    item = dataset[1]
    assert item["reference"].shape == item["perturbed"].shape == (160,)
    assert item["label"] == float(pairs[1].label) and item["source"] == "jnd_human"
    assert (tmp_path / "reverb_1" / "56.0_96.0_f5_script4_produced_clipped_40.0.wav_h096_Hotel_Ballroom_2txts.wav").is_file()


def test_jnd_pairs_partial_tree_errors_and_skip(tmp_path):
    all_pairs = read_jnd_labels()
    chosen = [next(p for p in all_pairs if p.subset == s) for s in ("combined", "linear", "reverb", "eq")]
    _fake_jnd_tree(tmp_path, chosen)
    assert (tmp_path / "crickets_list" / "0.02_f4_script5_produced_clipped_80.0.wav").is_file()
    with pytest.raises(FileNotFoundError) as error:
        JNDPairs(tmp_path)
    message = str(error.value)
    assert "missing under" in message and "_list/" in message and "and " in message
    dataset = JNDPairs(tmp_path, missing="skip", sample_rate=22050)
    assert len(dataset) >= 4 and dataset.skipped == len(all_pairs) - len(dataset)
    assert {dataset[i]["subset"] for i in range(len(dataset))} == {"combined", "linear", "reverb", "eq"}
    with pytest.raises(FileNotFoundError, match="root not found"):
        JNDPairs(tmp_path / "nowhere")
