"""Training objectives of the DEMUCS recipe: L1 + multi-resolution STFT (+ CDPAM).

* :class:`MultiResolutionSTFTLoss` — Yamamoto et al., "Parallel WaveGAN", ICASSP 2020
  (Eq. 4-6), as used by DEMUCS (Défossez et al., Interspeech 2020, §2.3): for each
  resolution, spectral convergence ``|| |Y| - |Ŷ| ||_F / || |Y| ||_F`` and log-magnitude
  ``mean | log|Y| - log|Ŷ| |``, each averaged over the resolutions
  (FFT 512/1024/2048, hop 50/120/240, Hann windows 240/600/1200).
* :class:`EnhancementLoss` — ``L1 + sc_factor * SC + mag_factor * LogMag
  + cdpam_weight * CDPAM``; the DEMUCS paper uses 0.1 / 0.1 for its causal model,
  and the CDPAM paper (Manocha et al., ICASSP 2021, §4.4) adds the CDPAM term.
* :func:`make_cdpam_loss` builds the CDPAM term (``cdpam_plugins.CDPAMLoss``).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

MAGNITUDE_FLOOR = 1e-7  # of the power spectrum; keeps log and sqrt gradients finite on silence


def _as_batch(waveform: torch.Tensor) -> torch.Tensor:
    """``[T]``, ``[B, T]`` or ``[B, 1, T]`` -> ``[B, T]``."""
    if waveform.dim() == 3:
        if waveform.shape[1] != 1:
            raise ValueError(f"expected mono audio [B, 1, T], got shape {tuple(waveform.shape)}.")
        return waveform[:, 0]
    if waveform.dim() == 1:
        return waveform[None]
    return waveform


def stft_magnitude(waveform: torch.Tensor, fft_size: int, hop: int, win_length: int) -> torch.Tensor:
    """``[B, T]`` -> magnitude spectrogram ``[B, frames, fft_size // 2 + 1]`` (Hann window)."""
    window = torch.hann_window(win_length, device=waveform.device, dtype=waveform.dtype)
    spec = torch.stft(waveform, fft_size, hop, win_length, window, return_complex=True)
    power = spec.real**2 + spec.imag**2
    return torch.sqrt(torch.clamp(power, min=MAGNITUDE_FLOOR)).transpose(1, 2)


class STFTLoss(nn.Module):
    """Spectral convergence and log-magnitude loss at one STFT resolution."""

    def __init__(self, fft_size: int = 1024, hop: int = 120, win_length: int = 600):
        super().__init__()
        self.fft_size, self.hop, self.win_length = fft_size, hop, win_length

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        est = stft_magnitude(_as_batch(estimate), self.fft_size, self.hop, self.win_length)
        ref = stft_magnitude(_as_batch(target), self.fft_size, self.hop, self.win_length)
        spectral_convergence = torch.linalg.norm(ref - est, ord="fro", dim=(1, 2)) / torch.linalg.norm(
            ref, ord="fro", dim=(1, 2)
        )
        log_magnitude = (torch.log(ref) - torch.log(est)).abs().mean(dim=(1, 2))
        return spectral_convergence.mean(), log_magnitude.mean()


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence and log-magnitude, each averaged over several resolutions.

    ``forward(estimate, target) -> (sc, mag)``; both are 0 for identical inputs.
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (512, 1024, 2048),
        hops: Sequence[int] = (50, 120, 240),
        win_lengths: Sequence[int] = (240, 600, 1200),
    ):
        super().__init__()
        if not len(fft_sizes) == len(hops) == len(win_lengths):
            raise ValueError("fft_sizes, hops and win_lengths must have the same length.")
        self.resolutions = nn.ModuleList(STFTLoss(f, h, w) for f, h, w in zip(fft_sizes, hops, win_lengths))

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sc = mag = 0.0
        for resolution in self.resolutions:
            sc_r, mag_r = resolution(estimate, target)
            sc, mag = sc + sc_r, mag + mag_r
        count = len(self.resolutions)
        return sc / count, mag / count


def make_cdpam_loss(sample_rate: int, weight: float, segment_seconds: float | None) -> nn.Module:
    """The CDPAM loss term: ``weight * mean CDPAM(target, estimate)`` on optional random sub-segments."""
    from cdpam_plugins import CDPAMLoss

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
        stft_resolutions: dict | None = None,
    ):
        super().__init__()
        self.l1, self.sc_factor, self.mag_factor, self.cdpam_weight = l1, sc_factor, mag_factor, cdpam_weight
        self.stft = MultiResolutionSTFTLoss(**(stft_resolutions or {})) if (sc_factor or mag_factor) else None
        self.cdpam = make_cdpam_loss(sample_rate, cdpam_weight, cdpam_segment_seconds) if cdpam_weight else None
        self.use_cdpam = True  # the training loop may switch the CDPAM term off for some steps
        self.last_terms: dict[str, float] = {}

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        estimate, target = _as_batch(estimate), _as_batch(target)
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
