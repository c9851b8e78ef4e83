"""Composite speech-quality measures of Hu & Loizou (2008): CSIG, CBAK, COVL.

Y. Hu and P. C. Loizou, "Evaluation of objective quality measures for speech enhancement",
IEEE Trans. Audio, Speech and Language Processing 16(1), 229-238, 2008. The three composite
measures are linear regressions (their eqs. 9-11) on four basic measures. The numbers the
speech-enhancement literature reports (SEGAN, DEMUCS, MetricGAN, CDPAM's Table 4, ...) come
from the authors' reference implementation, ``composite.m`` of P. C. Loizou, *Speech
Enhancement: Theory and Practice* (CRC Press, 2nd ed. 2013), whose LLR, WSS and segSNR are
B. Pellom and J. Hansen's. This module follows that implementation, not only the paper's
prose, so that its values can stand next to published ones; the committed fixtures in
``tests/data/composite_reference`` hold the reference's own values on real speech.

Common to the three frame-based measures (as in the reference):

* both signals get ``eps`` (float64 machine epsilon) added to every sample, so that
  digitally silent frames stay finite;
* frames of ``round(0.03 fs)`` samples, hop ``floor(frame / 4)`` (480 / 120 at 16 kHz,
  240 / 60 at 8 kHz), each multiplied by the symmetric Hann window
  ``0.5 (1 - cos(2 pi n / (N + 1)))``, ``n = 1..N`` (no zero end points);
* ``floor((T - frame) / hop)`` frames: only complete frames, and the last complete frame is
  not scored (the reference's frame count is one short).

The measures:

* **segSNR**: per windowed frame ``10 log10(sum x^2 / (sum (x - y)^2 + eps) + eps)``,
  limited to [-10, 35] dB; the mean over all frames.
* **LLR**: per frame ``log(a_p R_c a_p^T / a_c R_c a_c^T)``, ``a_c`` / ``a_p`` the LPC
  polynomials (Levinson-Durbin, order 10 below 10 kHz, else 16) of the clean / processed
  frame and ``R_c`` the clean frame's autocorrelation (Toeplitz) matrix; the mean of the
  lowest 95 % of the frame values. Not limited to [0, 2]: that limit belongs to the
  reference's standalone LLR (``comp_llr.m``), not to the composite measure.
* **WSS** (Klatt 1982): 25 fixed critical-band filters, centre frequencies 50-3597.63 Hz,
  bandwidths 70-346.136 Hz (the table of the reference, :data:`CRITICAL_BANDS`), Gaussian-
  shaped on the FFT grid (FFT of ``2^ceil(log2(2 frame))`` points, bins 0 .. n_fft/2 - 1);
  band energies in dB with a floor of -100 dB; Klatt's weights
  ``K_max / (K_max + C_max - C(j)) * K_locmax / (K_locmax + C_locmax(j) - C(j))`` with
  ``K_max = 20``, ``K_locmax = 1``, ``C_locmax`` the nearest local peak found as the
  reference finds it (see :func:`_nearest_peaks`), averaged over the clean and processed
  spectra; per frame the weighted squared slope difference divided by the sum of the weights;
  the mean of the lowest 95 % of the frame values.
* **PESQ** from the ``pesq`` package (the same function as the ``pesq`` scorer): at 16 kHz
  wide-band P.862.2 MOS-LQO; at 8 kHz the **raw** P.862 score, as in the reference, which
  takes the raw value because the regressions were fitted on it (the ``pesq`` package returns
  the P.862.1 MOS-LQO, whose mapping is inverted here).

Then::

    Csig = 3.093 - 1.029 LLR + 0.603 PESQ - 0.009 WSS
    Cbak = 1.634 + 0.478 PESQ - 0.007 WSS + 0.063 segSNR
    Covl = 1.594 + 0.805 PESQ - 0.512 LLR - 0.007 WSS

each limited to the MOS range [1, 5]. "Lowest 95 %" keeps ``round(0.95 n)`` frames, rounding
halves up as MATLAB does.

Never score against a band-limited reference (for instance 8 kHz speech upsampled to
16 kHz): its LPC model is nearly singular, LLR explodes and Csig/Covl pin at 1.
:func:`composite` refuses such references unless ``allow_band_limited=True``.
"""

