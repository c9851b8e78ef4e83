"""Reverberation: a room impulse response stretched in time, as the JND data made it.

The JND data's generator (the PerceptualAudio project's ``create_space`` scripts)
convolved speech with measured room responses (the MIT impulse-response survey) that
it *stretched in time* by a factor ``7 ** level`` (1x .. 7x) with a phase vocoder: the
spectrum of the room stays, its decay lasts ``s`` times longer. This family does the
same, with two documented differences (docs/perturbations.md):

* the base response is a measured one when ``impulse_responses=[...]`` is given (arrays
  at the signal's rate or file paths; one is drawn per seed), else a synthetic room
  (none can be downloaded at run time): direct path plus exponentially decaying
  Gaussian noise (the statistical model of late reverberation, Schroeder 1962), RT60
  0.15 s, highs decaying twice as fast as lows, tail onset amplitude for a 0 dB
  direct-to-reverberant ratio at RT60 = 0.5 s;
* only the part after the direct sound is stretched (the generator's own split point
  for its DRR control, 1.75 ms after the peak), so the direct sound stays an impulse
  instead of being smeared over the vocoder's window.

The stretched response is normalised to unit energy (loudness about unchanged; the JND
files were loudness-normalised after perturbation) and the output keeps the input's length.
Level mapping: ``stretch = 7 ** level``; on the synthetic room RT60 = 0.15 s * stretch
(0.15 .. 1.05 s; ``rt60_s`` of :func:`describe`), and the measured DRR falls from about
+6 to +1 dB.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt

from metric.io import read_audio_cached
from .registry import Family, register
from .stft import istft, stft

MAX_STRETCH = 7.0
BASE_RT60_S = 0.15
TAIL_ONSET_S = 0.0025  # first reflections arrive a few ms after the direct sound
DIRECT_PART_S = 0.00175  # 56 samples at 32 kHz after the peak: the generator's direct/tail split
HIGH_SPLIT_HZ = 3000.0
VOCODER_WINDOW_S = 0.064  # 2048 points at 32 kHz, the generator's phase-vocoder frame


def reverb_parameters(level: float, sample_rate: int) -> dict[str, Any]:
    stretch = MAX_STRETCH**level
    rt60 = BASE_RT60_S * stretch
    return {"stretch": stretch, "rt60_s": rt60}


@lru_cache(maxsize=8)
def _highpass(sample_rate: int):
    return butter(2, min(HIGH_SPLIT_HZ, 0.45 * sample_rate), btype="highpass", fs=sample_rate, output="sos")


def room_impulse_response(rt60: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A unit-energy synthetic RIR with the given RT60 (seconds)."""
    onset = max(1, int(round(TAIL_ONSET_S * sample_rate)))
    length = onset + int(np.ceil(rt60 * sample_rate))
    t = np.arange(length - onset) / sample_rate
    noise = rng.standard_normal(length - onset)
    high = sosfilt(_highpass(sample_rate), noise)
    low = noise - high
    tail = low * 10.0 ** (-3.0 * t / rt60) + high * 10.0 ** (-6.0 * t / rt60)
    # Tail energy ~ a^2 * fs * RT60 / (6 ln 10); a^2 chosen for a 0 dB DRR at RT60 = 0.5 s.
    amplitude = np.sqrt(6.0 * np.log(10.0) / (sample_rate * 0.5))
    h = np.zeros(length)
    h[0] = 1.0
    h[onset:] = amplitude * tail
    return h / np.sqrt(np.sum(h**2))


def time_stretch(x: np.ndarray, factor: float, n_fft: int) -> np.ndarray:
    """``x`` made ``factor`` times longer with its short-time spectrum kept (a phase vocoder).

    Magnitudes are interpolated linearly between analysis frames; each bin's phase advances
    by its measured instantaneous frequency (Flanagan & Golden 1966; Dolson 1986), without
    phase locking, like the generator's tool. Frames are zero-padded at the edges; the result
    has ``round(len(x) * factor)`` samples.
    """
    hop = n_fft // 4
    length = int(round(len(x) * factor))
    if factor == 1.0 or len(x) == 0:
        return x.astype(np.float64, copy=True)
    spectrum = stft(x, n_fft, hop, pad_mode="constant").astype(np.complex128)
    spectrum = np.vstack([spectrum, np.zeros((1, spectrum.shape[1]))])  # lets the last step interpolate
    frames = spectrum.shape[0] - 1
    steps = np.arange(0.0, frames, 1.0 / factor)
    index = steps.astype(int)
    fraction = (steps - index)[:, None]
    magnitude = np.abs(spectrum)
    interpolated = (1.0 - fraction) * magnitude[index] + fraction * magnitude[index + 1]
    expected = 2.0 * np.pi * hop * np.arange(spectrum.shape[1]) / n_fft
    deviation = np.angle(spectrum[1:]) - np.angle(spectrum[:-1]) - expected
    deviation -= 2.0 * np.pi * np.round(deviation / (2.0 * np.pi))
    increments = expected + deviation[index]
    phase = np.angle(spectrum[0]) + np.vstack([np.zeros((1, spectrum.shape[1])), np.cumsum(increments[:-1], axis=0)])
    return istft((interpolated * np.exp(1j * phase)).astype(np.complex64), n_fft, hop, length).astype(np.float64)


def stretched_response(h: np.ndarray, stretch: float, sample_rate: int) -> np.ndarray:
    """``h`` with everything after its direct sound stretched ``stretch`` times in time, at unit energy."""
    peak = int(np.argmax(np.abs(h)))
    split = min(len(h), peak + max(1, int(round(DIRECT_PART_S * sample_rate))))
    n_fft = int(2 ** np.ceil(np.log2(VOCODER_WINDOW_S * sample_rate)))
    out = np.concatenate([h[:split], time_stretch(h[split:], stretch, n_fft)])
    energy = np.sum(out**2)
    return out / np.sqrt(energy) if energy > 0 else out


def _base_response(sample_rate: int, rng: np.random.Generator, impulse_responses: Sequence[Any] | None) -> np.ndarray:
    if impulse_responses is None:
        return room_impulse_response(BASE_RT60_S, sample_rate, rng)
    if isinstance(impulse_responses, (str, Path)):
        impulse_responses = [impulse_responses]
    if len(impulse_responses) == 0:
        raise ValueError("impulse_responses is empty: pass measured room responses (paths or arrays at the signal's rate)")
    chosen = impulse_responses[int(rng.integers(0, len(impulse_responses)))]
    if isinstance(chosen, (str, Path)):
        return read_audio_cached(str(chosen), int(sample_rate)).astype(np.float64)
    return np.asarray(chosen, dtype=np.float64).reshape(-1)


def _reverb(x, sample_rate, params, rng, impulse_responses=None, **_):
    h = stretched_response(_base_response(sample_rate, rng, impulse_responses), params["stretch"], sample_rate)
    return fftconvolve(x, h)[: len(x)]


register(
    Family(
        "reverb",
        reverb_parameters,
        _reverb,
        "room response stretched 7^level times (1 .. 7x) by a phase vocoder; synthetic RT60 0.15 s room "
        "(0.15 .. 1.05 s) or `impulse_responses=` (measured)",
    )
)
