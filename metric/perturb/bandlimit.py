"""Band-limiting: a zero-phase Butterworth low-pass whose cutoff falls with the level."""

from __future__ import annotations

from typing import Any

from .filters import butterworth, zero_phase
from .registry import Family, register

BANDLIMIT_MIN_HZ = 300.0


def bandlimit_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    top = 0.95 * sample_rate / 2
    return {"cutoff_hz": top * (BANDLIMIT_MIN_HZ / top) ** level}


def _bandlimit(x, sample_rate, params, rng, **_):
    cutoff = params["cutoff_hz"]
    if cutoff >= 0.95 * sample_rate / 2 - 1e-6:
        return x.copy()  # level 0: no filtering at all
    return zero_phase(x, butterworth(8, cutoff, "lowpass", sample_rate))


register(
    Family(
        "bandlimit",
        bandlimit_parameters,
        _bandlimit,
        "low-pass cutoff = 0.95*Nyquist * (300 Hz / (0.95*Nyquist))^level (level 0: untouched; 1: 300 Hz); zero-phase Butterworth, order 16 effective",
        random=False,
    )
)
