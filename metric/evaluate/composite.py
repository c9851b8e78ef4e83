"""Composite speech-quality measures of Hu & Loizou (2008): CSIG, CBAK, COVL.

Y. Hu and P. C. Loizou, "Evaluation of objective quality measures for speech
enhancement", IEEE Trans. Audio, Speech and Language Processing 16(1), 229-238, 2008.
The three composite measures are linear regressions (their eqs. 9-11) on four
basic measures, each computed here from the published definitions:

* **segSNR** (segmental SNR, their eq. 1): per frame ``10 log10(sum x^2 / sum (x - y)^2)``,
  each frame's value limited to [-10, 35] dB, averaged over all frames.
* **LLR** (log-likelihood ratio, their eq. 2): per frame ``log(a_p R_c a_p^T / a_c R_c a_c^T)``
  with ``a_c`` / ``a_p`` the LPC vectors of the clean / processed frame and ``R_c`` the clean
  frame's autocorrelation (Toeplitz) matrix; each frame's value limited to [0, 2]; the mean of
  the lowest 95 % of the frame values (the 5 % most distorted frames are discarded as outliers).
* **WSS** (weighted spectral slope, Klatt 1982, their eq. 3): per frame the weighted squared
  difference of the spectral slopes of 25 critical-band spectra (in dB), with Klatt's weights
  ``K_max / (K_max + C_max - C(j)) * K_locmax / (K_locmax + C_locmax(j) - C(j))``, ``K_max = 20``,
  ``K_locmax = 1`` (computed on the clean and on the processed spectrum and averaged);
  the mean of the lowest 95 % of the frame values.
* **PESQ** (ITU-T P.862) from the ``pesq`` package: wide-band mode at 16 kHz, narrow-band at 8 kHz.

Then::

    Csig = 3.093 - 1.029 LLR + 0.603 PESQ - 0.009 WSS
    Cbak = 1.634 + 0.478 PESQ - 0.007 WSS + 0.063 segSNR
    Covl = 1.594 + 0.805 PESQ - 0.512 LLR - 0.007 WSS

each limited to the MOS range [1, 5].

Choices this project made where the paper leaves room (so numbers can differ slightly
from other implementations): 30 ms frames with 75 % overlap for all three frame-based
measures; Hann window for LLR and WSS (segSNR uses the unwindowed frames of eq. 1);
LPC order 10 at 8 kHz and 16 at 16 kHz; 25 critical bands with edges equally spaced on the
Bark scale (Traunmueller's formula) from 0 Hz to the Nyquist frequency, band energies as the
sum of FFT power in each band.

Never score against a band-limited reference (for instance 8 kHz speech upsampled to
16 kHz): its LPC model is nearly singular, LLR explodes and Csig/Covl pin at 1.
:func:`composite` refuses such references unless ``allow_band_limited=True``.
"""

from __future__ import annotations

import numpy as np

SUPPORTED_SAMPLE_RATES = (8000, 16000)
FRAME_SECONDS = 0.030
FRAME_OVERLAP = 0.75
SEGSNR_RANGE_DB = (-10.0, 35.0)
LLR_RANGE = (0.0, 2.0)
KEPT_FRACTION = 0.95  # LLR and WSS average the lowest 95 % of frames
NUM_CRITICAL_BANDS = 25
KLATT_K_MAX = 20.0
KLATT_K_LOCMAX = 1.0
MOS_RANGE = (1.0, 5.0)
# A reference whose top 40 % of the band (0.3 fs .. fs/2) holds less than this fraction of
# its energy is treated as band-limited. 0.3 fs rather than fs/4 leaves room for the
# transition band of the resampler that upsampled a narrow-band signal (white noise
# upsampled 8 -> 16 kHz keeps ~2e-6 of its energy above 4.8 kHz; wide-band speech ~1e-3).
BAND_LIMIT_START = 0.3  # fraction of the sample rate
BAND_LIMIT_ENERGY_FRACTION = 10 ** (-50 / 10)
MIN_SECONDS = 0.25  # PESQ needs at least a quarter of a second
_EPS = np.finfo(np.float64).eps


class BandLimitedReferenceError(ValueError):
    """The clean reference has (almost) no energy in the upper half of its band."""


def lpc_order(sample_rate: int) -> int:
    """LPC order used by the LLR: 10 for narrow-band (8 kHz), 16 for wide-band (16 kHz)."""
    return 10 if sample_rate < 10000 else 16


