"""2AFC accuracy (Manocha et al., ICASSP 2021, §4.1; DPAM, Interspeech 2020).

Listeners hear a reference and two test recordings A and B and say which one is
closer to the reference; ``p`` is the fraction of listeners who chose A. A metric
"chooses" the recording at the smaller distance and is credited with the fraction
of listeners who agree with it::

    accuracy = mean_i( p_i if d(ref_i, A_i) < d(ref_i, B_i) else 1 - p_i )

A tie earns 0.5. The best any metric can reach is ``mean_i max(p_i, 1 - p_i)``
(:func:`two_afc_ceiling`), the human agreement itself.

Listening tests are read by :func:`metric.data.triplets.read_triplets` (header
``reference,a,b,p_a`` or ``reference,a,b,preference``, or vote counts ``votes_a,votes_b``),
the same reader the triplet training stage uses.
"""

from __future__ import annotations

import numpy as np


def two_afc_accuracy(distance_a, distance_b, p_a) -> float:
    """Mean fraction of listeners agreeing with the metric's choice (ties earn 0.5)."""
    distance_a, distance_b, p_a = (np.asarray(v, dtype=np.float64) for v in (distance_a, distance_b, p_a))
    if not (distance_a.shape == distance_b.shape == p_a.shape) or distance_a.ndim != 1 or len(p_a) == 0:
        raise ValueError("distance_a, distance_b and p_a must be 1-D arrays of the same non-zero length")
    if ((p_a < 0) | (p_a > 1)).any():
        raise ValueError("p_a holds fractions of listeners preferring A: every value must be in [0, 1]")
    credit = np.where(distance_a < distance_b, p_a, np.where(distance_a > distance_b, 1 - p_a, 0.5))
    return float(credit.mean())


def two_afc_ceiling(p_a) -> float:
    """Accuracy of a metric that always sides with the majority: ``mean max(p, 1 - p)``."""
    p_a = np.asarray(p_a, dtype=np.float64)
    return float(np.maximum(p_a, 1 - p_a).mean())
