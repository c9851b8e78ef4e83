"""Asteroid ``System`` for noisy -> clean training: the release's augmentations, loss-term logging and
validation on each variant's own objective (``demucs.selection``)."""

from __future__ import annotations

import torch
from asteroid.engine import System

from .selection import TERMS, ValidationObjective


def centre_window(signal: torch.Tensor, samples: int | None) -> torch.Tensor:
    """The centred ``samples``-long window of ``[..., T]`` (all of it when shorter or ``samples`` is None)."""
    if not samples or signal.shape[-1] <= samples:
        return signal
    start = (signal.shape[-1] - samples) // 2
    return signal[..., start : start + samples]


class EnhancementSystem(System):
    """``System(model, optimizer, loss_func, train_loader, val_loader, ...)`` plus:

    Args:
        augmentation: ``augment(noise, clean) -> (noise, clean)`` applied to training batches
            (``demucs.augment.Augmentation``: remix, band mask, shift, reverb); the
            model is trained on ``noise + clean``.
        perceptual_every: compute the loss's perceptual term only every ``n``-th training step
            (a cost cap; 1 = every step). The loss must have a ``use_perceptual`` flag.
        validation_objective: the objective whose validation value is logged as ``val_loss``
            and selects the checkpoint (default: L1 + 0.1 SC + 0.1 LogMag).
        validation_loss: an ``EnhancementLoss`` measuring L1 and both STFT terms; its
            ``last_terms`` (``l1``, ``sc``, ``mag``) are the validation values.
        validation_perceptual: the objective's perceptual term ``(estimate, clean) -> mean``
            (``demucs.losses.make_perceptual_term``), needed when the objective has one; it
            scores the first ``perceptual_items`` validation items of each validation, on their
            centred ``perceptual_seconds`` window.

    Every validation logs ``val_l1``, ``val_sc``, ``val_mag`` (all variants, comparable across
    them), ``val_<term>`` of the perceptual term (when measured, e.g. ``val_cdpam``) and
    ``val_loss`` (this variant's objective).
    """

    def __init__(self, *args, augmentation=None, perceptual_every: int = 1,
                 validation_objective: ValidationObjective | None = None, validation_loss=None,
                 validation_perceptual=None, perceptual_items: int = 8, perceptual_seconds: float | None = 1.0,
                 sample_rate: int = 16_000, **kwargs):
        super().__init__(*args, **kwargs)
        self.augmentation = augmentation
        self.perceptual_every = max(1, int(perceptual_every))
        self.validation_objective = validation_objective or ValidationObjective()
        objective = self.validation_objective
        if objective.needs_perceptual and validation_perceptual is None:
            raise ValueError(f"the validation objective {objective.describe()} needs validation_perceptual "
                             f"(the {objective.perceptual} term).")
        self.validation_loss = validation_loss
        self.validation_perceptual = validation_perceptual if objective.needs_perceptual else None
        self.perceptual_name = objective.perceptual if objective.needs_perceptual else None
        self.perceptual_items = int(perceptual_items)
        self.perceptual_samples = None if perceptual_seconds is None else int(round(perceptual_seconds * sample_rate))
        self._reset_validation()

    # -- training ----------------------------------------------------------------
    def common_step(self, batch, batch_nb, train=True):
        noisy, clean = batch
        if train and self.augmentation:
            noise, clean = self.augmentation(noisy - clean, clean)
            noisy = noise + clean
        estimate = self(noisy)
        if not train:
            return estimate, clean
        if hasattr(self.loss_func, "use_perceptual"):
            self.loss_func.use_perceptual = self.global_step % self.perceptual_every == 0
        return self.loss_func(estimate, clean)

    def training_step(self, batch, batch_nb):
        loss = self.common_step(batch, batch_nb, train=True)
        self.log("loss", loss, prog_bar=True, logger=True)
        for name, value in getattr(self.loss_func, "last_terms", {}).items():
            self.log(f"train_{name}", value, prog_bar=name not in ("l1", "sc", "mag"), logger=True)
        return loss

    # -- validation ----------------------------------------------------------------
    def _reset_validation(self) -> None:
        self._sums = dict.fromkeys(TERMS, 0.0)
        self._counts = dict.fromkeys(TERMS, 0)

    def on_validation_epoch_start(self) -> None:
        self._reset_validation()

    def validation_step(self, batch, batch_nb):
        estimate, clean = self.common_step(batch, batch_nb, train=False)
        items = estimate.shape[0]
        self.validation_loss(estimate, clean)
        for name in ("l1", "sc", "mag"):
            self._sums[name] += self.validation_loss.last_terms[name] * items
            self._counts[name] += items
        name = self.perceptual_name
        wanted = self.perceptual_items - self._counts[name] if name else 0
        if wanted > 0:
            take = min(wanted, items)
            window = lambda signal: centre_window(signal[:take].reshape(take, -1), self.perceptual_samples)  # noqa: E731
            value = self.validation_perceptual(window(estimate), window(clean))
            self._sums[name] += float(value) * take
            self._counts[name] += take

    def on_validation_epoch_end(self) -> None:
        # Under DDP every process validated a shard: sum the shards before taking means.
        totals = torch.tensor([[self._sums[name], self._counts[name]] for name in TERMS], dtype=torch.float64,
                              device=self.device)
        totals = self.trainer.strategy.reduce(totals, reduce_op="sum")
        means = {name: float(total / count) for name, (total, count) in zip(TERMS, totals.tolist()) if count}
        if not means:
            return
        for name, value in means.items():
            self.log(f"val_{name}", value, logger=True)
        self.log("val_loss", self.validation_objective(means), prog_bar=True, logger=True)
