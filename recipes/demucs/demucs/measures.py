"""The measures of the DEMUCS recipe's tables, per file: PESQ, STOI, CSIG, CBAK, COVL, CDPAM and SI-SDR.

PESQ is wide-band (ITU-T P.862.2); STOI in % (as the CDPAM paper prints it); CSIG / CBAK / COVL
as Loizou's ``composite.m`` (:func:`metric.composite`); the CDPAM distance to the clean
reference with the official weights (lower is better); SI-SDR in dB.
"""

from __future__ import annotations

import numpy as np
import torch

from metric import CDPAM, composite, si_sdr, stoi

SAMPLE_RATE = 16_000
COLUMNS = (  # key, header, higher is better, format
    ("pesq", "PESQ", True, "{:.2f}"),
    ("stoi", "STOI (%)", True, "{:.2f}"),
    ("csig", "CSIG", True, "{:.2f}"),
    ("cbak", "CBAK", True, "{:.2f}"),
    ("covl", "COVL", True, "{:.2f}"),
    ("cdpam", "CDPAM ↓", False, "{:.4f}"),
    ("si_sdr", "SI-SDR (dB)", True, "{:.2f}"),
)
HIGHER_IS_BETTER = {key: higher for key, _, higher, _ in COLUMNS}


class CleanReferenceScorer:
    """CDPAM distances of every row's output to one clean reference, embedded once for all rows."""

    def __init__(self, sample_rate: int = SAMPLE_RATE):
        self.cdpam = CDPAM(sample_rate=sample_rate)
        self.reference = None

    def set_reference(self, clean: np.ndarray) -> None:
        with torch.inference_mode():
            self.reference = self.cdpam.embed(torch.from_numpy(clean)[None])

    def distance(self, estimate: np.ndarray) -> float:
        with torch.inference_mode():
            embedding = self.cdpam.embed(torch.from_numpy(estimate)[None])
            return float(self.cdpam.distance_from_embeddings(self.reference, embedding)[0])


def _stoi_percent(clean: np.ndarray, processed: np.ndarray) -> float:
    try:
        return 100.0 * stoi(clean, processed, SAMPLE_RATE)
    except ValueError:  # too little active speech: unscored (NaN), left out of the mean
        return float("nan")


def score(clean: np.ndarray, processed: np.ndarray, cdpam: CleanReferenceScorer) -> dict[str, float]:
    """Every measure of :data:`COLUMNS` for one file (``cdpam`` holds the clean reference's embedding)."""
    measures = composite(clean, processed, SAMPLE_RATE)
    return {
        "pesq": float(measures["pesq"]),
        "stoi": _stoi_percent(clean, processed),
        "csig": float(measures["csig"]),
        "cbak": float(measures["cbak"]),
        "covl": float(measures["covl"]),
        "cdpam": cdpam.distance(processed),
        "si_sdr": si_sdr(clean.astype(np.float64), processed.astype(np.float64), SAMPLE_RATE),
    }
