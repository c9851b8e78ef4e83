"""Statistics of the DEMUCS recipe's tables: means over files, paired per-file differences, spread over
seeds (95 % confidence intervals, Student's t) and the weight search's choice.

Per-file scores are lists of ``{"id": ..., "pesq": ..., ...}`` dicts (``demucs.measures.score``);
NaN marks a file a measure cannot score, left out of means and differences.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .measures import COLUMNS, HIGHER_IS_BETTER


def finite_mean(values: Sequence[float]) -> float:
    """Mean over the finite values (NaN marks a file a measure cannot score)."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def mean_with_ci(values: Sequence[float]) -> dict[str, float]:
    """``{"mean", "ci95", "n"}``: the mean of the finite ``values`` and the half-width of its 95 % interval (t, n − 1 df)."""
    from scipy.stats import t as student

    array = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    n = len(array)
    half = float(student.ppf(0.975, n - 1) * array.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"mean": float(array.mean()) if n else float("nan"), "ci95": half, "n": n}


def paired_differences(per_file: Mapping[str, list[dict]], reference: str) -> dict[str, dict[str, dict]]:
    """Per row and measure: mean per-file difference from ``reference``, its 95 % CI half-width, files better.

    Rows are paired by file id; ``better`` counts the files where the row is better than the
    reference (higher, or lower for CDPAM).
    """
    base = {item["id"]: item for item in per_file[reference]}
    out = {}
    for row, items in per_file.items():
        if row == reference:
            continue
        out[row] = {}
        for key, higher in HIGHER_IS_BETTER.items():
            diffs = np.array([item[key] - base[item["id"]][key] for item in items], dtype=np.float64)
            diffs = diffs[np.isfinite(diffs)]
            stats = mean_with_ci(diffs)
            better = int(np.sum(diffs > 0) if higher else np.sum(diffs < 0))
            out[row][key] = {"mean": stats["mean"], "ci95": stats["ci95"], "better": better, "files": len(diffs)}
    return out


def average_over_seeds(runs: Sequence[list[dict]]) -> list[dict]:
    """Per-file scores averaged over runs (e.g. seeds) of one variant, paired by file id."""
    ids = [item["id"] for item in runs[0]]
    by_id = [{item["id"]: item for item in run} for run in runs]
    if any(set(run) != set(ids) for run in by_id):
        raise ValueError("the runs were scored on different files; evaluate them on the same test set.")
    return [{"id": file_id, **{key: finite_mean([run[file_id][key] for run in by_id]) for key in HIGHER_IS_BETTER}}
            for file_id in ids]


def markdown_table(means: Mapping[str, Mapping[str, float]]) -> str:
    header = "| | " + " | ".join(column[1] for column in COLUMNS) + " |"
    lines = [header, "|---|" + "---:|" * len(COLUMNS)]
    for row, values in means.items():
        lines.append(f"| {row} | " + " | ".join(fmt.format(values[key]) for key, _, _, fmt in COLUMNS) + " |")
    return "\n".join(lines)


def paired_table(paired: Mapping[str, Mapping[str, dict]], reference: str,
                 marks: Mapping[str, Sequence[str]] | None = None) -> str:
    """``mean ± ci95 (better/files)`` per row and measure; ``marks[row]`` lists measures starred for that row."""
    lines = ["| vs " + reference + " | " + " | ".join(column[1] for column in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for row, values in paired.items():
        cells = []
        for key, _, _, fmt in COLUMNS:
            stats = values[key]
            star = "*" if marks and key in marks.get(row, ()) else ""
            cells.append(f"{star}{fmt.format(stats['mean'])} ± {fmt.format(stats['ci95'])} ({stats['better']}/{stats['files']})")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seed_table(summary: Mapping[str, Mapping[str, dict]], marks: Mapping[str, Sequence[str]] | None = None) -> str:
    """``mean ± ci95`` over seeds per row and measure (``summary[row][key] = mean_with_ci(...)``); starred: ``marks``."""
    lines = ["| | " + " | ".join(column[1] for column in COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for row, values in summary.items():
        cells = []
        for key, _, _, fmt in COLUMNS:
            stats = values[key]
            star = "*" if marks and key in marks.get(row, ()) else ""
            spread = f" ± {fmt.format(stats['ci95'])}" if np.isfinite(stats["ci95"]) else ""
            cells.append(f"{star}{fmt.format(stats['mean'])}{spread}")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mean_ranks(candidates: Mapping[float, Mapping[str, float]]) -> dict[float, float]:
    """Each candidate's rank (1 = best; ties share the mean rank) averaged over the measures of :data:`COLUMNS`."""
    from scipy.stats import rankdata

    names = list(candidates)
    totals = np.zeros(len(names))
    for key, higher in HIGHER_IS_BETTER.items():
        values = np.array([candidates[name][key] for name in names], dtype=np.float64)
        totals += rankdata(-values if higher else values, method="average")
    return {name: float(total / len(HIGHER_IS_BETTER)) for name, total in zip(names, totals)}


def select_weight(candidates: Mapping[float, Mapping[str, float]]) -> float:
    """The weight whose model has the best mean rank over the seven measures (validation means); ties: the smaller weight."""
    ranks = mean_ranks(candidates)
    return min(ranks, key=lambda weight: (ranks[weight], weight))