def frame_signal(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """``[num_frames, frame_length]`` view: 30 ms frames, 75 % overlap, trailing partial frame dropped."""
    length = int(round(FRAME_SECONDS * sample_rate))
    hop = int(round(length * (1 - FRAME_OVERLAP)))
    if signal.shape[-1] < length:
        raise ValueError(
            f"signal of {signal.shape[-1]} samples is shorter than one {FRAME_SECONDS * 1000:.0f} ms frame "
            f"({length} samples at {sample_rate} Hz); composite measures need at least that much audio"
        )
    count = 1 + (signal.shape[-1] - length) // hop
    starts = hop * np.arange(count)
    return signal[starts[:, None] + np.arange(length)[None, :]]


def _mean_of_lowest(values: np.ndarray, fraction: float = KEPT_FRACTION) -> float:
    kept = max(1, int(round(len(values) * fraction)))
    return float(np.mean(np.sort(values)[:kept]))


def segmental_snr(clean: np.ndarray, processed: np.ndarray, sample_rate: int) -> float:
    """Segmental SNR in dB (Hu & Loizou eq. 1), frame values limited to [-10, 35] dB."""
    clean_frames = frame_signal(np.asarray(clean, np.float64), sample_rate)
    error_frames = clean_frames - frame_signal(np.asarray(processed, np.float64), sample_rate)
    signal_energy = np.sum(clean_frames**2, axis=1)
    error_energy = np.sum(error_frames**2, axis=1)
    frame_snr = 10 * np.log10((signal_energy + _EPS) / (error_energy + _EPS))
    return float(np.mean(np.clip(frame_snr, *SEGSNR_RANGE_DB)))


def autocorrelation(frames: np.ndarray, order: int) -> np.ndarray:
    """``r[..., 0..order]`` of (windowed) frames ``[..., N]``."""
    n = frames.shape[-1]
    # explicit sums rather than np.dot: no BLAS thread start-up per call on a busy machine
    return np.stack([np.sum(frames[..., : n - k] * frames[..., k:], axis=-1) for k in range(order + 1)], axis=-1)


def levinson_durbin(r: np.ndarray) -> np.ndarray:
    """LPC polynomials ``a = [1, a_1, ..., a_p]`` minimising ``a R a^T`` (``R`` Toeplitz of ``r``).

    ``r`` is ``[p + 1]`` or ``[frames, p + 1]`` (solved for all frames at once). A silent
    frame (``r[0] == 0``) gets the trivial predictor ``[1, 0, ..., 0]``; a perfectly
    predictable one keeps the predictor found when its error reached 0.
    """
    r = np.asarray(r, dtype=np.float64)
    single = r.ndim == 1
    r = np.atleast_2d(r)
    frames, order = r.shape[0], r.shape[1] - 1
    a = np.zeros((frames, order + 1))
    a[:, 0] = 1.0
    error = r[:, 0].copy()
    for i in range(1, order + 1):
        active = error > 0
        accumulated = r[:, i] + np.sum(a[:, 1:i] * r[:, i - 1 : 0 : -1], axis=1)
        reflection = np.where(active, -accumulated / np.where(active, error, 1.0), 0.0)
        previous = a.copy()
        a[:, 1:i] = previous[:, 1:i] + reflection[:, None] * previous[:, i - 1 : 0 : -1]
        a[:, i] = reflection
        error = np.where(active, error * (1 - reflection**2), error)
    return a[0] if single else a


def _toeplitz_quadratic(a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``a R a^T`` with ``R[i, j] = r[|i - j|]``, for ``[..., p + 1]`` arrays."""
    order = r.shape[-1] - 1
    matrix = r[..., np.abs(np.arange(order + 1)[:, None] - np.arange(order + 1)[None, :])]
    return np.sum(a[..., :, None] * matrix * a[..., None, :], axis=(-1, -2))


def llr_per_frame(clean: np.ndarray, processed: np.ndarray, sample_rate: int, order: int | None = None) -> np.ndarray:
    """Unlimited LLR of every frame (Hu & Loizou eq. 2)."""
    order = lpc_order(sample_rate) if order is None else order
    window = np.hanning(int(round(FRAME_SECONDS * sample_rate)))
    r_clean = autocorrelation(frame_signal(np.asarray(clean, np.float64), sample_rate) * window, order)
    r_processed = autocorrelation(frame_signal(np.asarray(processed, np.float64), sample_rate) * window, order)
    numerator = _toeplitz_quadratic(levinson_durbin(r_processed), r_clean)
    denominator = _toeplitz_quadratic(levinson_durbin(r_clean), r_clean)
    return np.log((numerator + _EPS) / (denominator + _EPS))


def log_likelihood_ratio(clean: np.ndarray, processed: np.ndarray, sample_rate: int, order: int | None = None) -> float:
    """LLR: frame values limited to [0, 2], mean of the lowest 95 %. 0 for identical signals."""
    values = np.clip(llr_per_frame(clean, processed, sample_rate, order), *LLR_RANGE)
    return _mean_of_lowest(values)


def _bark(frequency_hz):
    """Traunmueller (1990) critical-band rate in Bark."""
    return 26.81 * np.asarray(frequency_hz, np.float64) / (1960.0 + np.asarray(frequency_hz, np.float64)) - 0.53


def _hz(bark):
    return 1960.0 * (np.asarray(bark) + 0.53) / (26.28 - np.asarray(bark))


def _fft_size(frame_length: int) -> int:
    return int(2 ** np.ceil(np.log2(2 * frame_length)))


def critical_band_matrix(sample_rate: int, num_bands: int = NUM_CRITICAL_BANDS) -> np.ndarray:
    """``[num_bands, fft_bins]`` 0/1 matrix: FFT bin -> critical band (Bark-uniform, 0 Hz .. Nyquist)."""
    n_fft = _fft_size(int(round(FRAME_SECONDS * sample_rate)))
    frequencies = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = _hz(np.linspace(_bark(0.0), _bark(sample_rate / 2), num_bands + 1))
    band = np.clip(np.searchsorted(edges, frequencies, side="right") - 1, 0, num_bands - 1)
    matrix = (band[None, :] == np.arange(num_bands)[:, None]).astype(np.float64)
    if (matrix.sum(axis=1) == 0).any():
        raise ValueError(f"a critical band received no FFT bin at {sample_rate} Hz")
    return matrix


def _critical_band_db(frames: np.ndarray, sample_rate: int) -> np.ndarray:
    power = np.abs(np.fft.rfft(frames, n=_fft_size(frames.shape[1]), axis=1)) ** 2
    energy = power @ critical_band_matrix(sample_rate).T
    return 10 * np.log10(np.maximum(energy, 1e-10))


def _klatt_weights(band_db: np.ndarray) -> np.ndarray:
    """Klatt's weight for each slope band ``j`` (0..num_bands-2) of each frame ``[frames, bands]``."""
    slopes = np.diff(band_db, axis=1)
    frames, num_slopes = slopes.shape
    global_max = band_db.max(axis=1, keepdims=True)
    local_max = np.empty_like(slopes)
    for f in range(frames):
        for j in range(num_slopes):
            k = j
            if slopes[f, j] > 0:  # rising: climb to the next peak above
                while k < num_slopes and slopes[f, k] > 0:
                    k += 1
            else:  # falling or flat: the peak is below, climb down while the spectrum rises
                while k > 0 and slopes[f, k - 1] <= 0:
                    k -= 1
            local_max[f, j] = band_db[f, k]
    level = band_db[:, :num_slopes]
    return (KLATT_K_MAX / (KLATT_K_MAX + global_max - level)) * (KLATT_K_LOCMAX / (KLATT_K_LOCMAX + local_max - level))


def wss_per_frame(clean: np.ndarray, processed: np.ndarray, sample_rate: int) -> np.ndarray:
    """Weighted spectral slope distance of every frame (Hu & Loizou eq. 3)."""
    window = np.hanning(int(round(FRAME_SECONDS * sample_rate)))
    clean_db = _critical_band_db(frame_signal(np.asarray(clean, np.float64), sample_rate) * window, sample_rate)
    processed_db = _critical_band_db(frame_signal(np.asarray(processed, np.float64), sample_rate) * window, sample_rate)
    weights = 0.5 * (_klatt_weights(clean_db) + _klatt_weights(processed_db))
    slope_difference = np.diff(clean_db, axis=1) - np.diff(processed_db, axis=1)
    return np.sum(weights * slope_difference**2, axis=1) / np.sum(weights, axis=1)


def weighted_spectral_slope(clean: np.ndarray, processed: np.ndarray, sample_rate: int) -> float:
    """WSS: mean of the lowest 95 % of the frame values. 0 for identical signals."""
    return _mean_of_lowest(wss_per_frame(clean, processed, sample_rate))


def pesq_score(clean: np.ndarray, processed: np.ndarray, sample_rate: int) -> float:
    """PESQ MOS-LQO from the ``pesq`` package: wide-band at 16 kHz, narrow-band at 8 kHz."""
    from pesq import pesq

    mode = "wb" if sample_rate == 16000 else "nb"
    return float(pesq(sample_rate, np.asarray(clean, np.float64), np.asarray(processed, np.float64), mode))


def composite_from_measures(pesq: float, llr: float, wss: float, ssnr: float) -> dict:
    """Hu & Loizou (2008) eqs. 9-11, each limited to [1, 5]."""
    csig = 3.093 - 1.029 * llr + 0.603 * pesq - 0.009 * wss
    cbak = 1.634 + 0.478 * pesq - 0.007 * wss + 0.063 * ssnr
    covl = 1.594 + 0.805 * pesq - 0.512 * llr - 0.007 * wss
    return {name: float(np.clip(value, *MOS_RANGE)) for name, value in (("csig", csig), ("cbak", cbak), ("covl", covl))}


def is_band_limited(reference: np.ndarray, sample_rate: int) -> bool:
    """True when the band 0.3 fs .. fs/2 holds < 1e-5 of the reference's energy."""
    reference = np.asarray(reference, np.float64)
    power = np.abs(np.fft.rfft(reference)) ** 2
    total = power.sum()
    if total <= 0:
        return False
    upper = power[np.fft.rfftfreq(len(reference), 1.0 / sample_rate) >= BAND_LIMIT_START * sample_rate].sum()
    return bool(upper / total < BAND_LIMIT_ENERGY_FRACTION)


def _check_pair(clean: np.ndarray, enhanced: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    if sample_rate not in SUPPORTED_SAMPLE_RATES:
        raise ValueError(
            f"composite measures are defined at 8000 or 16000 Hz, got {sample_rate}; "
            "resample both signals first (e.g. metric.resample or scipy.signal.resample_poly)"
        )
    clean = np.asarray(clean, dtype=np.float64)
    enhanced = np.asarray(enhanced, dtype=np.float64)
    if clean.shape != enhanced.shape:
        raise ValueError(f"clean {clean.shape} and enhanced {enhanced.shape} must have the same shape; trim or pad them")
    if clean.ndim not in (1, 2):
        raise ValueError(f"expected [T] or [B, T] arrays, got shape {clean.shape}")
    if clean.shape[-1] < MIN_SECONDS * sample_rate:
        raise ValueError(
            f"signals of {clean.shape[-1]} samples are shorter than {MIN_SECONDS} s at {sample_rate} Hz; "
            "PESQ (and so the composite measures) needs at least that much audio"
        )
    if not (np.isfinite(clean).all() and np.isfinite(enhanced).all()):
        raise ValueError("clean or enhanced holds NaN/Inf samples")
    return clean, enhanced


def _composite_single(clean, enhanced, sample_rate, allow_band_limited) -> dict:
    if not allow_band_limited and is_band_limited(clean, sample_rate):
        raise BandLimitedReferenceError(
            f"the clean reference has almost no energy above {BAND_LIMIT_START * sample_rate:.0f} Hz: it looks band-limited "
            f"(e.g. narrow-band speech upsampled to {sample_rate} Hz). LLR explodes on such references and "
            "CSIG/COVL pin at 1. Score at the reference's true rate (e.g. 8000 Hz), or pass "
            "allow_band_limited=True if you really mean it."
        )
    measures = {
        "pesq": pesq_score(clean, enhanced, sample_rate),
        "llr": log_likelihood_ratio(clean, enhanced, sample_rate),
        "wss": weighted_spectral_slope(clean, enhanced, sample_rate),
        "ssnr": segmental_snr(clean, enhanced, sample_rate),
    }
    return {**composite_from_measures(**measures), **measures}


def composite(clean, enhanced, sample_rate: int, *, allow_band_limited: bool = False) -> dict:
    """Hu & Loizou composite measures of ``enhanced`` against ``clean``.

    Args:
        clean: reference speech, ``[T]`` or ``[B, T]`` floats in [-1, 1], 16 or 8 kHz.
        enhanced: the processed speech, same shape.
        sample_rate: 16000 (PESQ wide-band) or 8000 (PESQ narrow-band).
        allow_band_limited: score even when the reference looks band-limited (see module doc).

    Returns:
        ``{"csig", "cbak", "covl", "pesq", "ssnr", "llr", "wss"}``: numpy float64 arrays,
        0-d for ``[T]`` input, ``[B]`` for ``[B, T]``. Higher is better for csig/cbak/covl/pesq/ssnr,
        lower is better for llr/wss.
    """
    clean, enhanced = _check_pair(clean, enhanced, sample_rate)
    if clean.ndim == 1:
        result = _composite_single(clean, enhanced, sample_rate, allow_band_limited)
        return {key: np.asarray(value, dtype=np.float64) for key, value in result.items()}
    rows = [_composite_single(c, e, sample_rate, allow_band_limited) for c, e in zip(clean, enhanced)]
    return {key: np.asarray([row[key] for row in rows], dtype=np.float64) for key in rows[0]}


COMPOSITE_KEYS = ("csig", "cbak", "covl", "pesq", "ssnr", "llr", "wss")
