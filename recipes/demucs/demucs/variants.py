"""The variants of the DEMUCS recipe (``conf/loss/<name>.yaml``): their names in tables, the measure of the
tables each one trains on, and the weights the weight search tries.

Every variant but ``finetune`` trains from scratch with the baseline's model, data, optimiser and
schedule, on ``L1 + 0.1 SC + 0.1 LogMag + w · P``; ``finetune`` continues a baseline model on
``0.1 L1 + CDPAM``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    name: str              # the Hydra choice, loss=<name>
    label: str             # its row in the tables
    trained_on: tuple      # measures of demucs.measures.COLUMNS that its perceptual term stands for
    weights: tuple = ()    # the weight search's candidates for w (empty: no search)


# Candidate weights: three, a factor of about 3 apart, placed so that w · (P(noisy) − P(clean)), what
# the term can gain, spans about 0.1 to 2 times what L1 + 0.1 SC + 0.1 LogMag can gain on the noisy
# input. Measured on a random 1 s crop of each of the first 16 toy training files (docs/results.md):
# L1 + MRSTFT of the noisy input 0.227; P(noisy) − P(clean): CDPAM 0.380 (0.25 s sub-segments),
# PMSQE 3.28, NegSTOI 0.123, PESQ loss 4.67 — so the middle weights give 0.50, 0.22, 0.54 and 0.21.
VARIANTS = {
    "baseline": Variant("baseline", "DEMUCS", ()),
    "cdpam": Variant("cdpam", "DEMUCS+CDPAM", ("cdpam",), (0.1, 0.3, 1.0)),
    "cdpam_lite": Variant("cdpam_lite", "DEMUCS+CDPAM-lite", ("cdpam",), (0.1, 0.3, 1.0)),
    "pmsqe": Variant("pmsqe", "DEMUCS+PMSQE", ("pesq",), (0.005, 0.015, 0.05)),
    "stoi": Variant("stoi", "DEMUCS+NegSTOI", ("stoi",), (0.3, 1.0, 3.0)),
    "pesq": Variant("pesq", "DEMUCS+PESQ", ("pesq",), (0.003, 0.01, 0.03)),
    "finetune": Variant("finetune", "Finetune-CDPAM", ("cdpam",)),
}


def variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; the recipe has {', '.join(VARIANTS)} (conf/loss/).")
    return VARIANTS[name]


def row_tag(row: str) -> str:
    """A file-name tag for a table row: ``DEMUCS+CDPAM (last)`` -> ``demucs_cdpam_last``."""
    return re.sub(r"[^a-z0-9]+", "_", row.lower()).strip("_")
