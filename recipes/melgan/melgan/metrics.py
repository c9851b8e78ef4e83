"""Objective measures for vocoded speech against the real recording.

All take two time-aligned mono float waveforms in [-1, 1] at ``sample_rate`` and
return one float per utterance (lower is better except PESQ).

* ``cdpam``: the CDPAM distance (Manocha et al., ICASSP 2021), official weights.
* ``multi_resolution_stft_distance``: spectral convergence plus log-magnitude
  distance of ``metric.MultiResolutionSTFTLoss`` (FFT 512/1024/2048, hop
  50/120/240, Hann window 240/600/1200, magnitudes floored at 1e-7) — the
  multi-resolution STFT loss of Yamamoto et al. (ICASSP 2020) used as a distance.
* ``mel_cepstral_distortion`` (dB):

      MCD = (10 / ln 10) · sqrt( 2 · Σ_{d=1}^{24} (c_d - ĉ_d)² ),  averaged over frames,

  where ``c`` are mel-frequency cepstral coefficients: the orthonormal DCT-II
  over 80 mel bands of the natural-log mel magnitude spectrum (the recipe's
  front end: FFT 1024, hop 256, floor 1e-5), ``c_0`` (energy) excluded, so a
  pure gain change scores ~0 (exactly 0 where no band sits at the floor). Frames are aligned
  one to one (a vocoder keeps the timing), no DTW. Papers that compute MCD from
  SPTK mel-generalised cepstra (all-pass warping α ≈ 0.455 at 22 kHz) with DTW
  get numbers on a different scale: compare MCD only within this table.
* ``pesq_wideband``: ITU-T P.862.2 wide-band PESQ (``metric.pesq``) after
  resampling both signals to 16 kHz; NaN when PESQ finds no speech.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from metric import MultiResolutionSTFTLoss, cdpam_distance, pesq

from .mel import LogMelSpectrogram, MelConfig

STFT_MAGNITUDE_FLOOR = 1e-7
MCD_COEFFICIENTS = 24
# The vocoder front end's floor: the features the generator is asked to reproduce. A lower floor lets
# digital silence in a recording (ln 0 -> -inf) dominate the average with differences nobody hears.
MCD_FLOOR = 1e-5
MCD_CONSTANT = 10.0 / math.log(10.0) * math.sqrt(2.0)


def _as_tensor(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64)) if not isinstance(x, torch.Tensor) else x.double()


def multi_resolution_stft_distance(reference, estimate, sample_rate: int | None = None) -> float:
    """(``sample_rate`` is accepted for a uniform signature; the resolutions are in samples.)"""
    reference, estimate = _as_tensor(reference), _as_tensor(estimate)
    _check_aligned(reference, estimate)
    with torch.no_grad():
        convergence, log_distance = MultiResolutionSTFTLoss(magnitude_floor=STFT_MAGNITUDE_FLOOR)(estimate, reference)
    return float(convergence + log_distance)


def _dct_ortho_matrix(n: int) -> torch.Tensor:
    """DCT-II matrix with orthonormal scaling: C[k, m] = s_k cos(π k (2m + 1) / 2n)."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    m = torch.arange(n, dtype=torch.float64)[None, :]
    matrix = torch.cos(math.pi * k * (2 * m + 1) / (2 * n)) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    return matrix


def mel_cepstrum(audio, sample_rate: int = 22050, coefficients: int = MCD_COEFFICIENTS) -> torch.Tensor:
    """``[frames, coefficients]`` mel-frequency cepstral coefficients c_1..c_K (see module docstring)."""
    front_end = LogMelSpectrogram(MelConfig(sample_rate=sample_rate)).double()
    x = _as_tensor(audio)
    magnitude = front_end.magnitude(x[None])[0]
    mel = torch.matmul(front_end.mel_filters.double(), magnitude).clamp(min=MCD_FLOOR)
    cepstra = torch.matmul(_dct_ortho_matrix(mel.shape[0]), torch.log(mel))  # [n_mels, frames]
    return cepstra[1 : coefficients + 1].T


def mel_cepstral_distortion(reference, estimate, sample_rate: int = 22050) -> float:
    reference, estimate = _as_tensor(reference), _as_tensor(estimate)
    _check_aligned(reference, estimate)
    c_ref = mel_cepstrum(reference, sample_rate)
    c_est = mel_cepstrum(estimate, sample_rate)
    per_frame = MCD_CONSTANT * torch.sqrt(torch.sum((c_ref - c_est) ** 2, dim=1))
    return float(per_frame.mean())


def pesq_wideband(reference, estimate, sample_rate: int = 22050) -> float:
    try:
        return pesq(reference, estimate, sample_rate)  # at 22,050 Hz: resampled to 16 kHz, scored wide-band
    except ValueError:  # no speech found
        return math.nan


def cdpam(reference, estimate, sample_rate: int = 22050) -> float:
    with torch.no_grad():
        d = cdpam_distance(_as_tensor(reference).float(), _as_tensor(estimate).float(), sample_rate=sample_rate)
    return float(d.reshape(-1)[0])


def _check_aligned(reference: torch.Tensor, estimate: torch.Tensor) -> None:
    if reference.dim() != 1 or estimate.dim() != 1 or reference.shape != estimate.shape:
        raise ValueError(
            f"Expected two mono waveforms of equal length, got shapes {tuple(reference.shape)} and "
            f"{tuple(estimate.shape)}: trim both to the same number of samples."
        )


MEASURES = {
    "cdpam": cdpam,
    "mrstft": multi_resolution_stft_distance,
    "mcd_db": mel_cepstral_distortion,
    "pesq_wb": pesq_wideband,
}
HIGHER_IS_BETTER = {"cdpam": False, "mrstft": False, "mcd_db": False, "pesq_wb": True}
