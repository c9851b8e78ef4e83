"""Data preparation: SpeechBrain manifests of noisy/clean speech pairs.

Writes ``train``/``valid``/``test`` manifests into ``save_folder``, each twice:

* ``<split>.json`` — SpeechBrain's JSON annotation (``DynamicItemDataset.from_json``)::

    {"p232_001": {"noisy_wav": "/abs/noisy/p232_001.wav", "clean_wav": "/abs/clean/p232_001.wav",
                  "duration": 2.18}, ...}

* ``<split>.csv`` — the same as SpeechBrain CSV (``ID,duration,noisy_wav,clean_wav``).

Corpora:

* ``toy`` (default): the 16 kHz noisy/clean set embedded in the package
  (``metric.data.toy.enhancement_pairs``); its files are used in place.
* ``valentini``: Valentini-Botinhao et al. (2017), VCTK noisy/clean with 28 speakers, in its published
  layout (``clean_trainset_28spk_wav/``, ``noisy_trainset_28spk_wav/``, ``clean_testset_wav/``,
  ``noisy_testset_wav/``, 48 kHz). The audio is resampled to ``sample_rate`` into
  ``save_folder/audio/``; speakers p286 and p287 of the training set form the validation split.
  The pairing and resampling are shared with the other recipes (``recipes/common/enhancement_manifests.py``).

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

    if corpus == "toy":
        if sample_rate != 16000:
            raise ValueError(f"the toy enhancement set is 16 kHz only; got sample_rate={sample_rate}")
        entries = _toy_entries()
    else:
        if not data_folder:
            raise ValueError("corpus 'valentini' needs data_folder: the folder holding clean_trainset_28spk_wav/ etc.")
        entries = _valentini_entries(Path(data_folder).expanduser(), save_folder / "audio", sample_rate)

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


def _toy_entries() -> dict[str, dict[str, dict]]:
    import soundfile as sf

    from metric.data.toy import enhancement_pairs

    entries = {}
    for split in SPLITS:
        entries[split] = {}
        for noisy, clean in enhancement_pairs(split):
            noisy_info, clean_info = sf.info(str(noisy)), sf.info(str(clean))
            if noisy_info.frames != clean_info.frames or noisy_info.samplerate != 16000:
                raise ValueError(f"toy pair {noisy} / {clean} is not two 16 kHz files of equal length")
            entries[split][clean.stem] = _entry(noisy.resolve(), clean.resolve(), clean_info.frames, 16000)
    return entries


def _valentini_entries(root: Path, audio_folder: Path, sample_rate: int) -> dict[str, dict[str, dict]]:
    common = _common_manifests()
    written = common.prepare_valentini(root, audio_folder, sample_rate=sample_rate)
    entries = {}
    for split in SPLITS:
        entries[split] = {
            row["id"]: _entry(Path(row["noisy"]), Path(row["clean"]), int(row["samples"]), int(row["sample_rate"]))
            for row in common.read_manifest(written[split])
        }
    return entries


def _common_manifests():
    """``recipes/common/enhancement_manifests.py`` from the repository (or copied beside this file)."""
    here = Path(__file__).resolve().parent
    for folder in (here, here.parent / "common"):
        if (folder / "enhancement_manifests.py").exists():
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
            import enhancement_manifests

            return enhancement_manifests
    raise ImportError(
        "Valentini preparation uses recipes/common/enhancement_manifests.py of the cdpam-plugins repository; "
        f"run this recipe from a clone of it, or copy that file next to {Path(__file__).name}."
    )


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
