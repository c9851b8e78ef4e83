"""Training augmentations of the released DEMUCS, applied to (noise, clean) batches.

Written from the facts of facebookresearch/denoiser (``augment.py``, ``solver.py``,
``launch_valentini.sh``, ``launch_dns.sh``; its license does not allow copying the code).
The training batch is split into its noise (``noisy - clean``) and its clean speech; the
augmentations run in the release's order — remix, band mask, shift, reverb — and the
model is trained on ``noise + clean`` against ``clean``:

* :class:`Remix` — the noises of the batch are permuted, so each utterance meets another
  item's noise (Valentini: ``remix=1``).
* :class:`BandMask` — one band of mel-spaced frequencies is removed from noise and clean
  alike (SpecAugment's frequency masking on the waveform; Valentini: ``bandmask=0.2``):
  120 frequencies evenly spaced on the mel scale ``2595 log10(1 + f / 700)`` from 40 Hz
  to the Nyquist frequency; a band ``[f_lo, f_hi]`` of at most ``0.2 · 120`` of them is
  drawn per batch and removed as ``x - lowpass(x, f_hi) + lowpass(x, f_lo)`` with
  Hamming-windowed sinc low-pass filters of half-width ``int(2 / (f_lo / rate))`` taps.
* :class:`Shift` — each item is cropped to ``T - shift`` samples at a random offset in
  ``[0, shift)``, the same for its noise and its clean speech (Valentini: ``shift=8000``,
  ``shift_same=True``; DNS: 16000).
* :class:`RevEcho` — a crude reverberation (DNS: ``revecho=1``, i.e. applied to every
  batch): ``repeat`` trains of echoes of the noise and of the clean speech, the first at
  ``initial · U(0, 1)`` of the amplitude, each delayed by ``first_delay`` (± ``jitter``)
  and attenuated by ``10^(-3 · first_delay / rt60)`` (± ``jitter``) until the train has
  decayed by 60 dB; the noise's reverb is added to the noise, ``keep_clean`` of the clean
  speech's reverb to the target and the rest to the noise.

Random draws come from ``torch`` (seeded by the training run); pass ``generator=`` for a
private stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

Pair = tuple[torch.Tensor, torch.Tensor]


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


class Remix:
    """Permute the noises of the batch (``noise[perm], clean``)."""

    def __init__(self, generator: torch.Generator | None = None):
        self.generator = generator

    def __call__(self, noise: torch.Tensor, clean: torch.Tensor) -> Pair:
        order = torch.randperm(noise.shape[0], generator=self.generator).to(noise.device)
        return noise[order], clean


def mel_frequencies(count: int, low: float, high: float) -> torch.Tensor:
    """``count`` frequencies (Hz) evenly spaced on the mel scale ``2595 log10(1 + f / 700)``."""
    to_mel = lambda hz: 2595.0 * math.log10(1.0 + hz / 700.0)  # noqa: E731
    mels = torch.linspace(to_mel(low), to_mel(high), count, dtype=torch.float64)
    return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)


def lowpass_kernel(cutoff: float, half_width: int) -> torch.Tensor:
    """Hamming-windowed sinc low-pass at ``cutoff`` (a fraction of the sample rate), ``2 half_width + 1`` taps."""
    taps = torch.arange(-half_width, half_width + 1, dtype=torch.float64)
    window = torch.hamming_window(2 * half_width + 1, periodic=False, dtype=torch.float64)
    return 2 * cutoff * torch.sinc(2 * cutoff * taps) * window


def filter_same(signal: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Zero-padded, centred linear filtering of ``[..., T]`` by an odd-length kernel (through the FFT)."""
    length, half = signal.shape[-1], kernel.shape[-1] // 2
    size = length + kernel.shape[-1] - 1
    product = torch.fft.rfft(signal.double(), size) * torch.fft.rfft(kernel.to(signal.device), size)
    return torch.fft.irfft(product, size)[..., half : half + length].to(signal.dtype)


class BandMask:
    """Remove one random mel band of at most ``max_width`` of ``bands`` mel frequencies from noise and clean.

    The filters are as long as the release's, ``int(2 / f_low)`` taps on each side, so a band
    high in the spectrum gets a short filter and is only partly removed.
    """

    def __init__(self, max_width: float = 0.2, bands: int = 120, sample_rate: int = 16_000,
                 generator: torch.Generator | None = None):
        self.bandwidth = int(abs(max_width) * bands)
        if self.bandwidth < 1:
            raise ValueError(f"bandmask={max_width} removes less than one of {bands} bands: use 0 to disable it.")
        self.bands = bands
        self.cutoffs = mel_frequencies(bands, 40.0, sample_rate / 2) / sample_rate
        self.generator = generator
        self.last_band: tuple[int, int] | None = None  # indices into ``cutoffs`` of the last band removed

    def band_stop_kernel(self, low: int, high: int) -> torch.Tensor:
        """``δ - lowpass(f_high) + lowpass(f_low)`` for band indices ``low <= high``."""
        f_low, f_high = float(self.cutoffs[low]), float(self.cutoffs[high])
        half_width = int(2 / f_low)
        kernel = lowpass_kernel(f_low, half_width) - lowpass_kernel(f_high, half_width)
        kernel[half_width] += 1.0
        return kernel

    def __call__(self, noise: torch.Tensor, clean: torch.Tensor) -> Pair:
        low = int(torch.randint(self.bands, (), generator=self.generator))
        high = int(torch.randint(low, min(self.bands, low + self.bandwidth), (), generator=self.generator))
        self.last_band = (low, high)
        kernel = self.band_stop_kernel(low, high)
        return filter_same(noise, kernel), filter_same(clean, kernel)


