"""Percentile bootstrap intervals over resampled units (groups of pairs, recordings).

A statistic is computed on units drawn with replacement, as many as there are; the 2.5th and
97.5th percentiles of its values are the 95 % interval. Resampling whole units (every pair of
a group, every perturbed version of a recording) keeps the dependence inside a unit, which
resampling single pairs would ignore. Comparing two metrics on the same data, pass one
statistic that computes the difference on one draw: the interval is then paired.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def bootstrap_ci(statistic: Callable[[np.ndarray], float], units: int, rounds: int = 1000,
                 seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of ``statistic(indices)`` over ``rounds`` resamples of ``range(units)``.

    Resamples on which the statistic is not finite (e.g. a constant sequence's correlation) are dropped.
    """
    if units < 1:
        raise ValueError(f"a bootstrap needs at least one unit, got {units}")
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, units, units)) for _ in range(rounds)]
    values = [v for v in values if np.isfinite(v)]
    if not values:
        return float("nan"), float("nan")
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))
