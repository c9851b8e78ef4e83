"""Triplet judgments ("is A or B closer to the reference?") from a CSV: the one reader for
training (CDPAM's third stage) and 2AFC evaluation (``cdpam evaluate 2afc``).

CSV format (UTF-8, comma-separated, header required; extra columns are ignored)::

    reference,a,b,preference
    clean/p232_001.wav,enhanced_x/p232_001.wav,enhanced_y/p232_001.wav,0.8

* ``reference``, ``a``, ``b``: audio paths, relative to ``root`` (default: the CSV's folder)
  or absolute;
* ``preference``: the fraction of listeners who judged **A** closer to the reference than
  B, in [0, 1] (1 = everyone chose A). A hard 0/1 answer is the same with one listener.
  The 2AFC spelling ``p_a`` is accepted for the same column, and so are vote counts
  ``votes_a,votes_b`` in its place (``preference = votes_a / (votes_a + votes_b)``).

Items of :class:`TripletDataset` are ``{"reference", "a", "b", "preference"}``; the three
waveforms are cropped to their common length. CDPAM's third stage trains on these with a
margin ranking loss (margin 0.1): the target is +1 when ``preference > 0.5`` (A closer, so
d(ref, A) < d(ref, B)).
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

PATH_COLUMNS = ("reference", "a", "b")
PREFERENCE_COLUMNS = ("preference", "p_a")  # the training and the 2AFC spelling of one column
VOTE_COLUMNS = ("votes_a", "votes_b")


@dataclass(frozen=True)
class Triplet:
    reference: Path
    a: Path
    b: Path
    preference: float  # fraction of listeners who chose A


def _preference(row: dict[str, str], column: str | None) -> float:
    if column is not None and row.get(column) not in (None, ""):
        return float(row[column])
    votes_a, votes_b = float(row["votes_a"]), float(row["votes_b"])
    return votes_a / (votes_a + votes_b)


def read_triplets(csv_path: str | Path, root: str | Path | None = None) -> list[Triplet]:
    """Parse and validate a triplet CSV (see the module docs); paths come back absolute."""
    csv_path = Path(csv_path)
    root = Path(root) if root is not None else csv_path.parent
    with open(csv_path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        column = next((c for c in PREFERENCE_COLUMNS if c in columns), None)
        missing = [c for c in PATH_COLUMNS if c not in columns]
        if column is None and not set(VOTE_COLUMNS) <= columns:
            missing.append("preference")
        if missing:
            raise ValueError(
                f"{csv_path}: header must contain reference,a,b,preference (or p_a, or votes_a,votes_b in place of "
                f"preference); missing {', '.join(missing)}"
            )
        triplets = []
        for line, row in enumerate(reader, start=2):
            try:
                preference = _preference(row, column)
            except (TypeError, ValueError, ZeroDivisionError) as error:
                raise ValueError(f"{csv_path}:{line}: cannot read the preference for A ({error})") from None
            if not 0.0 <= preference <= 1.0:
                raise ValueError(f"{csv_path}:{line}: preference must be in [0, 1] (share of listeners preferring A), got {preference}")
            paths = [Path(row[c]) if Path(row[c]).is_absolute() else (root / row[c]).resolve() for c in PATH_COLUMNS]
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
