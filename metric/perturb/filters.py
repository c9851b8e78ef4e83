"""3-band equalisation, and the zero-phase SciPy filters the spectral families share.

Zero-phase filtering (``sosfiltfilt``) keeps the waveform aligned with the input, so a
distance to the reference measures the spectral change, not a filter delay.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from scipy.signal import butter, sosfiltfilt

from .registry import Family, register

EQ_SPLITS_HZ = (500.0, 1000.0)  # band edges of the JND data's 3-band equaliser
EQ_MAX_CUT_DB = 20.0


@lru_cache(maxsize=32)
def butterworth(order: int, cutoff: float, btype: str, sample_rate: int):
    return butter(order, cutoff, btype=btype, fs=sample_rate, output="sos")


def zero_phase(x: np.ndarray, sos) -> np.ndarray:
    if len(x) <= 3 * (2 * len(sos) + 1):  # too short for filtfilt's edge padding
        return x.copy()
    return sosfiltfilt(sos, x)


def eq_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    return {"max_cut_db": EQ_MAX_CUT_DB * level, "splits_hz": EQ_SPLITS_HZ}


def band_split(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Low (<500 Hz), mid (500 Hz-1 kHz) and high (>1 kHz) bands that sum back to ``x`` exactly.

    Low and high are zero-phase 4th-order Butterworth filters (8th order after
    filtfilt); the mid band is the remainder, whose response ``|HP_500|^2 - |HP_1000|^2``
    is a non-negative band-pass.
    """
    nyquist = sample_rate / 2
    low = zero_phase(x, butterworth(4, min(EQ_SPLITS_HZ[0], 0.45 * sample_rate), "lowpass", sample_rate))
    high = zero_phase(x, butterworth(4, min(EQ_SPLITS_HZ[1], 0.9 * nyquist), "highpass", sample_rate))
    return low, x - low - high, high


def _eq(x, sample_rate, params, rng, **_):
    """Each band is cut by ``max_cut_db * w_b`` dB; ``w`` is random per seed with max(w) = 1.

    Drawing the band shape once per seed and scaling it by the level keeps the change
    monotonic in the level for a fixed seed.
    """
    weights = rng.uniform(0.0, 1.0, size=3)
    weights /= weights.max()
    gains = 10.0 ** (-params["max_cut_db"] * weights / 20.0)
    low, mid, high = band_split(x, sample_rate)
    return gains[0] * low + gains[1] * mid + gains[2] * high


register(
    Family("eq", eq_parameters, _eq, "bands <500 Hz / 500 Hz-1 kHz / >1 kHz each cut by 0..20*level dB (random shape per seed, max band = 20*level dB)")
)
