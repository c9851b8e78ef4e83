"""Lossy coding families: MP3 and Opus through real encoders, and mu-law quantisation.

MP3 (LAME) and Opus (libopus) run through the libsndfile bundled with ``soundfile``:
the signal is encoded to an in-memory file and decoded back, no FFmpeg and no temp
files. libsndfile sets the bitrate from ``compression_level`` in [0, 1], linearly
between the encoder's highest and lowest constant bitrate; the engine picks the
compression level that gives a bitrate spaced *geometrically* between those two
(the perceptual effect of a bitrate change is roughly proportional to its ratio).

Rates the encoder does not take are resampled to the nearest rate it does
(e.g. Opus at 22,050 Hz is coded at 24,000 Hz) and back. The decoded signal is
realigned to the input by cross-correlation (LAME adds an uncompensated delay when
it resamples internally at low bitrates) and cropped or zero-padded to the input's
length.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import soundfile as sf
from scipy.signal import correlate

from metric.resample import resample_array
from .registry import Family, register

MAX_CODEC_DELAY_S = 0.15

# LAME's constant-bitrate limits (kbps) per MPEG version, keyed by sample rate.
MP3_RATES = {
    32000: (32, 320), 44100: (32, 320), 48000: (32, 320),  # MPEG-1
    16000: (8, 160), 22050: (8, 160), 24000: (8, 160),  # MPEG-2
    8000: (8, 64), 11025: (8, 64), 12000: (8, 64),  # MPEG-2.5
}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
OPUS_KBPS = (6.0, 256.0)  # libsndfile's compression_level 1 .. 0
MULAW_BITS = (16.0, 1.0)  # level 0 .. 1


def _coding_rate(sample_rate: int, supported) -> int:
    """The supported rate to code at: the same rate, else the smallest higher one, else the highest."""
    supported = sorted(supported)
    if sample_rate in supported:
        return sample_rate
    higher = [r for r in supported if r > sample_rate]
    return higher[0] if higher else supported[-1]


def _geometric_bitrate(level: float, low: float, high: float) -> float:
    return high * (low / high) ** level


def mp3_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    rate = _coding_rate(sample_rate, MP3_RATES)
    low, high = MP3_RATES[rate]
    kbps = _geometric_bitrate(level, low, high)
    # 1.0 makes libsndfile 1.2.2 fail ("Error set compression level"); 0.99 already gives the minimum.
    compression = min((high - kbps) / (high - low), 0.99)
    return {"codec_rate": rate, "kbps": kbps, "compression_level": compression}


def opus_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    rate = _coding_rate(sample_rate, OPUS_RATES)
    low, high = OPUS_KBPS
    kbps = _geometric_bitrate(level, low, high)
    return {"codec_rate": rate, "kbps": kbps, "compression_level": (high - kbps) / (high - low)}


def align(decoded: np.ndarray, reference: np.ndarray, max_lag: int) -> np.ndarray:
    """Remove a codec delay of 0..max_lag samples and return exactly ``len(reference)`` samples."""
    n = len(reference)
    if max_lag > 0 and len(decoded) > 0 and np.any(reference):
        window = decoded[: n + max_lag]
        scores = correlate(window, reference, mode="full", method="fft")
        # index n-1 is lag 0; lags beyond are delays of the decoded signal
        lags = scores[n - 1 : n + max_lag]
        lag = int(np.argmax(lags)) if lags.size else 0
        decoded = decoded[lag:]
    if len(decoded) < n:
        decoded = np.pad(decoded, (0, n - len(decoded)))
    return decoded[:n]


def roundtrip(x: np.ndarray, sample_rate: int, format: str, subtype: str, compression_level: float, **write_options) -> np.ndarray:
    """Encode ``x`` with libsndfile into memory and decode it (float64, may differ in length)."""
    buffer = io.BytesIO()
    sf.write(buffer, x.astype(np.float32), sample_rate, format=format, subtype=subtype,
             compression_level=float(compression_level), **write_options)
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float64", always_2d=True)
    return decoded[:, 0]


def _coded(x, sample_rate, params, format, subtype, **write_options):
    if len(x) == 0:
        return x.copy()
    rate = params["codec_rate"]
    at_rate = resample_array(x, sample_rate, rate)
    # The encoders clip at full scale; keep their input legal so the codec is the only change.
    at_rate = np.clip(at_rate, -1.0, 1.0)
    decoded = roundtrip(at_rate, rate, format, subtype, params["compression_level"], **write_options)
    decoded = align(decoded, at_rate, int(MAX_CODEC_DELAY_S * rate))
    return align(resample_array(decoded, rate, sample_rate), x, 0)


def _mp3(x, sample_rate, params, rng, **_):
    return _coded(x, sample_rate, params, "MP3", "MPEG_LAYER_III", bitrate_mode="CONSTANT")


def _opus(x, sample_rate, params, rng, **_):
    return _coded(x, sample_rate, params, "OGG", "OPUS")


def mulaw_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    bits = MULAW_BITS[0] + (MULAW_BITS[1] - MULAW_BITS[0]) * level
    return {"bits": bits, "mu": 2.0**bits - 1.0}


def _mulaw(x, sample_rate, params, rng, **_):
    """mu-law companding (ITU-T G.711 formula with a variable mu) and a mid-rise quantiser.

    ``F(x) = sign(x) ln(1 + mu|x|) / ln(1 + mu)`` is quantised to ``2**bits`` levels
    (``bits`` may be fractional, so the level is continuous) and expanded back.
    """
    mu, bits = params["mu"], params["bits"]
    x = np.clip(x, -1.0, 1.0)
    compressed = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    step = 2.0 / (2.0**bits)
    quantised = (np.floor(compressed / step) + 0.5) * step
    quantised = np.clip(quantised, -1.0 + step / 2, 1.0 - step / 2)
    return np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu


register(
    Family(
        "mp3",
        mp3_parameters,
        _mp3,
        "LAME CBR bitrate = max*(min/max)^level: 160 -> 8 kbps at 16/22.05/24 kHz, 320 -> 32 kbps at 32-48 kHz",
        random=False,
    )
)
register(Family("opus", opus_parameters, _opus, "libopus bitrate = 256*(6/256)^level kbps (256 -> 6); 22.05 kHz coded at 24 kHz", random=False))
register(
    Family(
        "mulaw",
        mulaw_parameters,
        _mulaw,
        "mu = 2^k - 1 with k = 16 - 15*level bits (16 -> 1; continuous), quantised to 2^k levels",
        random=False,
    )
)
