"""Reading audio files for the engine and the data readers: mono float32 at a requested rate."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from metric.io import read_audio as read_channels


def resample(x: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Polyphase resampling (``scipy.signal.resample_poly``, Kaiser window) of a 1-D signal.

    Returns exactly ``ceil(len(x) * new_rate / orig_rate)`` samples so that lengths
    agree with :func:`metric.resample.resampled_length`.
    """
    orig_rate, new_rate = int(orig_rate), int(new_rate)
    if orig_rate == new_rate:
        return x
    common = math.gcd(orig_rate, new_rate)
    up, down = new_rate // common, orig_rate // common
    y = resample_poly(x, up, down)
    target = -(-len(x) * up // down)
    if len(y) < target:
        y = np.pad(y, (0, target - len(y)))
    return y[:target].astype(x.dtype, copy=False)


def read_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file (see :func:`metric.io.read_audio`: wav, flac, ogg, mp3, ...) as mono float32.

    Multi-channel files are averaged to mono. With ``sample_rate`` the signal is
    resampled to that rate. Returns ``(waveform [T], rate)``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    data, rate = read_channels(path)  # [channels, T]; raises AudioFileError naming the file
    x = data.mean(axis=0).astype(np.float32)
    if sample_rate is not None and int(sample_rate) != rate:
        x = resample(x, rate, int(sample_rate)).astype(np.float32)
        rate = int(sample_rate)
    return x, int(rate)


@lru_cache(maxsize=64)
def cached_audio(path: str, sample_rate: int) -> np.ndarray:
    """:func:`read_audio` with a small cache (noise files and babble sources are reused)."""
    x, _ = read_audio(path, sample_rate)
    x.setflags(write=False)
    return x
