"""``CDPAMLoss``: the CDPAM distance as a training loss for SpeechBrain, Asteroid and plain PyTorch.

    L = weight · reduce_b d(target_b, prediction_b)

with ``d`` the CDPAM distance (Manocha et al., ICASSP 2021) and ``reduce`` the
mean (default), sum, or nothing (``"none"``: one value per utterance).

The frozen CDPAM network is shared by every loss/metric instance of the
process and is not a registered parameter: it never reaches the trainee's
optimiser or checkpoint, and it stays in eval mode whatever mode the trainee
is in. ``.to(device)`` on the loss (or on a model holding it) moves it.
"""

from __future__ import annotations

import torch
from torch import nn

from metric.audio import LengthsLike
from metric.functional import Weights
from metric.module import CDPAM

from ._shapes import lengths_argument, paired_batch

REDUCTIONS = ("mean", "sum", "none")


def apply_reduction(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


def random_segments(
    predictions: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor, segment: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The same random ``segment``-sample window of each item's valid part, in both tensors."""
    batch = predictions.shape[0]
    window = min(segment, int(lengths.max()))
    starts = [int(torch.randint(0, max(int(n) - segment, 0) + 1, (1,))) for n in lengths]
    pred = torch.stack([predictions[i, s : s + window] for i, s in enumerate(starts)])
    targ = torch.stack([targets[i, s : s + window] for i, s in enumerate(starts)])
    valid = torch.tensor([min(window, int(n) - s) for n, s in zip(lengths, starts)], dtype=torch.int64)
    return pred, targ, valid.reshape(batch)


class CDPAMLoss(nn.Module):
    """CDPAM distance as a loss: ``loss(predictions, targets, lengths=None)``.

    Args:
        sample_rate: sample rate of the waveforms, in Hz (resampled to 22,050 Hz inside).
        weight: factor applied to the distance (its scale is about 0.1–1 for audible differences).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (per-utterance ``[B]``).
        weights: ``"official"``, ``"lite"`` (CDPAM-lite: a distilled approximation at 1/55 of the
            encoder FLOPs, about 10x faster as a loss; see docs/lite.md for its measured agreement),
            the path of a checkpoint trained with this project (any encoder width), or a :class:`metric.model.CDPAMNetwork`.
        segment_seconds: score a random sub-segment of this length per item (same window in
            prediction and target) to cap CDPAM's cost; ``None`` scores the whole signal.
        pcm: ``"float"`` (waveforms in [-1, 1]) or ``"int16"``.

    Shapes: predictions and targets ``[B, T]``, ``[B, 1, T]`` (Asteroid) or ``[B, T, 1]``
    (SpeechBrain); ``lengths`` (third positional argument, as SpeechBrain passes it; ``length=``
    is accepted too) holds relative (0, 1] or absolute lengths. Whatever lies beyond an
    item's length changes neither the loss nor the gradient.

    SpeechBrain (HyperPyYAML)::

        loss: !new:cdpam_plugins.CDPAMLoss
            sample_rate: 16000
            weight: 0.1

    Asteroid::

        System(model, optimizer, loss_func=CDPAMLoss(sample_rate=8000), train_loader=...)
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        weight: float = 1.0,
        reduction: str = "mean",
        weights: Weights = "official",
        segment_seconds: float | None = None,
        pcm: str = "float",
    ):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if segment_seconds is not None and segment_seconds <= 0:
            raise ValueError(f"segment_seconds must be positive or None, got {segment_seconds!r}")
        self.weight = float(weight)
        self.reduction = reduction
        self.segment_seconds = segment_seconds
        self.cdpam = CDPAM(sample_rate=sample_rate, weights=weights, pcm=pcm)

    @property
    def sample_rate(self) -> int:
        return self.cdpam.sample_rate

    def extra_repr(self) -> str:
        return f"weight={self.weight}, reduction={self.reduction!r}, segment_seconds={self.segment_seconds}"

    def distances(self, predictions: torch.Tensor, targets: torch.Tensor, lengths: LengthsLike | None = None, *,
                  length: LengthsLike | None = None) -> torch.Tensor:
        """Unweighted, unreduced CDPAM distance per utterance ``[B]``."""
        predictions, targets, lengths = paired_batch(predictions, targets, lengths_argument(lengths, length))
        if self.segment_seconds is not None:
            segment = int(round(self.segment_seconds * self.sample_rate))
            if segment < predictions.shape[-1]:
                full = lengths if lengths is not None else torch.full((predictions.shape[0],), predictions.shape[-1])
                predictions, targets, lengths = random_segments(predictions, targets, full, segment)
        return self.cdpam(targets, predictions, lengths)

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor, lengths: LengthsLike | None = None, *,
                length: LengthsLike | None = None) -> torch.Tensor:
        distances = self.distances(predictions, targets, lengths_argument(lengths, length))
        return self.weight * apply_reduction(distances, self.reduction)
