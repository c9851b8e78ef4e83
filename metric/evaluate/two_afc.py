"""2AFC accuracy (Manocha et al., ICASSP 2021, §4.1; DPAM, Interspeech 2020).

Listeners hear a reference and two test recordings A and B and say which one is
closer to the reference; ``p`` is the fraction of listeners who chose A. A metric
"chooses" the recording at the smaller distance and is credited with the fraction
of listeners who agree with it::

    accuracy = mean_i( p_i if d(ref_i, A_i) < d(ref_i, B_i) else 1 - p_i )

A tie earns 0.5. The best any metric can reach is ``mean_i max(p_i, 1 - p_i)``
(:func:`two_afc_ceiling`), the human agreement itself.

CSV format of a listening test (:func:`read_triplets_csv`), one row per triplet, header required::

    reference,a,b,p_a
    refs/0001.wav,sys1/0001.wav,sys2/0001.wav,0.8

Paths are relative to the CSV's folder (or absolute); ``p_a`` in [0, 1]. If you have
vote counts instead, write ``votes_a,votes_b`` columns in place of ``p_a``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Triplet:
    reference: Path
    a: Path
    b: Path
    p_a: float


def read_triplets_csv(path: str | Path) -> list[Triplet]:
    """Triplets of a 2AFC listening test from a CSV (format in the module docstring)."""
    path = Path(path)
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        if not {"reference", "a", "b"} <= columns or not ({"p_a"} <= columns or {"votes_a", "votes_b"} <= columns):
            raise ValueError(
                f"{path}: a 2AFC CSV needs the header reference,a,b,p_a (or reference,a,b,votes_a,votes_b); "
                f"found {sorted(columns)}"
            )
        triplets = []
        for line, row in enumerate(reader, start=2):
            try:
                if "p_a" in row and row["p_a"] not in (None, ""):
                    p_a = float(row["p_a"])
                else:
                    votes_a, votes_b = float(row["votes_a"]), float(row["votes_b"])
                    p_a = votes_a / (votes_a + votes_b)
            except (TypeError, ValueError, ZeroDivisionError) as error:
                raise ValueError(f"{path}:{line}: cannot read the preference for A ({error})") from None
            if not 0 <= p_a <= 1:
                raise ValueError(f"{path}:{line}: p_a = {p_a} is not a fraction in [0, 1]")
            resolve = lambda name: (path.parent / row[name]).resolve()  # noqa: E731
            triplets.append(Triplet(resolve("reference"), resolve("a"), resolve("b"), p_a))
    if not triplets:
        raise ValueError(f"{path}: no triplets")
    return triplets
