"""Level and timing families: gain and time shift (the invariances of the paper's augmentation)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import Family, register

MAX_CUT_DB = 20.0  # CDPAM's gain augmentation range: -20 .. 0 dB
MAX_SHIFT_S = 0.25  # CDPAM's silence augmentation: 0.25 s


def gain_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    return {"gain_db": 0.0 - MAX_CUT_DB * level}


def _gain(x, sample_rate, params, rng, **_):
    return x * 10.0 ** (params["gain_db"] / 20.0)


def time_shift_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    return {"shift_s": MAX_SHIFT_S * level, "shift_samples": int(round(MAX_SHIFT_S * level * sample_rate))}


def _time_shift(x, sample_rate, params, rng, **_):
    """Delay (or advance; random per seed) by ``shift_samples``, filling with silence, same length."""
    shift = min(params["shift_samples"], len(x))
    if rng.uniform() < 0.5:
        shift = -shift
    y = np.zeros_like(x)
    if shift >= 0:
        y[shift:] = x[: len(x) - shift]
    else:
        y[:shift] = x[-shift:]
    return y


register(Family("gain", gain_parameters, _gain, "gain = -20*level dB (0 .. -20 dB)", random=False))
register(
    Family("time_shift", time_shift_parameters, _time_shift, "shift = 0.25 s * level, delay or advance (random per seed), zero-filled")
)
