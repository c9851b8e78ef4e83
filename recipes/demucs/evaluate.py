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
import re
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from demucs.inference import enhance_waveform, load_model
from metric import CDPAM, composite, read_audio, read_enhancement_manifest, si_sdr, stoi

SAMPLE_RATE = 16_000
COLUMNS = (  # key, header, higher is better, format
    ("pesq", "PESQ", True, "{:.2f}"),
    ("stoi", "STOI (%)", True, "{:.2f}"),
    ("csig", "CSIG", True, "{:.2f}"),
    ("cbak", "CBAK", True, "{:.2f}"),
    ("covl", "COVL", True, "{:.2f}"),
    ("cdpam", "CDPAM ↓", False, "{:.4f}"),
    ("si_sdr", "SI-SDR (dB)", True, "{:.2f}"),
)
PAPER_ROWS = ("Noisy", "DEMUCS", "DEMUCS+CDPAM", "Finetune-CDPAM")


class CleanReferenceScorer:
    """CDPAM distances of every row's output to one clean reference, embedded once for all rows."""

    def __init__(self, sample_rate: int = SAMPLE_RATE):
        self.cdpam = CDPAM(sample_rate=sample_rate)
        self.reference = None

    def set_reference(self, clean: np.ndarray) -> None:
        with torch.inference_mode():
            self.reference = self.cdpam.embed(torch.from_numpy(clean)[None])

    def distance(self, estimate: np.ndarray) -> float:
        with torch.inference_mode():
            embedding = self.cdpam.embed(torch.from_numpy(estimate)[None])
            return float(self.cdpam.distance_from_embeddings(self.reference, embedding)[0])


def _stoi_percent(clean: np.ndarray, processed: np.ndarray) -> float:
    try:
        return 100.0 * stoi(clean, processed, SAMPLE_RATE)
    except ValueError:  # too little active speech: unscored (NaN), left out of the mean
        return float("nan")


def score(clean: np.ndarray, processed: np.ndarray, cdpam: CleanReferenceScorer) -> dict[str, float]:
    measures = composite(clean, processed, SAMPLE_RATE)
    return {
        "pesq": float(measures["pesq"]),
        "stoi": _stoi_percent(clean, processed),
        "csig": float(measures["csig"]),
        "cbak": float(measures["cbak"]),
        "covl": float(measures["covl"]),
        "cdpam": cdpam.distance(processed),
        "si_sdr": si_sdr(clean.astype(np.float64), processed.astype(np.float64), SAMPLE_RATE),
    }


