"""Log-mel front end of MelGAN at 22,050 Hz.

Frames are placed so that a signal of ``T`` samples (``T`` a multiple of the hop)
gives exactly ``T / hop`` frames: the signal is reflect-padded by
``(n_fft - hop) / 2`` on each side and framed without centring. The generator
upsamples by the product of its ratios (= hop), so ``len(G(mel(x))) == len(x)``,
which lets the losses compare real and generated segments sample for sample.

    S = | STFT_hann(x) |            (magnitude, n_fft 1024, hop 256, window 1024)
    M = log10( max( F · S, 1e-5 ) ) (F: 80 Slaney-style mel filters, 0 .. sr/2)

(Kumar et al., NeurIPS 2019, §3 and Appendix: 80-band log-mel spectrogram,
FFT 1024, hop 256, window 1024.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import nn


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float | None = None  # None: sample_rate / 2
    log_floor: float = 1e-5

    def to_dict(self) -> dict:
        return asdict(self)


class LogMelSpectrogram(nn.Module):
    """``[B, T]`` or ``[B, 1, T]`` waveforms in [-1, 1] → ``[B, n_mels, T // hop]`` log10 mel magnitudes."""

    def __init__(self, config: MelConfig | None = None, **overrides):
        super().__init__()
        config = config or MelConfig()
        if overrides:
            config = MelConfig(**{**config.to_dict(), **overrides})
        if config.win_length > config.n_fft:
            raise ValueError(f"win_length ({config.win_length}) must not exceed n_fft ({config.n_fft}).")
        if (config.n_fft - config.hop_length) % 2:
            raise ValueError("n_fft - hop_length must be even so that frames align with hop-sized blocks.")
        self.config = config
        f_max = config.f_max if config.f_max is not None else config.sample_rate / 2
        filters = AF.melscale_fbanks(
            n_freqs=config.n_fft // 2 + 1,
            f_min=config.f_min,
            f_max=f_max,
            n_mels=config.n_mels,
            sample_rate=config.sample_rate,
            norm="slaney",
            mel_scale="slaney",
        )  # [n_freqs, n_mels]
        self.register_buffer("mel_filters", filters.T.contiguous(), persistent=False)
        self.register_buffer("window", torch.hann_window(config.win_length), persistent=False)

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    def magnitude(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.dim() == 3:
            if waveform.shape[1] != 1:
                raise ValueError(f"Expected mono audio [B, 1, T], got shape {tuple(waveform.shape)}.")
            waveform = waveform[:, 0]
        if waveform.dim() == 1:
            waveform = waveform[None]
        if waveform.dim() != 2:
            raise ValueError(f"Expected a waveform [T], [B, T] or [B, 1, T], got shape {tuple(waveform.shape)}.")
        pad = (self.config.n_fft - self.config.hop_length) // 2
        if waveform.shape[-1] <= pad:
            raise ValueError(
                f"Audio of {waveform.shape[-1]} samples is too short for the mel front end "
                f"(needs more than {pad} samples)."
            )
        padded = F.pad(waveform[:, None], (pad, pad), mode="reflect")[:, 0]
        spec = torch.stft(
            padded,
            n_fft=self.config.n_fft,
            hop_length=self.config.hop_length,
            win_length=self.config.win_length,
            window=self.window.to(padded.dtype),
            center=False,
            return_complex=True,
        )
        return spec.abs()

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        magnitude = self.magnitude(waveform)
        mel = torch.matmul(self.mel_filters.to(magnitude.dtype), magnitude)
        return torch.log10(torch.clamp(mel, min=self.config.log_floor))
