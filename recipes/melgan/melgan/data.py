"""Manifests, corpus readers and training segments.

A manifest is a JSON-Lines file, one utterance per line::

    {"path": "/abs/LJ001-0001.wav", "speaker": "LJ", "utterance_id": "LJ001-0001",
     "sample_rate": 22050, "num_samples": 212893, "text": "..."}

``prepare_*`` functions read a corpus in its published layout and write
``train.jsonl``, ``valid.jsonl`` and ``test.jsonl``:

* LJSpeech-1.1 (single speaker): ``metadata.csv`` (``id|text|normalised text``)
  and ``wavs/LJxxx-xxxx-xxxx.wav`` at 22,050 Hz. Held-out utterances are a seeded
  random draw, so train/valid/test share the speaker.
* VCTK-Corpus-0.92 (cross-speaker): ``wav48_silence_trimmed/pXXX/pXXX_YYY_mic1.flac``
  and ``txt/pXXX/pXXX_YYY.txt``. The flac files (48 kHz) are resampled once to
  22,050 Hz wav; the test split holds whole speakers never seen in training.
* the project's embedded toy corpus (``metric.toy``).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from metric import atomic_write_bytes, read_audio, toy

SAMPLE_RATE = 22050
SPLITS = ("train", "valid", "test")


# ----------------------------------------------------------------------------- manifests
def write_manifest(entries: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
    return atomic_write_bytes(path, lambda handle: handle.write(text.encode("utf-8")))


def read_manifest(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Manifest {path} does not exist: run data preparation first (recipes/melgan/run.sh --stage 0 --stop-stage 0)."
        )
    with open(path, encoding="utf-8") as stream:
        entries = [json.loads(line) for line in stream if line.strip()]
    if not entries:
        raise ValueError(f"Manifest {path} lists no utterances.")
    return entries


def _entry(path: Path, speaker: str, utterance_id: str, text: str = "") -> dict:
    info = sf.info(str(path))
    return {
        "path": str(Path(path).resolve()),
        "speaker": speaker,
        "utterance_id": utterance_id,
        "sample_rate": int(info.samplerate),
        "num_samples": int(info.frames),
        "text": text,
    }


def _write_splits(splits: dict[str, list[dict]], out_dir: Path) -> dict[str, Path]:
    for name, entries in splits.items():
        if not entries:
            raise ValueError(f"The {name} split came out empty: the corpus is too small for the requested split sizes.")
    return {name: write_manifest(entries, Path(out_dir) / f"{name}.jsonl") for name, entries in splits.items()}


# ----------------------------------------------------------------------------- LJSpeech-1.1
def prepare_ljspeech(root: str | Path, out_dir: str | Path, n_valid: int = 50, n_test: int = 100, seed: int = 0):
    """Manifests for LJSpeech-1.1: a seeded draw of ``n_test`` test and ``n_valid`` validation utterances."""
    root = Path(root)
    metadata = root / "metadata.csv"
    if not metadata.is_file():
        raise FileNotFoundError(f"{metadata} not found: point --data-root at the LJSpeech-1.1 folder (with metadata.csv and wavs/).")
    entries = []
    with open(metadata, encoding="utf-8", newline="") as stream:
        for row in csv.reader(stream, delimiter="|", quoting=csv.QUOTE_NONE):
            if not row:
                continue
            utterance_id = row[0]
            text = row[2] if len(row) > 2 and row[2] else (row[1] if len(row) > 1 else "")
            wav = root / "wavs" / f"{utterance_id}.wav"
            if not wav.is_file():
                raise FileNotFoundError(f"metadata.csv lists {utterance_id} but {wav} is missing: the corpus is incomplete.")
            entries.append(_entry(wav, "LJ", utterance_id, text))
    order = list(range(len(entries)))
    random.Random(seed).shuffle(order)
    test = sorted(order[:n_test])
    valid = sorted(order[n_test : n_test + n_valid])
    held = set(test) | set(valid)
    splits = {
        "train": [entries[i] for i in range(len(entries)) if i not in held],
        "valid": [entries[i] for i in valid],
        "test": [entries[i] for i in test],
    }
    return _write_splits(splits, Path(out_dir))


# ----------------------------------------------------------------------------- VCTK-0.92
def _resample_file(source: Path, target: Path, sample_rate: int) -> None:
    audio = np.clip(load_audio(source, sample_rate), -1.0, 1.0)
    atomic_write_bytes(target, lambda handle: sf.write(handle, audio, sample_rate, subtype="PCM_16", format="WAV"))


def prepare_vctk(
    root: str | Path,
    out_dir: str | Path,
    audio_dir: str | Path | None = None,
    test_speakers: list[str] | None = None,
    n_test_speakers: int = 4,
    n_valid: int = 50,
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
):
    """Manifests for VCTK-Corpus-0.92 (mic1 recordings) resampled to ``sample_rate``.

    ``test_speakers`` names the held-out speakers; by default the last
    ``n_test_speakers`` speaker ids in sorted order. Resampled files are written
    under ``audio_dir`` (default ``out_dir/wav22050``) and reused when present.
    """
    root = Path(root)
    wav_root = root / "wav48_silence_trimmed"
    if not wav_root.is_dir():
        raise FileNotFoundError(f"{wav_root} not found: point --data-root at the VCTK-Corpus-0.92 folder.")
    flacs = sorted(wav_root.glob("p*/p*_*_mic1.flac")) + sorted(wav_root.glob("s*/s*_*_mic1.flac"))
    if not flacs:
        raise FileNotFoundError(f"No *_mic1.flac files under {wav_root}: is this VCTK-Corpus-0.92?")
    speakers = sorted({flac.parent.name for flac in flacs})
    if test_speakers is None:
        if n_test_speakers >= len(speakers):
            raise ValueError(f"Cannot hold out {n_test_speakers} of {len(speakers)} speakers: lower n_test_speakers.")
        test_speakers = speakers[-n_test_speakers:]
    unknown = set(test_speakers) - set(speakers)
    if unknown:
        raise ValueError(f"test_speakers {sorted(unknown)} are not in {wav_root}.")
    audio_dir = Path(audio_dir) if audio_dir is not None else Path(out_dir) / f"wav{sample_rate}"
    entries = []
    for flac in tqdm(flacs, desc=f"VCTK -> {sample_rate} Hz", unit="file"):
        speaker = flac.parent.name
        utterance_id = flac.name[: -len("_mic1.flac")]
        target = audio_dir / speaker / f"{utterance_id}.wav"
        if not target.is_file():
            _resample_file(flac, target, sample_rate)
        text_file = root / "txt" / speaker / f"{utterance_id}.txt"
        text = text_file.read_text(encoding="utf-8").strip() if text_file.is_file() else ""
        entries.append(_entry(target, speaker, utterance_id, text))
    test = [e for e in entries if e["speaker"] in test_speakers]
    rest = [e for e in entries if e["speaker"] not in test_speakers]
    order = list(range(len(rest)))
    random.Random(seed).shuffle(order)
    valid_index = set(order[:n_valid])
    splits = {
        "train": [e for i, e in enumerate(rest) if i not in valid_index],
        "valid": [e for i, e in enumerate(rest) if i in valid_index],
        "test": test,
    }
    return _write_splits(splits, Path(out_dir))


# ----------------------------------------------------------------------------- embedded toy corpus
def prepare_toy(out_dir: str | Path, sample_rate: int = SAMPLE_RATE) -> dict[str, Path]:
    """Manifests for the embedded toy corpus (``metric.toy``), at its 22,050 Hz version."""
    splits = {
        split: [_entry(Path(u.path), str(u.speaker), str(u.utterance_id)) for u in toy.utterances(split, sample_rate=sample_rate)]
        for split in SPLITS
    }
    return _write_splits(splits, Path(out_dir))


# ----------------------------------------------------------------------------- audio and segments
def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 audio at ``sample_rate`` (resampled when the file differs)."""
    return read_audio(path, sample_rate, mono=True)[0]


