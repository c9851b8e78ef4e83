"""CDPAMLoss as an Asteroid System loss, fitted by a Lightning Trainer."""

from __future__ import annotations

import pytest
import torch
from asteroid.engine import System
from asteroid.losses import SingleSrcMultiScaleSpectral
from pytorch_lightning import Callback, Trainer
from pytorch_lightning.loggers import CSVLogger

from cdpam_plugins import CDPAMLoss, WeightedSum
from plugin_data import TinyDenoiser, noisy_clean_pairs


class AsteroidDenoiser(TinyDenoiser):
    """Asteroid's single-source layout: [B, T] in, [B, 1, T] out."""

    def forward(self, waveform):
        return super().forward(waveform)[:, None, :]


class RecordLosses(Callback):
    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def _loader(count, seed):
    noisy, clean = noisy_clean_pairs(count=count, seconds=0.25, seed=seed)
    dataset = torch.utils.data.TensorDataset(torch.stack(noisy), torch.stack(clean)[:, None, :])
    return torch.utils.data.DataLoader(dataset, batch_size=4)


@pytest.mark.parametrize("combined", [False, True], ids=["cdpam", "cdpam+mrstft"])
def test_system_fit_decreases_cdpam_loss(tmp_path, combined):
    torch.manual_seed(0)
    model = AsteroidDenoiser()
    cdpam = CDPAMLoss(sample_rate=16000)
    loss_func = WeightedSum([(1.0, cdpam), (0.01, SingleSrcMultiScaleSpectral())]) if combined else cdpam
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    train = _loader(4, seed=1)
    system = System(model, optimizer, loss_func, train_loader=train, val_loader=_loader(4, seed=2))
    recorder = RecordLosses()
    trainer = Trainer(
        max_epochs=6, logger=CSVLogger(tmp_path), callbacks=[recorder], enable_checkpointing=False,
        enable_progress_bar=False, accelerator="cpu", num_sanity_val_steps=0, limit_val_batches=0, log_every_n_steps=1,
    )
    trainer.fit(system)
    losses = recorder.losses
    assert len(losses) == 6
    assert losses[-1] < losses[0], losses
    # the frozen network is neither optimised nor checkpointed with the system
    assert all(p.numel() < 100 for group in optimizer.param_groups for p in group["params"])
    keys = set(system.state_dict())
    assert "model.filter.weight" in keys
    assert not any(".convs." in k or "lossnet" in k or "judgment" in k for k in keys), keys


def test_loss_accepts_asteroid_and_speechbrain_layouts():
    noisy, clean = noisy_clean_pairs(count=2, seconds=0.2)
    est, ref = torch.stack(noisy), torch.stack(clean)
    loss = CDPAMLoss(sample_rate=16000, reduction="none")
    flat = loss(est, ref)
    assert flat.shape == (2,)
    assert torch.allclose(loss(est[:, None, :], ref[:, None, :]), flat, atol=1e-6)
    assert torch.allclose(loss(est[:, :, None], ref[:, :, None]), flat, atol=1e-6)
    assert torch.allclose(CDPAMLoss(16000, reduction="sum", weight=2.0)(est, ref), 2 * flat.sum(), atol=1e-5)
    assert torch.allclose(CDPAMLoss(16000)(est, ref), flat.mean(), atol=1e-6)
    with pytest.raises(ValueError, match="single-source"):
        loss(est[:, None, None, :], ref)
    with pytest.raises(ValueError, match="reduction"):
        CDPAMLoss(16000, reduction="avg")


def test_segment_seconds_scores_a_window_of_each_item():
    noisy, clean = noisy_clean_pairs(count=2, seconds=0.5)
    est, ref = torch.stack(noisy), torch.stack(clean)
    loss = CDPAMLoss(sample_rate=16000, reduction="none", segment_seconds=0.1)
    torch.manual_seed(5)
    first = loss(est, ref)
    torch.manual_seed(5)
    again = loss(est, ref)
    torch.manual_seed(6)
    other = loss(est, ref)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
