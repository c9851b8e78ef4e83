"""Common area of two distance distributions (Manocha et al., ICASSP 2021, §4.2, "ComArea").

Group *same*: pairs with the same acoustic perturbation (family and level) but
different content. Group *different*: pairs with different perturbations and
different content. A metric robust to content puts the first group at small and the
second at large distances, so the two distributions overlap little. Lower is better.

Computation (the paper does not spell it out; this is the project's definition):

1. both sets of distances are min-max normalised *jointly* to [0, 1]
   (``(d - min) / (max - min)`` over the union), so the score ignores the metric's scale;
2. each set becomes a histogram with ``bins`` equal bins on [0, 1] (default 20),
   normalised to probability masses (each sums to 1);
3. common area = ``sum_b min(p_same[b], p_different[b])``.

Identical distributions give 1, distributions in disjoint bins give 0. Histograms (not
a KDE) keep those two limits exact.
"""

from __future__ import annotations

import numpy as np

DEFAULT_BINS = 20


def normalise_jointly(same, different) -> tuple[np.ndarray, np.ndarray]:
    """Min-max normalise two sets of distances with their common min and max."""
    same = np.asarray(same, dtype=np.float64)
    different = np.asarray(different, dtype=np.float64)
    if same.ndim != 1 or different.ndim != 1 or len(same) == 0 or len(different) == 0:
        raise ValueError("same and different must be non-empty 1-D arrays of distances")
    if not (np.isfinite(same).all() and np.isfinite(different).all()):
        raise ValueError("distances must be finite")
    low = min(same.min(), different.min())
    span = max(same.max(), different.max()) - low
    if span == 0:
        return np.zeros_like(same), np.zeros_like(different)
    return (same - low) / span, (different - low) / span


def histograms(same, different, bins: int = DEFAULT_BINS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(edges, p_same, p_different)`` on jointly normalised distances; masses sum to 1."""
    same, different = normalise_jointly(same, different)
    edges = np.linspace(0.0, 1.0, bins + 1)
    p_same = np.histogram(same, bins=edges)[0] / len(same)
    p_different = np.histogram(different, bins=edges)[0] / len(different)
    return edges, p_same, p_different


def common_area(same, different, bins: int = DEFAULT_BINS) -> float:
    """Overlap ``sum min(p_same, p_different)`` of the two normalised histograms, in [0, 1]."""
    _, p_same, p_different = histograms(same, different, bins)
    return float(np.minimum(p_same, p_different).sum())
