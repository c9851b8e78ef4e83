"""Resampling by 2 with a windowed-sinc half-band interpolator, as in the released DEMUCS.

The released causal DEMUCS (facebookresearch/denoiser, ``resample.py``) resamples x4 as
two x2 stages of sinc interpolation (Smith & Gossett, "A flexible sampling-rate
conversion method", ICASSP 1984). The facts it follows, written here independently:

* the interpolation kernel evaluated half-way between samples,
  ``h(u) = sinc(u) · cos²(π u / (2 Z))`` at ``u = ±0.5, ±1.5, …, ±(Z − 0.5)``
  (``Z = 56`` zero crossings on each side; the window is a Hann window spanning
  ``±Z`` samples; ``sinc(u) = sin(π u) / (π u)``);
* :func:`upsample2` keeps every input sample at the even output positions and fills
  the odd ones with the interpolated half-way values
  ``y[2n + 1] = Σ_k x[k] h(k − n − 0.5)``;
* :func:`downsample2` (after zero-padding to an even length) averages each even sample
  with the odd samples interpolated onto it,
  ``y[n] = (x[2n] + Σ_k x[2k + 1] h(k + 0.5 − n)) / 2``:
  a half-band low-pass filter followed by decimation.

Signals are zero outside their samples. Both operations are linear convolutions, so
gradients flow through them; each looks ``Z`` samples of its input rate ahead.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

ZERO_CROSSINGS = 56


@lru_cache(maxsize=8)
def _halfway_kernel(zeros: int) -> torch.Tensor:
    """``h(u)`` at ``u = -zeros + 0.5, …, zeros - 0.5`` (``2 · zeros`` taps, float64).

    Built outside inference mode even when first asked for under it (evaluation, Lightning's
    validation): the cached kernel is reused by float64 training, which must save it for backward.
    """
    with torch.inference_mode(False):
        u = torch.arange(2 * zeros, dtype=torch.float64) - zeros + 0.5
        window = torch.cos(math.pi * u / (2 * zeros)) ** 2
        return torch.sinc(u) * window


def _interpolate_halfway(x: torch.Tensor, zeros: int) -> torch.Tensor:
    """``z[n] = Σ_k x[k] h(k - n - 0.5)``: the values half a sample after each input sample."""
    *batch, length = x.shape
    kernel = _halfway_kernel(zeros).to(dtype=x.dtype, device=x.device)[None, None]
    # conv1d correlates: z[n] = Σ_j x[n + j - zeros + 1] h(j - zeros + 0.5), i.e. taps from
    # zeros - 1 samples before n to zeros samples after it.
    padded = F.pad(x.reshape(-1, 1, length), (zeros - 1, zeros))
    return F.conv1d(padded, kernel).reshape(*batch, length)


def upsample2(x: torch.Tensor, zeros: int = ZERO_CROSSINGS) -> torch.Tensor:
    """``[..., T]`` at rate ``r`` → ``[..., 2T]`` at rate ``2r``; input samples are kept at even positions."""
    halfway = _interpolate_halfway(x, zeros)
    return torch.stack([x, halfway], dim=-1).reshape(*x.shape[:-1], 2 * x.shape[-1])


def downsample2(x: torch.Tensor, zeros: int = ZERO_CROSSINGS) -> torch.Tensor:
    """``[..., T]`` at rate ``2r`` → ``[..., ceil(T / 2)]`` at rate ``r`` (half-band low-pass, then decimation)."""
    if x.shape[-1] % 2:
        x = F.pad(x, (0, 1))
    even, odd = x[..., 0::2], x[..., 1::2]
    # The odd sample k sits half a sample after the even sample k; its interpolated value at
    # the even positions is the half-way interpolation of the odd samples, one sample earlier.
    at_even = _interpolate_halfway(F.pad(odd, (1, 0)), zeros)[..., :-1]
    return 0.5 * (even + at_even)