@dataclass
class SegmentDataset(Dataset):
    """Random fixed-length training segments, one per item (zero-padded when an utterance is shorter).

    ``min_items`` repeats the utterance list so that a tiny corpus still fills a batch.
    As the released MelGAN's data pipeline (descriptinc/melgan-neurips, ``mel2wav/dataset.py``),
    each utterance is scaled so that its peak is ``peak`` (0.95) and then by a random amplitude
    drawn uniformly from ``amplitude`` (0.3 to 1.0) each time a segment is drawn; ``None``
    disables either. A silent utterance stays silent.
    """

    entries: list[dict]
    segment_length: int
    sample_rate: int = SAMPLE_RATE
    min_items: int = 1
    cache: bool = True
    peak: float | None = None
    amplitude: tuple[float, float] | None = None

    def __post_init__(self):
        if not self.entries:
            raise ValueError("SegmentDataset needs at least one utterance.")
        if self.amplitude is not None and not 0 < self.amplitude[0] <= self.amplitude[1]:
            raise ValueError(f"amplitude must be (low, high) with 0 < low <= high, got {self.amplitude}.")
        self._cache: dict[int, np.ndarray] = {}
        self._peaks: dict[int, float] = {}  # whole-utterance peaks, for segments read from disk
        self._repeats = max(1, -(-self.min_items // len(self.entries)))

    def __len__(self) -> int:
        return len(self.entries) * self._repeats

    def _audio(self, index: int) -> np.ndarray:
        if index in self._cache:
            return self._cache[index]
        entry = self.entries[index]
        if entry.get("sample_rate") == self.sample_rate and not self.cache:
            # Read only the segment's span: large corpora do not fit in memory.
            return None
        audio = load_audio(entry["path"], self.sample_rate)
        if self.cache:
            self._cache[index] = audio
        return audio

    def __getitem__(self, item: int) -> torch.Tensor:
        index = item % len(self.entries)
        entry = self.entries[index]
        audio = self._audio(index)
        total = len(audio) if audio is not None else int(entry["num_samples"])
        start = random.randint(0, total - self.segment_length) if total > self.segment_length else 0
        if audio is None:
            segment, _ = sf.read(entry["path"], start=start, stop=start + self.segment_length, dtype="float32", always_2d=True)
            segment = segment.mean(axis=1)
        else:
            segment = audio[start : start + self.segment_length]
        if len(segment) < self.segment_length:
            segment = np.pad(segment, (0, self.segment_length - len(segment)))
        gain = 1.0
        if self.peak is not None:
            peak = self._peak(index, audio)
            gain = self.peak / peak if peak > 0 else 1.0
        if self.amplitude is not None:
            gain *= random.uniform(*self.amplitude)
        return torch.from_numpy(np.ascontiguousarray(segment * gain, dtype=np.float32))[None]

    def _peak(self, index: int, audio: np.ndarray | None) -> float:
        """The utterance's peak absolute value (over the whole utterance, not the segment)."""
        if audio is not None:
            return float(np.max(np.abs(audio))) if len(audio) else 0.0
        if index not in self._peaks:
            whole, _ = read_audio(self.entries[index]["path"], mono=True)
            self._peaks[index] = float(np.max(np.abs(whole))) if len(whole) else 0.0
        return self._peaks[index]
