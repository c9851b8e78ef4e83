"""Which checkpoint a DEMUCS variant keeps: the best validation value of its own objective.

The released DEMUCS keeps the model of the epoch with the lowest validation value of its
training loss. Applied to each variant of the CDPAM paper's Table 4 that rule reads:

* DEMUCS selects on ``L1 + 0.1 SC + 0.1 LogMag``;
* DEMUCS+CDPAM on ``L1 + 0.1 SC + 0.1 LogMag + w · CDPAM`` — with ``w`` divided by
  ``cdpam_every`` when the CDPAM term is computed on every n-th training step only, because
  that is the weight the training optimises on average;
* Finetune-CDPAM on its fine-tuning objective, ``0.1 L1 + CDPAM``.

Selecting every variant on the baseline's L1 + MRSTFT (as this recipe once did) picks, for
the CDPAM variants, the checkpoint closest to the baseline and discards what CDPAM taught
them. The evaluation reports the last checkpoint of the CDPAM variants as well.

Validation values are means over the validation set, except CDPAM, which is the mean over
a fixed subset (the first items, a fixed centred window each) so that its cost stays bounded.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping

TERMS = ("l1", "sc", "mag", "cdpam")  # logged as val_l1, val_sc, val_mag, val_cdpam


@dataclass(frozen=True)
class ValidationObjective:
    """``l1 · L1 + sc · SC + mag · LogMag + cdpam · CDPAM`` of validation values."""

    l1: float = 1.0
    sc: float = 0.1
    mag: float = 0.1
    cdpam: float = 0.0

    @classmethod
    def from_loss_terms(cls, terms: Mapping[str, float], cdpam_every: int = 1) -> "ValidationObjective":
        """The training objective of ``EnhancementLoss(**terms)``, CDPAM weighted as applied on average."""
        every = max(1, int(cdpam_every))
        return cls(l1=float(terms.get("l1", 0.0)), sc=float(terms.get("sc_factor", 0.0)),
                   mag=float(terms.get("mag_factor", 0.0)), cdpam=float(terms.get("cdpam_weight", 0.0)) / every)

    @property
    def weights(self) -> dict[str, float]:
        return {name: weight for name, weight in asdict(self).items() if weight}

    @property
    def needs_cdpam(self) -> bool:
        return self.cdpam > 0

    def __call__(self, values: Mapping[str, float]) -> float:
        """The objective of ``values`` (``{"l1": ..., "sc": ..., ...}``; terms with weight 0 may be absent)."""
        missing = [name for name in self.weights if name not in values]
        if missing:
            raise KeyError(f"the validation objective {self.weights} needs the terms {missing}, which were not measured.")
        return float(sum(weight * float(values[name]) for name, weight in self.weights.items()))

    def describe(self) -> str:
        names = {"l1": "L1", "sc": "SC", "mag": "LogMag", "cdpam": "CDPAM"}
        return " + ".join(f"{weight:g}·{names[name]}" for name, weight in self.weights.items())


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
