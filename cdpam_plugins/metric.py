"""``CDPAMMetric`` (torchmetrics) and a per-utterance function for SpeechBrain's ``MetricStats``."""

from __future__ import annotations

import torch

from metric.audio import LengthsLike
from metric.dependency_warnings import ignoring_dependency_warnings
from metric.functional import Weights
from metric.module import CDPAM

from ._shapes import lengths_argument, paired_batch

with ignoring_dependency_warnings():  # torchmetrics 0.11 warns about pkg_resources on import
    from torchmetrics import Metric


class CDPAMMetric(Metric):
    """Mean CDPAM distance over every utterance seen (lower is better).

    ``update(preds, target, lengths=None)`` accumulates the per-utterance distances;
    ``compute()`` returns their mean, summed across processes under DDP. The accumulated
    state is detached, so the metric's value carries no gradient (``is_differentiable`` is
    ``False``); for a differentiable distance use :class:`~cdpam_plugins.CDPAMLoss`.

    Example::

        metric = CDPAMMetric(sample_rate=16000)
        for noisy, clean in loader:
            metric.update(model(noisy), clean)
        print(metric.compute())
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, sample_rate: int, *, weights: Weights = "official", **kwargs):
        super().__init__(**kwargs)
        self.cdpam = CDPAM(sample_rate=sample_rate, weights=weights)
        self.add_state("sum_distance", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor, lengths: LengthsLike | None = None, *,
               length: LengthsLike | None = None) -> None:
        preds, target, lengths = paired_batch(preds, target, lengths_argument(lengths, length), ("preds", "target"))
        with torch.no_grad():
            distances = self.cdpam(target, preds, lengths)
        self.sum_distance += distances.double().sum().to(self.sum_distance.device)
        self.count += distances.numel()

    def compute(self) -> torch.Tensor:
        if int(self.count) == 0:
            raise RuntimeError("CDPAMMetric.compute() called before any update()")
        return (self.sum_distance / self.count).float()


class CDPAMPerUtterance:
    """Per-utterance CDPAM distances for SpeechBrain's ``MetricStats``.

    ``MetricStats(metric=CDPAMPerUtterance(sample_rate=16000))`` then
    ``stats.append(ids, predictions, targets, lengths)`` (relative lengths, as
    SpeechBrain passes them) and ``stats.summarize("average")``.
    """

    def __init__(self, sample_rate: int, *, weights: Weights = "official"):
        self.cdpam = CDPAM(sample_rate=sample_rate, weights=weights)

    def __call__(self, predictions: torch.Tensor, targets: torch.Tensor, lengths: LengthsLike | None = None, *,
                 length: LengthsLike | None = None) -> torch.Tensor:
        predictions, targets, lengths = paired_batch(predictions, targets, lengths_argument(lengths, length))
        self.cdpam.to(predictions.device)
        with torch.no_grad():
            return self.cdpam(targets.detach(), predictions.detach(), lengths)
