"""Lossy coding families: MP3 and Opus through real encoders, and mu-law companding.

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
MULAW_BITS = (1.0, 60.0)  # mu = 2^k - 1, k geometric from level 0 to 1 (the JND generator's range)
MULAW_STEPS = 255  # the JND generator quantises the companded signal to 256 levels


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
    low, high = MULAW_BITS
    bits = low * (high / low) ** level
    return {"bits": bits, "mu": 2.0**bits - 1.0, "quantiser_levels": MULAW_STEPS + 1}


def _mulaw(x, sample_rate, params, rng, **_):
    """mu-law companding as the JND generator did it: compressed, quantised to 256 levels, *not* expanded.

    ``F(x) = sign(x) ln(1 + mu|x|) / ln(1 + mu)`` (G.711's formula with a variable mu) is
    rounded to 256 levels on [-1, 1] and kept in the companded domain, so a larger mu is a
    stronger static compression (towards ``sign(x)`` at mu = 2^60 - 1). The generator wrote
    ``round((F + 1) / 2 * 255) / 255`` (in [0, 1], a DC offset of 0.5) and the data set was
    loudness-normalised afterwards; here the levels are centred on 0 again and the output is
    scaled back to the input's RMS, which stands in for that normalisation.
    """
    mu = params["mu"]
    x = np.clip(x, -1.0, 1.0)
    compressed = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    quantised = np.round((compressed + 1.0) / 2.0 * MULAW_STEPS) / MULAW_STEPS * 2.0 - 1.0
    rms_in, rms_out = np.sqrt(np.mean(x**2)) if x.size else 0.0, np.sqrt(np.mean(quantised**2)) if x.size else 0.0
    if rms_in == 0.0 or rms_out == 0.0:
        return np.zeros_like(x)
    return quantised * (rms_in / rms_out)


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
        "mu = 2^k - 1 with k = 60^level (1 -> 60), companded, quantised to 256 levels, not expanded; input RMS restored",
        random=False,
    )
)
