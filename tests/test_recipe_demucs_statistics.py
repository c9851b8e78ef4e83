"""The statistics of the DEMUCS loss comparison: intervals over seeds, paired per-file differences, the weight choice."""

import math

import numpy as np
import pytest

from recipe_scripts import recipe_dir

recipe_dir("demucs")
from demucs.measures import COLUMNS  # noqa: E402
from demucs.statistics import (average_over_seeds, mean_ranks, mean_with_ci, paired_differences,  # noqa: E402
                               paired_table, seed_table, select_weight)

KEYS = [key for key, *_ in COLUMNS]


def scores(file_id, **values):
    return {"id": file_id, **{key: values.get(key, 0.0) for key in KEYS}}


def test_interval_is_students_t_over_the_finite_values():
    stats = mean_with_ci([1.0, 2.0, 3.0, 4.0, float("nan")])
    # t(0.975, 3) = 3.182446; sample sd of 1..4 = 1.290994
    assert stats["n"] == 4 and stats["mean"] == pytest.approx(2.5)
    assert stats["ci95"] == pytest.approx(3.182446 * 1.290994 / 2, rel=1e-5)
    assert math.isnan(mean_with_ci([3.0])["ci95"])  # one value: no interval


def test_paired_differences_pair_by_file_and_count_files_improved():
    baseline = [scores("a", pesq=2.0, cdpam=0.30), scores("b", pesq=2.5, cdpam=0.20), scores("c", pesq=3.0, cdpam=0.10)]
    # Listed in another order: pairing is by id, not by position.
    variant = [scores("c", pesq=3.2, cdpam=0.12), scores("a", pesq=2.1, cdpam=0.25), scores("b", pesq=2.4, cdpam=0.15)]
    paired = paired_differences({"DEMUCS": baseline, "X": variant}, "DEMUCS")
    assert list(paired) == ["X"]
    pesq = paired["X"]["pesq"]
    assert pesq["mean"] == pytest.approx(np.mean([0.1, -0.1, 0.2])) and pesq["better"] == 2 and pesq["files"] == 3
    assert pesq["ci95"] == pytest.approx(mean_with_ci([0.1, -0.1, 0.2])["ci95"])
    cdpam = paired["X"]["cdpam"]  # lower is better: a and b improved, c did not
    assert cdpam["mean"] == pytest.approx(np.mean([-0.05, -0.05, 0.02])) and cdpam["better"] == 2
    table = paired_table(paired, "DEMUCS", {"X": ("cdpam",)})
    assert "*-0.0267 ±" in table and "(2/3)" in table and table.startswith("| vs DEMUCS |")


def test_seed_average_pairs_files_and_refuses_different_test_sets():
    seed1 = [scores("a", pesq=2.0), scores("b", pesq=3.0, stoi=float("nan"))]
    seed2 = [scores("b", pesq=4.0, stoi=80.0), scores("a", pesq=1.0)]
    averaged = {item["id"]: item for item in average_over_seeds([seed1, seed2])}
    assert averaged["a"]["pesq"] == pytest.approx(1.5) and averaged["b"]["pesq"] == pytest.approx(3.5)
    assert averaged["b"]["stoi"] == pytest.approx(80.0)  # NaN (unscored) left out
    with pytest.raises(ValueError, match="different files"):
        average_over_seeds([seed1, [scores("a"), scores("z")]])


def test_seed_table_marks_the_measure_a_variant_trained_on():
    summary = {"DEMUCS+NegSTOI": {key: mean_with_ci([1.0, 2.0, 3.0]) for key in KEYS}}
    row = seed_table(summary, {"DEMUCS+NegSTOI": ("stoi",)}).splitlines()[-1]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[0] == "DEMUCS+NegSTOI" and cells[2].startswith("*2.00 ± ") and not cells[1].startswith("*")


def test_the_weight_search_keeps_the_best_mean_rank_and_the_smaller_weight_on_ties():
    better = {key: (1.0 if higher else -1.0) for key, _, higher, _ in COLUMNS}  # better on every measure
    worse = {key: -value for key, value in better.items()}
    candidates = {0.1: dict(worse), 0.3: dict(better), 1.0: dict(worse)}
    ranks = mean_ranks(candidates)
    assert ranks[0.3] == 1.0 and ranks[0.1] == ranks[1.0] == 2.5
    assert select_weight(candidates) == 0.3
    assert select_weight({0.3: dict(better), 0.1: dict(better)}) == 0.1
