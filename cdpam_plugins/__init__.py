"""CDPAM as a loss and a metric for SpeechBrain, Asteroid, torchmetrics and plain PyTorch.

* :class:`CDPAMLoss` — ``loss(predictions, targets, length=None)``; ``reduction`` mean/sum/none.
* :class:`CDPAMMetric` — a ``torchmetrics.Metric`` (mean distance, synced across processes).
* :class:`CDPAMPerUtterance` — per-utterance scores for SpeechBrain's ``MetricStats``.
* :class:`WeightedSum` — CDPAM beside other losses (e.g. Asteroid's) as one ``loss_func``.

The model code lives in :mod:`metric`; this package only adapts it.
"""

from .combined import WeightedSum
from .loss import CDPAMLoss
from .metric import CDPAMMetric, CDPAMPerUtterance

__all__ = ["CDPAMLoss", "CDPAMMetric", "CDPAMPerUtterance", "WeightedSum"]