from __future__ import annotations

import math

import numpy as np

from .pesq_stoi import pesq

SUPPORTED_SAMPLE_RATES = (8000, 16000)
FRAME_SECONDS = 0.030
SEGSNR_RANGE_DB = (-10.0, 35.0)
KEPT_FRACTION = 0.95  # LLR and WSS average the lowest 95 % of frames
KLATT_K_MAX = 20.0
KLATT_K_LOCMAX = 1.0
BAND_ENERGY_FLOOR = 1e-10  # -100 dB
# (centre frequency, bandwidth) in Hz of the reference's 25 critical-band filters (wss.m).
CRITICAL_BANDS = (
    (50.0000, 70.0000), (120.000, 70.0000), (190.000, 70.0000), (260.000, 70.0000), (330.000, 70.0000),
    (400.000, 70.0000), (470.000, 70.0000), (540.000, 77.3724), (617.372, 86.0056), (703.378, 95.3398),
    (798.717, 105.411), (904.128, 116.256), (1020.38, 127.914), (1148.30, 140.423), (1288.72, 153.823),
    (1442.54, 168.154), (1610.70, 183.457), (1794.16, 199.776), (1993.93, 217.153), (2211.08, 235.631),
    (2446.71, 255.255), (2701.97, 276.072), (2978.04, 298.126), (3276.17, 321.465), (3597.63, 346.136),
)
NUM_CRITICAL_BANDS = len(CRITICAL_BANDS)
FILTER_FLOOR = math.exp(-30.0 / (2.0 * 2.303))  # filter weights at or below this (about -30 dB) are zeroed
# P.862.1: MOS-LQO = 0.999 + 4 / (1 + exp(-1.4945 raw + 4.6607)); inverted to recover the raw score.
P862_1_SLOPE, P862_1_OFFSET = 1.4945, 4.6607
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
    """LPC order used by the LLR: 10 below 10 kHz (narrow-band), 16 above (wide-band)."""
    return 10 if sample_rate < 10000 else 16


def frame_length(sample_rate: int) -> int:
    return int(round(FRAME_SECONDS * sample_rate))


def analysis_window(length: int) -> np.ndarray:
    """Symmetric Hann window without zero end points, ``0.5 (1 - cos(2 pi n / (N + 1)))``, n = 1..N."""
    return 0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(1, length + 1) / (length + 1)))


