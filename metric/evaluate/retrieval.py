"""Clustered acoustic space: mean precision of top-K retrieval (Manocha et al., ICASSP 2021, §4.2).

Files fall into acoustic groups (same perturbation family and level, different
content). For each query file, the other files are ranked by the metric's distance
from the query; precision@K is the fraction of the K nearest that share the query's
group; MP@K is its mean over queries. The paper reports MP@10 = 0.92, MP@20 = 0.87.
A group needs at least K + 1 files for MP@K = 1 to be reachable.

Ties in distance are broken in a fixed random order, so a metric that cannot tell
files apart scores chance level rather than whatever the file order happens to give.
"""

from __future__ import annotations

import numpy as np


def mean_precision_at_k(distances, labels, k: int, query_indices=None, seed: int = 0) -> float:
    """MP@K from a distance matrix.

    Args:
        distances: ``[Q, N]`` distance from each query (row) to every file (column), larger =
            more different. Rows belong to the files ``query_indices`` (default: all ``N``,
            a square matrix); a query never retrieves itself.
        labels: group of each of the ``N`` files.
        k: number of retrieved files.
        query_indices: which file each row is.
        seed: seed of the tie-breaking order.
    """
    distances = np.asarray(distances, dtype=np.float64)
    labels = np.asarray(labels)
    n = len(labels)
    query_indices = np.arange(n) if query_indices is None else np.asarray(query_indices)
    if distances.shape != (len(query_indices), n):
        raise ValueError(f"distances must be [queries={len(query_indices)}, files={n}], got {distances.shape}")
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and the number of files - 1 ({n - 1}), got {k}")
    tie_breaker = np.random.default_rng(seed).permutation(n)
    precisions = []
    for row, query in enumerate(query_indices):
        candidates = np.delete(np.arange(n), query)
        order = np.lexsort((tie_breaker[candidates], distances[row, candidates]))
        nearest = candidates[order[:k]]
        precisions.append(np.mean(labels[nearest] == labels[query]))
    return float(np.mean(precisions))