def _mean(values: list[float]) -> float:
    """Mean over the scored files (NaN marks a file a measure cannot score)."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def paired_differences(per_file: dict[str, list[dict]], reference: str) -> dict[str, dict[str, dict]]:
    """Per row and column: mean per-file difference from ``reference``, its 95 % CI half-width, files better."""
    from scipy.stats import t as student

    base = per_file[reference]
    out = {}
    for row, items in per_file.items():
        if row == reference:
            continue
        out[row] = {}
        for key, _, higher, _ in COLUMNS:
            diffs = np.array([item[key] - ref[key] for item, ref in zip(items, base)], dtype=np.float64)
            diffs = diffs[np.isfinite(diffs)]  # files a measure cannot score (NaN) are left out
            half = float(student.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else float("nan")
            better = int(np.sum(diffs > 0) if higher else np.sum(diffs < 0))
            mean = float(diffs.mean()) if len(diffs) else float("nan")
            out[row][key] = {"mean": mean, "ci95": half, "better": better, "files": len(diffs)}
    return out


def paired_table(paired: dict[str, dict[str, dict]], reference: str) -> str:
    header = "| vs " + reference + " | " + " | ".join(column[1] for column in COLUMNS) + " |"
    lines = [header, "|---|" + "---:|" * len(COLUMNS)]
    for row, values in paired.items():
        cells = []
        for key, _, _, fmt in COLUMNS:
            stats = values[key]
            cells.append(f"{fmt.format(stats['mean'])} ± {fmt.format(stats['ci95'])} ({stats['better']}/{stats['files']})")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_table(means: dict[str, dict[str, float]]) -> str:
    header = "| | " + " | ".join(column[1] for column in COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(COLUMNS)
    lines = [header, rule]
    for row, values in means.items():
        cells = [fmt.format(values[key]) for key, _, _, fmt in COLUMNS]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def spectrogram_png(signals: dict[str, np.ndarray], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import stft

    fig, axes = plt.subplots(len(signals), 1, figsize=(9, 2.0 * len(signals)), sharex=True, squeeze=False)
    for axis, (name, signal) in zip(axes[:, 0], signals.items()):
        freqs, times, spec = stft(signal, SAMPLE_RATE, nperseg=512, noverlap=384)
        level = 20 * np.log10(np.abs(spec) + 1e-8)
        axis.pcolormesh(times, freqs / 1000, level, vmin=level.max() - 80, vmax=level.max(), shading="auto", cmap="magma")
        axis.set_ylabel("kHz")
        axis.set_title(name, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _slug(row: str) -> str:
    """A file-name tag for a row name: ``DEMUCS+CDPAM (last)`` -> ``demucs_cdpam_last``."""
    return re.sub(r"[^a-z0-9]+", "_", row.lower()).strip("_")


def _row_file(out_dir: Path, row: str) -> Path:
    return out_dir / "rows" / (_slug(row) + ".json")


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
    examples: int = 3,
    progress: bool = True,
    reuse: bool = True,
    reference: str = "DEMUCS",
) -> dict:
    """Score Noisy and every model on ``manifest``; write the table, JSON, examples and spectrogram.

    Each row's per-file scores are cached in ``out_dir/rows/``; with ``reuse`` a row whose
    model file and test files are unchanged is read back instead of recomputed, so that
    re-running the evaluation after retraining one variant only scores that variant.
    """
    started = time.time()
    entries = read_enhancement_manifest(manifest)
    if max_files:
        entries = entries[:max_files]
    ids = [entry["id"] for entry in entries]
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
    for index, entry in enumerate(tqdm(entries, desc="evaluate", unit="file", disable=not progress)):
        needed = list(keys) if (index < examples or index == 0) else todo
        if not needed:
            continue
        clean, _ = read_audio(entry["clean"], SAMPLE_RATE, mono=True)
        noisy, _ = read_audio(entry["noisy"], SAMPLE_RATE, mono=True)
        outputs = {row: noisy if row == "Noisy" else enhance_waveform(loaded[row], noisy) for row in needed}
        if todo:
            cdpam.set_reference(clean)
        for row in todo:
            per_file[row].append({"id": entry["id"], **score(clean, outputs[row], cdpam)})
        if index < examples:
            sf.write(out_dir / "examples" / f"{entry['id']}_clean.wav", clean, SAMPLE_RATE)
            for row, processed in outputs.items():
                sf.write(out_dir / "examples" / f"{entry['id']}_{_slug(row)}.wav", processed, SAMPLE_RATE)
        if index == 0:
            first_example = {"Clean": clean, **outputs}
            first_id = entry["id"]
    for row, same in identical.items():
        per_file[row] = [dict(item) for item in per_file[same]]
    for row in [*todo, *identical]:
        _row_file(out_dir, row).write_text(json.dumps({"key": keys[row], "per_file": per_file[row]}, indent=1))
    per_file = {row: per_file[row] for row in keys}  # table order: Noisy, then the models as given
    means = {row: {key: _mean([item[key] for item in items]) for key, *_ in COLUMNS} for row, items in per_file.items()}
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
    spectrogram_png(first_example, out_dir / "spectrogram.png", f"{first_id}: log-magnitude spectrograms (dB)")
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
    parser.add_argument("--examples", type=int, default=3, help="files whose audio is saved under examples/")
    parser.add_argument("--no-reuse", action="store_true", help="recompute every row even if its cached scores are current")
    parser.add_argument("--reference", default="DEMUCS", help="row the paired per-file differences are taken from")
    args = parser.parse_args(argv)
    models = {}
    for name, path in args.model:
        if Path(path).exists():
            models[name] = path
        else:
            print(f"Skipping {name}: {path} does not exist (train it first).")
    evaluate(args.manifest, models, args.out_dir, args.max_files, args.examples, reuse=not args.no_reuse,
             reference=args.reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())
