"""The short-time Fourier transform the spectral families share (Griffin-Lim, the reverb's phase vocoder).

A small NumPy/SciPy implementation (periodic Hann window, centred frames,
least-squares overlap-add inverse). It runs single-threaded in float32: on a loaded
machine, multi-threaded FFTs spent most of their time waiting, and data-loading
workers parallelise anyway.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view


@lru_cache(maxsize=8)
def _window(n_fft: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def stft(x: np.ndarray, n_fft: int, hop: int, pad_mode: str = "reflect") -> np.ndarray:
    """Complex STFT ``[frames, n_fft // 2 + 1]`` of a 1-D signal, frames centred (``pad_mode`` padding)."""
    padded = np.pad(x.astype(np.float32), n_fft // 2, mode=pad_mode)
    frames = sliding_window_view(padded, n_fft)[::hop] * _window(n_fft)
    return scipy.fft.rfft(frames, axis=1)


def istft(spectrum: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Least-squares inverse of :func:`stft` (windowed overlap-add over the summed squared window)."""
    window = _window(n_fft)
    frames = scipy.fft.irfft(spectrum, n=n_fft, axis=1).astype(np.float32) * window
    total = n_fft + hop * (len(frames) - 1)
    signal = np.zeros(total, dtype=np.float32)
    norm = np.zeros(total, dtype=np.float32)
    for offset in range(0, n_fft, hop):  # n_fft / hop strided adds instead of one add per frame
        chunk = frames[:, offset : offset + hop]
        signal[offset : offset + hop * len(frames)].reshape(len(frames), -1)[:, : chunk.shape[1]] += chunk
        norm[offset : offset + hop * len(frames)].reshape(len(frames), -1)[:, : chunk.shape[1]] += window[offset : offset + hop] ** 2
    signal /= np.maximum(norm, 1e-8)
    start = n_fft // 2
    out = signal[start : start + length]
    return np.pad(out, (0, length - len(out))) if len(out) < length else out
