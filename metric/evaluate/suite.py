"""Run the protocols for a list of scorers on one test set; results are plain dicts (JSON-ready).

Every ``run_*`` returns::

    {"protocol": name, "test_set": {sizes...},
     "metrics": {metric_name: {headline keys..., details...}}}

Pairs a metric cannot score (NaN, e.g. PESQ on a silent clip) are left out of that
metric's numbers and counted in ``"unscored_pairs"``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .common_area import DEFAULT_BINS, common_area, histograms
from .monotonicity import monotonicity
from .mos import mos_spearman
from .retrieval import mean_precision_at_k
from .scorers import Scorer
from .testsets import GroupSet, PairSet, retrieval_queries, sample_common_area_pairs
from .two_afc import two_afc_accuracy, two_afc_ceiling

# protocol -> (headline keys, higher is better) in the paper's column order
HEADLINES: dict[str, tuple[tuple[str, ...], bool]] = {
    "monotonicity": (("mono",), True),
    "common_area": (("common_area",), False),
    "retrieval": (("mp@10", "mp@20"), True),
    "2afc": (("2afc",), True),
    "mos": (("mos_spearman",), True),
}


def run_monotonicity(scorers: Sequence[Scorer], test_set: PairSet, progress: bool = True) -> dict:
    levels = np.array([item["level"] for item in test_set.info])
    families = [item["family"] for item in test_set.info]
    combined = np.array([item["combined"] for item in test_set.info])
    contents = [item["content"] for item in test_set.info]
    metrics, raw = {}, {}
    for scorer in scorers:
        distances = scorer.distances(test_set.clips, test_set.pairs, test_set.sample_rate, progress)
        ok = np.isfinite(distances)
        result = monotonicity(
            distances[ok],
            levels[ok],
            [f for f, keep in zip(families, ok) if keep],
            [c for c, keep in zip(contents, ok) if keep],
        )
        individual = [v for f, v in result["per_family"].items() if "+" not in f and np.isfinite(v)]
        chained = [v for f, v in result["per_family"].items() if "+" in f and np.isfinite(v)]
        metrics[scorer.name] = {
            "mono": result["mono"],
            "mono_individual": float(np.mean(individual)) if individual else float("nan"),
            "mono_combined": float(np.mean(chained)) if chained else float("nan"),
            "mono_within_content": result["within_content"],
            "per_family": result["per_family"],
            "unscored_pairs": int((~ok).sum()),
            "higher_is_better": scorer.higher_is_better,
        }
        raw[scorer.name] = distances.tolist()
    return {
        "protocol": "monotonicity",
        "test_set": {
            "pairs": len(test_set.pairs),
            "contents": len({item["content"] for item in test_set.info}),
            "families": sorted(set(families)),
            "levels": sorted(set(levels.tolist())),
            "combined_pairs": int(combined.sum()),
            "clip_gain_db": [min(item.get("gain_db", 0.0) for item in test_set.info),
                             max(item.get("gain_db", 0.0) for item in test_set.info)] if test_set.info else [],
        },
        "metrics": metrics,
        "raw": {"families": families, "levels": levels.tolist(), "distances": raw},
    }


def run_common_area(
    scorers: Sequence[Scorer], groups: GroupSet, pairs_per_side: int = 200, bins: int = DEFAULT_BINS, seed: int = 0, progress: bool = True
) -> dict:
    same, different = sample_common_area_pairs(groups, pairs_per_side, seed)
    metrics, raw = {}, {}
    for scorer in scorers:
        distances = scorer.distances(groups.clips, same + different, groups.sample_rate, progress)
        d_same, d_diff = distances[: len(same)], distances[len(same) :]
        d_same_ok, d_diff_ok = d_same[np.isfinite(d_same)], d_diff[np.isfinite(d_diff)]
        edges, p_same, p_diff = histograms(d_same_ok, d_diff_ok, bins)
        metrics[scorer.name] = {
            "common_area": common_area(d_same_ok, d_diff_ok, bins),
            "mean_same": float(np.mean(d_same_ok)),
            "mean_different": float(np.mean(d_diff_ok)),
            "unscored_pairs": int(len(distances) - len(d_same_ok) - len(d_diff_ok)),
            "higher_is_better": scorer.higher_is_better,
        }
        raw[scorer.name] = {"same": d_same_ok.tolist(), "different": d_diff_ok.tolist()}
    return {
        "protocol": "common_area",
        "test_set": {
            "same_acoustic_pairs": len(same),
            "different_acoustic_pairs": len(different),
            "groups": len(set(groups.labels)),
            "files": len(groups.keys),
            "bins": bins,
        },
        "metrics": metrics,
        "raw": raw,
    }


def run_retrieval(
    scorers: Sequence[Scorer], groups: GroupSet, ks: Sequence[int] = (10, 20), queries_per_group: int | None = 2, seed: int = 0, progress: bool = True
) -> dict:
    queries = retrieval_queries(groups, queries_per_group, seed)
    n = len(groups.keys)
    pairs = [(groups.keys[q], groups.keys[j]) for q in queries for j in range(n) if j != q]
    metrics = {}
    for scorer in scorers:
        flat = scorer.distances(groups.clips, pairs, groups.sample_rate, progress)
        matrix = np.zeros((len(queries), n))
        cursor = 0
        for row, q in enumerate(queries):
            others = [j for j in range(n) if j != q]
            matrix[row, others] = flat[cursor : cursor + len(others)]
            cursor += len(others)
        unscored = int((~np.isfinite(matrix)).sum())
        matrix[~np.isfinite(matrix)] = np.inf  # an unscorable file is never retrieved
        metrics[scorer.name] = {
            f"mp@{k}": mean_precision_at_k(matrix, groups.labels, k, queries, seed) for k in ks if k < n
        } | {"unscored_pairs": unscored}
    sizes = {label: groups.labels.count(label) for label in dict.fromkeys(groups.labels)}
    return {
        "protocol": "retrieval",
        "test_set": {
            "groups": list(sizes),
            "files_per_group": min(sizes.values()),
            # the best reachable MP@K when groups hold fewer than K + 1 files
            "ceiling": {f"mp@{k}": min(1.0, (min(sizes.values()) - 1) / k) for k in ks if k < n},
            "queries": len(queries),
            "pairs": len(pairs),
        },
        "metrics": metrics,
    }


def run_two_afc(scorers: Sequence[Scorer], clips: dict, triplets: Sequence[tuple], sample_rate: int, progress: bool = True) -> dict:
    """``triplets``: ``(reference, a, b, p_a)`` keys into ``clips``, or
    ``(reference_for_a, a, reference_for_b, b, p_a)`` when the reference is stored twice
    (trimmed to the length of A and of B)."""
    triplets = [t if len(t) == 5 else (t[0], t[1], t[0], t[2], t[3]) for t in triplets]
    p_a = np.array([t[4] for t in triplets], dtype=np.float64)
    pairs = [(t[0], t[1]) for t in triplets] + [(t[2], t[3]) for t in triplets]
    metrics = {}
    for scorer in scorers:
        d = scorer.distances(clips, pairs, sample_rate, progress)
        d_a, d_b = d[: len(triplets)], d[len(triplets) :]
        ok = np.isfinite(d_a) & np.isfinite(d_b)
        metrics[scorer.name] = {"2afc": two_afc_accuracy(d_a[ok], d_b[ok], p_a[ok]), "unscored_pairs": int((~ok).sum())}
    return {
        "protocol": "2afc",
        "test_set": {"triplets": len(triplets), "human_ceiling": two_afc_ceiling(p_a)},
        "metrics": metrics,
    }


def run_mos(scorers: Sequence[Scorer], clips: dict, ratings: Sequence[tuple[str, str, float, str, str]], sample_rate: int, progress: bool = True) -> dict:
    """``ratings``: ``(reference_key, degraded_key, mos, speaker, condition)`` into ``clips``."""
    pairs = [(r[0], r[1]) for r in ratings]
    mos = np.array([r[2] for r in ratings])
    speakers = [r[3] for r in ratings]
    conditions = [r[4] for r in ratings]
    metrics = {}
    for scorer in scorers:
        d = scorer.distances(clips, pairs, sample_rate, progress)
        ok = np.isfinite(d)
        value = mos_spearman(
            d[ok], mos[ok], [s for s, k in zip(speakers, ok) if k], [c for c, k in zip(conditions, ok) if k]
        )
        metrics[scorer.name] = {"mos_spearman": value, "unscored_pairs": int((~ok).sum())}
    return {
        "protocol": "mos",
        "test_set": {"ratings": len(ratings), "cells": len(set(zip(speakers, conditions)))},
        "metrics": metrics,
    }
