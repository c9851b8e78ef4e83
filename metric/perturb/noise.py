"""Additive noise families: white, pink, brown, babble and user-supplied noise files.

All five share one level mapping, taken from the white-noise range of the JND data
(Manocha et al., Interspeech 2020: noise amplitude 1e-4 .. 0.08): the noise is scaled
to an RMS of ``1e-4 * 800 ** level`` in full-scale units, i.e. -80 dBFS at level 0
(inaudible) to -22 dBFS at level 1 (about 0 dB SNR for speech at a typical -20 to
-25 dBFS). The level is an absolute noise amplitude, not an SNR, exactly like the JND
data; a quiet input therefore gets a lower SNR at the same level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from metric.io import read_audio_cached
from .registry import Family, register

NOISE_RMS_MIN = 1e-4
NOISE_RMS_MAX = 0.08
BABBLE_TALKERS = 6


def noise_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    rms = NOISE_RMS_MIN * (NOISE_RMS_MAX / NOISE_RMS_MIN) ** level
    return {"noise_rms": rms, "noise_dbfs": 20 * np.log10(rms)}


NOISE_MAPPING = "noise RMS = 1e-4 * 800^level (-80 dBFS .. -22 dBFS; JND range 1e-4 .. 0.08)"


def _unit_rms(noise: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(noise**2)) if noise.size else 0.0
    return noise / rms if rms > 0 else noise


def _coloured(n: int, rng: np.random.Generator, sample_rate: int, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectral density ~ 1/f**exponent (0 white, 1 pink, 2 brown).

    Shaped in the frequency domain; bins below 20 Hz are given the 20 Hz gain so the
    brown noise carries no huge sub-audible drift.
    """
    white = rng.standard_normal(n)
    if exponent == 0 or n < 2:
        return _unit_rms(white)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    freqs = np.maximum(freqs, 20.0)
    spectrum *= freqs ** (-exponent / 2.0)
    return _unit_rms(np.fft.irfft(spectrum, n))


def _add_scaled(x: np.ndarray, noise: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    return x + params["noise_rms"] * _unit_rms(noise)


def _white(x, sample_rate, params, rng, **_):
    return _add_scaled(x, _coloured(len(x), rng, sample_rate, 0.0), params)


def _pink(x, sample_rate, params, rng, **_):
    return _add_scaled(x, _coloured(len(x), rng, sample_rate, 1.0), params)


def _brown(x, sample_rate, params, rng, **_):
    return _add_scaled(x, _coloured(len(x), rng, sample_rate, 2.0), params)


def _looped_excerpt(source: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of ``source`` from a random offset, looping the source as needed."""
    if source.size == 0:
        raise ValueError("a noise source is empty")
    start = int(rng.integers(0, len(source)))
    reps = -(-(start + n) // len(source))
    return np.tile(source, reps)[start : start + n].astype(np.float64)


def _as_sources(items: Sequence[Any], sample_rate: int) -> list[np.ndarray]:
    sources = []
    for item in items:
        if isinstance(item, (str, Path)):
            sources.append(read_audio_cached(str(item), int(sample_rate)))
        else:
            array = np.asarray(item, dtype=np.float64).reshape(-1)
            sources.append(array)
    if not sources:
        raise ValueError("no noise sources were given")
    return sources


def _babble(x, sample_rate, params, rng, sources=None, talkers: int = BABBLE_TALKERS, **_):
    """Sum of ``talkers`` speech excerpts (each at unit RMS) from random sources and offsets."""
    if sources is None:
        raise ValueError(
            "the 'babble' family mixes other talkers' speech: pass sources=[paths or arrays at the signal's rate], "
            "e.g. sources=metric.data.toy.babble_sources(sample_rate) for the toy corpus's training speech"
        )
    pool = _as_sources(sources, sample_rate)
    mix = np.zeros(len(x))
    for _talker in range(int(talkers)):
        source = pool[int(rng.integers(0, len(pool)))]
        mix += _unit_rms(_looped_excerpt(source, len(x), rng))
    return _add_scaled(x, mix, params)


def _noise_file(x, sample_rate, params, rng, noise_files=None, **_):
    """A random excerpt of one of ``noise_files`` (paths or arrays at ``sample_rate``), looped or cropped."""
    if noise_files is None:
        raise ValueError(
            "the 'noise_file' family needs noise recordings: pass noise_files=[path, ...] "
            "(any format soundfile reads; they are resampled to the signal's rate)"
        )
    if isinstance(noise_files, (str, Path)):
        noise_files = [noise_files]
    pool = _as_sources(noise_files, sample_rate)
    source = pool[int(rng.integers(0, len(pool)))]
    return _add_scaled(x, _looped_excerpt(source, len(x), rng), params)


register(Family("white_noise", noise_parameters, _white, NOISE_MAPPING))
register(Family("pink_noise", noise_parameters, _pink, NOISE_MAPPING + "; PSD ~ 1/f"))
register(Family("brown_noise", noise_parameters, _brown, NOISE_MAPPING + "; PSD ~ 1/f^2 (flat below 20 Hz)"))
register(
    Family(
        "babble",
        noise_parameters,
        _babble,
        NOISE_MAPPING + f"; {BABBLE_TALKERS} talkers from `sources=` (speech recordings; required)",
    )
)
register(Family("noise_file", noise_parameters, _noise_file, NOISE_MAPPING + "; excerpt of `noise_files=`, looped"))
