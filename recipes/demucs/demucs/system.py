"""Asteroid ``System`` for noisy -> clean training, with remix augmentation and loss-term logging."""

from __future__ import annotations

import torch
from asteroid.engine import System


class EnhancementSystem(System):
    """``System(model, optimizer, loss_func, train_loader, val_loader, ...)`` plus:

    Args:
        val_loss_func: loss used for validation (default ``loss_func``). The recipe validates
            every variant on L1 + multi-resolution STFT so that ``val_loss`` is comparable
            across variants and validation does not pay for CDPAM.
        remix: DEMUCS' "remix" augmentation — the noise of each training item
            (``noisy - clean``) is swapped with that of another item of the batch.
        cdpam_every: compute the loss's CDPAM term only every ``n``-th training step
            (a cost cap; 1 = every step). The loss must have a ``use_cdpam`` flag.
    """

    def __init__(self, *args, val_loss_func=None, remix: bool = False, cdpam_every: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.val_loss_func = val_loss_func if val_loss_func is not None else self.loss_func
        self.remix = remix
        self.cdpam_every = max(1, int(cdpam_every))

    def common_step(self, batch, batch_nb, train=True):
        noisy, clean = batch
        if train and self.remix and noisy.shape[0] > 1:
            noise = noisy - clean
            noisy = clean + noise[torch.randperm(noise.shape[0], device=noise.device)]
        estimate = self(noisy)
        if not train:
            return self.val_loss_func(estimate, clean)
        if hasattr(self.loss_func, "use_cdpam"):
            self.loss_func.use_cdpam = self.global_step % self.cdpam_every == 0
        return self.loss_func(estimate, clean)

    def validation_step(self, batch, batch_nb):
        # sync_dist: under DDP each process validates a shard; checkpoints need the global mean.
        loss = self.common_step(batch, batch_nb, train=False)
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, sync_dist=True)

    def training_step(self, batch, batch_nb):
        loss = self.common_step(batch, batch_nb, train=True)
        self.log("loss", loss, prog_bar=True, logger=True)
        for name, value in getattr(self.loss_func, "last_terms", {}).items():
            self.log(f"train_{name}", value, prog_bar=name == "cdpam", logger=True)
        return loss
