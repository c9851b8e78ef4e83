"""Stage 4: the CDPAM paper's Table 4 for this recipe's models (Manocha et al., ICASSP 2021, §4.4).

    cd recipes/demucs
    python evaluate.py --manifest data/toy/test.json --out-dir exp/toy/eval \\
        --model DEMUCS=exp/toy/baseline/model.pt --model DEMUCS+CDPAM=exp/toy/cdpam/model.pt \\
        --model "DEMUCS+CDPAM (last)=exp/toy/cdpam/model_last.pt" --model Finetune-CDPAM=exp/toy/finetune/model.pt

Rows: Noisy (the unprocessed input) and one per ``--model``. Columns: PESQ (wide-band,
ITU-T P.862.2), STOI (in %, as the paper prints it), CSIG / CBAK / COVL (as Loizou's
``composite.m``, :func:`metric.composite`), the CDPAM distance to the clean
reference (lower is better) and SI-SDR (dB); each the mean over the test files. A second
table gives every row's paired per-file difference from the reference row (``--reference``,
default DEMUCS) with its 95 % confidence interval (Student's t over files). Writes
``table.md``, ``results.json`` (per-file values too), ``examples/`` (clean, noisy and every
model's output for the first few files) and ``spectrogram.png`` (first example). Per-row
scores are cached in ``rows/`` and reused while the model file and the test files are unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from demucs.figures import spectrogram_png
from demucs.inference import enhance_waveform, load_model
from demucs.measures import COLUMNS, SAMPLE_RATE, CleanReferenceScorer, score
from demucs.statistics import finite_mean, markdown_table, paired_differences, paired_table
from demucs.variants import row_tag
from metric import read_audio, read_enhancement_manifest

def _row_file(out_dir: Path, row: str) -> Path:
    return out_dir / "rows" / (row_tag(row) + ".json")


def _row_key(row: str, model_path: str | Path | None, ids: list[str]) -> dict:
    """What a cached row was computed from: the model file (path, size, mtime) and the test ids."""
    key = {"row": row, "ids": ids, "model": None}
    if model_path is not None:
        stat = Path(model_path).stat()
        key["model"] = {"path": str(Path(model_path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return key


def _weights_fingerprint(model: torch.nn.Module) -> str:
    """sha256 of a model's weights: two files holding the same model (e.g. selected = last) score once."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def evaluate(
    manifest: str | Path,
    models: dict[str, str | Path],
    out_dir: str | Path,
    max_files: int | None = None,
    examples: int | Sequence[str] = 3,
    progress: bool = True,
    reuse: bool = True,
    reference: str = "DEMUCS",
) -> dict:
    """Score Noisy and every model on ``manifest``; write the table, JSON, examples and spectrogram.

    ``examples``: the number of files (the first ones) or the ids of the files whose audio is
    written to ``out_dir/examples/``; the spectrogram shows the first of them.

    Each row's per-file scores are cached in ``out_dir/rows/``; with ``reuse`` a row whose
    model file and test files are unchanged is read back instead of recomputed, so that
    re-running the evaluation after retraining one variant only scores that variant.
    """
    started = time.time()
    entries = read_enhancement_manifest(manifest)
    if max_files:
        entries = entries[:max_files]
    ids = [entry["id"] for entry in entries]
    example_ids = ids[:examples] if isinstance(examples, int) else [i for i in examples if i in ids]
    if not isinstance(examples, int) and len(example_ids) < len(examples):
        raise ValueError(f"example ids {sorted(set(examples) - set(ids))} are not in {manifest}.")
    spectrogram_id = example_ids[0] if example_ids else ids[0]
    out_dir = Path(out_dir)
    (out_dir / "examples").mkdir(parents=True, exist_ok=True)
    (out_dir / "rows").mkdir(exist_ok=True)
    keys = {"Noisy": _row_key("Noisy", None, ids), **{name: _row_key(name, path, ids) for name, path in models.items()}}
    per_file: dict[str, list[dict]] = {}
    for row, key in keys.items():
        cached = _row_file(out_dir, row)
        if reuse and cached.exists():
            content = json.loads(cached.read_text())
            if content.get("key") == key:
                per_file[row] = content["per_file"]
    todo = [row for row in keys if row not in per_file]
    if per_file:
        print(f"Reusing cached scores for {', '.join(per_file)} ({out_dir / 'rows'})")
    loaded = {name: load_model(path).eval() for name, path in models.items()}
    fingerprints = {name: _weights_fingerprint(model) for name, model in loaded.items()}
    identical = {}  # row -> an earlier row with the same weights
    for row in todo:
        earlier = [name for name in models if name != row and list(keys).index(name) < list(keys).index(row)]
        same = [name for name in earlier if fingerprints[name] == fingerprints.get(row)]
        if same:
            identical[row] = same[0]
            print(f"{row} holds the same weights as {same[0]}: its scores are copied.")
    todo = [row for row in todo if row not in identical]
    cdpam = CleanReferenceScorer() if todo else None
    for row in todo:
        per_file[row] = []
    first_example: dict[str, np.ndarray] = {}
    for entry in tqdm(entries, desc="evaluate", unit="file", disable=not progress):
        shown = entry["id"] in example_ids or entry["id"] == spectrogram_id
        needed = list(keys) if shown else todo
        if not needed:
            continue
        clean, _ = read_audio(entry["clean"], SAMPLE_RATE, mono=True)
        noisy, _ = read_audio(entry["noisy"], SAMPLE_RATE, mono=True)
        outputs = {row: noisy if row == "Noisy" else enhance_waveform(loaded[row], noisy) for row in needed}
        if todo:
            cdpam.set_reference(clean)
        for row in todo:
            per_file[row].append({"id": entry["id"], **score(clean, outputs[row], cdpam)})
        if entry["id"] in example_ids:
            sf.write(out_dir / "examples" / f"{entry['id']}_{row_tag('Clean')}.wav", clean, SAMPLE_RATE)
            for row, processed in outputs.items():
                sf.write(out_dir / "examples" / f"{entry['id']}_{row_tag(row)}.wav", processed, SAMPLE_RATE)
        if entry["id"] == spectrogram_id:
            first_example = {"Clean": clean, **outputs}
    for row, same in identical.items():
        per_file[row] = [dict(item) for item in per_file[same]]
    for row in [*todo, *identical]:
        _row_file(out_dir, row).write_text(json.dumps({"key": keys[row], "per_file": per_file[row]}, indent=1))
    per_file = {row: per_file[row] for row in keys}  # table order: Noisy, then the models as given
    means = {row: {key: finite_mean([item[key] for item in items]) for key, *_ in COLUMNS} for row, items in per_file.items()}
    table = markdown_table(means)
    paired = paired_differences(per_file, reference) if reference in per_file and len(per_file) > 1 else {}
    if paired:
        table += (f"\n\nPaired per-file differences from {reference}: mean ± 95 % CI (files where the row is better)."
                  f"\n\n{paired_table(paired, reference)}")
    results = {
        "manifest": str(Path(manifest).resolve()),
        "files": len(entries),
        "models": {name: str(Path(path).resolve()) for name, path in models.items()},
        "columns": {key: {"header": header, "higher_is_better": higher} for key, header, higher, _ in COLUMNS},
        "means": means,
        "paired": {"reference": reference, "differences": paired},
        "per_file": per_file,
        "recomputed_rows": todo,
        "identical_rows": identical,
        "seconds": round(time.time() - started, 1),
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    notes = "".join(f" {row} is the same model as {same} (identical weights)." for row, same in identical.items())
    (out_dir / "table.md").write_text(
        f"Test files: {len(entries)} from {manifest}. STOI in %, CDPAM distance lower is better.{notes}\n\n{table}\n"
    )
    spectrogram_png(first_example, out_dir / "spectrogram.png", f"{spectrogram_id}: log-magnitude spectrograms (dB)")
    print(table)
    return results


def _model_argument(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--model wants NAME=PATH, got {text!r}.")
    name, path = text.split("=", 1)
    return name, path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, help="test manifest (.json) from prepare_data.py")
    parser.add_argument("--model", action="append", type=_model_argument, default=[], metavar="NAME=PATH",
                        help="a row of the table: display name and model.pt/.ckpt (repeatable; missing files are skipped)")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--max-files", type=int, default=None, help="score only the first N test files")
    parser.add_argument("--examples", type=int, default=3, help="number of files (the first) whose audio is saved under examples/")
    parser.add_argument("--example-ids", nargs="+", default=None, metavar="ID",
                        help="ids of the files whose audio is saved under examples/ (instead of --examples)")
    parser.add_argument("--no-reuse", action="store_true", help="recompute every row even if its cached scores are current")
    parser.add_argument("--reference", default="DEMUCS", help="row the paired per-file differences are taken from")
    args = parser.parse_args(argv)
    models = {}
    for name, path in args.model:
        if Path(path).exists():
            models[name] = path
        else:
            print(f"Skipping {name}: {path} does not exist (train it first).")
    examples = args.example_ids if args.example_ids else args.examples
    evaluate(args.manifest, models, args.out_dir, args.max_files, examples, reuse=not args.no_reuse,
             reference=args.reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())
