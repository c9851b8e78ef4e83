"""The stage-(a) report: every figure next to an untrained network of the same shape and MSE."""

from __future__ import annotations

import math

import pytest

from metric.data import toy
from metric.evaluate.scorers import untrained_network
from metric.train.evaluation import held_out_pair_accuracy, report_table, stage_a_report

TINY = {"encoder_layers": 8, "encoder_base_channels": 4}


@pytest.fixture(scope="module")
def report():
    # the "trained" network here is the very network the report builds as its untrained baseline
    return stage_a_report(untrained_network(TINY, seed=3), monotonicity_clips=2, group_files=6, seconds=0.5,
                          held_out_pairs=4, seed=3)


def test_report_has_trained_untrained_and_mse_rows_on_every_figure(report):
    rows = report["rows"]
    assert list(rows) == ["trained l1", "trained cosine", "trained lossnet", "untrained l1", "untrained cosine",
                          "untrained lossnet", "mse"]
    for values in rows.values():
        assert set(values) == {"mono", "mono_within", "mp@5", "common_area"}
        assert all(math.isfinite(v) for v in values.values())
        assert 0.0 <= values["mp@5"] <= 1.0 and 0.0 <= values["common_area"] <= 1.0
    # the report's untrained network is seeded: passing it as "trained" gives identical rows
    for kind in ("l1", "cosine", "lossnet"):
        assert rows[f"trained {kind}"] == pytest.approx(rows[f"untrained {kind}"])
    assert report["held_out_pairs"]["trained"] == report["held_out_pairs"]["untrained"]
    assert report["test_sets"]["monotonicity"]["clip_gain_db"][0] < report["test_sets"]["monotonicity"]["clip_gain_db"][1]
    table = report_table(report)
    assert "| mse |" in table and "| untrained lossnet |" in table and "held-out pairs" in table


def test_held_out_pair_accuracy_counts_nearest_positives_against_chance():
    accuracy = held_out_pair_accuracy(untrained_network(TINY), toy.utterances("test", 22050), pairs=4, seconds=0.5)
    assert accuracy["chance"] == pytest.approx(1 / 7)
    for kind in ("acoustic", "content"):
        assert accuracy[kind] in {i / 8 for i in range(9)}  # 8 views, each right or wrong
    # the pairs are the training recipe's, seeded: the same network gets the same figures
    assert held_out_pair_accuracy(untrained_network(TINY), toy.utterances("test", 22050), pairs=4, seconds=0.5) == accuracy


@pytest.mark.slow
def test_a_stage_a_run_ends_with_its_report_beside_the_baselines(tmp_path):
    from metric.train.runner import compose_config, run

    summary = run(compose_config([
        "stage=contrastive", "data=toy", "preset=toy_fast", "data.segment_seconds=0.25",
        "stage.augment.silence_seconds=0.05", "data.train_size=64", "data.val_size=16",
        "trainer.max_epochs=1", "trainer.enable_progress_bar=false", f"output_dir={tmp_path}",
        "evaluation.monotonicity_clips=2", "evaluation.group_files=6", "evaluation.held_out_pairs=4",
    ]))
    rows = summary["evaluation"]["rows"]
    assert {"trained l1", "untrained l1", "mse"} <= set(rows)
    assert rows["trained l1"] != pytest.approx(rows["untrained l1"])  # eight steps moved the encoder
    assert set(summary["evaluation"]["held_out_pairs"]) == {"trained", "untrained"}
