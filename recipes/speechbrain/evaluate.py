#!/usr/bin/env python3
"""Comparison table of enhanced test sets: PESQ (wide-band), STOI and CDPAM distance.

    python evaluate.py --test_annotation results/prepared_toy/test.json \\
        --system baseline=results/baseline/1234/enhanced --system cdpam=results/cdpam/1234/enhanced \\
        --output_folder results/comparison

Every system is scored from its wav files against the clean references of the manifest, with the
same code, so the rows are comparable; the unprocessed noisy input is the first row. The CDPAM
distances of all systems come from one ``metric.score_folders`` run (batched, on every core, each
clean reference encoded once for all systems). Prints a
Markdown table and writes ``comparison.md`` and ``comparison.json`` (averages and per-utterance
scores) into ``output_folder``. PESQ and STOI: higher is better; CDPAM distance: lower is better.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from metric import pesq, read_audio, score_folders, stoi

COLUMNS = (("pesq", "PESQ (wb) ↑"), ("stoi", "STOI ↑"), ("cdpam", "CDPAM distance ↓"))


def read_wav(path: Path, sample_rate: int) -> torch.Tensor:
    audio, rate = read_audio(path, mono=True)
    if rate != sample_rate:
        raise ValueError(f"{path} is at {rate} Hz; the comparison runs at {sample_rate} Hz")
    return torch.from_numpy(audio)


def score_system(entries: dict, wav_for, sample_rate: int, name: str) -> dict[str, dict[str, float]]:
    """Per-utterance PESQ and STOI ``{metric: {utt_id: value}}`` of one system (checking its files)."""
    scores = {"pesq": {}, "stoi": {}}
    for utt_id, entry in tqdm(entries.items(), desc=f"scoring {name}", unit="utt", leave=False):
        clean = read_wav(Path(entry["clean_wav"]), sample_rate)
        path = wav_for(utt_id, entry)
        if not path.exists():
            raise FileNotFoundError(f"{name}: no enhanced file {path}; run the test stage of train.py for it first")
        enhanced = read_wav(path, sample_rate)
        if enhanced.shape != clean.shape:
            raise ValueError(f"{path} has {enhanced.numel()} samples, its clean reference {clean.numel()}")
        scores["pesq"][utt_id] = pesq(clean.numpy(), enhanced.numpy(), sample_rate)
        scores["stoi"][utt_id] = stoi(clean.numpy(), enhanced.numpy(), sample_rate)
    return scores


def cdpam_distances(entries: dict, files: dict[str, dict[str, Path]]) -> dict[str, dict[str, float]]:
    """``{system: {utt_id: CDPAM distance}}`` for ``files`` (``{system: {utt_id: wav}}``), in one run."""
    references = {utt_id: entry["clean_wav"] for utt_id, entry in entries.items()}
    table = score_folders(references, files)
    failures = [f"{system} {utt_id}: {reason}" for system in files for utt_id, reason in table.errors(system).items()]
    if failures:
        raise RuntimeError("CDPAM could not score " + "; ".join(failures))
    return {system: table.distances(system) for system in files}


def markdown_table(averages: dict[str, dict[str, float]], count: int) -> str:
    lines = ["| system | " + " | ".join(title for _, title in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for system, values in averages.items():
        lines.append(f"| {system} | " + " | ".join(f"{values[key]:.3f}" for key, _ in COLUMNS) + " |")
    lines.append("")
    lines.append(f"Means over {count} test utterances.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--test_annotation", required=True, help="test.json written by prepare_data.py")
    parser.add_argument("--system", action="append", default=[], metavar="NAME=FOLDER",
                        help="an enhanced test set (folder of <id>.wav); repeat for each system")
    parser.add_argument("--output_folder", required=True)
    parser.add_argument("--sample_rate", type=int, default=16000)
    args = parser.parse_args(argv)

    systems = {}
    for spec in args.system:
        name, sep, folder = spec.partition("=")
        if not sep or not name or not folder:
            parser.error(f"--system wants NAME=FOLDER, got {spec!r}")
        systems[name] = Path(folder)
    entries = json.loads(Path(args.test_annotation).read_text())

    sources = {"noisy input": lambda utt_id, entry: Path(entry["noisy_wav"])}
    for name, folder in systems.items():
        sources[name] = lambda utt_id, entry, folder=folder: folder / f"{utt_id}.wav"
    per_utterance = {name: score_system(entries, wav_for, args.sample_rate, name) for name, wav_for in sources.items()}
    files = {name: {utt_id: wav_for(utt_id, entry) for utt_id, entry in entries.items()} for name, wav_for in sources.items()}
    for name, distances in cdpam_distances(entries, files).items():
        per_utterance[name]["cdpam"] = distances
    averages = {name: {key: sum(values.values()) / len(values) for key, values in scores.items()}
                for name, scores in per_utterance.items()}

    table = markdown_table(averages, len(entries))
    output = Path(args.output_folder)
    output.mkdir(parents=True, exist_ok=True)
    (output / "comparison.md").write_text(table + "\n")
    (output / "comparison.json").write_text(json.dumps(
        {"test_annotation": str(Path(args.test_annotation).resolve()), "utterances": len(entries),
         "averages": averages, "per_utterance": per_utterance}, indent=1))
    print(table)
    print(f"\nwritten: {output / 'comparison.md'}, {output / 'comparison.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
