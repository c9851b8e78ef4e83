"""``WeightedSum``: CDPAM beside a toolkit's own losses, as one ``loss_func``.

    L(est, target) = Σ_i w_i · mean_b L_i(est, target)

Asteroid's single-source losses (e.g. ``SingleSrcMultiScaleSpectral``) return
one value per utterance; CDPAMLoss returns a scalar by default. Each term is
averaged to a scalar before weighting, so any mix works::

    from asteroid.losses import SingleSrcMultiScaleSpectral
    loss_func = WeightedSum([(1.0, SingleSrcMultiScaleSpectral()),
                             (0.1, CDPAMLoss(sample_rate=16000))])
    System(model, optimizer, loss_func=loss_func, train_loader=..., val_loader=...)
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn


class WeightedSum(nn.Module):
    def __init__(self, terms: Iterable[tuple[float, Callable]]):
        super().__init__()
        terms = list(terms)
        if not terms:
            raise ValueError("WeightedSum needs at least one (weight, loss) term")
        self.weights = [float(w) for w, _ in terms]
        self.losses = nn.ModuleList(loss if isinstance(loss, nn.Module) else _Wrapped(loss) for _, loss in terms)

    def forward(self, est_targets: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        total = est_targets.new_zeros(())
        for weight, loss in zip(self.weights, self.losses):
            total = total + weight * loss(est_targets, targets).mean()
        return total


class _Wrapped(nn.Module):
    def __init__(self, fn: Callable):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)
