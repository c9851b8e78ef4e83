"""``CDPAM``: the metric as an ``nn.Module`` that owns no trainable state.

The frozen network is shared between instances (loaded once per process) and
is deliberately *not* a registered submodule: a trainee that holds a ``CDPAM``
gets no extra parameters in its optimiser and no 26 M frozen weights in its
``state_dict``. ``.to(device)`` / ``.double()`` on the module (or on a model
that contains it) still move the network, through ``_apply``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .audio import check_pair, check_prepared_pair, check_sample_rate, to_model_input
from .functional import distance_from_prepared, shared_network
from .model import CDPAMNetwork


class CDPAM(nn.Module):
    """CDPAM perceptual distance (Manocha et al., ICASSP 2021).

    Args:
        sample_rate: sample rate of the audio you will pass, in Hz (required).
        weights: ``"official"`` or the path of a checkpoint trained with this project.
        pcm: ``"float"`` for [-1, 1] floats (default) or ``"int16"`` for 16-bit PCM values.
        channels: ``"error"``, ``"mean"`` or ``"first"`` for multi-channel input.

    ``forward(reference, estimate, lengths=None) -> Tensor[B]``; see
    :func:`metric.functional.cdpam_distance` for the input contract.

    Example::

        cdpam = CDPAM(sample_rate=16000)
        d = cdpam(clean, enhanced)            # [B], differentiable w.r.t. enhanced
    """

    is_differentiable = True
    higher_is_better = False

    def __init__(
        self,
        sample_rate: int,
        weights: str | Path = "official",
        *,
        pcm: str = "float",
        channels: str = "error",
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.weights = str(weights)
        self.pcm = pcm
        self.channels = channels
        self._device = torch.device("cpu")
        self._dtype = torch.float32
        self.network  # noqa: B018 - load now so that a bad weights path fails at construction

    @property
    def network(self) -> CDPAMNetwork:
        """The shared frozen network on this module's device and dtype."""
        return shared_network(self.weights, self._device, self._dtype)

    def _apply(self, fn, recurse=True):
        # Learn where .to()/.cuda()/.double() sends tensors by applying it to a probe.
        probe = fn(torch.empty(0, device=self._device, dtype=self._dtype))
        self._device = probe.device
        if probe.is_floating_point():
            self._dtype = probe.dtype if probe.dtype in (torch.float32, torch.float64) else torch.float32
        return super()._apply(fn, recurse)

    @property
    def device(self) -> torch.device:
        return self._device

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, weights={self.weights!r}, device={self._device}"

    def prepare(self, audio, lengths=None, name: str = "audio"):
        prepared = to_model_input(audio, self.sample_rate, lengths, name=name, pcm=self.pcm, channels=self.channels)
        prepared.waveform = prepared.waveform.to(device=self._device, dtype=self._dtype)
        if prepared.lengths is not None:
            prepared.lengths = prepared.lengths.to(self._device)
        return prepared

    def forward(self, reference, estimate, lengths=None) -> torch.Tensor:
        check_pair(reference, estimate)
        ref = self.prepare(reference, lengths, "reference")
        est = self.prepare(estimate, lengths, "estimate")
        check_prepared_pair(ref, est)
        return distance_from_prepared(self.network, ref, est)
