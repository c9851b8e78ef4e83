"""CDPAM networks as plain ``nn.Module``s (no file I/O, no input conventions).

Architecture (Manocha et al., "CDPAM: Contrastive learning for perceptual audio
similarity", ICASSP 2021, §3.2; every shape checked against the released
checkpoint):

* :class:`Encoder` — 16 Conv1d layers, kernel 15, 'same' zero padding, each
  followed by BatchNorm and leaky ReLU (slope 0.1). Channels start at 64 and
  double at every 4th layer (64 → 128 → 256 → 512 → 1024); after every 4th
  layer the sequence is decimated by 2. Global average pooling over time gives
  a 1024-d embedding: channels ``[:512]`` are the *acoustic* embedding,
  ``[512:]`` the *content* embedding. Depth and base width are constructor
  arguments (``CDPAMNetwork(encoder_layers=16, encoder_base_channels=8)`` is the
  same structure with smaller tensors); the defaults are the released network.
  Two options, off in the released network, make cheaper students for distillation
  (docs/lite.md): a strided first layer (``front_stride``, ``front_kernel``: every
  later layer runs at a lower rate) and a pointwise *head* (``head_channels``: a
  kernel-1 layer with BatchNorm and leaky ReLU after the last convolution, whose
  output is the embedding, so a narrow encoder can still give a 512-d acoustic half).
* :class:`ProjectionHead` — 512 → 512 → 256 MLP used only by contrastive
  pre-training (NT-Xent is computed on its output).
* :class:`LossNet` — 4 Linear layers (512 → 256 → 64 → 16 → 4, leaky ReLU
  between) applied to both L2-normalised acoustic embeddings;
  ``d(a, b) = Σ_l ‖w_l ⊙ (φ_l(b) − φ_l(a))‖₁``.
* :class:`JudgmentHead` — the small classifier mapping a distance to
  logits of "same"/"different" (trained with cross-entropy on JND labels).

Exact shortcuts are built in because they change no result (beyond float rounding;
measurements in docs/performance.md):

* a layer followed by decimation is evaluated with stride 2, which yields
  exactly the kept samples of the full-rate output;
* ``acoustic_only=True`` evaluates only the acoustic half of the last layer,
  the only part the distance reads;
* in eval mode BatchNorm is folded into the convolution's weights and bias
  (cached for frozen layers; on the FFT path its scale is applied to the output
  instead, so that no scaled copy of the weights is kept), and the leaky ReLU runs
  in place (on the FFT path on each output tile as it is written, and its gradient mask
  on each block of the output gradient as it is framed);
* wide layers on long enough inputs are convolved by FFT (:mod:`metric.fftconv`,
  where measured faster; the same sums in another order);
* without a graph, long inputs are encoded chunk by chunk with enough context
  for every chunk's frames to be exact (:meth:`Encoder.pooled_in_chunks`).

Under ``torch.autocast`` the encoder and the loss-net run in float32: bfloat16
convolutions were measured to move distances by up to 66 % (docs/performance.md).

Padded batches: with ``lengths`` every item is computed as if it were alone —
activations beyond each item's valid length are reset to zero before the next
convolution (exactly what the 'same' padding of a lone item sees) and the
average pooling divides by the valid length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import fftconv

ENCODER_LAYERS = 16
ENCODER_BASE_CHANNELS = 64
KERNEL_SIZE = 15
LEAKY_SLOPE = 0.1
EMBEDDING_DIM = 1024
ACOUSTIC_DIM = EMBEDDING_DIM // 2
LOSSNET_WIDTHS = (256, 64, 16, 4)
PROJECTION_WIDTHS = (512, 256)
JUDGMENT_WIDTHS = (16, 6)


def encoder_channels(layers: int = ENCODER_LAYERS, base: int = ENCODER_BASE_CHANNELS) -> list[int]:
    """Output channels of each encoder layer (doubling at every 4th layer)."""
    out, channels = [], base
    for i in range(layers):
        if (i + 1) % 4 == 0:
            channels *= 2
        out.append(channels)
    return out


def receptive_field(layers: int = ENCODER_LAYERS, kernel: int = KERNEL_SIZE, front_stride: int = 1,
                    front_kernel: int = KERNEL_SIZE) -> int:
    """Input samples that one output frame of the last layer depends on (a pointwise head adds none)."""
    field, step = front_kernel, front_stride
    for i in range(1, layers):
        field += (kernel - 1) * step
        if (i + 1) % 4 == 0:
            step *= 2
    return field


def decimation(layers: int = ENCODER_LAYERS, front_stride: int = 1) -> int:
    """Input samples per last-layer frame: the first layer's stride, then a halving after every 4th layer."""
    return front_stride * 2 ** (layers // 4)


DECIMATION = decimation()  # four halvings: one last-layer frame per 16 input samples
# Inputs longer than this many samples per batch (items x samples, 30 s at 22,050 Hz) are
# encoded chunk by chunk when no graph is needed; the pooled result is the same.
LONG_INPUT_SAMPLES = 30 * 22_050


def context_frames(layers: int = ENCODER_LAYERS, kernel: int = KERNEL_SIZE, front_stride: int = 1,
                   front_kernel: int = KERNEL_SIZE) -> int:
    """Last-layer frames of input context needed on each side of a chunk for exact outputs.

    Frame ``j`` of the last layer sits at input sample ``16 j`` and sees the samples within
    ``(receptive_field - 1) / 2`` of it (420 for CDPAM), so a chunk extended by
    ``ceil(420 / 16) = 27`` frames (432 samples) each side computes its frames exactly.
    """
    field = receptive_field(layers, kernel, front_stride, front_kernel)
    return -(-((field - 1) // 2) // decimation(layers, front_stride))


def _decimated(lengths: torch.Tensor, stride: int = 2) -> torch.Tensor:
    # x[..., ::s] keeps ceil(L / s) samples.
    return torch.div(lengths + stride - 1, stride, rounding_mode="floor")


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _mask_beyond(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    steps = torch.arange(x.shape[-1], device=x.device)
    keep = steps[None, :] < lengths[:, None]
    return x * keep[:, None, :].to(x.dtype)


def _batchnorm_affine(sources: tuple, out_channels: int, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with ``BN(conv(x)) = scale · (W·x) + shift`` for an eval-mode BatchNorm."""
    bias, gamma, beta, mean, var = (t[:out_channels] if t is not None else None for t in sources[1:])
    scale = torch.rsqrt(var + eps)
    if gamma is not None:
        scale = scale * gamma
    shift = -mean * scale if bias is None else (bias - mean) * scale
    if beta is not None:
        shift = shift + beta
    return scale.contiguous(), shift.contiguous()


def _fold(sources: tuple, out_channels: int, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    scale, shift = _batchnorm_affine(sources, out_channels, eps)
    return (sources[0][:out_channels] * scale[:, None, None]).contiguous(), shift


def _same_sources(old: tuple, new: tuple) -> bool:
    return all(
        (a is None and b is None) or (a is not None and b is not None and a[0] is b[0] and a[1] == b[1])
        for a, b in zip(old, new)
    )


def _whole(value) -> bool:
    return not isinstance(value, bool) and int(value) == value


def check_architecture(encoder_layers: int, encoder_base_channels: int, encoder_head_channels: int | None = None,
                       encoder_front_stride: int = 1, encoder_front_kernel: int = KERNEL_SIZE) -> None:
    """Refuse encoder shapes the structure cannot have, saying which values would work."""
    if isinstance(encoder_layers, bool) or int(encoder_layers) != encoder_layers or encoder_layers < 4 or encoder_layers % 4:
        raise ValueError(
            f"encoder_layers must be a positive multiple of 4 (channels double and the sequence halves at every "
            f"4th layer), got {encoder_layers!r}; the released network has {ENCODER_LAYERS}."
        )
    if isinstance(encoder_base_channels, bool) or int(encoder_base_channels) != encoder_base_channels or encoder_base_channels < 1:
        raise ValueError(
            f"encoder_base_channels must be a whole number >= 1, got {encoder_base_channels!r}; the released network "
            f"has {ENCODER_BASE_CHANNELS}."
        )
    if encoder_head_channels is not None and (not _whole(encoder_head_channels) or encoder_head_channels < 2
                                              or encoder_head_channels % 2):
        raise ValueError(
            f"encoder_head_channels must be an even whole number >= 2 (its first half is the acoustic embedding) or "
            f"None for no head, got {encoder_head_channels!r}; 1024 gives the released 512-d acoustic embedding."
        )
    if not _whole(encoder_front_stride) or encoder_front_stride < 1:
        raise ValueError(f"encoder_front_stride must be a whole number >= 1, got {encoder_front_stride!r} (1 as released).")
    if not _whole(encoder_front_kernel) or encoder_front_kernel < 1 or encoder_front_kernel % 2 == 0:
        raise ValueError(
            f"encoder_front_kernel must be an odd whole number >= 1 (the layers are centred: 'same' padding), got "
            f"{encoder_front_kernel!r} ({KERNEL_SIZE} as released)."
        )


class Encoder(nn.Module):
    """Audio encoder: waveform ``[B, 1, T]`` (int16-range floats) → ``[B, C]`` (C = 1024 as released).

    ``head_channels``, ``front_stride`` and ``front_kernel`` are the student options of the
    module docstring (``None``, 1 and 15 as released). The head is the last entry of
    ``convs``/``norms`` (kernel 1), so every layer runs through the same code.
    """

    def __init__(self, layers: int = ENCODER_LAYERS, base_channels: int = ENCODER_BASE_CHANNELS,
                 head_channels: int | None = None, front_stride: int = 1, front_kernel: int = KERNEL_SIZE):
        super().__init__()
        check_architecture(layers, base_channels, head_channels, front_stride, front_kernel)
        layers, base_channels = int(layers), int(base_channels)
        self.front_stride = int(front_stride)
        channels = encoder_channels(layers, base_channels)
        inputs = [1] + channels[:-1]
        kernels = [int(front_kernel)] + [KERNEL_SIZE] * (layers - 1)
        if head_channels is not None:
            inputs, channels, kernels = inputs + [channels[-1]], channels + [int(head_channels)], kernels + [1]
        self.convs = nn.ModuleList(
            nn.Conv1d(cin, cout, kernel, padding=kernel // 2) for cin, cout, kernel in zip(inputs, channels, kernels)
        )
        self.norms = nn.ModuleList(nn.BatchNorm1d(c) for c in channels)
        if self.front_stride != 1:
            # Stored with the weights: a stride is not visible in any tensor's shape, and loading
            # reads the architecture from the file alone (metric.weights.architecture_of).
            self.register_buffer("front_stride_value", torch.tensor(self.front_stride, dtype=torch.int64))
        # Folded (conv ∘ eval-BatchNorm) weights of frozen layers, rebuilt whenever a
        # source tensor changes (in-place update, load_state_dict, .to()).
        self._folded_cache: dict[tuple[int, int], tuple[tuple, torch.Tensor, torch.Tensor]] = {}

    @property
    def embedding_dim(self) -> int:
        return self.convs[-1].out_channels

    @property
    def has_head(self) -> bool:
        return len(self.convs) % 4 == 1  # layers come in fours; the head is one more

    @property
    def layers(self) -> int:
        """Convolution layers before the head (16 as released)."""
        return len(self.convs) - int(self.has_head)

    @property
    def base_channels(self) -> int:
        return self.convs[0].out_channels

    @property
    def head_channels(self) -> int | None:
        return self.convs[-1].out_channels if self.has_head else None

    @property
    def front_kernel(self) -> int:
        return self.convs[0].kernel_size[0]

    @property
    def decimation(self) -> int:
        """Input samples per last-layer frame (16 as released)."""
        return decimation(self.layers, self.front_stride)

    @property
    def receptive_field(self) -> int:
        """Input samples one output frame depends on (841 as released)."""
        return receptive_field(self.layers, KERNEL_SIZE, self.front_stride, self.front_kernel)

    def stride(self, i: int) -> int:
        """Stride of layer ``i``: the front stride for the first, 2 for every 4th, else 1 (the head: 1)."""
        if i == 0:
            return self.front_stride
        return 2 if (i + 1) % 4 == 0 and i < self.layers else 1

    def flops(self, samples: int, acoustic_only: bool = True) -> int:
        """Multiply-adds x 2 of the convolutions for one input of ``samples`` samples, counted from the shapes.

        The count follows the computation this class performs: strided layers produce only the
        kept frames, and ``acoustic_only`` evaluates half of the last layer's outputs. BatchNorm
        (folded), leaky ReLU and pooling are elementwise and left out (under 1 % as released).
        """
        total, frames = 0, int(samples)
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            frames = -(-frames // self.stride(i))
            out_channels = conv.out_channels // 2 if acoustic_only and i == last else conv.out_channels
            total += 2 * conv.in_channels * out_channels * conv.kernel_size[0] * frames
        return total

    def _layer_weights(self, i: int, out_channels: int, scaled: bool = False):
        """(weight, bias, scale) of layer ``i`` with its eval-mode BatchNorm folded in, or ``None`` in training mode.

        ``BN(conv(x)) = (W·x + b − μ)·γ/√(σ²+ε) + β = W'·x + b'`` with ``W' = W·γ/√(σ²+ε)`` and
        ``b' = (b − μ)·γ/√(σ²+ε) + β``: one pass over the activations instead of two, exact up
        to float rounding, and differentiable w.r.t. all five tensors when they require grad
        (``scale`` is then ``None``). For frozen layers ``W'`` is cached; with ``scaled`` (the
        FFT path, which multiplies each tile's taps by ``γ/√(σ²+ε)`` as it builds them) the weight is
        ``W`` itself and only the per-channel ``scale`` and ``b'`` are kept, not a copy of ``W``.
        """
        conv, norm = self.convs[i], self.norms[i]
        if norm.training or norm.running_mean is None or norm.running_var is None:
            return None
        sources = (conv.weight, conv.bias, norm.weight, norm.bias, norm.running_mean, norm.running_var)
        if any(t is not None and t.requires_grad for t in sources):
            return (*_fold(sources, out_channels, norm.eps), None)
        # Holding the source tensors themselves makes identity checks safe (no address reuse).
        signature = tuple((t, t._version) if t is not None else None for t in sources)
        key = (i, out_channels, scaled)
        cached = self._folded_cache.get(key)
        if cached is None or not _same_sources(cached[0], signature):
            # Cached tensors must be ordinary ones even when first built under inference mode,
            # because a later loss pass saves them for backward.
            with torch.inference_mode(False), torch.no_grad():
                fold = _batchnorm_affine if scaled else _fold
                cached = (signature, *fold(sources, out_channels, norm.eps))
            self._folded_cache[key] = cached
        if scaled:
            return conv.weight[:out_channels], cached[2], cached[1]
        return cached[1], cached[2], None

    def _apply(self, fn, recurse=True):
        self._folded_cache = {}
        return super()._apply(fn, recurse)

    def __getstate__(self):
        state = super().__getstate__().copy()
        state["_folded_cache"] = {}  # derived data: never pickled or deep-copied (copy.deepcopy uses this too)
        return state

    def _layer(self, i: int, x: torch.Tensor, out_channels: int, stride: int, overwrite_input: bool = False):
        """Layer ``i``: convolution, BatchNorm (folded in eval mode) and leaky ReLU, by FFT where :mod:`metric.fftconv` chooses.

        ``overwrite_input``: ``x`` is not needed afterwards (see :func:`metric.fftconv.fft_conv1d`).
        The leaky ReLU runs in place (fused into the FFT path's output tiles with BatchNorm
        folded): autograd keeps only the result (valid for a slope > 0), which is also the next
        convolution's saved input — one stored activation per layer.
        """
        conv, norm = self.convs[i], self.norms[i]
        padding = conv.padding[0]
        block = fftconv.choose_block(x, conv.weight[:out_channels], stride, padding)
        folded = self._layer_weights(i, out_channels, scaled=block is not None)
        if folded is not None:
            weight, bias, scale = folded
            return fftconv.conv1d(x, weight, bias, stride, padding, scale=scale, block=block,
                                  overwrite_input=overwrite_input, negative_slope=LEAKY_SLOPE)
        x = fftconv.conv1d(x, conv.weight[:out_channels], conv.bias[:out_channels], stride, padding, block=block)
        mean, var = norm.running_mean, norm.running_var
        x = F.batch_norm(
            x,
            mean[:out_channels] if mean is not None else None,
            var[:out_channels] if var is not None else None,
            norm.weight[:out_channels] if norm.weight is not None else None,
            norm.bias[:out_channels] if norm.bias is not None else None,
            training=norm.training or mean is None,
            momentum=norm.momentum if norm.momentum is not None else 0.0,
            eps=norm.eps,
        )
        return F.leaky_relu(x, LEAKY_SLOPE, inplace=True)

    def features(self, x: torch.Tensor, lengths: torch.Tensor | None = None, acoustic_only: bool = False):
        """Last-layer feature map and its per-item valid lengths (``None`` when unpadded).

        Always in float32 or wider, also under ``torch.autocast``: with the convolutions in
        bfloat16 the distances were measured up to 66 % off and the loss gradient 15 % off
        (relative L2, median) on 0.25 s clips (docs/performance.md). On a CPU the wide layers
        go through the float32 FFT path anyway, so nothing is lost there.
        """
        with torch.autocast(x.device.type, enabled=False):
            return self._features(_at_least_float32(x), lengths, acoustic_only)

    def _features(self, x: torch.Tensor, lengths: torch.Tensor | None, acoustic_only: bool):
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            if lengths is not None and i > 0:
                x = _mask_beyond(x, lengths)
            stride = self.stride(i)
            out_channels = conv.out_channels // 2 if acoustic_only and i == last else conv.out_channels
            # Every input but the caller's own waveform is dropped once convolved.
            x = self._layer(i, x, out_channels, stride, overwrite_input=i > 0)
            if stride > 1 and lengths is not None:
                lengths = _decimated(lengths, stride)
        return x, lengths

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        acoustic_only: bool = False,
        *,
        chunk_samples: int | None = None,
    ):
        """Global-average-pooled embedding ``[B, C]`` (C = 1024, or 512 with ``acoustic_only``).

        ``chunk_samples`` encodes the input in chunks of about that many samples per item
        (see :meth:`pooled_in_chunks`); by default that happens on its own when no graph is
        needed and the batch holds more than ``LONG_INPUT_SAMPLES`` samples, so long files
        score in bounded memory with the same result.
        """
        if chunk_samples is None and x.shape[0] * x.shape[-1] > LONG_INPUT_SAMPLES and not self._needs_graph(x):
            chunk_samples = max(LONG_INPUT_SAMPLES // x.shape[0], 64 * self.decimation)
        if chunk_samples is not None and chunk_samples < x.shape[-1]:
            return self.pooled_in_chunks(x, lengths, acoustic_only, chunk_samples)
        features, out_lengths = self.features(x, lengths, acoustic_only)
        if out_lengths is None:
            return features.mean(dim=-1)
        features = _mask_beyond(features, out_lengths)
        return features.sum(dim=-1) / out_lengths.to(features.dtype)[:, None]

    def _needs_graph(self, x: torch.Tensor) -> bool:
        return torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters()))

    def pooled_in_chunks(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None,
        acoustic_only: bool,
        chunk_samples: int,
    ) -> torch.Tensor:
        """The pooled embedding of :meth:`forward`, computed chunk by chunk in bounded memory.

        Global average pooling is a sum over last-layer frames, and each frame depends only on
        the input within its receptive field. Every chunk owns a run of frames, is cut from the
        input with :func:`context_frames` of context each side (none past the true ends, whose
        zero padding is real), starts on a multiple of the decimation factor (16) so that the
        stride-2 layers keep the same samples as on the whole input, and contributes the exact
        sum of its own frames. The result equals the whole-input computation up to float
        summation order. Memory scales with ``chunk_samples``, not with the input length.
        """
        total = x.shape[-1]
        step = self.decimation
        frames_total = -(-total // step)
        frames_per_chunk = max(1, int(chunk_samples) // step)
        context = context_frames(self.layers, KERNEL_SIZE, self.front_stride, self.front_kernel)
        if lengths is not None:
            lengths = lengths.to(device=x.device, dtype=torch.int64)
            valid_frames = torch.div(lengths + step - 1, step, rounding_mode="floor")
        pooled = None
        for first in range(0, frames_total, frames_per_chunk):
            stop = min(frames_total, first + frames_per_chunk)
            start_sample = max(0, first - context) * step
            stop_sample = min(total, (stop + context) * step)
            local_lengths = None
            if lengths is not None:
                local_lengths = (lengths - start_sample).clamp(0, stop_sample - start_sample)
            features, _ = self.features(x[..., start_sample:stop_sample], local_lengths, acoustic_only)
            offset = start_sample // step
            own = features[..., first - offset : stop - offset]
            if lengths is not None:
                own = _mask_beyond(own, (valid_frames - first).clamp(min=0))
            part = own.sum(dim=-1)
            pooled = part if pooled is None else pooled + part
        if lengths is None:
            return pooled / frames_total
        return pooled / valid_frames.to(pooled.dtype)[:, None]


def split_embedding(embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(acoustic, content) halves of a 1024-d embedding."""
    half = embedding.shape[-1] // 2
    return embedding[..., :half], embedding[..., half:]


class ProjectionHead(nn.Module):
    """512 → 512 (BatchNorm, leaky ReLU, dropout) → 256 (dropout), for NT-Xent pre-training.

    As the released ``projection_head`` (``cdpam`` package, ``models.py``: ``proj_dp=0.25``,
    a dropout after each of the two layers). ``output_dropout=False`` drops the second one.
    """

    def __init__(self, input_dim: int = ACOUSTIC_DIM, widths=PROJECTION_WIDTHS, dropout: float = 0.25,
                 output_dropout: bool = True):
        super().__init__()
        hidden, out = widths
        layers = [nn.Linear(input_dim, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(), nn.Dropout(dropout), nn.Linear(hidden, out)]
        if output_dropout:
            layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.layers(embedding)


class LossNet(nn.Module):
    """Distance between two acoustic embeddings ``[B, 512]`` → ``[B]``.

    ``d(a, b) = Σ_{l=1..4} Σ_c |w_{l,c} (φ_l(b) − φ_l(a))_c|`` where ``φ_l`` is the
    output of the l-th Linear layer (leaky ReLU, slope 0.01, after the first three).
    """

    def __init__(self, input_dim: int = ACOUSTIC_DIM, widths=LOSSNET_WIDTHS):
        super().__init__()
        dims = [input_dim, *widths]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.channel_weights = nn.ParameterList(nn.Parameter(torch.randn(w)) for w in widths)

    def forward(self, reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
        # Sums of small differences: float32 even under autocast (a bfloat16 distance keeps ~2 digits).
        with torch.autocast(reference.device.type, enabled=False):
            return self._distance(_at_least_float32(reference), _at_least_float32(estimate))

    def _distance(self, reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
        distance = reference.new_zeros(reference.shape[0])
        last = len(self.layers) - 1
        for i, (layer, weight) in enumerate(zip(self.layers, self.channel_weights)):
            reference, estimate = layer(reference), layer(estimate)
            if i < last:
                reference, estimate = F.leaky_relu(reference), F.leaky_relu(estimate)
            distance = distance + ((estimate - reference) * weight).abs().sum(dim=-1)
        return distance


class JudgmentHead(nn.Module):
    """Distance ``[B]`` → logits ``[B, 2]`` (0 = same, 1 = different)."""

    def __init__(self, widths=JUDGMENT_WIDTHS, dropout: float = 0.05):
        super().__init__()
        first, second = widths
        self.layers = nn.Sequential(
            nn.Linear(1, first),
            nn.LeakyReLU(),
            nn.Dropout(dropout),
            nn.Linear(first, second),
            nn.LeakyReLU(),
            nn.Dropout(dropout),
            nn.Linear(second, 2),
        )

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        return self.layers(distance[:, None])


@dataclass
class Embeddings:
    acoustic: torch.Tensor
    content: torch.Tensor | None


ARCHITECTURE_KEYS = ("encoder_layers", "encoder_base_channels", "encoder_head_channels", "encoder_front_stride",
                     "encoder_front_kernel")


def network_from_config(model) -> "CDPAMNetwork":
    """A fresh network from a mapping of ``CDPAMNetwork`` arguments (training's ``model.*``; other keys ignored)."""
    return CDPAMNetwork(**{key: model[key] for key in ARCHITECTURE_KEYS if key in model})


class CDPAMNetwork(nn.Module):
    """Encoder + loss-net + judgment head: the complete metric network.

    Args:
        encoder_layers: encoder depth, a multiple of 4 (16 as released).
        encoder_base_channels: channels of the first layers, doubled every 4th layer
            (64 as released; ``model=small``/``tiny`` training uses 16/8).
        encoder_head_channels: width of a pointwise head after the last convolution
            (``None`` as released: no head); the distilled student uses 1024, so that its
            512-d acoustic half feeds the released loss-net.
        encoder_front_stride: stride of the first layer (1 as released).
        encoder_front_kernel: kernel of the first layer (15 as released).

    The loss-net's input follows the encoder (half its embedding width). The projection
    head lives with the contrastive training stage, not here, because the distance never
    uses it.
    """

    def __init__(self, encoder_layers: int = ENCODER_LAYERS, encoder_base_channels: int = ENCODER_BASE_CHANNELS,
                 encoder_head_channels: int | None = None, encoder_front_stride: int = 1,
                 encoder_front_kernel: int = KERNEL_SIZE):
        super().__init__()
        self.encoder = Encoder(encoder_layers, encoder_base_channels, encoder_head_channels, encoder_front_stride,
                               encoder_front_kernel)
        self.lossnet = LossNet(input_dim=self.encoder.embedding_dim // 2)
        self.judgment = JudgmentHead()

    @property
    def architecture(self) -> dict[str, int]:
        """The constructor arguments that rebuild this network: ``CDPAMNetwork(**net.architecture)``.

        The student options appear only when they differ from the released network.
        """
        encoder = self.encoder
        architecture = {"encoder_layers": encoder.layers, "encoder_base_channels": encoder.base_channels}
        if encoder.head_channels is not None:
            architecture["encoder_head_channels"] = encoder.head_channels
        if encoder.front_stride != 1:
            architecture["encoder_front_stride"] = encoder.front_stride
        if encoder.front_kernel != KERNEL_SIZE:
            architecture["encoder_front_kernel"] = encoder.front_kernel
        return architecture

    def acoustic_embedding(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised acoustic embedding of int16-range waveforms ``[B, 1, T]``."""
        acoustic = self.encoder(waveform, lengths, acoustic_only=True)
        return F.normalize(acoustic, dim=-1)

    def distance_from_embeddings(self, reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
        return self.lossnet(reference, estimate)

    def forward(
        self,
        reference: torch.Tensor,
        estimate: torch.Tensor,
        reference_lengths: torch.Tensor | None = None,
        estimate_lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        ref = self.acoustic_embedding(reference, reference_lengths)
        est = self.acoustic_embedding(estimate, estimate_lengths)
        return self.lossnet(ref, est)
