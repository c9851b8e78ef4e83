"""MelGAN multi-scale discriminator (Kumar et al., NeurIPS 2019, §2.2 and Appendix A).

Three identical block discriminators look at the waveform at 1x, 1/2x and 1/4x
the sample rate (average pooling, kernel 4, stride 2, between scales). Each
block is a stack of weight-normalised convolutions:

    15x1 conv (1 -> ndf)
    `downsampling_layers` x [41x1 conv, stride 4, groups = in/4, channels x4 up to max_channels]
    5x1 conv (same channels)
    3x1 conv -> 1 channel (the realness map)

with LeakyReLU(0.2) after every layer but the last. Every intermediate
activation is returned for the feature-matching loss.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

LEAKY_SLOPE = 0.2


@dataclass(frozen=True)
class DiscriminatorConfig:
    scales: int = 3
    ndf: int = 16
    downsampling_layers: int = 4
    downsampling_factor: int = 4
    max_channels: int = 1024

    def __post_init__(self):
        if self.scales < 1 or self.ndf < 1 or self.downsampling_layers < 0 or self.downsampling_factor < 1:
            raise ValueError(f"Invalid discriminator configuration: {self}.")

    def to_dict(self) -> dict:
        return asdict(self)


class ScaleDiscriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        layers = [
            nn.Sequential(
                nn.ReflectionPad1d(7), weight_norm(nn.Conv1d(1, config.ndf, 15)), nn.LeakyReLU(LEAKY_SLOPE)
            )
        ]
        channels = config.ndf
        stride = config.downsampling_factor
        for _ in range(config.downsampling_layers):
            out_ch = min(channels * stride, config.max_channels)
            groups = max(channels // 4, 1)
            while channels % groups or out_ch % groups:  # grouped convs need divisible channel counts
                groups -= 1
            conv = nn.Conv1d(channels, out_ch, kernel_size=stride * 10 + 1, stride=stride, padding=stride * 5, groups=groups)
            layers.append(nn.Sequential(weight_norm(conv), nn.LeakyReLU(LEAKY_SLOPE)))
            channels = out_ch
        layers.append(nn.Sequential(weight_norm(nn.Conv1d(channels, channels, 5, padding=2)), nn.LeakyReLU(LEAKY_SLOPE)))
        layers.append(weight_norm(nn.Conv1d(channels, 1, 3, padding=1)))
        self.layers = nn.ModuleList(layers)

    def forward(self, waveform: torch.Tensor) -> list[torch.Tensor]:
        """All activations; the last one is the realness map ``[B, 1, T']``."""
        outputs = []
        x = waveform
        for layer in self.layers:
            x = layer(x)
            outputs.append(x)
        return outputs


class MultiScaleDiscriminator(nn.Module):
    """``[B, 1, T]`` → one list of activations per scale (finest first)."""

    def __init__(self, config: DiscriminatorConfig | None = None, **overrides):
        super().__init__()
        config = config or DiscriminatorConfig()
        if overrides:
            config = DiscriminatorConfig(**{**config.to_dict(), **overrides})
        self.config = config
        self.discriminators = nn.ModuleList(ScaleDiscriminator(config) for _ in range(config.scales))
        self.pool = nn.AvgPool1d(kernel_size=4, stride=2, padding=1, count_include_pad=False)

    def forward(self, waveform: torch.Tensor) -> list[list[torch.Tensor]]:
        if waveform.dim() == 2:
            waveform = waveform[:, None]
        if waveform.dim() != 3 or waveform.shape[1] != 1:
            raise ValueError(f"Expected waveforms [B, 1, T], got shape {tuple(waveform.shape)}.")
        results = []
        x = waveform
        for index, discriminator in enumerate(self.discriminators):
            if index > 0:
                x = self.pool(x)
            results.append(discriminator(x))
        return results
