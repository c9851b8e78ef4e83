"""Held-out evaluation of trained generators: metrics table, audio, spectrogram figure.

For every test utterance the real recording is turned into a log-mel
spectrogram, each generator vocodes it, and every measure of
:mod:`melgan.metrics` compares the result with the real recording. Outputs in
``out_dir``:

* ``results.json`` — per-utterance scores and per-model mean / standard deviation;
* ``results.md`` — the Markdown table;
* ``audio/<model>/<utterance>.wav`` and ``audio/real/<utterance>.wav``;
* ``spectrograms.png`` — log-mel spectrograms of real / each model for the first utterance.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from .checkpoint import load_generator
from .data import load_audio
from .mel import LogMelSpectrogram
from .metrics import HIGHER_IS_BETTER, MEASURES

MEASURE_TITLES = {
    "cdpam": "CDPAM ↓",
    "mrstft": "MR-STFT ↓",
    "mcd_db": "MCD (dB) ↓",
    "pesq_wb": "PESQ-WB ↑",
}


@torch.no_grad()
def vocode_waveform(generator, front_end: LogMelSpectrogram, audio: np.ndarray) -> np.ndarray:
    mel = front_end(torch.from_numpy(audio)[None])
    return generator(mel)[0, 0].numpy()


def _trim(audio: np.ndarray, hop: int, max_seconds: float | None, sample_rate: int) -> np.ndarray:
    if max_seconds:
        audio = audio[: int(max_seconds * sample_rate)]
    return audio[: len(audio) // hop * hop]


def evaluate(
    models: dict[str, str | Path],
    entries: list[dict],
    out_dir: str | Path,
    max_utterances: int | None = None,
    max_seconds: float | None = None,
    measures: tuple[str, ...] = tuple(MEASURES),
) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    unknown = set(measures) - set(MEASURES)
    if unknown:
        raise ValueError(f"Unknown measures {sorted(unknown)}; choose from {sorted(MEASURES)}.")
    loaded = {}
    for name, path in models.items():
        generator, mel_config, step = load_generator(path)
        loaded[name] = (generator, LogMelSpectrogram(mel_config), step)
    sample_rates = {front.config.sample_rate for _, front, _ in loaded.values()}
    if len(sample_rates) != 1:
        raise ValueError(f"The models use different sample rates {sorted(sample_rates)}: evaluate them separately.")
    sample_rate = sample_rates.pop()
    entries = select_utterances(entries, max_utterances)
    if not entries:
        raise ValueError("No test utterances to evaluate.")

    scores: dict[str, dict[str, list[float]]] = {name: {m: [] for m in measures} for name in loaded}
    per_utterance = []
    first_spectra: dict[str, np.ndarray] = {}
    for index, entry in enumerate(tqdm(entries, desc="evaluate", unit="utt")):
        any_front = next(iter(loaded.values()))[1]
        real = _trim(load_audio(entry["path"], sample_rate), any_front.hop_length, max_seconds, sample_rate)
        utt = entry["utterance_id"]
        _write(out_dir / "audio" / "real" / f"{utt}.wav", real, sample_rate)
        row = {"utterance_id": utt, "seconds": round(len(real) / sample_rate, 3)}
        if index == 0:
            first_spectra["real"] = any_front(torch.from_numpy(real)[None])[0].numpy()
        for name, (generator, front_end, _) in loaded.items():
            fake = vocode_waveform(generator, front_end, real)
            _write(out_dir / "audio" / name / f"{utt}.wav", fake, sample_rate)
            if index == 0:
                first_spectra[name] = front_end(torch.from_numpy(fake)[None])[0].numpy()
            for measure in measures:
                value = MEASURES[measure](real, fake, sample_rate)
                scores[name][measure].append(value)
                row[f"{name}/{measure}"] = value
        per_utterance.append(row)

    summary = {
        name: {
            measure: {"mean": _nanmean(values), "std": _nanstd(values), "n": int(np.sum(np.isfinite(values)))}
            for measure, values in by_measure.items()
        }
        for name, by_measure in scores.items()
    }
    result = {
        "sample_rate": sample_rate,
        "utterances": len(entries),
        "max_seconds": max_seconds,
        "models": {name: {"checkpoint": str(models[name]), "step": step} for name, (_, _, step) in loaded.items()},
        "summary": summary,
        "per_utterance": per_utterance,
    }
    (out_dir / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "results.md").write_text(markdown_table(result) + "\n")
    plot_spectrograms(first_spectra, out_dir / "spectrograms.png", title=entries[0]["utterance_id"])
    return result


def select_utterances(entries: list[dict], limit: int | None) -> list[dict]:
    """At most ``limit`` utterances, taken round-robin over speakers (manifest order within a speaker),
    so that a small evaluation still covers every held-out speaker."""
    if not limit or limit >= len(entries):
        return list(entries)
    by_speaker: dict[str, list[dict]] = {}
    for entry in entries:
        by_speaker.setdefault(str(entry.get("speaker", "")), []).append(entry)
    queues = list(by_speaker.values())
    chosen: list[dict] = []
    depth = 0
    while len(chosen) < limit:
        for queue in queues:
            if depth < len(queue) and len(chosen) < limit:
                chosen.append(queue[depth])
        depth += 1
    return chosen


def markdown_table(result: dict) -> str:
    measures = list(next(iter(result["summary"].values())).keys())
    header = "| model | steps | " + " | ".join(MEASURE_TITLES.get(m, m) for m in measures) + " |"
    lines = [header, "|" + "---|" * (len(measures) + 2)]
    for name, by_measure in result["summary"].items():
        cells = []
        for measure in measures:
            stats = by_measure[measure]
            cells.append("n/a" if math.isnan(stats["mean"]) else f"{stats['mean']:.3f} ± {stats['std']:.3f}")
        lines.append(f"| {name} | {result['models'][name]['step']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Mean ± standard deviation over {result['utterances']} held-out utterances"
        + (f" (first {result['max_seconds']} s of each)" if result["max_seconds"] else "")
        + f", {result['sample_rate']} Hz. "
        + "Better: " + ", ".join(f"{MEASURE_TITLES.get(m, m).split()[0]} {'higher' if HIGHER_IS_BETTER[m] else 'lower'}" for m in measures)
        + "."
    )
    return "\n".join(lines)


def plot_spectrograms(spectra: dict[str, np.ndarray], path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(spectra)
    vmin = min(float(s.min()) for s in spectra.values())
    vmax = max(float(s.max()) for s in spectra.values())
    figure, axes = plt.subplots(len(names), 1, figsize=(9, 2.3 * len(names)), sharex=True, squeeze=False)
    for axis, name in zip(axes[:, 0], names):
        image = axis.imshow(spectra[name], origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap="magma")
        axis.set_title(name)
        axis.set_ylabel("mel band")
        figure.colorbar(image, ax=axis, label="log10 |mel|")
    axes[-1, 0].set_xlabel("frame (hop 256 samples)")
    if title:
        figure.suptitle(f"log-mel spectrograms: {title}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _write(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16")


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan


def _nanstd(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanstd(values)) if np.isfinite(values).any() else math.nan
