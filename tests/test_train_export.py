"""A network trained here at the released width loads in CDPAM(weights=...) and the plugins
exactly like the official weights, and gives the distances of the trained network (narrow
exports: tests/test_train_stages.py)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from cdpam_plugins import CDPAMLoss
from metric import CDPAM
from metric.train.runner import compose_config, run
from metric.weights import load_network

SAMPLE_AUDIO = __import__("pathlib").Path(__file__).resolve().parents[1] / "metric" / "assets" / "sample_audio"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("jnd_full")
    overrides = [
        "stage=jnd", "data=toy", "model=full", "stage.init_from=official", f"output_dir={folder}",
        "data.segment_seconds=0.1", "data.train_size=4", "data.val_size=2", "optim.batch_size=2",
        "optim.lr=1e-2", "trainer.max_steps=2", "trainer.log_every_n_steps=1", "trainer.limit_val_batches=0", "trainer.enable_progress_bar=false",
    ]
    return run(compose_config(overrides))


def test_export_loads_in_cdpam_and_the_plugins(exported):
    path = exported["export"]
    reference, rate = sf.read(SAMPLE_AUDIO / "ref.wav", dtype="float32")
    degraded, _ = sf.read(SAMPLE_AUDIO / "2.wav", dtype="float32")
    reference, degraded = torch.from_numpy(reference[:11025])[None], torch.from_numpy(degraded[:11025])[None]

    trained = CDPAM(sample_rate=rate, weights=path)(reference, degraded)
    official = CDPAM(sample_rate=rate)(reference, degraded)
    network = load_network(path)
    with torch.no_grad():
        direct = network(reference[:, None] * 32768, degraded[:, None] * 32768)
    assert torch.allclose(trained, direct, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(trained, official)  # the loss-net trained: another metric

    loss = CDPAMLoss(sample_rate=rate, weights=path)
    estimate = degraded.clone().requires_grad_(True)
    value = loss(estimate, reference)
    value.backward()
    assert torch.isfinite(value) and estimate.grad is not None and float(estimate.grad.abs().sum()) > 0
    assert torch.allclose(value, trained.mean(), rtol=1e-4)


def test_frozen_official_encoder_is_exported_unchanged_and_kept_out_of_the_checkpoint(exported):
    official, mine = load_network("official"), load_network(exported["export"])
    for key, value in official.encoder.state_dict().items():
        assert torch.equal(value, mine.encoder.state_dict()[key]), key
    checkpoint = torch.load(exported["checkpoint"], map_location="cpu", weights_only=True)
    assert not any("encoder" in key for key in checkpoint["state_dict"])
    assert sorted({key.split(".")[0] for key in checkpoint["state_dict"]}) == ["judgment", "lossnet"]
