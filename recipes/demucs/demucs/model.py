"""Causal DEMUCS speech enhancer (Défossez, Synnaeve, Adi, Interspeech 2020), in two layouts.

Facts from the paper (§2.2) and the released code (facebookresearch/denoiser, ``demucs.py``;
written here independently, the release's license does not allow copying):

* a U-Net over the waveform: ``depth`` encoder layers, each
  ``Conv1d(K=8, S=4) -> ReLU -> Conv1d(1x1, 2C) -> GLU``, channels ``H, 2H, 4H, ...``
  (growth 2); mirrored decoder layers ``Conv1d(1x1, 2C) -> GLU -> ConvTranspose1d(K, S)``
  followed by ReLU except for the last; skip connections add each encoder
  output to the decoder input of the same level;
* the bottleneck of the causal model is a 2-layer unidirectional LSTM;
* the input is resampled x4 inside the model and the output back to the input rate;
* the input is divided by its standard deviation plus a floor of 1e-3, and the
  output multiplied by the standard deviation, so the network sees unit-scale signals;
* every (transposed) convolution's initial weights are rescaled by
  ``sqrt(std / 0.1)`` so that their standard deviation moves towards 0.1;
* the input is zero-padded to a "valid length" that the strided layers divide
  exactly, and the output is cropped back.

Layouts (``layout=``):

* ``"released"`` (default) — the released causal model: unpadded ("valid") encoder
  convolutions, transposed convolutions that write their whole kernel, skips cropped to
  the decoder's length, the valid length of the release (the input, resampled, runs down
  the encoder without remainder and the decoder rebuilds exactly that length), and the
  release's x2 windowed-sinc resampling stages (``resampler="sinc"``,
  :mod:`demucs.halfband`). "Causal" here means a unidirectional LSTM: the output
  at sample ``t`` also depends on the next ``lookahead`` input samples (the receptive
  field of one bottleneck frame, 37 ms at 16 kHz for the default sizes, plus the
  resampling filters), which the release's streaming mode buffers.
* ``"strict_causal"`` — every layer aligned so that the output at sample ``t`` depends on
  input samples ``<= t`` only: each encoder convolution is left-padded by ``K - S``
  samples, so encoder frame ``i`` of level 1 covers the input up to sample ``i`` and, by
  induction, frame ``i`` of level ``l`` covers it up to ``4**(l-1) * (i+1) - 1``; a
  decoder frame ``i`` of level ``l >= 2`` is written to frames ``4i + 3 ..`` of level
  ``l - 1`` (offset ``S - 1``), the first frame whose own input span includes everything
  frame ``i`` has seen; level 1 writes at offset 0. With ``resampler="hold"`` (upsampling
  repeats each sample, downsampling averages blocks) it needs no look-ahead at all.

The input standard deviation is the one utterance-level statistic (as in the
paper's training); pass ``scale=`` to :meth:`CausalDemucs.forward` to supply a
running estimate instead.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .halfband import ZERO_CROSSINGS, downsample2, upsample2

LAYOUTS = ("released", "strict_causal")
RESAMPLERS = ("sinc", "hold")


@dataclass
class DemucsConfig:
    """Size and behaviour of :class:`CausalDemucs` (defaults: the released causal model for Valentini)."""

    hidden: int = 48  # H, channels of the first layer
    depth: int = 5
    kernel_size: int = 8
    stride: int = 4
    growth: float = 2.0
    max_hidden: int = 10_000
    resample: int = 4  # upsampling factor inside the model (release: 4)
    layout: str = "released"  # "released" or "strict_causal" (see the module docstring)
    resampler: str = "sinc"  # "sinc" (release: x2 windowed-sinc stages) or "hold" (no look-ahead)
    lstm_layers: int = 2
    normalize: bool = True
    floor: float = 1e-3
    rescale: float = 0.1  # reference std for the weight rescaling at init; 0 disables it
    sample_rate: int = 16_000

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}.")
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

    Args: the fields of :class:`DemucsConfig` (the defaults are the released model for Valentini).
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
        """Smallest length ``>= length`` that the layers process without remainder."""
        cfg = self.config
        if cfg.layout == "released":
            # Down the encoder (unpadded convolutions, at least one frame), then back up
            # through the transposed convolutions, at the upsampled rate.
            frames = math.ceil(length * cfg.resample)
            for _ in range(cfg.depth):
                frames = max(math.ceil((frames - cfg.kernel_size) / cfg.stride) + 1, 1)
            for _ in range(cfg.depth):
                frames = (frames - 1) * cfg.stride + cfg.kernel_size
            return int(math.ceil(frames / cfg.resample))
        block = max(1, self.total_stride)
        # The upsampled length resample * length must be a multiple of stride**depth.
        unit = cfg.stride**cfg.depth
        while (block * cfg.resample) % unit:
            block += 1
        return int(math.ceil(length / block) * block)

    @property
    def receptive_span(self) -> int:
        """Upsampled-rate samples that one bottleneck frame sees (the release's layout)."""
        cfg = self.config
        span = cfg.kernel_size
        for level in range(1, cfg.depth):
            span += (cfg.kernel_size - 1) * cfg.stride**level
        return span

    @property
    def lookahead(self) -> int:
        """Future input samples the output at ``t`` may depend on (0 = strictly causal).

        Each sinc stage looks ``ZERO_CROSSINGS`` samples ahead at its input rate, on the way
        up and on the way down; the released layout adds the span of one bottleneck frame.
        """
        cfg = self.config
        resampling = 0
        if cfg.resampler == "sinc" and cfg.resample > 1:
            stages = int(math.log2(cfg.resample))
            # Up: rates 1, 2, ... ; down: rates resample, ..., 2 — in input-rate samples.
            per_pass = sum(ZERO_CROSSINGS / 2**stage for stage in range(stages))
            resampling = int(math.ceil(2 * per_pass))
        if cfg.layout == "strict_causal":
            return resampling
        return int(math.ceil((self.receptive_span - 1) / cfg.resample)) + resampling

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- resampling -------------------------------------------------------------
    def _upsample(self, x: torch.Tensor) -> torch.Tensor:
        factor = self.config.resample
        if factor == 1:
            return x
        if self.config.resampler == "hold":
            return x.repeat_interleave(factor, dim=-1)
        while factor > 1:
            x, factor = upsample2(x), factor // 2
        return x

    def _downsample(self, x: torch.Tensor) -> torch.Tensor:
        factor = self.config.resample
        if factor == 1:
            return x
        if self.config.resampler == "hold":
            return x.reshape(*x.shape[:-1], x.shape[-1] // factor, factor).mean(-1)
        while factor > 1:
            x, factor = downsample2(x), factor // 2
        return x

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
                # The unbiased estimate, as the release (a single sample has no spread: 0).
                scale = noisy.std(dim=-1, keepdim=True, correction=1 if length > 1 else 0)
            else:
                scale = torch.as_tensor(scale, dtype=noisy.dtype, device=noisy.device).reshape(-1, 1, 1)
            # As the release: divide by floor + std, multiply the output back by std alone.
            x = noisy / (cfg.floor + scale)
        else:
            scale = torch.ones(noisy.shape[0], 1, 1, dtype=noisy.dtype, device=noisy.device)
            x = noisy
        x = F.pad(x, (0, self.valid_length(length) - length))
        x = self._upsample(x)
        if cfg.layout == "released":
            x = self._released_unet(x)
        else:
            x = self._strict_causal_unet(x)
        x = self._downsample(x)
        return x[..., :length] * scale

    def _bottleneck(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self.lstm(x.permute(2, 0, 1))
        return x.permute(1, 2, 0)

    def _released_unet(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        x = self._bottleneck(x)
        for layer in self.decoder:
            skip = skips.pop()
            x = layer(x + skip[..., : x.shape[-1]])
        return x

    def _strict_causal_unet(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        pad = cfg.kernel_size - cfg.stride
        skips = []
        for layer in self.encoder:
            x = layer(F.pad(x, (pad, 0)))
            skips.append(x)
        x = self._bottleneck(x)
        for layer in self.decoder:
            skip = skips.pop()
            target_length = skips[-1].shape[-1] if skips else x.shape[-1] * cfg.stride
            x = layer(x + skip[..., : x.shape[-1]])
            # Level >= 2 decoders write frame i at 4i + (S - 1) of the level below; the last at 4i.
            offset = cfg.stride - 1 if skips else 0
            x = F.pad(x, (offset, 0))[..., :target_length]
        return x

    # -- persistence ------------------------------------------------------------
    def serialize(self) -> dict:
        """A plain dict (config + weights) that :meth:`from_serialized` turns back into the model."""
        return {"model_class": "CausalDemucs", "config": asdict(self.config), "state_dict": self.state_dict()}

    @classmethod
    def from_serialized(cls, package: dict) -> "CausalDemucs":
        # Packages written before the released layout existed hold strictly causal models.
        config = {"layout": "strict_causal", **package["config"], "rescale": 0}
        model = cls(**config)
        model.load_state_dict(package["state_dict"])
        return model
