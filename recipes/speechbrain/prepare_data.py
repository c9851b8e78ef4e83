"""Data preparation: SpeechBrain manifests of noisy/clean speech pairs.

Writes ``train``/``valid``/``test`` manifests into ``save_folder``, each twice:

* ``<split>.json`` — SpeechBrain's JSON annotation (``DynamicItemDataset.from_json``)::

    {"p232_001": {"noisy_wav": "/abs/noisy/p232_001.wav", "clean_wav": "/abs/clean/p232_001.wav",
                  "duration": 2.18}, ...}

* ``<split>.csv`` — the same as SpeechBrain CSV (``ID,duration,noisy_wav,clean_wav``).

Corpora:

* ``toy`` (default): the 16 kHz noisy/clean set embedded in the package
  (``metric.toy.enhancement_pairs``); its files are used in place.
* ``valentini``: Valentini-Botinhao et al. (2017), VCTK noisy/clean with 28 speakers, in its published
  layout (``clean_trainset_28spk_wav/``, ``noisy_trainset_28spk_wav/``, ``clean_testset_wav/``,
  ``noisy_testset_wav/``, 48 kHz). The audio is resampled to ``sample_rate`` into
  ``save_folder/audio/``; speakers p286 and p287 of the training set form the validation split.
  The pairing and resampling are the library's (``metric.prepare_enhancement_data``), shared with
  the DEMUCS recipe.

Usage (``train.py`` calls :func:`prepare_data` itself; this is for preparing ahead of time)::

    python prepare_data.py --save_folder results/prepared_toy
    python prepare_data.py --corpus valentini --data_folder /corpora/valentini --save_folder results/prepared_valentini
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path

from metric import prepare_enhancement_data, read_enhancement_manifest

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
CORPORA = ("toy", "valentini")
CSV_FIELDS = ("ID", "duration", "noisy_wav", "clean_wav")
OPTIONS_FILE = "prepare_options.json"


def prepare_data(
    save_folder: str | Path,
    corpus: str = "toy",
    data_folder: str | Path | None = None,
    sample_rate: int = 16000,
    skip_prep: bool = False,
) -> dict[str, Path]:
    """Write the manifests of ``corpus`` into ``save_folder``; returns ``{split: json_path}``.

    Preparation is skipped when the manifests already exist for the same options (rerunning
    ``train.py`` does not redo it) or when ``skip_prep`` is true.
    """
    save_folder = Path(save_folder)
    written = {split: save_folder / f"{split}.json" for split in SPLITS}
    if skip_prep:
        return written
    if corpus not in CORPORA:
        raise ValueError(f"corpus must be one of {CORPORA}, got {corpus!r}")
    options = {"corpus": corpus, "sample_rate": int(sample_rate),
               "data_folder": str(Path(data_folder).expanduser().resolve()) if data_folder else None}
    if _already_prepared(save_folder, options):
        logger.info("Manifests in %s are up to date; skipping data preparation.", save_folder)
        return written

    if corpus == "toy" and sample_rate != 16000:
        raise ValueError(f"the toy enhancement set is 16 kHz only; got sample_rate={sample_rate}")
    if corpus == "valentini" and not data_folder:
        raise ValueError("corpus 'valentini' needs data_folder: the folder holding clean_trainset_28spk_wav/ etc.")
    entries = _speechbrain_entries(corpus, data_folder, save_folder / "audio", sample_rate)

    save_folder.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        if not entries[split]:
            raise ValueError(f"the {corpus} corpus gave no {split} pairs; check {data_folder or 'the toy corpus'}")
        write_manifests(entries[split], save_folder, split)
    (save_folder / OPTIONS_FILE).write_text(json.dumps(options, indent=1))
    logger.info("Wrote %s manifests into %s.", corpus, save_folder)
    return written


def write_manifests(entries: dict[str, dict], save_folder: Path, split: str) -> None:
    """``<split>.json`` (SpeechBrain JSON annotation) and ``<split>.csv`` (SpeechBrain CSV)."""
    (save_folder / f"{split}.json").write_text(json.dumps(entries, indent=1))
    with open(save_folder / f"{split}.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS)
        for utt_id, entry in entries.items():
            writer.writerow((utt_id, entry["duration"], entry["noisy_wav"], entry["clean_wav"]))


def _already_prepared(save_folder: Path, options: dict) -> bool:
    options_file = save_folder / OPTIONS_FILE
    if not options_file.exists() or not all((save_folder / f"{s}.json").exists() for s in SPLITS):
        return False
    return json.loads(options_file.read_text()) == options


def _entry(noisy: Path, clean: Path, samples: int, sample_rate: int) -> dict:
    return {"noisy_wav": str(noisy), "clean_wav": str(clean), "duration": round(samples / sample_rate, 4)}


def _speechbrain_entries(corpus: str, data_folder, audio_folder: Path, sample_rate: int) -> dict[str, dict[str, dict]]:
    """The library's pair manifests (resampled copies in ``audio_folder`` where needed) in SpeechBrain's JSON form."""
    root = Path(data_folder).expanduser() if data_folder else None
    written = prepare_enhancement_data(corpus, audio_folder, root, sample_rate)
    entries = {}
    for split in SPLITS:
        entries[split] = {
            row["id"]: _entry(Path(row["noisy"]), Path(row["clean"]), int(row["samples"]), int(row["sample_rate"]))
            for row in read_enhancement_manifest(written[split])
        }
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=CORPORA, default="toy")
    parser.add_argument("--data_folder", default=None, help="corpus root (valentini only)")
    parser.add_argument("--save_folder", required=True, help="where the manifests (and resampled audio) go")
    parser.add_argument("--sample_rate", type=int, default=16000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    written = prepare_data(args.save_folder, args.corpus, args.data_folder, args.sample_rate)
    for split, path in written.items():
        print(f"{split}: {len(json.loads(path.read_text()))} pairs -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
