"""PESQ and STOI: the one wrapper of each, for the evaluation baselines, the composite measures and the recipes.

* :func:`pesq` — ITU-T P.862 MOS-LQO from the ``pesq`` package: wide-band (P.862.2) at
  16 kHz, narrow-band at 8 kHz; audio at any other rate is resampled to 16 kHz
  (:func:`to_pesq_rate`) and scored wide-band.
* :func:`stoi` — short-time objective intelligibility (Taal et al., IEEE TASLP 2011) from
  ``pystoi``, in [0, 1] (``extended=True``: ESTOI, Jensen & Taal 2016).

Both take ``(reference, degraded, sample_rate)`` as mono float arrays of the same length and
raise ``ValueError`` when the measure is undefined for the pair (no speech for PESQ, less than
about 0.4 s of active speech for STOI) instead of returning a placeholder number.
"""

from __future__ import annotations

import warnings

import numpy as np

from metric.extras import require

PESQ_RATES = {8000: "nb", 16000: "wb"}
PESQ_RESAMPLE_RATE = 16000


def to_pesq_rate(signal, sample_rate: int) -> tuple[np.ndarray, int]:
    """``(float64 signal, rate)`` at a rate PESQ and the composite measures take.

    8 and 16 kHz stay as they are; any other rate is resampled to 16 kHz with the band-limited
    resampler of the metric's input layer (:func:`metric.resample.resample`, in float32).
    """
    if sample_rate in PESQ_RATES:
        return np.asarray(signal, dtype=np.float64), sample_rate
    import torch  # only here: importing the evaluation package (and `cdpam evaluate --help`) stays torch-free

    from metric.resample import resample

    tensor = torch.from_numpy(np.ascontiguousarray(signal, dtype=np.float32))
    return resample(tensor, sample_rate, PESQ_RESAMPLE_RATE).numpy().astype(np.float64), PESQ_RESAMPLE_RATE


def pesq(reference, degraded, sample_rate: int) -> float:
    """PESQ MOS-LQO of ``degraded`` against ``reference`` (wide-band at 16 kHz, narrow-band at 8 kHz)."""
    require("eval", "pesq", feature="PESQ")
    from pesq import PesqError
    from pesq import pesq as pesq_mos_lqo

    reference, _ = to_pesq_rate(reference, sample_rate)
    degraded, sample_rate = to_pesq_rate(degraded, sample_rate)
    if not (np.any(reference) and np.any(degraded)):  # the pesq package would divide by a zero peak
        raise ValueError("PESQ is undefined for this pair (a silent signal: no speech found)")
    try:
        return float(pesq_mos_lqo(sample_rate, reference, degraded, PESQ_RATES[sample_rate]))
    except PesqError as error:
        raise ValueError(f"PESQ is undefined for this pair ({type(error).__name__}: no speech found)") from error


def stoi(reference, degraded, sample_rate: int, *, extended: bool = False) -> float:
    """STOI (or ESTOI) of ``degraded`` against ``reference``, in [0, 1].

    ``pystoi`` warns and returns a placeholder 1e-5 when fewer than 30 non-silent 25.6 ms
    frames remain; that is not a score, so this raises instead.
    """
    require("eval", "pystoi", feature="STOI")
    from pystoi import stoi as pystoi_stoi

    reference = np.asarray(reference, dtype=np.float64)
    degraded = np.asarray(degraded, dtype=np.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(pystoi_stoi(reference, degraded, sample_rate, extended=extended))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise ValueError("too little active speech for STOI (it needs about 0.4 s after removing silent frames)")
    return value
