"""Monotonicity (Manocha et al., ICASSP 2021, §4.2, Table 3 "Mono").

Recordings of different content are perturbed at increasing levels, individually
(one family) and combined (a chain of families at the same level); the score is
Spearman's rank correlation between the metric's distance to the clean recording and
the perturbation level. This project computes it per family (pooling every utterance
and level of that family) and reports their mean as the headline number, so that a
family whose distances live on another scale does not distort the others.

:func:`paired_monotonicity_difference` compares two metrics (or a metric and a reference
metric) on the same pairs, with a bootstrap interval over the recordings the pairs were made
from.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np


def spearman(x, y) -> float:
    """Spearman's rank correlation; NaN when either side is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("need two sequences of the same length >= 2")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    from scipy.stats import spearmanr  # here, not at the top: `cdpam evaluate --help` must not load SciPy

    return float(spearmanr(x, y).statistic)


def monotonicity(distances, levels, families=None, contents=None) -> dict:
    """``{"mono": mean over families, "per_family": {family: SC}}``.

    With ``contents``, also ``"within_content"``: the mean over (family, content) of the
    Spearman correlation of one recording's distances alone. It separates "the distance
    grows with the level for each recording" from "distances of different recordings
    share one scale", which the pooled headline needs as well.

    Args:
        distances: metric distance of each perturbed recording to its clean original.
        levels: the perturbation level of each recording.
        families: the family (or chain name) of each recording; ``None`` = one family.
        contents: the clean recording each one was made from (optional).
    """
    distances = np.asarray(distances, dtype=np.float64)
    levels = np.asarray(levels, dtype=np.float64)
    if distances.shape != levels.shape or distances.ndim != 1:
        raise ValueError("distances and levels must be 1-D arrays of the same length")
    families = ["all"] * len(distances) if families is None else [str(f) for f in families]
    groups: dict[str, list[int]] = defaultdict(list)
    for index, family in enumerate(families):
        groups[family].append(index)
    per_family = {family: spearman(distances[idx], levels[idx]) for family, idx in groups.items()}
    finite = [value for value in per_family.values() if np.isfinite(value)]
    result = {"mono": float(np.mean(finite)) if finite else float("nan"), "per_family": per_family}
    if contents is not None:
        cells: dict[tuple[str, str], list[int]] = defaultdict(list)
        for index, (family, content) in enumerate(zip(families, contents, strict=True)):
            cells[(family, str(content))].append(index)
        within = [spearman(distances[idx], levels[idx]) for idx in cells.values() if len(idx) >= 2]
        within = [value for value in within if np.isfinite(value)]
        result["within_content"] = float(np.mean(within)) if within else float("nan")
    return result


def paired_monotonicity_difference(first, second, levels, families, units, rounds: int = 1000, seed: int = 0) -> dict:
    """``mono(first) - mono(second)`` on the same pairs, with a paired 95 % bootstrap interval.

    Whole units (``units[i]``: the clean recording pair ``i`` was made from) are resampled with
    replacement, each bringing all its pairs, and both metrics' monotonicity is computed on the
    same draw: a recording on which both do badly moves both, so the interval is that of the
    difference, not of each figure.

    Returns ``{"first", "second", "difference", "ci": (low, high), "units"}``.
    """
    from .bootstrap import bootstrap_ci

    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    levels, families = np.asarray(levels, dtype=np.float64), np.asarray([str(f) for f in families])
    units = [str(u) for u in units]
    if not (len(first) == len(second) == len(levels) == len(families) == len(units)):
        raise ValueError("first, second, levels, families and units must have one entry per pair")
    names = list(dict.fromkeys(units))
    members = [np.flatnonzero(np.asarray(units) == name) for name in names]

    def difference(index) -> float:
        rows = np.concatenate([members[i] for i in index])
        return (monotonicity(first[rows], levels[rows], families[rows])["mono"]
                - monotonicity(second[rows], levels[rows], families[rows])["mono"])

    mono_first = monotonicity(first, levels, families)["mono"]
    mono_second = monotonicity(second, levels, families)["mono"]
    return {"first": mono_first, "second": mono_second, "difference": mono_first - mono_second,
            "ci": bootstrap_ci(difference, len(names), rounds, seed), "units": len(names)}
