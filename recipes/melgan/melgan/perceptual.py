"""The CDPAM term of MelGAN+CDPAM (Manocha et al., ICASSP 2021, §4.3).

MelGAN+CDPAM keeps MelGAN's generator objective and adds
``w · CDPAM(real segment, generated segment)``. CDPAM costs about one CPU-second
per second of 22 kHz audio and pass, so it is scored on a random
``segment_seconds`` sub-segment of each item (``CDPAMLoss(segment_seconds=...)``).
"""

from __future__ import annotations

import torch
from torch import nn

SAMPLE_RATE = 22050


def build_cdpam_loss(weight: float, segment_seconds: float | None, sample_rate: int = SAMPLE_RATE) -> nn.Module:
    """``loss(generated, real) -> scalar``: the weighted CDPAM distance, averaged over the batch."""
    try:
        from cdpam_plugins import CDPAMLoss
    except ImportError:  # the plugin package is optional for this recipe's core; fall back to the metric
        return _MetricCDPAMLoss(sample_rate=sample_rate, weight=weight, segment_seconds=segment_seconds)
    return CDPAMLoss(sample_rate=sample_rate, weight=weight, segment_seconds=segment_seconds)


class _MetricCDPAMLoss(nn.Module):
    """Same contract as ``cdpam_plugins.CDPAMLoss`` (mean reduction), built on ``metric.CDPAM``."""

    def __init__(self, sample_rate: int, weight: float, segment_seconds: float | None):
        super().__init__()
        from metric import CDPAM

        self.metric = CDPAM(sample_rate=sample_rate)
        self.sample_rate = sample_rate
        self.weight = float(weight)
        self.segment_seconds = segment_seconds

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor, length=None) -> torch.Tensor:
        predictions = predictions.reshape(predictions.shape[0], -1)
        targets = targets.reshape(targets.shape[0], -1)
        if self.segment_seconds is not None:
            size = int(round(self.segment_seconds * self.sample_rate))
            total = predictions.shape[-1]
            if size < total:
                starts = torch.randint(0, total - size + 1, (predictions.shape[0],)).tolist()
                predictions = torch.stack([p[s : s + size] for p, s in zip(predictions, starts)])
                targets = torch.stack([t[s : s + size] for t, s in zip(targets, starts)])
        return self.weight * self.metric(targets, predictions).mean()
