"""MelGAN generator (Kumar et al., NeurIPS 2019, §2.1 and Appendix A).

A fully convolutional, non-autoregressive mel-to-waveform network:

    7x1 conv (n_mels -> ngf·2^k channels)
    for each upsampling ratio r (8, 8, 2, 2):
        LeakyReLU(0.2) -> transposed conv (kernel 2r, stride r) halving the channels
        residual stack: 3 blocks with dilations 1, 3, 9
            shortcut(x) + Conv1x1(LReLU(Conv3x1_dilated(LReLU(x))))
    LeakyReLU -> 7x1 conv (-> 1 channel) -> tanh

The shortcut of each residual block is, as in the released code
(descriptinc/melgan-neurips, ``mel2wav/modules.py``), a learned weight-normalised 1x1
convolution (``residual_shortcut="conv1x1"``, the default); ``"identity"`` gives the
plain residual connection of the paper's figure (264,000 fewer parameters at ngf 32).

Every convolution uses weight normalisation (§2.3: it does not limit the
discriminator/generator capacity the way spectral or batch normalisation do);
convolutions that keep the length pad by reflection to avoid edge artefacts.
The output has ``frames · prod(ratios)`` samples.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

LEAKY_SLOPE = 0.2
SHORTCUTS = ("conv1x1", "identity")
MIN_FRAMES = 4  # reflection padding of 3 needs 4 frames


@dataclass(frozen=True)
class GeneratorConfig:
    n_mels: int = 80
    ngf: int = 32
    ratios: tuple[int, ...] = (8, 8, 2, 2)
    residual_blocks: int = 3  # dilations 3**0, 3**1, 3**2 = 1, 3, 9
    residual_shortcut: str = "conv1x1"  # release: learned weight-normed 1x1; "identity": x + block(x)

    def __post_init__(self):
        if self.residual_shortcut not in SHORTCUTS:
            raise ValueError(f"residual_shortcut must be one of {SHORTCUTS}, got {self.residual_shortcut!r}.")
        object.__setattr__(self, "ratios", tuple(int(r) for r in self.ratios))
        if not self.ratios or any(r < 1 for r in self.ratios):
            raise ValueError(f"ratios must be positive integers, got {self.ratios}.")
        if self.ngf < 1 or self.residual_blocks < 0:
            raise ValueError(f"ngf must be >= 1 and residual_blocks >= 0, got {self.ngf}, {self.residual_blocks}.")

    @property
    def hop_length(self) -> int:
        return math.prod(self.ratios)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["ratios"] = list(self.ratios)
        return data


def _conv(in_ch: int, out_ch: int, kernel: int, dilation: int = 1) -> nn.Module:
    """Length-preserving weight-normalised convolution with reflection padding."""
    pad = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.ReflectionPad1d(pad),
        weight_norm(nn.Conv1d(in_ch, out_ch, kernel, dilation=dilation)),
    )


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, dilation: int, shortcut: str = "conv1x1"):
        super().__init__()
        self.body = nn.Sequential(
            nn.LeakyReLU(LEAKY_SLOPE),
            _conv(channels, channels, 3, dilation),
            nn.LeakyReLU(LEAKY_SLOPE),
            weight_norm(nn.Conv1d(channels, channels, 1)),
        )
        self.shortcut = weight_norm(nn.Conv1d(channels, channels, 1)) if shortcut == "conv1x1" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.body(x)


def _upsample(in_ch: int, out_ch: int, ratio: int) -> nn.Module:
    # kernel 2r, stride r: with padding ceil(r/2) and output_padding r mod 2 the
    # output is exactly r times longer, for odd and even r alike.
    return weight_norm(
        nn.ConvTranspose1d(
            in_ch, out_ch, kernel_size=2 * ratio, stride=ratio, padding=ratio // 2 + ratio % 2, output_padding=ratio % 2
        )
    )


class Generator(nn.Module):
    """``[B, n_mels, frames]`` log-mel → ``[B, 1, frames · hop]`` waveform in (-1, 1)."""

    def __init__(self, config: GeneratorConfig | None = None, **overrides):
        super().__init__()
        config = config or GeneratorConfig()
        if overrides:
            config = GeneratorConfig(**{**config.to_dict(), **overrides})
        self.config = config
        channels = config.ngf * 2 ** len(config.ratios)
        layers: list[nn.Module] = [_conv(config.n_mels, channels, 7)]
        for ratio in config.ratios:
            out_ch = max(channels // 2, 1)
            layers += [nn.LeakyReLU(LEAKY_SLOPE), _upsample(channels, out_ch, ratio)]
            layers += [ResidualBlock(out_ch, 3**j, config.residual_shortcut) for j in range(config.residual_blocks)]
            channels = out_ch
        layers += [nn.LeakyReLU(LEAKY_SLOPE), _conv(channels, 1, 7), nn.Tanh()]
        self.layers = nn.Sequential(*layers)

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.dim() == 2:
            mel = mel[None]
        if mel.dim() != 3 or mel.shape[1] != self.config.n_mels:
            raise ValueError(
                f"Expected a log-mel batch [B, {self.config.n_mels}, frames], got shape {tuple(mel.shape)}."
            )
        if mel.shape[-1] < MIN_FRAMES:
            raise ValueError(
                f"The generator needs at least {MIN_FRAMES} mel frames (its 7x1 input convolution pads by "
                f"reflection), got {mel.shape[-1]}: pass at least {MIN_FRAMES * self.hop_length} samples of audio."
            )
        return self.layers(mel)
