"""CDPAM as a loss and a metric for SpeechBrain, Asteroid, torchmetrics and plain PyTorch.

* :class:`CDPAMLoss` — ``loss(predictions, targets, lengths=None)``; ``reduction`` mean/sum/none.
* :class:`CDPAMMetric` — a ``torchmetrics.Metric`` (mean distance, synced across processes).
* :class:`CDPAMPerUtterance` — per-utterance scores for SpeechBrain's ``MetricStats``.
* :class:`WeightedSum` — CDPAM beside other losses (e.g. Asteroid's) as one ``loss_func``.
* :func:`cdpam_distance`, :class:`CDPAM` and the errors, re-exported from :mod:`metric` so
  that everything imports from here.

The model code lives in :mod:`metric`; this package only adapts it.
"""

from ._metric_guard import check_metric_package as _check_metric_package

_check_metric_package()  # before anything imports `metric`: a user's metric.py must not stand in for it

from metric import CDPAM, AudioInputError, WeightsError, __version__, cdpam_distance

from .combined import WeightedSum
from .loss import CDPAMLoss
from .metric import CDPAMMetric, CDPAMPerUtterance

__all__ = [
    "CDPAMLoss",
    "CDPAMMetric",
    "CDPAMPerUtterance",
    "WeightedSum",
    "cdpam_distance",
    "CDPAM",
    "AudioInputError",
    "WeightsError",
]
