"""MOS correlation per speaker and condition (Manocha et al., ICASSP 2021, §4.1).

"These correlation scores are evaluated per speaker where we average scores for each
speaker for each condition": ratings and distances are first averaged over every
(speaker, condition) cell, then Spearman's rank correlation is taken between the
cells' mean MOS and the cells' mean *similarity* (minus the distance), so that a
metric agreeing with listeners scores +1, as in the paper's Table 1.

CSV format of a MOS test (:func:`read_mos_csv`), one row per rated file (or per rating;
repeated rows are averaged), header required::

    reference,degraded,mos,speaker,condition
    clean/p232_001.wav,systemA/p232_001.wav,3.8,p232,systemA

Paths are relative to the CSV's folder (or absolute). ``condition`` names the system
or degradation that produced ``degraded``.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def cell_means(values, speakers, conditions) -> dict[tuple[str, str], float]:
    """Mean of ``values`` in every (speaker, condition) cell."""
    sums: dict[tuple[str, str], list[float]] = defaultdict(list)
    for value, speaker, condition in zip(values, speakers, conditions, strict=True):
        sums[(str(speaker), str(condition))].append(float(value))
    return {cell: float(np.mean(items)) for cell, items in sums.items()}


def mos_spearman(distances, mos, speakers, conditions) -> float:
    """Spearman correlation between per-(speaker, condition) mean MOS and mean ``-distance``."""
    distances = np.asarray(distances, dtype=np.float64)
    mos = np.asarray(mos, dtype=np.float64)
    if distances.shape != mos.shape or distances.ndim != 1:
        raise ValueError("distances and mos must be 1-D arrays of the same length")
    mean_distance = cell_means(distances, speakers, conditions)
    mean_mos = cell_means(mos, speakers, conditions)
    cells = sorted(mean_mos)
    if len(cells) < 3:
        raise ValueError(f"need at least 3 (speaker, condition) cells to correlate, got {len(cells)}")
    similarity = [-mean_distance[cell] for cell in cells]
    ratings = [mean_mos[cell] for cell in cells]
    if np.ptp(similarity) == 0 or np.ptp(ratings) == 0:
        return float("nan")  # a constant has no rank correlation
    from scipy.stats import spearmanr  # here, not at the top: `cdpam evaluate --help` must not load SciPy

    return float(spearmanr(similarity, ratings).statistic)


@dataclass(frozen=True)
class MosRating:
    reference: Path
    degraded: Path
    mos: float
    speaker: str
    condition: str


def read_mos_csv(path: str | Path) -> list[MosRating]:
    """Rated files of a MOS test from a CSV (format in the module docstring)."""
    path = Path(path)
    needed = {"reference", "degraded", "mos", "speaker", "condition"}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        if not needed <= columns:
            raise ValueError(
                f"{path}: a MOS CSV needs the header reference,degraded,mos,speaker,condition; "
                f"missing {sorted(needed - columns)}"
            )
        ratings = []
        for line, row in enumerate(reader, start=2):
            try:
                mos = float(row["mos"])
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{line}: mos {row['mos']!r} is not a number") from None
            ratings.append(
                MosRating(
                    (path.parent / row["reference"]).resolve(),
                    (path.parent / row["degraded"]).resolve(),
                    mos,
                    row["speaker"],
                    row["condition"],
                )
            )
    if not ratings:
        raise ValueError(f"{path}: no ratings")
    return ratings
