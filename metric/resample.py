"""Resampling: differentiable for the model's input, polyphase NumPy for files and perturbations.

Both resamplers return ``resampled_length(T, orig, new) = ceil(T · new / orig)`` samples.

:func:`resample` — differentiable band-limited resampling (Kaiser-windowed sinc, polyphase).

For a rational ratio ``new/orig`` (reduced by their gcd), output sample ``m``
sits at input time ``τ = m · orig / new`` and is ``y[m] = Σ_n x[n] g(τ − n)`` with

    g(u) = r · sinc(r u) · kaiser(u / L),   r = rolloff · min(1, new / orig),
    L = zero_crossings / r,

i.e. an ideal low-pass at ``rolloff`` times the lower Nyquist frequency,
truncated to ``zero_crossings`` lobes on each side (Smith, "Digital Audio
Resampling", CCRMA). Writing ``m = q·new + p`` turns the sum into one strided
``conv1d`` with ``new`` kernels (one per phase ``p``), so gradients flow
through it like through any convolution. The signal is zero outside its
samples, which is what makes a zero-padded item resample exactly like the same
item alone.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .extras import require

ZERO_CROSSINGS = 16
ROLLOFF = 0.945
KAISER_BETA = 8.6
MAX_RATIO_TERM = 4096


def reduced_ratio(orig_rate: int, new_rate: int) -> tuple[int, int]:
    common = math.gcd(int(orig_rate), int(new_rate))
    return int(orig_rate) // common, int(new_rate) // common


def resampled_length(length: int, orig_rate: int, new_rate: int) -> int:
    """Samples after resampling ``length`` samples: ``ceil(length · new / orig)``."""
    orig, new = reduced_ratio(orig_rate, new_rate)
    return -(-int(length) * new // orig)


@lru_cache(maxsize=32)
def _phase_kernels(orig: int, new: int) -> tuple[np.ndarray, int]:
    ratio = ROLLOFF * min(1.0, new / orig)
    half_width = ZERO_CROSSINGS / ratio
    reach = int(math.ceil(half_width))
    taps = np.arange(-reach, orig + reach, dtype=np.float64)  # j - reach for k = 0 .. K-1
    phases = np.arange(new, dtype=np.float64) * orig / new
    u = phases[:, None] - taps[None, :]
    inside = np.abs(u) <= half_width
    window = np.zeros_like(u)
    window[inside] = np.i0(KAISER_BETA * np.sqrt(1.0 - (u[inside] / half_width) ** 2)) / np.i0(KAISER_BETA)
    kernels = ratio * np.sinc(ratio * u) * window
    # Taps run over j = -reach .. orig + reach - 1; conv1d correlates, so x[q·orig + j]
    # must meet tap j: pad the input by `reach` on the left.
    return kernels, reach


def resample(waveform: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Resample ``[..., T]`` from ``orig_rate`` to ``new_rate`` Hz (differentiable)."""
    if orig_rate == new_rate:
        return waveform
    orig, new = reduced_ratio(orig_rate, new_rate)
    if max(orig, new) > MAX_RATIO_TERM:
        raise ValueError(
            f"Cannot resample {orig_rate} Hz to {new_rate} Hz exactly: the reduced ratio {new}/{orig} is too fine. "
            f"Resample the audio to a common rate (e.g. 16000, 22050, 44100 or 48000 Hz) first."
        )
    kernels, reach = _phase_kernels(orig, new)
    weight = torch.as_tensor(kernels, dtype=waveform.dtype, device=waveform.device)[:, None, :]
    shape = waveform.shape
    x = waveform.reshape(-1, 1, shape[-1])
    length = shape[-1]
    out_length = resampled_length(length, orig_rate, new_rate)
    blocks = -(-out_length // new)
    right = blocks * orig + weight.shape[-1] - orig - reach - length
    x = F.pad(x, (reach, max(right, 0)))
    y = F.conv1d(x, weight, stride=orig)[..., :blocks]  # [N, new, blocks]
    y = y.transpose(1, 2).reshape(x.shape[0], -1)[:, :out_length]
    return y.reshape(*shape[:-1], out_length)


def resample_array(x: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample a 1-D NumPy signal (``scipy.signal.resample_poly``: polyphase, Kaiser window).

    The resampler of audio files, datasets, perturbations and baselines (not differentiable;
    for tensors in a graph use :func:`resample`). Returns exactly
    :func:`resampled_length` samples in ``x``'s dtype; ``x`` itself when the rates are equal.
    """
    require("data", "scipy", feature="resampling NumPy audio (metric.resample.resample_array)")
    from scipy.signal import resample_poly  # scipy.signal costs about a second to import: only when used

    orig_rate, new_rate = int(orig_rate), int(new_rate)
    if orig_rate == new_rate:
        return x
    orig, new = reduced_ratio(orig_rate, new_rate)
    y = resample_poly(x, new, orig)
    target = resampled_length(len(x), orig_rate, new_rate)
    if len(y) < target:
        y = np.pad(y, (0, target - len(y)))
    return y[:target].astype(x.dtype, copy=False)
