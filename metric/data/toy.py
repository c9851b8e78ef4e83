"""Reader for the embedded toy speech corpus (``metric/assets/toy_corpus/``).

The corpus is a few minutes of real recorded speech from Debian-packaged sources (Asterisk voice
prompts, pocketsphinx and codec2 test recordings, ALSA's speaker-test voice), split by speaker into
train/valid/test, at 16 kHz and 22,050 Hz, plus a 16 kHz noisy/clean parallel set for speech
enhancement. Its sources, licenses and the script that rebuilds it are described in
``metric/assets/toy_corpus/README.md``.

Example::

    from metric.data.toy import utterances, enhancement_pairs, speakers
    for utt in utterances("train", sample_rate=22050):
        print(utt.speaker, utt.utterance_id, utt.path)
    noisy, clean = enhancement_pairs("test")[0]
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .corpora import Utterance

SPLITS = ("train", "valid", "test")
SAMPLE_RATES = {16000: "16k", 22050: "22k"}
BABBLE_UTTERANCES = 12


@dataclass(frozen=True)
class NoisyCondition:
    """How one noisy file of the enhancement set was made (a row of its split's manifest.csv)."""

    utterance_id: str
    speaker: str
    noise_kind: str
    snr_db: float
    duration_s: float


class ToyCorpusMissingError(FileNotFoundError):
    """The toy corpus is not where the package looks for it (e.g. a wheel install)."""


def toy_root() -> Path:
    """Folder of the toy corpus: in a clone of the repository and in an editable install from one.

    The toy corpus is not part of the wheel (its audio is under CC-BY-SA, GPL, LGPL and BSD
    licences, not the package's MIT), so an installed wheel raises :class:`ToyCorpusMissingError`.
    """
    root = Path(str(resources.files("metric").joinpath("assets", "toy_corpus")))
    if not (root / "speech").is_dir():
        raise ToyCorpusMissingError(
            f"the toy corpus is not at {root}: it ships only with the source repository, not with the "
            "installed package (its audio is not MIT-licensed). Work from a clone of the repository "
            "(`bash install.sh` there), or use your own audio (a corpus folder instead of the toy data). "
            "In a clone, `python scripts/build_toy_corpus.py` rebuilds it (metric/assets/toy_corpus/README.md).")
    return root


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; the toy corpus has splits {', '.join(SPLITS)}")


def _speech_dir(split: str, sample_rate: int) -> Path:
    _check_split(split)
    if sample_rate not in SAMPLE_RATES:
        rates = " and ".join(str(rate) for rate in SAMPLE_RATES)
        raise ValueError(f"the toy corpus has no {sample_rate} Hz version; use sample_rate {rates} "
                         "(or resample with metric.resample)")
    return toy_root() / "speech" / SAMPLE_RATES[sample_rate] / split


def utterances(split: str = "train", sample_rate: int = 16000) -> list[Utterance]:
    """All utterances of ``split`` at ``sample_rate`` (16000 or 22050), sorted by speaker and id.

    Each is a :class:`metric.data.corpora.Utterance` (a mono PCM_16 WAV file, its speaker and id;
    no transcript)."""
    folder = _speech_dir(split, sample_rate)
    return [Utterance(path=path, speaker=path.parent.name, utterance_id=path.stem)
            for path in sorted(folder.glob("*/*.wav"))]


def speakers(split: str = "train") -> list[str]:
    """Sorted speaker labels of ``split``; no speaker appears in two splits."""
    folder = _speech_dir(split, 16000)
    return sorted(path.name for path in folder.iterdir() if path.is_dir())


def enhancement_pairs(split: str = "train") -> list[tuple[Path, Path]]:
    """``(noisy, clean)`` 16 kHz WAV paths of the enhancement set of ``split``, sorted by id."""
    _check_split(split)
    folder = toy_root() / "enhancement" / split
    return [(folder / "noisy" / clean.name, clean) for clean in sorted((folder / "clean").glob("*.wav"))]


def enhancement_conditions(split: str = "train") -> list[NoisyCondition]:
    """Noise kind and SNR of every noisy file of ``split`` (from ``enhancement/<split>/manifest.csv``)."""
    _check_split(split)
    with open(toy_root() / "enhancement" / split / "manifest.csv", newline="") as handle:
        return [NoisyCondition(row["id"], row["speaker"], row["noise_kind"], float(row["snr_db"]),
                               float(row["duration_s"]))
                for row in csv.DictReader(handle)]


def babble_sources(sample_rate: int = 16000) -> list[str]:
    """Speech for the ``babble`` perturbation: paths of twelve training-split utterances.

    Spread over the sorted list (so over its speakers); the files at the corpus's nearer rate
    (22,050 Hz for 22,050, else 16 kHz), which the babble family resamples to the signal's rate.
    Use as ``perturb(x, sample_rate, "babble", level, sources=babble_sources(sample_rate))``.
    """
    native = 22050 if sample_rate == 22050 else 16000
    listed = [str(u.path) for u in utterances("train", sample_rate=native)]
    return listed[:: max(1, len(listed) // BABBLE_UTTERANCES)][:BABBLE_UTTERANCES]