class Shift:
    """Crop every item to ``T - shift`` samples at a random offset in ``[0, shift)``."""

    def __init__(self, shift: int = 8000, same: bool = True, generator: torch.Generator | None = None):
        self.shift, self.same, self.generator = int(shift), bool(same), generator

    def __call__(self, noise: torch.Tensor, clean: torch.Tensor) -> Pair:
        length = noise.shape[-1] - self.shift
        if length < 1:
            raise ValueError(f"shift={self.shift} leaves nothing of {noise.shape[-1]}-sample training items: "
                             f"use longer segments or a smaller shift.")
        batch = noise.shape[0]
        offsets = torch.randint(self.shift, (1 if self.same else 2, batch), generator=self.generator).to(noise.device)
        offsets = offsets.expand(2, batch)
        positions = torch.arange(length, device=noise.device)

        def crop(signal: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
            index = (positions + offset[:, None]).reshape(batch, *([1] * (signal.dim() - 2)), length)
            return signal.gather(-1, index.expand(*signal.shape[:-1], length))

        return crop(noise, offsets[0]), crop(clean, offsets[1])


@dataclass
class RevEcho:
    """Echo-train reverberation of noise and clean (see the module docstring); one draw per batch."""

    proba: float = 1.0
    initial: float = 0.3
    rt60: tuple[float, float] = (0.3, 1.3)
    first_delay: tuple[float, float] = (0.01, 0.03)
    repeat: int = 3
    jitter: float = 0.1
    keep_clean: float = 0.1
    sample_rate: int = 16_000
    generator: torch.Generator | None = None

    def _reverb(self, source: torch.Tensor, initial: float, first_delay: float, rt60: float) -> torch.Tensor:
        length = source.shape[-1]
        reverb = torch.zeros_like(source)
        for _ in range(self.repeat):
            remaining = 1.0  # amplitude of the current echo relative to the first one
            echo = initial * source
            while remaining > 1e-3:
                stretch = 1 + self.jitter * _uniform(-1, 1, self.generator)
                delay = min(1 + int(stretch * first_delay * self.sample_rate), length)
                echo = torch.nn.functional.pad(echo[..., : length - delay], (delay, 0))
                reverb = reverb + echo
                stretch = 1 + self.jitter * _uniform(-1, 1, self.generator)
                attenuation = 10 ** (-3 * stretch * first_delay / rt60)  # 60 dB after rt60 seconds
                echo = echo * attenuation
                remaining *= attenuation
        return reverb

    def __call__(self, noise: torch.Tensor, clean: torch.Tensor) -> Pair:
        if float(torch.rand((), generator=self.generator)) >= self.proba:
            return noise, clean
        initial = self.initial * float(torch.rand((), generator=self.generator))
        first_delay = _uniform(*self.first_delay, self.generator)
        rt60 = _uniform(*self.rt60, self.generator)
        noise = noise + self._reverb(noise, initial, first_delay, rt60)
        clean_reverb = self._reverb(clean, initial, first_delay, rt60)
        return clean_reverb.mul(1 - self.keep_clean).add_(noise), clean + self.keep_clean * clean_reverb


class Augmentation:
    """The release's augmentations in its order; ``augment(noise, clean) -> (noise, clean)``."""

    def __init__(self, remix: bool = False, bandmask: float = 0.0, shift: int = 0, shift_same: bool = True,
                 revecho: float = 0.0, sample_rate: int = 16_000, generator: torch.Generator | None = None):
        self.steps = []
        if remix:
            self.steps.append(Remix(generator))
        if bandmask:
            self.steps.append(BandMask(bandmask, sample_rate=sample_rate, generator=generator))
        if shift:
            self.steps.append(Shift(shift, shift_same, generator))
        if revecho:
            self.steps.append(RevEcho(proba=revecho, sample_rate=sample_rate, generator=generator))

    def __bool__(self) -> bool:
        return bool(self.steps)

    def __call__(self, noise: torch.Tensor, clean: torch.Tensor) -> Pair:
        for step in self.steps:
            noise, clean = step(noise, clean)
        return noise, clean
