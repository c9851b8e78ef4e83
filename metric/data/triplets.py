"""Triplet judgments ("is A or B closer to the reference?") from a simple CSV.

CSV format (UTF-8, comma-separated, with this header; extra columns are ignored)::

    reference,a,b,preference
    clean/p232_001.wav,enhanced_x/p232_001.wav,enhanced_y/p232_001.wav,0.8

* ``reference``, ``a``, ``b``: audio paths, relative to ``root`` (default: the CSV's folder)
  or absolute;
* ``preference``: the fraction of listeners who judged **A** closer to the reference than
  B, in [0, 1] (1 = everyone chose A). A hard 0/1 answer is the same with one listener.

Items are ``{"reference", "a", "b", "preference"}``; the three waveforms are cropped to
their common length. CDPAM's third stage trains on these with a margin ranking loss
(margin 0.1): the target is +1 when ``preference > 0.5`` (A closer, so d(ref, A) < d(ref, B)).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from metric.io import read_audio

TRIPLET_COLUMNS = ("reference", "a", "b", "preference")


@dataclass(frozen=True)
class Triplet:
    reference: Path
    a: Path
    b: Path
    preference: float


def read_triplets(csv_path: str | Path, root: str | Path | None = None) -> list[Triplet]:
    """Parse and validate a triplet CSV (see the module docs)."""
    csv_path = Path(csv_path)
    root = Path(root) if root is not None else csv_path.parent
    with open(csv_path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing_columns = [c for c in TRIPLET_COLUMNS if c not in (reader.fieldnames or [])]
        if missing_columns:
            raise ValueError(f"{csv_path}: header must contain {', '.join(TRIPLET_COLUMNS)}; missing {', '.join(missing_columns)}")
        triplets = []
        for line, row in enumerate(reader, start=2):
            try:
                preference = float(row["preference"])
            except ValueError:
                raise ValueError(f"{csv_path}:{line}: preference {row['preference']!r} is not a number") from None
            if not 0.0 <= preference <= 1.0:
                raise ValueError(f"{csv_path}:{line}: preference must be in [0, 1] (share of listeners preferring A), got {preference}")
            paths = [Path(row[c]) if Path(row[c]).is_absolute() else root / row[c] for c in ("reference", "a", "b")]
            triplets.append(Triplet(*paths, preference))
    if not triplets:
        raise ValueError(f"{csv_path} holds no triplets")
    return triplets


class TripletDataset(Dataset):
    """Triplets from a CSV as ``{"reference", "a", "b": FloatTensor [T], "preference": float}``."""

    def __init__(self, csv_path: str | Path, sample_rate: int = 22050, root: str | Path | None = None, check_files: bool = True):
        self.triplets = read_triplets(csv_path, root)
        self.sample_rate = int(sample_rate)
        if check_files:
            missing = sorted({str(p) for t in self.triplets for p in (t.reference, t.a, t.b) if not p.is_file()})
            if missing:
                raise FileNotFoundError(f"{len(missing)} files named in {csv_path} are missing, e.g.:\n  " + "\n  ".join(missing[:10]))

    def __len__(self) -> int:
        return len(self.triplets)

    def __getitem__(self, index: int) -> dict[str, Any]:
        t = self.triplets[index]
        waves = [read_audio(p, self.sample_rate, mono=True)[0] for p in (t.reference, t.a, t.b)]
        n = min(len(w) for w in waves)
        reference, a, b = (torch.from_numpy(np.ascontiguousarray(w[:n])) for w in waves)
        return {"reference": reference, "a": a, "b": b, "preference": float(t.preference)}
