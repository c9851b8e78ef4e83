"""Training objectives of the DEMUCS recipe: L1 + multi-resolution STFT (+ CDPAM).

* ``metric.MultiResolutionSTFTLoss`` — Yamamoto et al., "Parallel WaveGAN", ICASSP 2020
  (Eq. 4-6), as used by DEMUCS (Défossez et al., Interspeech 2020, §2.3): spectral
  convergence and log-magnitude distance, each averaged over the resolutions
  (FFT 512/1024/2048, hop 50/120/240, Hann windows 240/600/1200), power floored at 1e-7.
* :class:`EnhancementLoss` — ``L1 + sc_factor * SC + mag_factor * LogMag
  + cdpam_weight * CDPAM``; the DEMUCS paper uses 0.1 / 0.1 for its causal model,
  and the CDPAM paper (Manocha et al., ICASSP 2021, §4.4) adds the CDPAM term.
* :func:`make_cdpam_loss` builds the CDPAM term (``cdpam_plugins.CDPAMLoss``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from metric import MultiResolutionSTFTLoss


def make_cdpam_loss(sample_rate: int, weight: float, segment_seconds: float | None) -> nn.Module:
    """The CDPAM loss term: ``weight * mean CDPAM(target, estimate)`` on optional random sub-segments."""
    from cdpam_plugins import CDPAMLoss  # imported only by the variants that use it

    return CDPAMLoss(sample_rate=sample_rate, weight=weight, segment_seconds=segment_seconds)


class EnhancementLoss(nn.Module):
    """``l1 * L1 + sc_factor * SC + mag_factor * LogMag + cdpam_weight * CDPAM`` (scalar).

    ``forward(estimate, target)`` follows Asteroid's ``loss_func(est_targets, targets)``
    convention. The terms of the last call are kept in :attr:`last_terms` for logging.
    CDPAM is only defined on [-1, 1] audio, so the estimate is clamped before it
    (the L1/STFT terms pull an overshooting estimate back).

    Args:
        l1: weight of the waveform L1 term.
        sc_factor, mag_factor: weights of spectral convergence and log-magnitude
            (0.1 each for the causal DEMUCS; 0 disables the STFT loss).
        cdpam_weight: weight of the CDPAM term (0 disables it and never loads CDPAM).
        cdpam_segment_seconds: score CDPAM on one random sub-segment of this
            length per item (caps its cost); ``None`` scores whole items.
        sample_rate: sample rate of the audio, in Hz.
    """

    def __init__(
        self,
        l1: float = 1.0,
        sc_factor: float = 0.1,
        mag_factor: float = 0.1,
        cdpam_weight: float = 0.0,
        cdpam_segment_seconds: float | None = None,
        sample_rate: int = 16_000,
    ):
        super().__init__()
        self.l1, self.sc_factor, self.mag_factor, self.cdpam_weight = l1, sc_factor, mag_factor, cdpam_weight
        self.stft = MultiResolutionSTFTLoss() if (sc_factor or mag_factor) else None
        self.cdpam = make_cdpam_loss(sample_rate, cdpam_weight, cdpam_segment_seconds) if cdpam_weight else None
        self.use_cdpam = True  # the training loop may switch the CDPAM term off for some steps
        self.last_terms: dict[str, float] = {}

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if estimate.dim() == 3 and estimate.shape[1] == 1:  # the model's [B, 1, T]
            estimate = estimate[:, 0]
        if estimate.shape != target.shape:
            raise ValueError(f"estimate {tuple(estimate.shape)} and target {tuple(target.shape)} differ in shape.")
        terms: dict[str, torch.Tensor] = {}
        total = estimate.new_zeros(())
        if self.l1:
            terms["l1"] = F.l1_loss(estimate, target)
            total = total + self.l1 * terms["l1"]
        if self.stft is not None:
            terms["sc"], terms["mag"] = self.stft(estimate, target)
            total = total + self.sc_factor * terms["sc"] + self.mag_factor * terms["mag"]
        if self.cdpam is not None and self.use_cdpam:
            # CDPAMLoss already multiplies by its weight.
            terms["cdpam"] = self.cdpam(estimate.clamp(-1.0, 1.0), target)
            total = total + terms["cdpam"]
        self.last_terms = {name: float(value.detach()) for name, value in terms.items()}
        return total
