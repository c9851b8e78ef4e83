"""Writing a perturbed dataset to disk with a manifest (what ``cdpam data build`` runs).

Output layout::

    <output>/manifest.csv
    <output>/reference/<utterance>.wav              the input, resampled (and cropped)
    <output>/perturbed/<condition>/<utterance>.wav  one folder per condition

A *condition* is one family at one level (``white_noise_0.50``) or one chain
(``reverb_0.40+mp3_0.50``). Within a condition every utterance gets the same
perturbation seed (derived from ``seed`` and the condition), so a condition's files
share their perturbation parameters but not their content: exactly an *acoustic group*
of the paper's MP@k and common-area tests. ``seed_per_utterance=True`` varies it per file.

``manifest.csv`` columns: ``reference, perturbed`` (paths relative to the manifest),
``utterance_id, speaker, condition, chain, family, level`` (``family`` is ``+``-joined
and ``level`` empty for multi-link chains), ``seed, sample_rate, parameters`` (JSON list
of each link's physical parameters, e.g. ``rt60_s``).

Existing files are kept (the build resumes after an interruption) unless ``overwrite``.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import soundfile as sf
from tqdm import tqdm

from metric.perturb import Chain, derived_seed

from .corpora import AudioCache, as_utterances, speaker_of, utterance_id_of

MANIFEST_COLUMNS = ("reference", "perturbed", "utterance_id", "speaker", "condition", "chain", "family", "level",
                    "seed", "sample_rate", "parameters")


@dataclass(frozen=True)
class Condition:
    name: str
    chain: Chain


def conditions_for(families: Sequence[str], levels: Sequence[float], chains: Sequence[str | Chain] = (),
                   family_options: dict[str, dict] | None = None) -> list[Condition]:
    """Every family at every level, then the given chains."""
    family_options = family_options or {}
    out = [Condition(f"{f}_{lvl:.2f}", Chain([(f, lvl, family_options.get(f, {}))])) for f in families for lvl in levels]
    for chain in chains:
        chain = Chain.parse(chain) if isinstance(chain, str) else chain
        chain = Chain([(l.family, l.level, {**family_options.get(l.family, {}), **l.options}) for l in chain.links])
        out.append(Condition("+".join(f"{l.family}_{l.level:.2f}" for l in chain.links), chain))
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ValueError("the same condition is listed twice; remove the duplicate family/level/chain")
    return out


def safe_name(utterance_id: str) -> str:
    """A file name for an utterance id (ids may hold '/' for nested folders)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "__", utterance_id).strip("_") or "utterance"


def _json_safe(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        return round(float(value), 6)
    if isinstance(value, (tuple, list)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value


def build_perturbed_dataset(utterances: Sequence[Any], output_dir: str | Path, conditions: Sequence[Condition],
                            sample_rate: int = 16000, seed: int = 0, segment_seconds: float | None = None,
                            seed_per_utterance: bool = False, subtype: str = "PCM_16", overwrite: bool = False,
                            progress: bool = True) -> Path:
    """Write references, perturbed files and ``manifest.csv``; returns the manifest's path."""
    utterances = as_utterances(utterances)
    output = Path(output_dir)
    (output / "reference").mkdir(parents=True, exist_ok=True)
    names = [safe_name(utterance_id_of(u)) for u in utterances]
    if len(set(names)) != len(names):
        raise ValueError("two utterances map to the same file name; give them distinct utterance ids")
    load = AudioCache(sample_rate, enabled=False)
    segment = None if segment_seconds is None else int(round(segment_seconds * sample_rate))
    rows = []
    bar = tqdm(total=len(utterances) * len(conditions), desc="perturbing", unit="file", disable=not progress)
    for u_index, (utterance, name) in enumerate(zip(utterances, names)):
        audio = None
        reference = output / "reference" / f"{name}.wav"
        for c_index, condition in enumerate(conditions):
            target = output / "perturbed" / condition.name / f"{name}.wav"
            file_seed = derived_seed(seed, c_index) if not seed_per_utterance else derived_seed(derived_seed(seed, c_index), u_index)
            if overwrite or not target.is_file() or not reference.is_file():
                if audio is None:
                    audio = load(utterance)[:segment] if segment else load(utterance)
                    if overwrite or not reference.is_file():
                        sf.write(reference, audio, sample_rate, subtype=subtype)
                target.parent.mkdir(parents=True, exist_ok=True)
                sf.write(target, condition.chain(audio, sample_rate, seed=file_seed), sample_rate, subtype=subtype)
            links = condition.chain.links
            rows.append({
                "reference": reference.relative_to(output).as_posix(),
                "perturbed": target.relative_to(output).as_posix(),
                "utterance_id": utterance_id_of(utterance),
                "speaker": speaker_of(utterance),
                "condition": condition.name,
                "chain": condition.chain.spec(),
                "family": "+".join(l.family for l in links),
                "level": f"{links[0].level:g}" if len(links) == 1 else "",
                "seed": file_seed,
                "sample_rate": sample_rate,
                "parameters": json.dumps([{k: _json_safe(v) for k, v in d.items()} for d in condition.chain.describe(sample_rate)]),
            })
            bar.update()
    bar.close()
    manifest = output / "manifest.csv"
    with open(manifest, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    """Rows of a manifest with ``reference``/``perturbed`` made absolute."""
    path = Path(path)
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["reference"] = str(path.parent / row["reference"])
        row["perturbed"] = str(path.parent / row["perturbed"])
    return rows
