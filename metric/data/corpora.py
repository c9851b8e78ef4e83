"""Readers for speech corpora in their published layouts, and a Dataset over any of them.

Readers return a sorted list of :class:`Utterance` (path, speaker, utterance_id, text);
they only look at file names, so listing a large corpus is fast. :class:`SpeechCorpus`
loads the audio on access, mono, resampled to the requested rate.

Layouts (as the corpora are published):

* **folder**: any tree of audio files (wav, flac, ogg, mp3, ...); the speaker is the
  file's parent folder name, the id its path relative to the root.
* **LibriSpeech**: ``<root>/[<subset>/]<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac``
  with ``<speaker>-<chapter>.trans.txt`` transcripts beside them (root may be the
  ``LibriSpeech`` folder holding subsets like ``train-clean-100`` or one subset).
* **VCTK-Corpus-0.92**: ``<root>/wav48_silence_trimmed/pXXX/pXXX_YYY_mic1.flac`` and
  ``<root>/txt/pXXX/pXXX_YYY.txt`` (``mic="mic2"`` picks the other microphone).
* **LJSpeech-1.1**: ``<root>/metadata.csv`` (``id|transcription|normalized``, no header)
  and ``<root>/wavs/<id>.wav``; one speaker, ``"LJ"``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from metric.io import read_audio

from . import CORPUS_KINDS

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")


@dataclass(frozen=True)
class Utterance:
    """One recording: where it is, who speaks, a unique id and (if known) its transcript."""

    path: Path
    speaker: str
    utterance_id: str
    text: str | None = None


def _require_dir(root: Path, what: str, hint: str) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{what} folder not found: {root}. {hint}")
    return root


def audio_folder(root: str | Path, extensions: Iterable[str] = AUDIO_EXTENSIONS) -> list[Utterance]:
    """Every audio file under ``root`` (recursively)."""
    root = _require_dir(Path(root), "audio", "Pass a folder that contains audio files.")
    extensions = tuple(e.lower() for e in extensions)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in extensions)
    if not files:
        raise FileNotFoundError(f"no audio files ({', '.join(extensions)}) under {root}")
    return [
        Utterance(path=p, speaker=p.parent.name if p.parent != root else "unknown",
                  utterance_id=p.relative_to(root).with_suffix("").as_posix())
        for p in files
    ]


_LIBRI_NAME = re.compile(r"^(\d+)-(\d+)-(\d+)$")


def librispeech(root: str | Path) -> list[Utterance]:
    """LibriSpeech: ``<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac`` under ``root``."""
    root = _require_dir(Path(root), "LibriSpeech", "Point to the 'LibriSpeech' folder or one subset like 'train-clean-100'.")
    utterances = []
    for path in sorted(root.rglob("*.flac")):
        match = _LIBRI_NAME.match(path.stem)
        if not match or path.parent.name != match[2] or path.parent.parent.name != match[1]:
            continue  # not in the published <speaker>/<chapter>/ layout
        utterances.append(Utterance(path, match[1], path.stem, None))
    if not utterances:
        raise FileNotFoundError(f"no LibriSpeech files (<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac) under {root}")
    texts: dict[str, str] = {}
    for transcript in {u.path.parent / f"{u.speaker}-{u.path.parent.name}.trans.txt" for u in utterances}:
        if transcript.is_file():
            for line in transcript.read_text(encoding="utf-8").splitlines():
                key, _, text = line.partition(" ")
                texts[key] = text.strip()
    return [Utterance(u.path, u.speaker, u.utterance_id, texts.get(u.utterance_id)) for u in utterances]


def vctk(root: str | Path, mic: str = "mic1") -> list[Utterance]:
    """VCTK-Corpus-0.92: ``wav48_silence_trimmed/pXXX/pXXX_YYY_<mic>.flac`` and ``txt/pXXX/pXXX_YYY.txt``."""
    root = _require_dir(Path(root), "VCTK", "Point to the unpacked VCTK-Corpus-0.92 folder (it holds wav48_silence_trimmed/ and txt/).")
    audio_root = root / "wav48_silence_trimmed"
    if not audio_root.is_dir():
        raise FileNotFoundError(f"{audio_root} not found: VCTK-0.92 keeps its audio in wav48_silence_trimmed/<speaker>/")
    pattern = re.compile(rf"^(p\d+|s\d+)_(\d+)_{re.escape(mic)}$")
    utterances = []
    for path in sorted(audio_root.glob(f"*/*_{mic}.flac")):
        match = pattern.match(path.stem)
        if not match or path.parent.name != match[1]:
            continue
        utterance_id = f"{match[1]}_{match[2]}"
        transcript = root / "txt" / match[1] / f"{utterance_id}.txt"
        text = transcript.read_text(encoding="utf-8").strip() if transcript.is_file() else None
        utterances.append(Utterance(path, match[1], utterance_id, text))
    if not utterances:
        raise FileNotFoundError(f"no VCTK files (<speaker>/<speaker>_<nnn>_{mic}.flac) under {audio_root}")
    return utterances


def ljspeech(root: str | Path) -> list[Utterance]:
    """LJSpeech-1.1: ``metadata.csv`` rows ``id|transcription|normalized`` and ``wavs/<id>.wav``."""
    root = _require_dir(Path(root), "LJSpeech", "Point to the unpacked LJSpeech-1.1 folder (it holds metadata.csv and wavs/).")
    metadata = root / "metadata.csv"
    if not metadata.is_file():
        raise FileNotFoundError(f"{metadata} not found: LJSpeech-1.1 lists its clips in metadata.csv")
    utterances, missing = [], []
    with open(metadata, encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="|", quoting=csv.QUOTE_NONE):
            if not row:
                continue
            path = root / "wavs" / f"{row[0]}.wav"
            if not path.is_file():
                missing.append(path)
                continue
            text = row[2] if len(row) > 2 else (row[1] if len(row) > 1 else None)
            utterances.append(Utterance(path, "LJ", row[0], text))
    if missing:
        raise FileNotFoundError(f"{len(missing)} clips listed in {metadata} are missing, e.g. {missing[0]}")
    return utterances


def load_corpus(kind: str, root: str | Path, **options) -> list[Utterance]:
    """Dispatch on ``kind`` in :data:`CORPUS_KINDS`."""
    readers = {"folder": audio_folder, "librispeech": librispeech, "vctk": vctk, "ljspeech": ljspeech}
    if kind not in readers:
        raise ValueError(f"unknown corpus kind {kind!r}; choose one of {', '.join(CORPUS_KINDS)}")
    return readers[kind](root, **options)


def as_utterances(source: Any) -> list[Any]:
    """Accept a list of utterances, a :class:`SpeechCorpus`, or plain paths; return utterance-like objects.

    Anything with ``.path`` works; ``.speaker`` and ``.utterance_id`` are used when present.
    """
    if isinstance(source, SpeechCorpus):
        return list(source.utterances)
    items = list(source)
    if not items:
        raise ValueError("no utterances given")
    return [Utterance(Path(i), Path(i).parent.name, Path(i).stem) if isinstance(i, (str, Path)) else i for i in items]


def speaker_of(utterance: Any) -> str:
    return str(getattr(utterance, "speaker", "unknown"))


def utterance_id_of(utterance: Any) -> str:
    return str(getattr(utterance, "utterance_id", Path(utterance.path).stem))


class AudioCache:
    """Loads utterances at one sample rate, keeping them in memory when ``enabled`` (small corpora)."""

    def __init__(self, sample_rate: int, enabled: bool = True):
        self.sample_rate = int(sample_rate)
        self.enabled = enabled
        self._store: dict[str, np.ndarray] = {}

    def __call__(self, utterance: Any) -> np.ndarray:
        key = str(utterance.path)
        if key in self._store:
            return self._store[key]
        audio, _ = read_audio(key, self.sample_rate, mono=True)
        if self.enabled:
            self._store[key] = audio
        return audio


def crop(x: np.ndarray, length: int | None, rng: np.random.Generator) -> np.ndarray:
    """A random ``length``-sample excerpt (the whole signal when it is shorter or ``length`` is None)."""
    if length is None or len(x) <= length:
        return x
    start = int(rng.integers(0, len(x) - length + 1))
    return x[start : start + length]


class SpeechCorpus(Dataset):
    """Utterances as a Dataset of ``{"waveform": FloatTensor [T], "speaker", "utterance_id", "path"}``.

    Args:
        utterances: from a reader above (or the toy corpus), or paths.
        sample_rate: every waveform is resampled to this rate.
        segment_seconds: if set, a random excerpt of that length (seeded per index
            and ``seed``, so an epoch is reproducible); shorter files are returned whole.
        cache: keep decoded audio in memory (fine for small corpora).
    """

    def __init__(self, utterances: Sequence[Any], sample_rate: int = 16000, segment_seconds: float | None = None,
                 seed: int = 0, cache: bool = False):
        self.utterances = as_utterances(utterances)
        self.sample_rate = int(sample_rate)
        self.segment = None if segment_seconds is None else int(round(segment_seconds * sample_rate))
        self.seed = seed
        self._load = AudioCache(sample_rate, cache)

    @classmethod
    def from_layout(cls, kind: str, root: str | Path, sample_rate: int = 16000, **kwargs) -> "SpeechCorpus":
        reader_options = {k: kwargs.pop(k) for k in ("mic", "extensions") if k in kwargs}
        return cls(load_corpus(kind, root, **reader_options), sample_rate, **kwargs)

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int) -> dict[str, Any]:
        utterance = self.utterances[index]
        audio = crop(self._load(utterance), self.segment, np.random.default_rng([self.seed, index]))
        return {
            "waveform": torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)),
            "speaker": speaker_of(utterance),
            "utterance_id": utterance_id_of(utterance),
            "path": str(utterance.path),
        }
