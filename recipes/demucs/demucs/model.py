"""Causal DEMUCS speech enhancer, written from the paper.

Défossez, Synnaeve, Adi, "Real Time Speech Enhancement in the Waveform Domain",
Interspeech 2020 (§2.2). Facts taken from the paper:

* a U-Net over the waveform: ``depth`` encoder layers, each
  ``Conv1d(K=8, S=4) -> ReLU -> Conv1d(1x1, 2C) -> GLU``, channels ``H, 2H, 4H, ...``
  (growth 2); mirrored decoder layers ``Conv1d(1x1, 2C) -> GLU -> ConvTranspose1d(K, S)``
  followed by ReLU except for the last; skip connections add each encoder
  output to the decoder input of the same level;
* the bottleneck of the causal model is a 2-layer unidirectional LSTM;
* the input is resampled x4 inside the model and the output back to the input rate;
* the input is divided by its standard deviation (plus a floor of 1e-3) and
  the output multiplied back, so the network sees unit-scale signals;
* every (transposed) convolution's initial weights are rescaled by
  ``sqrt(std / 0.1)`` so that their standard deviation moves towards 0.1;
* the input is zero-padded to a "valid length" that the strided layers divide
  exactly, and the output is cropped back.

Causality. Every layer here is aligned so that the output at sample ``t``
(input rate) depends on input samples ``<= t`` only:

* each encoder convolution is left-padded by ``K - S`` samples, so encoder frame
  ``i`` of level 1 covers the input up to sample ``i`` and, by induction, frame
  ``i`` of level ``l`` covers it up to ``4**(l-1) * (i+1) - 1``;
* a decoder frame ``i`` of level ``l >= 2`` is written to frames ``4i + 3 ..`` of
  level ``l - 1`` (offset ``S - 1``): exactly the first frame whose own input
  span includes everything frame ``i`` has seen; level 1 writes at offset 0;
* the default resampler (``resampler="hold"``) upsamples by repeating each
  sample 4 times and downsamples by averaging each block of 4, which needs no
  look-ahead. The paper's band-limited sinc resampling (``resampler="sinc"``,
  ``metric.resample_waveform``) looks ``SINC_LOOKAHEAD`` input samples
  into the future on each side of the model, like the official real-time model;
  :attr:`CausalDemucs.lookahead` reports it.

The input standard deviation is the only utterance-level statistic (as in the
paper's training); pass ``scale=`` to :meth:`CausalDemucs.forward` to supply a
running estimate instead, which makes the whole model causal.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from metric import resample_waveform

RESAMPLERS = ("hold", "sinc")
# metric's resampling kernel reaches 16 zero crossings / rolloff 0.945 = 17 input-rate samples on
# each side; up- then downsampling looks ahead twice that (tests/test_recipe_demucs_model.py checks it).
SINC_LOOKAHEAD = 2 * 17


@dataclass
class DemucsConfig:
    """Size and behaviour of :class:`CausalDemucs` (paper defaults)."""

    hidden: int = 48  # H, channels of the first layer
    depth: int = 5
    kernel_size: int = 8
    stride: int = 4
    growth: float = 2.0
    max_hidden: int = 10_000
    resample: int = 4  # upsampling factor inside the model (paper: 4)
    resampler: str = "hold"  # "hold" (strictly causal) or "sinc" (paper, small look-ahead)
    lstm_layers: int = 2
    normalize: bool = True
    floor: float = 1e-3
    rescale: float = 0.1  # reference std for the weight rescaling at init; 0 disables it
    sample_rate: int = 16_000

    def __post_init__(self):
        if self.resampler not in RESAMPLERS:
            raise ValueError(f"resampler must be one of {RESAMPLERS}, got {self.resampler!r}.")
        if self.resampler == "sinc" and self.resample not in (1, 2, 4):
            raise ValueError(f"resampler='sinc' supports resample factors 1, 2 or 4, got {self.resample}.")
        if self.kernel_size < self.stride:
            raise ValueError(f"kernel_size ({self.kernel_size}) must be >= stride ({self.stride}).")
        if self.depth < 1 or self.hidden < 1:
            raise ValueError(f"depth and hidden must be positive, got depth={self.depth}, hidden={self.hidden}.")


def rescale_conv_weights(module: nn.Module, reference: float) -> None:
    """Divide each (transposed) conv's initial weight and bias by ``sqrt(std / reference)``.

    DEMUCS paper, §2.2 ("weight rescaling"): this brings the initial weight
    standard deviation closer to ``reference`` and was found to help training.
    """
    for sub in module.modules():
        if isinstance(sub, (nn.Conv1d, nn.ConvTranspose1d)):
            std = sub.weight.std().detach()
            scale = (std / reference) ** 0.5
            sub.weight.data /= scale
            if sub.bias is not None:
                sub.bias.data /= scale


class CausalDemucs(nn.Module):
    """Causal DEMUCS: ``[B, T]`` or ``[B, 1, T]`` noisy waveform -> ``[B, 1, T]`` estimate.

    Args: the fields of :class:`DemucsConfig` (``hidden=48, depth=5`` is the paper's model).
    """

    def __init__(self, **kwargs):
        super().__init__()
        self.config = DemucsConfig(**kwargs)
        cfg = self.config
        self.encoder = nn.ModuleList()
        self.decoder = nn.ModuleList()
        channels_in, hidden = 1, cfg.hidden
        for level in range(cfg.depth):
            self.encoder.append(
                nn.Sequential(
                    nn.Conv1d(channels_in, hidden, cfg.kernel_size, cfg.stride),
                    nn.ReLU(),
                    nn.Conv1d(hidden, 2 * hidden, 1),
                    nn.GLU(dim=1),
                )
            )
            decode = [
                nn.Conv1d(hidden, 2 * hidden, 1),
                nn.GLU(dim=1),
                nn.ConvTranspose1d(hidden, channels_in if level > 0 else 1, cfg.kernel_size, cfg.stride),
            ]
            if level > 0:
                decode.append(nn.ReLU())
            self.decoder.insert(0, nn.Sequential(*decode))
            channels_in = hidden
            hidden = min(int(cfg.growth * hidden), cfg.max_hidden)
        self.lstm = nn.LSTM(channels_in, channels_in, num_layers=cfg.lstm_layers, batch_first=False)
        if cfg.rescale:
            rescale_conv_weights(self, cfg.rescale)

    # -- geometry ---------------------------------------------------------------
    @property
    def total_stride(self) -> int:
        """Input-rate samples per bottleneck frame."""
        return self.config.stride**self.config.depth // self.config.resample

    def valid_length(self, length: int) -> int:
        """Smallest length ``>= length`` that every strided layer divides exactly."""
        block = max(1, self.total_stride)
        # With the "hold" resampler the upsampled length is resample * length, which
        # must be a multiple of stride**depth.
        unit = self.config.stride**self.config.depth
        while (block * self.config.resample) % unit:
            block += 1
        return int(math.ceil(length / block) * block)

    @property
    def lookahead(self) -> int:
        """Future input samples the output at ``t`` may depend on (0 = strictly causal)."""
        if self.config.resampler == "sinc" and self.config.resample > 1:
            return SINC_LOOKAHEAD
        return 0

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- resampling -------------------------------------------------------------
    def _upsample(self, x: torch.Tensor) -> torch.Tensor:
        factor = self.config.resample
        if factor == 1:
            return x
        if self.config.resampler == "hold":
            return x.repeat_interleave(factor, dim=-1)
        return resample_waveform(x, self.config.sample_rate, self.config.sample_rate * factor)

    def _downsample(self, x: torch.Tensor) -> torch.Tensor:
        factor = self.config.resample
        if factor == 1:
            return x
        if self.config.resampler == "hold":
            return x.reshape(*x.shape[:-1], x.shape[-1] // factor, factor).mean(-1)
        return resample_waveform(x, self.config.sample_rate * factor, self.config.sample_rate)

    # -- forward ----------------------------------------------------------------
    def forward(self, noisy: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        """Enhance ``noisy`` (``[T]``, ``[B, T]`` or ``[B, 1, T]``) at ``config.sample_rate``.

        ``scale`` (``[B]`` or ``[B, 1, 1]``) overrides the input standard deviation
        used for normalisation (e.g. a running estimate for streaming).
        """
        if noisy.dim() == 1:
            noisy = noisy[None, None]
        elif noisy.dim() == 2:
            noisy = noisy[:, None]
        if noisy.dim() != 3 or noisy.shape[1] != 1:
            raise ValueError(f"CausalDemucs expects mono audio [T], [B, T] or [B, 1, T]; got shape {tuple(noisy.shape)}.")
        length = noisy.shape[-1]
        cfg = self.config
        if cfg.normalize:
            if scale is None:
                scale = noisy.std(dim=-1, keepdim=True, unbiased=False)
            else:
                scale = torch.as_tensor(scale, dtype=noisy.dtype, device=noisy.device).reshape(-1, 1, 1)
            scale = cfg.floor + scale
        else:
            scale = torch.ones(noisy.shape[0], 1, 1, dtype=noisy.dtype, device=noisy.device)
        x = noisy / scale
        x = F.pad(x, (0, self.valid_length(length) - length))
        x = self._upsample(x)

        pad = cfg.kernel_size - cfg.stride
        skips = []
        for layer in self.encoder:
            x = layer(F.pad(x, (pad, 0)))
            skips.append(x)
        x, _ = self.lstm(x.permute(2, 0, 1))
        x = x.permute(1, 2, 0)
        for index, layer in enumerate(self.decoder):
            skip = skips.pop()
            target_length = skips[-1].shape[-1] if skips else x.shape[-1] * cfg.stride
            x = layer(x + skip[..., : x.shape[-1]])
            # Level >= 2 decoders write frame i at 4i + (S - 1) of the level below; the last at 4i.
            offset = cfg.stride - 1 if skips else 0
            x = F.pad(x, (offset, 0))[..., :target_length]

        x = self._downsample(x)
        return x[..., :length] * scale

    # -- persistence ------------------------------------------------------------
    def serialize(self) -> dict:
        """A plain dict (config + weights) that :meth:`from_serialized` turns back into the model."""
        return {"model_class": "CausalDemucs", "config": asdict(self.config), "state_dict": self.state_dict()}

    @classmethod
    def from_serialized(cls, package: dict) -> "CausalDemucs":
        model = cls(**{**package["config"], "rescale": 0})
        model.load_state_dict(package["state_dict"])
        return model
