"""After stage (a) alone, distances order noise levels on held-out toy speech (Spearman >= 0.8).

Slow: it trains a narrow encoder for a few epochs. An untrained network of the same shape is
scored with the same protocol for comparison; docs/training.md reports both figures for the
documented run (10 epochs).
"""

from __future__ import annotations

import pytest

from metric.train.runner import compose_config, run


@pytest.mark.slow
def test_stage_a_orders_noise_levels_monotonically(tmp_path):
    summary = run(compose_config([
        "stage=contrastive", "data=toy", "preset=toy_fast", "data.segment_seconds=0.25",
        "stage.augment.silence_seconds=0.05", "data.train_size=128", "data.val_size=16",
        "trainer.max_epochs=2", "trainer.enable_progress_bar=false", f"output_dir={tmp_path}",
    ]))
    trained = summary["monotonicity"]
    for kind in ("embedding_l1", "embedding_cosine"):
        assert trained[kind]["mono"] >= 0.8, (kind, trained[kind], summary["monotonicity_untrained"][kind])
        assert all(value >= 0.7 for value in trained[kind]["per_family"].values()), trained[kind]
