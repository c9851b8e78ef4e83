"""Per-system summary of a result table: mean with its 95 % confidence interval, median, spread; a histogram.

The confidence interval is Student's t interval of the mean (``mean ± t₀.₉₇₅,ₙ₋₁ · s / √n``);
the central 95 % range (2.5th-97.5th percentiles) describes the spread of the distances
themselves. Both need the ``eval`` extra (scipy for the interval, matplotlib for
:func:`save_histogram`); scoring itself does not.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..extras import require

STATISTICS_FEATURE = "per-system statistics (cdpam score --stats)"
HISTOGRAM_FEATURE = "the histogram of distances (cdpam score --histogram)"


def _distances(records: list[dict], column: str) -> np.ndarray:
    return np.array([r[column] for r in records if r[column] is not None], dtype=np.float64)


def distance_columns(systems: tuple[str, ...]) -> dict[str, str]:
    """System name → its distance column (``distance``, or ``distance:NAME`` for several systems)."""
    return {s: "distance" if len(systems) == 1 else f"distance:{s}" for s in systems}


def summarize(records: list[dict], systems: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Per system: ``n``, ``mean``, ``ci95_low``, ``ci95_high`` (of the mean), ``median``, ``p2.5``, ``p97.5``."""
    require("eval", "scipy", feature=STATISTICS_FEATURE)
    from scipy.stats import t as student_t

    summary = {}
    for system, column in distance_columns(systems).items():
        values = _distances(records, column)
        n = len(values)
        stats = {"n": n, "mean": math.nan, "ci95_low": math.nan, "ci95_high": math.nan,
                 "median": math.nan, "p2.5": math.nan, "p97.5": math.nan}
        if n:
            mean = float(values.mean())
            half = float(student_t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
            low, median, high = np.percentile(values, [2.5, 50, 97.5])
            stats.update(mean=mean, ci95_low=mean - half, ci95_high=mean + half, median=float(median),
                         **{"p2.5": float(low), "p97.5": float(high)})
        summary[system] = stats
    return summary


def format_summary(summary: dict[str, dict[str, float]]) -> str:
    """A small aligned table of :func:`summarize`'s result."""
    width = max([len("system")] + [len(s) for s in summary])
    lines = [f"{'system':<{width}}  {'n':>6}  {'mean':>9}  {'95% CI of mean':>21}  {'median':>9}  {'central 95%':>21}"]
    for system, s in summary.items():
        lines.append(
            f"{system:<{width}}  {s['n']:>6}  {s['mean']:>9.6f}  [{s['ci95_low']:>8.6f}, {s['ci95_high']:>8.6f}]  "
            f"{s['median']:>9.6f}  [{s['p2.5']:>8.6f}, {s['p97.5']:>8.6f}]"
        )
    return "\n".join(lines)


def save_histogram(records: list[dict], systems: tuple[str, ...], path: str | Path, bins: int = 40) -> Path:
    """A PNG with the distribution of distances of every system (shared bins, one outline each)."""
    require("eval", "matplotlib", feature=HISTOGRAM_FEATURE)
    from matplotlib.figure import Figure  # no pyplot: the caller's backend and figures stay untouched
    columns = distance_columns(systems)
    data = {system: _distances(records, column) for system, column in columns.items()}
    every = np.concatenate([v for v in data.values()] + [np.zeros(0)])
    if every.size == 0:
        raise ValueError("no distances to plot: every pair failed")
    edges = np.histogram_bin_edges(every, bins=bins)
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    for system, values in data.items():
        axes.hist(values, bins=edges, histtype="step", linewidth=1.5, label=f"{system} (n={len(values)})")
    axes.set_xlabel("CDPAM distance (lower = closer to the reference)")
    axes.set_ylabel("pairs")
    axes.legend()
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path
