"""Stage settings follow the released CDPAM code (``cdpam`` package, ``models.py``) where the paper is silent."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from metric.model import ProjectionHead, split_embedding
from metric.train.losses import nt_xent
from metric.train.modules import ContrastiveStage, JNDStage, TripletStage
from metric.train.runner import compose_config


def _module(stage_class, *overrides: str):
    cfg = compose_config([f"stage={stage_class.stage_name}", "model=tiny", "stage.init_from=null", *overrides])
    return stage_class(OmegaConf.to_container(cfg, resolve=True))


def test_defaults_are_the_released_ones():
    stage = compose_config(["stage=contrastive"]).stage
    assert stage.temperature == 1.0  # NTXentLoss(temperature=1)
    assert stage.ntxent == "mixed"  # one NTXentLoss over the batch of acoustic and content pairs
    assert stage.projection_dropout == 0.25 and stage.projection_output_dropout is True  # projection_head(dp=0.25)
    for name in ("contrastive", "jnd", "triplet"):
        augment = compose_config([f"stage={name}"]).stage.augment
        assert augment.enabled and augment.silence_seconds == 0.25 and list(augment.gain_db) == [-20.0, 0.0]


def test_projection_head_drops_out_after_both_layers_as_released():
    def dropouts(head):
        return [m.p for m in head.modules() if isinstance(m, nn.Dropout)]

    released = ProjectionHead(64)
    assert dropouts(released) == [0.25, 0.25]
    assert isinstance(released.layers[-1], nn.Dropout)  # the 256-d output itself is dropped out
    assert dropouts(ProjectionHead(64, dropout=0.1, output_dropout=False)) == [0.1]
    module = _module(ContrastiveStage, "stage.projection_output_dropout=false", "stage.projection_dropout=0.1")
    assert dropouts(module.projection) == [0.1]


def _pairs_batch(count: int = 6, samples: int = 5512):
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(count, samples, generator=generator) * 0.1
    return {"a": a, "b": a.roll(7, dims=1) * 0.5, "a_lengths": torch.full((count,), samples),
            "b_lengths": torch.full((count,), samples), "kind_id": torch.tensor([0, 1] * (count // 2))}


@pytest.mark.parametrize("ntxent", ["mixed", "per_kind"])
def test_contrastive_objective_is_one_ntxent_over_the_mixed_batch_or_one_per_kind(ntxent):
    module = _module(ContrastiveStage, f"stage.ntxent={ntxent}").eval()  # eval: no dropout, fixed BatchNorm
    batch = _pairs_batch()
    with torch.no_grad():
        loss, logs = module._step(batch, training=False)
        x, lengths = module.model_input(torch.cat([batch["a"], batch["b"]]), torch.cat([batch["a_lengths"], batch["b_lengths"]]))
        acoustic, content = split_embedding(module.encoder(x, lengths))
        count = batch["a"].shape[0]
        acoustic_rows, content_rows = torch.arange(0, count, 2), torch.arange(1, count, 2)
        z = {}
        for name, half, rows in (("acoustic", acoustic, acoustic_rows), ("content", content, content_rows)):
            z[name] = (module.projection(half[rows]), module.projection(half[count + rows]))
        per_kind = [nt_xent(*z[name], temperature=1.0) for name in ("acoustic", "content")]
        order = torch.argsort(torch.cat([acoustic_rows, content_rows]))
        mixed_a = torch.cat([z["acoustic"][0], z["content"][0]])[order]
        mixed_b = torch.cat([z["acoustic"][1], z["content"][1]])[order]
        mixed = nt_xent(mixed_a, mixed_b, temperature=1.0)
    expected = mixed if ntxent == "mixed" else (per_kind[0] + per_kind[1]) / 2
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    assert abs(float(mixed) - float((per_kind[0] + per_kind[1]) / 2)) > 1e-3  # the two definitions differ
    assert float(logs["acoustic_loss"]) == pytest.approx(float(per_kind[0]), rel=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_the_configured_temperature_reaches_every_ntxent(temperature, monkeypatch):
    import metric.train.modules as modules

    seen = []
    monkeypatch.setattr(modules, "nt_xent", lambda z_a, z_b, t: seen.append(t) or nt_xent(z_a, z_b, t))
    module = _module(ContrastiveStage, f"stage.temperature={temperature}").eval()
    with torch.no_grad():
        module._step(_pairs_batch(), training=False)
    assert seen and set(seen) == {temperature}


@pytest.mark.parametrize("stage_class", [JNDStage, TripletStage])
def test_stages_b_and_c_augment_every_training_waveform(stage_class):
    module = _module(stage_class, "stage.augment.silence_seconds=0.1")
    x, lengths = torch.full((4, 2205), 0.25), torch.full((4,), 2205)
    augmented, new_lengths = module.augmented(x, lengths, training=True)
    silence = int(0.1 * 22050)
    assert augmented.shape == (4, 2205 + silence) and torch.equal(new_lengths, lengths + silence)
    gains = augmented.abs().amax(dim=1) / 0.25
    assert torch.all((gains <= 1.0 + 1e-6) & (gains >= 10 ** (-20 / 20) - 1e-6))
    assert len(set(gains.tolist())) == 4  # independent draws per waveform
    same, same_lengths = module.augmented(x, lengths, training=False)  # validation sees the audio as it is
    assert same is x and same_lengths is lengths
    off = _module(stage_class, "stage.augment.enabled=false")
    assert off.augmented(x, lengths, training=True)[0] is x
