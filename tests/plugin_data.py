"""Tiny enhancement data from the official clips for the plugin tests: (noisy, clean) at 16 kHz."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch

from metric.resample import resample

from conftest import SAMPLE_AUDIO


def noisy_clean_pairs(count: int = 8, seconds: float = 0.3, sample_rate: int = 16000, snr_db: float = 5.0, seed: int = 0):
    """Lists of equal-length 1-D float32 tensors cut from the official reference clip."""
    speech, rate = sf.read(SAMPLE_AUDIO / "ref.wav", dtype="float32")
    speech = resample(torch.from_numpy(speech), rate, sample_rate)
    rng = np.random.default_rng(seed)
    length = int(seconds * sample_rate)
    noisy, clean = [], []
    for _ in range(count):
        start = int(rng.integers(0, speech.shape[-1] - length))
        segment = speech[start : start + length].clone()
        noise = torch.from_numpy(rng.standard_normal(length).astype(np.float32))
        noise *= segment.pow(2).mean().sqrt() / noise.pow(2).mean().sqrt() * 10 ** (-snr_db / 20)
        noisy.append((segment + noise).clamp(-1, 1))
        clean.append(segment)
    return noisy, clean


class TinyDenoiser(torch.nn.Module):
    """A learnable FIR filter starting at identity: enough to show a loss going down."""

    def __init__(self, taps: int = 33):
        super().__init__()
        self.filter = torch.nn.Conv1d(1, 1, taps, padding=taps // 2, bias=False)
        with torch.no_grad():
            self.filter.weight.zero_()
            self.filter.weight[0, 0, taps // 2] = 1.0

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:  # [B, T] -> [B, T]
        return self.filter(waveform[:, None, :])[:, 0, :]
