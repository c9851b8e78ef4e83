"""Signal-damage families: pops (clicks), dropouts / packet loss and clipping.

The random choices are drawn so that a fixed seed gives *nested* damage: the pops
and lost packets at a higher level include those at a lower level. The change is
therefore monotonic in the level for every seed, not just on average.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import Family, register

POP_FRACTION = (1e-4, 0.1)  # share of samples hit, JND data range
PACKET_S = 0.02  # one VoIP frame
MAX_LOSS_RATE = 0.4
CLIP_MAX_DB = 30.0


def pops_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    # geometric like the JND range, shifted so that level 0 means no pops at all:
    # 1e-4 * (1001^level - 1) is 0 at level 0, ~1e-4 at 0.1, ~3e-3 at 0.5 and 0.1 at 1
    low, high = POP_FRACTION
    ratio = high / low + 1.0
    return {"fraction": low * (ratio**level - 1.0)}


def _pops(x, sample_rate, params, rng, **_):
    """Replace a fraction of the samples by the signal's own extremes, half by its maximum, half by its minimum.

    As the JND generator did: the pops are as loud as the loudest sample of the
    recording, whatever its level. Positions come from one permutation per seed and
    alternate maximum/minimum along it, so a higher level adds pops to the same ones
    and each level hits the two extremes equally often.
    """
    n = len(x)
    if n == 0:
        return x.copy()
    order = rng.permutation(n)
    count = int(round(params["fraction"] * n))
    y = x.copy()
    hit = order[:count]
    y[hit[0::2]] = np.max(x)
    y[hit[1::2]] = np.min(x)
    return y


def dropout_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    return {"loss_rate": MAX_LOSS_RATE * level, "packet_s": PACKET_S}


def _dropout(x, sample_rate, params, rng, **_):
    """Zero whole 20 ms packets, each lost independently with probability ``loss_rate``."""
    packet = max(1, int(round(params["packet_s"] * sample_rate)))
    packets = -(-len(x) // packet)
    lost = rng.uniform(size=packets) < params["loss_rate"]
    mask = np.repeat(~lost, packet)[: len(x)]
    return x * mask


def clipping_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    return {"threshold_db_below_peak": CLIP_MAX_DB * level}


def _clipping(x, sample_rate, params, rng, **_):
    """Hard-clip at a threshold ``threshold_db_below_peak`` dB under the signal's own peak."""
    peak = np.max(np.abs(x)) if len(x) else 0.0
    if peak == 0.0:
        return x.copy()
    threshold = peak * 10.0 ** (-params["threshold_db_below_peak"] / 20.0)
    return np.clip(x, -threshold, threshold)


register(Family("pops", pops_parameters, _pops, "fraction of samples set to the signal's max/min (half each) = 1e-4 * (1001^level - 1) (0 at level 0, 0.1 at 1; JND range 1e-4 .. 0.1)"))
register(Family("dropout", dropout_parameters, _dropout, "20 ms packets lost i.i.d. with probability 0.4*level (0 .. 40 %)"))
register(
    Family("clipping", clipping_parameters, _clipping, "hard clip at 30*level dB below the signal's peak (0 .. 30 dB)", random=False)
)
