"""Griffin-Lim phase reconstruction: keep the STFT magnitude, re-estimate the phase.

The magnitude of the input's STFT is kept and the phase is recovered from a random
start by the fast Griffin-Lim algorithm (Griffin & Lim, IEEE TASSP 1984; momentum
0.99 of Perraudin, Balazs & Sondergaard, WASPAA 2013, the default of common tools).
Fewer iterations leave more phase error ("phasiness"). Level mapping, as in the JND
data: ``iterations = round(80 - 79 * level)`` (80 .. 1). Even 80 iterations do not
give back the original phase, so level 0 is a light but audible change.

The STFT is ``torch.stft`` with a periodic Hann window, 1024 points (512 below
16 kHz) and 75 % overlap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .registry import Family, register

MOMENTUM = 0.99


def griffin_lim_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    n_fft = 1024 if sample_rate >= 16000 else 512
    return {"iterations": int(round(80 - 79 * level)), "n_fft": n_fft, "hop": n_fft // 4}


def griffin_lim(magnitude: torch.Tensor, n_fft: int, hop: int, length: int, iterations: int,
                initial_phase: torch.Tensor) -> torch.Tensor:
    """Fast Griffin-Lim: waveform whose STFT magnitude approximates ``magnitude`` [F, N]."""
    window = torch.hann_window(n_fft, dtype=magnitude.dtype)
    stft = dict(n_fft=n_fft, hop_length=hop, win_length=n_fft, window=window, center=True)
    angles = torch.polar(torch.ones_like(magnitude), initial_phase)
    previous = torch.zeros_like(angles)
    for _ in range(iterations):
        signal = torch.istft(magnitude * angles, length=length, **stft)
        rebuilt = torch.stft(signal, return_complex=True, **stft)
        accelerated = rebuilt - (MOMENTUM / (1 + MOMENTUM)) * previous
        angles = accelerated / accelerated.abs().clamp_min(1e-16)
        previous = rebuilt
    return torch.istft(magnitude * angles, length=length, **stft)


def _griffin_lim(x, sample_rate, params, rng, **_):
    n_fft, hop = params["n_fft"], params["hop"]
    if len(x) < n_fft:
        return x.copy()  # too short for one frame: nothing to reconstruct
    signal = torch.from_numpy(x)
    window = torch.hann_window(n_fft, dtype=signal.dtype)
    spectrum = torch.stft(signal, n_fft=n_fft, hop_length=hop, win_length=n_fft, window=window,
                          center=True, return_complex=True)
    phase = torch.from_numpy(rng.uniform(-np.pi, np.pi, size=tuple(spectrum.shape)))
    with torch.no_grad():
        y = griffin_lim(spectrum.abs(), n_fft, hop, len(x), params["iterations"], phase)
    return y.numpy()


register(Family("griffin_lim", griffin_lim_parameters, _griffin_lim, "iterations = round(80 - 79*level) (80 .. 1), fast Griffin-Lim from random phase"))