def windowed_frames(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """``[num_frames, frame_length]`` Hann-windowed frames of ``signal + eps`` (the reference's framing).

    30 ms frames, hop a quarter of a frame, ``floor((T - frame) / hop)`` frames: the last
    complete frame is left out, as the reference's frame count leaves it out.
    """
    length = frame_length(sample_rate)
    hop = length // 4
    signal = np.asarray(signal, np.float64) + _EPS
    count = (signal.shape[-1] - length) // hop
    if count < 1:
        raise ValueError(
            f"signal of {signal.shape[-1]} samples is too short for composite measures: they need at least "
            f"{length + hop} samples ({FRAME_SECONDS * 1000:.0f} ms frame plus one hop) at {sample_rate} Hz"
        )
    starts = hop * np.arange(count)
    return signal[starts[:, None] + np.arange(length)[None, :]] * analysis_window(length)


def _mean_of_lowest(values: np.ndarray, fraction: float = KEPT_FRACTION) -> float:
    kept = max(1, math.floor(len(values) * fraction + 0.5))  # MATLAB round: halves away from zero
    return float(np.mean(np.sort(values)[:kept]))


def segmental_snr_per_frame(clean: np.ndarray, processed: np.ndarray, sample_rate: int) -> np.ndarray:
    """Segmental SNR of every windowed frame in dB, limited to [-10, 35] dB."""
    clean_frames = windowed_frames(clean, sample_rate)
    error_frames = clean_frames - windowed_frames(processed, sample_rate)
    signal_energy = np.sum(clean_frames**2, axis=1)
    error_energy = np.sum(error_frames**2, axis=1)
    return np.clip(10 * np.log10(signal_energy / (error_energy + _EPS) + _EPS), *SEGSNR_RANGE_DB)


def segmental_snr(clean: np.ndarray, processed: np.ndarray, sample_rate: int) -> float:
    """Segmental SNR in dB: mean over all frames of the limited frame values."""
    return float(np.mean(segmental_snr_per_frame(clean, processed, sample_rate)))


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
    """LLR of every frame, not limited."""
    order = lpc_order(sample_rate) if order is None else order
    r_clean = autocorrelation(windowed_frames(clean, sample_rate), order)
    r_processed = autocorrelation(windowed_frames(processed, sample_rate), order)
    numerator = _toeplitz_quadratic(levinson_durbin(r_processed), r_clean)
    denominator = _toeplitz_quadratic(levinson_durbin(r_clean), r_clean)
    return np.log(numerator / denominator)


def log_likelihood_ratio(clean: np.ndarray, processed: np.ndarray, sample_rate: int, order: int | None = None) -> float:
    """LLR as the composite measure uses it: mean of the lowest 95 % of the frame values. 0 for identical signals."""
    return _mean_of_lowest(llr_per_frame(clean, processed, sample_rate, order))


def _fft_size(length: int) -> int:
    return int(2 ** math.ceil(math.log2(2 * length)))


def critical_band_filters(sample_rate: int) -> np.ndarray:
    """``[25, n_fft / 2]`` Gaussian critical-band filters on FFT bins 0 .. n_fft/2 - 1.

    Band ``i`` centred on bin ``floor(f_i / (fs/2) * n_fft/2)`` with width ``b_i`` in bins:
    ``exp(-11 ((k - centre) / b_i)^2) * b_min / b_i`` (equal weight sums), zero at or below
    about -30 dB.
    """
    half = _fft_size(frame_length(sample_rate)) // 2
    nyquist = sample_rate / 2
    bins = np.arange(half)
    narrowest = min(bandwidth for _, bandwidth in CRITICAL_BANDS)
    filters = np.empty((NUM_CRITICAL_BANDS, half))
    for i, (centre_hz, bandwidth_hz) in enumerate(CRITICAL_BANDS):
        centre = math.floor(centre_hz / nyquist * half)
        width = bandwidth_hz / nyquist * half
        response = np.exp(-11.0 * ((bins - centre) / width) ** 2 + math.log(narrowest) - math.log(bandwidth_hz))
        filters[i] = response * (response > FILTER_FLOOR)
    return filters


def critical_band_db(frames: np.ndarray, sample_rate: int) -> np.ndarray:
    """``[frames, 25]`` critical-band energies in dB (floor -100 dB) of windowed frames."""
    n_fft = _fft_size(frames.shape[1])
    power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)[:, : n_fft // 2]) ** 2
    return 10 * np.log10(np.maximum(power @ critical_band_filters(sample_rate).T, BAND_ENERGY_FLOOR))


def _nearest_peaks(band_db: np.ndarray) -> np.ndarray:
    """``C_locmax(j)`` for each slope ``j`` (0..23) of each frame ``[frames, 25]``, found as the reference finds it.

    Where the spectrum rises at ``j`` the reference walks up to the first band ``m > j``
    whose slope no longer rises (or the last slope) and takes the level of band ``m - 1``,
    the band *before* that peak. Where it falls or is flat it walks down to the last
    rising slope ``m < j`` and takes band ``m + 1`` (the peak; band 0 when there is none).
    """
    slopes = np.diff(band_db, axis=1)
    frames, num_slopes = slopes.shape
    rising = slopes > 0
    index = np.broadcast_to(np.arange(num_slopes), slopes.shape)
    # first non-rising slope at or after j (num_slopes when none), by a running minimum from the right
    next_flat = np.minimum.accumulate(np.where(rising, num_slopes, index)[:, ::-1], axis=1)[:, ::-1]
    # last rising slope at or before j (-1 when none), by a running maximum from the left
    last_rise = np.maximum.accumulate(np.where(rising, index, -1), axis=1)
    peak_band = np.where(rising, next_flat - 1, last_rise + 1)
    return np.take_along_axis(band_db, peak_band, axis=1)


def _klatt_weights(band_db: np.ndarray) -> np.ndarray:
    """Klatt's weight for each slope ``j`` (0..23) of each frame ``[frames, 25]``."""
    level = band_db[:, :-1]
    global_max = band_db.max(axis=1, keepdims=True)
    return (KLATT_K_MAX / (KLATT_K_MAX + global_max - level)) * (
        KLATT_K_LOCMAX / (KLATT_K_LOCMAX + _nearest_peaks(band_db) - level)
    )


def wss_per_frame(clean: np.ndarray, processed: np.ndarray, sample_rate: int) -> np.ndarray:
    """Weighted spectral slope distance of every frame, normalised by the sum of its weights."""
    clean_db = critical_band_db(windowed_frames(clean, sample_rate), sample_rate)
    processed_db = critical_band_db(windowed_frames(processed, sample_rate), sample_rate)
    weights = 0.5 * (_klatt_weights(clean_db) + _klatt_weights(processed_db))
    slope_difference = np.diff(clean_db, axis=1) - np.diff(processed_db, axis=1)
    return np.sum(weights * slope_difference**2, axis=1) / np.sum(weights, axis=1)


def weighted_spectral_slope(clean: np.ndarray, processed: np.ndarray, sample_rate: int) -> float:
    """WSS: mean of the lowest 95 % of the frame values. 0 for identical signals."""
    return _mean_of_lowest(wss_per_frame(clean, processed, sample_rate))


def raw_pesq_from_mos_lqo(mos_lqo: float) -> float:
    """Raw P.862 score from a narrow-band P.862.1 MOS-LQO (the mapping inverted)."""
    return (P862_1_OFFSET - math.log(4.0 / (mos_lqo - 0.999) - 1.0)) / P862_1_SLOPE


def pesq_score(clean: np.ndarray, processed: np.ndarray, sample_rate: int) -> float:
    """PESQ as the composite measures use it: P.862.2 MOS-LQO at 16 kHz, raw P.862 at 8 kHz."""
    mos_lqo = pesq(clean, processed, sample_rate)
    return mos_lqo if sample_rate == 16000 else raw_pesq_from_mos_lqo(mos_lqo)


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
            "resample both signals first (metric.resample.resample_array)"
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
        ``{"csig", "cbak", "covl", "pesq", "ssnr", "llr", "wss"}``: Python floats for ``[T]``
        input; ``[B]`` float64 NumPy arrays for ``[B, T]``. ``pesq`` is the value the formulas
        use: wide-band MOS-LQO at 16 kHz, raw P.862 at 8 kHz. Higher is better for
        csig/cbak/covl/pesq/ssnr, lower is better for llr/wss.
    """
    clean, enhanced = _check_pair(clean, enhanced, sample_rate)
    if clean.ndim == 1:
        return _composite_single(clean, enhanced, sample_rate, allow_band_limited)
    rows = [_composite_single(c, e, sample_rate, allow_band_limited) for c, e in zip(clean, enhanced)]
    return {key: np.asarray([row[key] for row in rows], dtype=np.float64) for key in rows[0]}


COMPOSITE_KEYS = ("csig", "cbak", "covl", "pesq", "ssnr", "llr", "wss")
