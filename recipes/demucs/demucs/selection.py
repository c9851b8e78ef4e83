"""Which checkpoint a DEMUCS variant keeps: the best validation value of its own objective.

The released DEMUCS keeps the model of the epoch with the lowest validation value of its
training loss. Applied to each variant of this recipe that rule reads:

* DEMUCS selects on ``L1 + 0.1 SC + 0.1 LogMag``;
* DEMUCS + w·P (P = CDPAM, CDPAM-lite, PMSQE, NegSTOI or the PESQ loss) on
  ``L1 + 0.1 SC + 0.1 LogMag + w · P`` — with ``w`` divided by ``perceptual_every`` when P is
  computed on every n-th training step only, because that is the weight the training
  optimises on average;
* Finetune-CDPAM on its fine-tuning objective, ``0.1 L1 + CDPAM``.

Selecting every variant on the baseline's L1 + MRSTFT (as this recipe once did) picks, for
the perceptual variants, the checkpoint closest to the baseline and discards what P taught
them. The evaluation reports the last checkpoint of those variants as well.

Validation values are means over the validation set, except P, which is the mean over a
fixed subset (the first items, a fixed centred window each) so that its cost stays bounded.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .losses import PERCEPTUAL_TERMS, check_perceptual_name

TERMS = ("l1", "sc", "mag", *PERCEPTUAL_TERMS)  # logged as val_l1, val_sc, val_mag, val_cdpam, val_pmsqe, ...
NAMES = {"l1": "L1", "sc": "SC", "mag": "LogMag", **{name: label for name, (_, label) in PERCEPTUAL_TERMS.items()}}


@dataclass(frozen=True)
class ValidationObjective:
    """``l1 · L1 + sc · SC + mag · LogMag + perceptual_weight · P`` of validation values (``P`` one named term)."""

    l1: float = 1.0
    sc: float = 0.1
    mag: float = 0.1
    perceptual: str | None = None
    perceptual_weight: float = 0.0

    def __post_init__(self):
        if self.perceptual is not None:
            check_perceptual_name(self.perceptual)
        elif self.perceptual_weight:
            raise ValueError(f"perceptual_weight={self.perceptual_weight} needs a perceptual term name.")

    @classmethod
    def from_loss_terms(cls, terms: Mapping[str, Any], perceptual_every: int = 1) -> "ValidationObjective":
        """The training objective of ``EnhancementLoss(**terms)``, the perceptual term weighted as applied on average."""
        every = max(1, int(perceptual_every))
        weight = float(terms.get("perceptual_weight") or 0.0)
        return cls(l1=float(terms.get("l1", 0.0)), sc=float(terms.get("sc_factor", 0.0)),
                   mag=float(terms.get("mag_factor", 0.0)), perceptual=terms.get("perceptual") if weight else None,
                   perceptual_weight=weight / every)

    @property
    def weights(self) -> dict[str, float]:
        weights = {name: weight for name, weight in (("l1", self.l1), ("sc", self.sc), ("mag", self.mag)) if weight}
        if self.perceptual and self.perceptual_weight:
            weights[self.perceptual] = self.perceptual_weight
        return weights

    @property
    def needs_perceptual(self) -> bool:
        return bool(self.perceptual) and self.perceptual_weight > 0

    def __call__(self, values: Mapping[str, float]) -> float:
        """The objective of ``values`` (``{"l1": ..., "sc": ..., ...}``; terms with weight 0 may be absent)."""
        missing = [name for name in self.weights if name not in values]
        if missing:
            raise KeyError(f"the validation objective {self.weights} needs the terms {missing}, which were not measured.")
        return float(sum(weight * float(values[name]) for name, weight in self.weights.items()))

    def describe(self) -> str:
        return " + ".join(f"{weight:g}·{NAMES[name]}" for name, weight in self.weights.items())


def best_validation(rows: Iterable[Mapping[str, float]], objective: ValidationObjective) -> dict:
    """The validation row (``step`` plus ``val_<term>`` values) with the lowest objective; ties keep the earliest.

    Rows without every term the objective needs (e.g. training-only rows of a log) are skipped.
    """
    best, best_value = None, None
    for row in rows:
        try:
            value = objective({name: row[f"val_{name}"] for name in objective.weights})
        except (KeyError, TypeError, ValueError):
            continue
        if best_value is None or value < best_value:
            best, best_value = dict(row), value
    if best is None:
        raise ValueError(f"no validation values for {objective.describe()} in the log: was the run validated?")
    best["objective"] = best_value
    return best


def read_validation_log(path: str | Path) -> list[dict]:
    """The validation rows of a Lightning ``metrics.csv``: ``step`` and the ``val_*`` columns, as numbers.

    ``step`` is the number of training steps done, as in the checkpoint saved at that validation
    (Lightning's CSV holds the index of the last training step, one less).
    """
    rows = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            values = {key: float(value) for key, value in row.items() if key.startswith("val_") and value not in ("", None)}
            if values:
                rows.append({"step": int(float(row["step"])) + 1, **values})
    return rows
