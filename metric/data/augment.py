"""CDPAM's online augmentation (Manocha et al., ICASSP 2021, §4): silence shift and gain.

"we decide randomly if we want to add a 0.25 s silence to the audio at the beginning
or the end" (shift invariance) "... we also randomly apply a small gain (-20 dB to
0 dB)" (amplitude invariance). :class:`SilenceAndGain` does both, on one waveform or
on a padded batch with lengths.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class SilenceAndGain:
    """Add ``silence_seconds`` of zeros at the start or the end (50/50), then a gain in ``gain_db``.

    Args:
        sample_rate: rate of the audio it will see.
        silence_seconds: length of the silence (paper: 0.25 s); 0 disables it.
        gain_db: (low, high) range of the uniform gain in dB (paper: (-20, 0)).
        seed: seed of its own random generator (``None``: fresh entropy).

    ``aug(x)`` takes a 1-D numpy array or tensor and returns the same type, ``T + S``
    samples long (``S = round(silence_seconds * sample_rate)``).
    ``aug.batch(x [B, T], lengths [B])`` augments every row independently and returns
    ``(y [B, T + S], lengths + S)``; padding stays at the end of each row.
    """

    def __init__(self, sample_rate: int, silence_seconds: float = 0.25, gain_db: tuple[float, float] = (-20.0, 0.0),
                 seed: int | None = None):
        if gain_db[0] > gain_db[1]:
            raise ValueError(f"gain_db must be (low, high), got {gain_db}")
        self.sample_rate = int(sample_rate)
        self.silence = int(round(silence_seconds * sample_rate))
        self.gain_db = (float(gain_db[0]), float(gain_db[1]))
        self.rng = np.random.default_rng(seed)

    def draw(self) -> tuple[bool, float]:
        """One random choice: (silence at the start?, linear gain)."""
        at_start = bool(self.rng.uniform() < 0.5)
        gain = 10.0 ** (self.rng.uniform(*self.gain_db) / 20.0)
        return at_start, float(gain)

    def __call__(self, waveform: Any) -> Any:
        at_start, gain = self.draw()
        if torch.is_tensor(waveform):
            zeros = waveform.new_zeros(self.silence)
            parts = (zeros, waveform) if at_start else (waveform, zeros)
            return torch.cat(parts) * gain
        x = np.asarray(waveform)
        zeros = np.zeros(self.silence, dtype=x.dtype)
        parts = (zeros, x) if at_start else (x, zeros)
        return (np.concatenate(parts) * gain).astype(x.dtype, copy=False)

    def batch(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if waveforms.dim() != 2:
            raise ValueError(f"batch() expects [B, T], got shape {tuple(waveforms.shape)}")
        count, width = waveforms.shape
        if lengths is None:
            lengths = torch.full((count,), width, dtype=torch.long)
        out = waveforms.new_zeros(count, width + self.silence)
        for row in range(count):
            n = int(lengths[row])
            at_start, gain = self.draw()
            offset = self.silence if at_start else 0
            out[row, offset : offset + n] = waveforms[row, :n] * gain
        return out, lengths.to(torch.long) + self.silence
