"""Additive noise families: white, pink, brown, babble and user-supplied noise files.

All five share one level mapping, the white-noise range of the JND data's generator
(the PerceptualAudio project's ``create_space`` scripts: amplitude ``1e-4 * 800 ** level``):

* ``white_noise`` is that generator's noise exactly: ``A * uniform[0, 1)`` with
  ``A = 1e-4 * 800 ** level``, i.e. a DC offset ``A / 2`` plus white noise of RMS
  ``A / sqrt(12)`` (10.8 dB below ``A``);
* pink, brown, babble and file noise are scaled to an RMS of ``1e-4 * 800 ** level``
  (-80 dBFS at level 0 .. -22 dBFS at level 1).

By default the level is an absolute amplitude, like the JND data: a quiet input gets a
lower SNR at the same level. With ``relative_to_signal=True`` the level is an SNR
instead (``snr_db = 55 - 58 * level``, the same 58 dB span, placed for speech at
-25 dBFS): the added noise is scaled so that ``10 log10(sum x^2 / sum n^2)`` equals it,
whatever the input's loudness. Evaluation sets use this so that the noise level is
defined relative to the clean signal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from metric.io import read_audio_cached
from .registry import Family, register

NOISE_RMS_MIN = 1e-4
NOISE_RMS_MAX = 0.08
RELATIVE_SNR_DB = (55.0, -3.0)  # level 0 .. 1 with relative_to_signal=True
BABBLE_TALKERS = 6
ADDITIVE_NOISE_FAMILIES = ("white_noise", "pink_noise", "brown_noise", "babble", "noise_file")  # take relative_to_signal


def _relative_snr_db(level: float) -> float:
    high, low = RELATIVE_SNR_DB
    return high + (low - high) * level


def noise_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    rms = NOISE_RMS_MIN * (NOISE_RMS_MAX / NOISE_RMS_MIN) ** level
    return {"noise_rms": rms, "noise_dbfs": float(20 * np.log10(rms)), "relative_snr_db": _relative_snr_db(level)}


def white_noise_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    amplitude = NOISE_RMS_MIN * (NOISE_RMS_MAX / NOISE_RMS_MIN) ** level
    ac_rms = float(amplitude / np.sqrt(12.0))
    return {
        "amplitude": amplitude,
        "dc_offset": amplitude / 2.0,
        "ac_rms": ac_rms,
        "noise_rms": float(amplitude / np.sqrt(3.0)),  # of everything added, DC included
        "noise_dbfs": float(20 * np.log10(ac_rms)),  # of the audible (AC) part
        "relative_snr_db": _relative_snr_db(level),
    }


NOISE_MAPPING = "noise RMS = 1e-4 * 800^level (-80 dBFS .. -22 dBFS; JND range 1e-4 .. 0.08)"
WHITE_MAPPING = ("A * uniform[0, 1) with A = 1e-4 * 800^level, as the JND generator (DC A/2 + white noise of RMS A/sqrt(12): "
                 "-91 .. -33 dBFS)")
RELATIVE_MAPPING = "; relative_to_signal=True: SNR = 55 - 58*level dB"


def _unit_rms(noise: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(noise**2)) if noise.size else 0.0
    return noise / rms if rms > 0 else noise


def _coloured(n: int, rng: np.random.Generator, sample_rate: int, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectral density ~ 1/f**exponent (1 pink, 2 brown).

    Shaped in the frequency domain; bins below 20 Hz are given the 20 Hz gain so the
    brown noise carries no huge sub-audible drift.
    """
    white = rng.standard_normal(n)
    if n < 2:
        return _unit_rms(white)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    freqs = np.maximum(freqs, 20.0)
    spectrum *= freqs ** (-exponent / 2.0)
    return _unit_rms(np.fft.irfft(spectrum, n))


def _add_scaled(x: np.ndarray, noise: np.ndarray, params: dict[str, Any], relative_to_signal: bool = False) -> np.ndarray:
    """``x`` plus ``noise`` scaled to the level's RMS, or to the level's SNR against ``x`` (``relative_to_signal``).

    ``noise`` is the unit-RMS shape (or, for white noise, the level's exact noise); relative
    scaling uses the total power of what is added. A silent ``x`` gets no noise in relative mode.
    """
    if relative_to_signal:
        noise_power = np.mean(noise**2) if noise.size else 0.0
        if noise_power == 0.0:
            return x.copy()
        target = np.mean(x**2) * 10.0 ** (-params["relative_snr_db"] / 10.0)
        return x + noise * np.sqrt(target / noise_power)
    return x + params["noise_rms"] * _unit_rms(noise)


def _white(x, sample_rate, params, rng, relative_to_signal: bool = False, **_):
    """The JND generator's white noise: ``A * uniform[0, 1)`` (drawn independently of the level)."""
    noise = params["amplitude"] * rng.random(len(x))
    if relative_to_signal:
        return _add_scaled(x, noise, params, relative_to_signal=True)
    return x + noise


def _pink(x, sample_rate, params, rng, relative_to_signal: bool = False, **_):
    return _add_scaled(x, _coloured(len(x), rng, sample_rate, 1.0), params, relative_to_signal)


def _brown(x, sample_rate, params, rng, relative_to_signal: bool = False, **_):
    return _add_scaled(x, _coloured(len(x), rng, sample_rate, 2.0), params, relative_to_signal)


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


def _babble(x, sample_rate, params, rng, sources=None, talkers: int = BABBLE_TALKERS, relative_to_signal: bool = False, **_):
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
    return _add_scaled(x, mix, params, relative_to_signal)


def _noise_file(x, sample_rate, params, rng, noise_files=None, relative_to_signal: bool = False, **_):
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
    return _add_scaled(x, _looped_excerpt(source, len(x), rng), params, relative_to_signal)


register(Family("white_noise", white_noise_parameters, _white, WHITE_MAPPING + RELATIVE_MAPPING))
register(Family("pink_noise", noise_parameters, _pink, NOISE_MAPPING + "; PSD ~ 1/f" + RELATIVE_MAPPING))
register(Family("brown_noise", noise_parameters, _brown, NOISE_MAPPING + "; PSD ~ 1/f^2 (flat below 20 Hz)" + RELATIVE_MAPPING))
register(
    Family(
        "babble",
        noise_parameters,
        _babble,
        NOISE_MAPPING + f"; {BABBLE_TALKERS} talkers from `sources=` (speech recordings; required)" + RELATIVE_MAPPING,
    )
)
register(Family("noise_file", noise_parameters, _noise_file, NOISE_MAPPING + "; excerpt of `noise_files=`, looped" + RELATIVE_MAPPING))
