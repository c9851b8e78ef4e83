"""CDPAMLoss inside a real SpeechBrain Brain, configured from HyperPyYAML."""

from __future__ import annotations

import torch
from hyperpyyaml import load_hyperpyyaml
import speechbrain as sb
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.utils.metric_stats import MetricStats

from cdpam_plugins import CDPAMLoss, CDPAMPerUtterance
from metric import cdpam_distance
from plugin_data import TinyDenoiser, noisy_clean_pairs

HPARAMS = """
sample_rate: 16000
epochs: 2
model: !new:plugin_data.TinyDenoiser
loss: !new:cdpam_plugins.CDPAMLoss
    sample_rate: !ref <sample_rate>
    weight: 1.0
opt_class: !name:torch.optim.Adam
    lr: 0.002
epoch_counter: !new:speechbrain.utils.epoch_loop.EpochCounter
    limit: !ref <epochs>
modules:
    model: !ref <model>
    loss: !ref <loss>
"""


class PairDataset(torch.utils.data.Dataset):
    def __init__(self, noisy, clean):
        self.noisy, self.clean = noisy, clean

    def __len__(self):
        return len(self.noisy)

    def __getitem__(self, index):
        return {"id": str(index), "noisy": self.noisy[index], "clean": self.clean[index]}


class EnhanceBrain(sb.Brain):
    def compute_forward(self, batch, stage):
        noisy, _ = batch.noisy
        return self.modules.model(noisy.to(self.device))

    def compute_objectives(self, predictions, batch, stage):
        clean, lengths = batch.clean
        return self.hparams.loss(predictions, clean.to(self.device), lengths)

    def on_stage_end(self, stage, stage_loss, epoch=None):
        if stage == sb.Stage.TRAIN:
            self.hparams.train_losses.append(stage_loss)


def test_brain_fit_with_yaml_cdpam_loss_decreases_the_loss(tmp_path):
    hparams = load_hyperpyyaml(HPARAMS)
    assert isinstance(hparams["loss"], CDPAMLoss)
    hparams["train_losses"] = []
    noisy, clean = noisy_clean_pairs(count=8, seconds=0.25)
    # unequal lengths exercise SpeechBrain's relative lengths through PaddedBatch
    noisy[1], clean[1] = noisy[1][:3000], clean[1][:3000]
    brain = EnhanceBrain(
        modules=hparams["modules"], opt_class=hparams["opt_class"], hparams=hparams,
        run_opts={"device": "cpu"},
    )
    trainable = sum(p.numel() for p in brain.modules.parameters())
    assert trainable == sum(p.numel() for p in hparams["model"].parameters())
    assert not any("cdpam" in key or "encoder" in key for key in brain.modules.state_dict())
    brain.fit(
        hparams["epoch_counter"], PairDataset(noisy, clean),
        train_loader_kwargs={"batch_size": 4, "shuffle": False, "collate_fn": PaddedBatch}, progressbar=False,
    )
    losses = hparams["train_losses"]
    assert len(losses) == 2 and losses[1] < losses[0], losses
    assert sum(p.numel() for group in brain.optimizer.param_groups for p in group["params"]) == trainable


def test_metricstats_gives_per_utterance_distances():
    noisy, clean = noisy_clean_pairs(count=3, seconds=0.2)
    stats = MetricStats(metric=CDPAMPerUtterance(sample_rate=16000))
    predictions = torch.stack(noisy)[:, :, None]  # SpeechBrain's [B, T, 1]
    targets = torch.stack(clean)[:, :, None]
    lengths = torch.tensor([1.0, 0.75, 0.5])
    stats.append(["a", "b", "c"], predictions, targets, lengths)
    total = predictions.shape[1]
    for i, key in enumerate("abc"):
        n = int(round(float(lengths[i]) * total))
        alone = cdpam_distance(clean[i][:n], noisy[i][:n], 16000)
        assert abs(stats.scores[i] - float(alone)) < 1e-5
    assert abs(stats.summarize("average") - sum(stats.scores) / 3) < 1e-6
