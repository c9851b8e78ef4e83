"""Griffin-Lim phase reconstruction: keep the STFT magnitude, re-estimate the phase.

The magnitude of the input's STFT is kept and the phase is recovered from a random
start by the fast Griffin-Lim algorithm (Griffin & Lim, IEEE TASSP 1984; momentum
0.99 of Perraudin, Balazs & Sondergaard, WASPAA 2013, the default of common tools).
Fewer iterations leave more phase error ("phasiness"). Level mapping, as in the JND
data: ``iterations = round(80 - 79 * level)`` (80 .. 1). Even 80 iterations do not
give back the original phase, so level 0 is a light but audible change.

The STFT (:mod:`.stft`: periodic Hann window, 1024 points, 512 below 16 kHz, 75 %
overlap) is a small single-threaded NumPy/SciPy implementation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import Family, register
from .stft import istft, stft

MOMENTUM = 0.99


def griffin_lim_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    n_fft = 1024 if sample_rate >= 16000 else 512
    return {"iterations": int(round(80 - 79 * level)), "n_fft": n_fft, "hop": n_fft // 4}


def griffin_lim(magnitude: np.ndarray, n_fft: int, hop: int, length: int, iterations: int,
                initial_phase: np.ndarray) -> np.ndarray:
    """Fast Griffin-Lim: a waveform whose STFT magnitude approximates ``magnitude`` [frames, bins]."""
    angles = np.exp(1j * initial_phase).astype(np.complex64)
    previous = np.zeros_like(angles)
    for _ in range(iterations):
        rebuilt = stft(istft(magnitude * angles, n_fft, hop, length), n_fft, hop)
        accelerated = rebuilt - (MOMENTUM / (1 + MOMENTUM)) * previous
        angles = accelerated / np.maximum(np.abs(accelerated), 1e-16)
        previous = rebuilt
    return istft(magnitude * angles, n_fft, hop, length)


def _griffin_lim(x, sample_rate, params, rng, **_):
    n_fft, hop = params["n_fft"], params["hop"]
    if len(x) <= n_fft // 2:
        return x.copy()  # too short for one centred frame: nothing to reconstruct
    magnitude = np.abs(stft(x, n_fft, hop)).astype(np.float32)
    phase = rng.uniform(-np.pi, np.pi, size=magnitude.shape).astype(np.float32)
    return griffin_lim(magnitude, n_fft, hop, len(x), params["iterations"], phase).astype(np.float64)


register(Family("griffin_lim", griffin_lim_parameters, _griffin_lim, "iterations = round(80 - 79*level) (80 .. 1), fast Griffin-Lim from random phase"))
