"""Noisy/clean speech-enhancement corpora (the toy set, Valentini, DNS-2020) as pair manifests.

``prepare_enhancement_data(corpus, out_dir, root=None, sample_rate=16000)`` writes the
manifests of every split and returns their paths; ``read_enhancement_manifest`` reads one.
The DEMUCS and SpeechBrain recipes prepare their data with it.

Each split becomes ``<out_dir>/<split>.json`` (a list of entries) and ``<split>.csv``
(same columns), where an entry is::

    {"id": "p232_001", "noisy": "/abs/noisy.wav", "clean": "/abs/clean.wav",
     "samples": 48213, "sample_rate": 16000}

Audio that is not already mono WAV at the target rate is resampled (:func:`metric.io.read_audio`)
and written under ``<out_dir>/wav<rate//1000>k/``; audio that already is stays where it is.

Layouts read here:

* ``toy``: the 16 kHz noisy/clean set of the embedded toy corpus (:func:`metric.data.toy.enhancement_pairs`),
  used in place.

* Valentini-Botinhao et al. 2017 (VCTK noisy/clean, 28 speakers): ``clean_trainset_28spk_wav/``,
  ``noisy_trainset_28spk_wav/``, ``clean_testset_wav/``, ``noisy_testset_wav/`` with identical file
  names (``p226_001.wav``) at 48 kHz. There is no official validation split; speakers
  ``p286`` and ``p287`` of the training set are held out as one (a common choice).
* DNS Challenge (Interspeech 2020): ``training/clean/clean_fileid_N.wav`` paired with
  ``training/noisy/<anything>fileid_N.wav``; every 20th file id (by number) is held out for
  validation; ``test_set/synthetic/no_reverb/{clean,noisy}/`` (split ``test``) and
  ``test_set/synthetic/with_reverb/{clean,noisy}/`` (split ``test_reverb``), paired the same way.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Iterable

import soundfile as sf
from tqdm import tqdm

from metric.io import read_audio

MANIFEST_FIELDS = ("id", "noisy", "clean", "samples", "sample_rate")
VALENTINI_VALID_SPEAKERS = ("p286", "p287")
DNS_VALID_EVERY = 20
_FILEID = re.compile(r"fileid_(\d+)\.wav$", re.IGNORECASE)


class LayoutError(FileNotFoundError):
    """A corpus folder does not have the published layout."""


# -- audio ------------------------------------------------------------------------
def _needs_conversion(path: Path, sample_rate: int) -> bool:
    info = sf.info(str(path))
    return info.samplerate != sample_rate or info.channels != 1 or info.format != "WAV"


def _materialise(path: Path, out_path: Path, sample_rate: int) -> tuple[Path, int]:
    """``path`` itself if it is mono wav at ``sample_rate``, else a resampled copy at ``out_path``."""
    if not _needs_conversion(path, sample_rate):
        return path.resolve(), sf.info(str(path)).frames
    if out_path.exists() and sf.info(str(out_path)).samplerate == sample_rate:
        return out_path.resolve(), sf.info(str(out_path)).frames
    audio, _ = read_audio(path, sample_rate, mono=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out_path), audio, sample_rate, subtype="PCM_16")
    return out_path.resolve(), len(audio)


# -- manifests --------------------------------------------------------------------
def write_manifest(entries: list[dict], out_dir: str | Path, split: str) -> Path:
    """Write ``<split>.json`` and ``<split>.csv``; returns the JSON path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{split}.json"
    json_path.write_text(json.dumps(entries, indent=1))
    with open(out_dir / f"{split}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows({key: entry[key] for key in MANIFEST_FIELDS} for entry in entries)
    return json_path


def read_enhancement_manifest(path: str | Path) -> list[dict]:
    """The entries of a ``<split>.json`` manifest, checked for the documented fields."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No manifest at {path}: run the data preparation stage (run.sh --stage 0) first.")
    entries = json.loads(path.read_text())
    for entry in entries:
        missing = [key for key in MANIFEST_FIELDS if key not in entry]
        if missing:
            raise ValueError(f"Manifest {path} has an entry without {missing}: {entry}")
    return entries


def pairs_to_entries(
    pairs: Iterable[tuple[str, Path, Path]], out_dir: Path, folder: str, sample_rate: int, desc: str
) -> list[dict]:
    """(id, noisy, clean) triples -> manifest entries, resampling into ``out_dir/wav*/folder`` if needed."""
    entries = []
    wav_dir = out_dir / f"wav{sample_rate // 1000}k" / folder
    for utt_id, noisy, clean in tqdm(list(pairs), desc=desc, unit="pair", leave=False):
        noisy_path, noisy_len = _materialise(Path(noisy), wav_dir / "noisy" / f"{utt_id}.wav", sample_rate)
        clean_path, clean_len = _materialise(Path(clean), wav_dir / "clean" / f"{utt_id}.wav", sample_rate)
        if noisy_len != clean_len:
            raise ValueError(f"{noisy} has {noisy_len} samples but its clean pair {clean} has {clean_len}.")
        entries.append(
            {"id": utt_id, "noisy": str(noisy_path), "clean": str(clean_path), "samples": int(noisy_len),
             "sample_rate": sample_rate}
        )
    return entries


def _require_dirs(root: Path, names: Iterable[str], corpus: str) -> None:
    missing = [name for name in names if not (root / name).is_dir()]
    if missing:
        raise LayoutError(f"{root} is not a {corpus} folder: missing {', '.join(missing)}/.")


# -- Valentini ---------------------------------------------------------------------
def _valentini_pairs(root: Path, clean_dir: str, noisy_dir: str) -> list[tuple[str, Path, Path]]:
    clean_files = {p.name: p for p in (root / clean_dir).glob("*.wav")}
    noisy_files = {p.name: p for p in (root / noisy_dir).glob("*.wav")}
    unmatched = sorted(set(clean_files) ^ set(noisy_files))
    if unmatched:
        raise LayoutError(f"{root}: {len(unmatched)} files lack a clean/noisy partner in {clean_dir}/ and {noisy_dir}/, e.g. {unmatched[:3]}.")
    if not clean_files:
        raise LayoutError(f"{root / clean_dir} holds no .wav files.")
    return [(Path(name).stem, noisy_files[name], clean_files[name]) for name in sorted(clean_files)]


def prepare_valentini(root: str | Path, out_dir: str | Path, sample_rate: int = 16_000) -> dict[str, Path]:
    """Manifests ``train``/``valid``/``test`` for the 28-speaker Valentini corpus at ``root``."""
    root, out_dir = Path(root).expanduser(), Path(out_dir)
    folders = ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "clean_testset_wav", "noisy_testset_wav")
    _require_dirs(root, folders, "Valentini (VCTK noisy/clean, 28 speakers)")
    train_pairs = _valentini_pairs(root, folders[0], folders[1])
    test_pairs = _valentini_pairs(root, folders[2], folders[3])
    held_out = [p for p in train_pairs if p[0].split("_")[0] in VALENTINI_VALID_SPEAKERS]
    train_pairs = [p for p in train_pairs if p not in held_out]
    splits = {"train": (train_pairs, "trainset"), "valid": (held_out, "trainset"), "test": (test_pairs, "testset")}
    written = {}
    for split, (pairs, folder) in splits.items():
        entries = pairs_to_entries(pairs, out_dir, folder, sample_rate, f"valentini {split}")
        written[split] = write_manifest(entries, out_dir, split)
    return written


# -- DNS-2020 ----------------------------------------------------------------------
def _fileid_pairs(clean_dir: Path, noisy_dir: Path) -> list[tuple[str, Path, Path]]:
    def by_id(folder: Path) -> dict[int, Path]:
        found = {}
        for path in folder.glob("*.wav"):
            match = _FILEID.search(path.name)
            if match:
                found[int(match.group(1))] = path
        return found

    clean, noisy = by_id(clean_dir), by_id(noisy_dir)
    if not clean:
        raise LayoutError(f"{clean_dir} holds no clean_fileid_N.wav files.")
    unmatched = sorted(set(clean) ^ set(noisy))
    if unmatched:
        raise LayoutError(f"file ids {unmatched[:5]} lack a clean/noisy partner in {clean_dir} and {noisy_dir}.")
    return [(f"fileid_{i}", noisy[i], clean[i]) for i in sorted(clean)]


def prepare_dns(root: str | Path, out_dir: str | Path, sample_rate: int = 16_000) -> dict[str, Path]:
    """Manifests ``train``/``valid``/``test``/``test_reverb`` for DNS-2020 at ``root``."""
    root, out_dir = Path(root).expanduser(), Path(out_dir)
    _require_dirs(root, ("training/clean", "training/noisy", "test_set/synthetic/no_reverb/clean",
                         "test_set/synthetic/no_reverb/noisy"), "DNS Challenge 2020")
    training = _fileid_pairs(root / "training/clean", root / "training/noisy")
    valid = [p for p in training if int(p[0].split("_")[1]) % DNS_VALID_EVERY == 0]
    train = [p for p in training if int(p[0].split("_")[1]) % DNS_VALID_EVERY != 0]
    if not valid and len(train) > 1:
        valid = [train.pop()]
    splits = {"train": (train, "training"), "valid": (valid, "training")}
    for split, condition in (("test", "no_reverb"), ("test_reverb", "with_reverb")):
        folder = root / "test_set/synthetic" / condition
        if (folder / "clean").is_dir() and (folder / "noisy").is_dir():
            splits[split] = (_fileid_pairs(folder / "clean", folder / "noisy"), f"test_{condition}")
    written = {}
    for split, (pairs, folder) in splits.items():
        entries = pairs_to_entries([(f"{folder}_{i}", n, c) for i, n, c in pairs], out_dir, folder, sample_rate, f"dns {split}")
        written[split] = write_manifest(entries, out_dir, split)
    return written


# -- toy --------------------------------------------------------------------------
def prepare_toy(out_dir: str | Path, sample_rate: int = 16_000) -> dict[str, Path]:
    """Manifests ``train``/``valid``/``test`` of the toy corpus's enhancement set (16 kHz, used in place)."""
    from .toy import enhancement_pairs

    written = {}
    for split in ("train", "valid", "test"):
        pairs = [(Path(noisy).stem, Path(noisy), Path(clean)) for noisy, clean in enhancement_pairs(split)]
        entries = pairs_to_entries(pairs, Path(out_dir), split, sample_rate, f"toy {split}")
        written[split] = write_manifest(entries, out_dir, split)
    return written


ENHANCEMENT_CORPORA = {"toy": prepare_toy, "valentini": prepare_valentini, "dns": prepare_dns}


def prepare_enhancement_data(corpus: str, out_dir: str | Path, root: str | Path | None = None,
                             sample_rate: int = 16_000) -> dict[str, Path]:
    """Manifests of every split of ``corpus`` (``toy``, ``valentini`` or ``dns``) in ``out_dir``.

    ``root`` is the corpus folder in its published layout (not needed for ``toy``). Returns
    ``{split: json_path}``.
    """
    if corpus not in ENHANCEMENT_CORPORA:
        raise ValueError(f"unknown enhancement corpus {corpus!r}; choose {', '.join(ENHANCEMENT_CORPORA)}")
    if corpus == "toy":
        return prepare_toy(out_dir, sample_rate)
    if root is None:
        raise ValueError(f"the {corpus} corpus needs its folder: pass root=/where/the/{corpus}/corpus/is")
    return ENHANCEMENT_CORPORA[corpus](root, out_dir, sample_rate)
