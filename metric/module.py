"""``CDPAM``: the metric as an ``nn.Module`` that owns no trainable state.

The frozen network is shared between instances (loaded once per process) and
is deliberately *not* a registered submodule: a trainee that holds a ``CDPAM``
gets no extra parameters in its optimiser and no 26 M frozen weights in its
``state_dict``. ``.to(device)`` / ``.double()`` on the module (or on a model
that contains it) still move the network, through ``_apply``.

``embed`` and ``distance_from_embeddings`` split the distance in two, so that a
recording compared with many others runs through the encoder once.
"""

from __future__ import annotations

import torch
from torch import nn

from .audio import ArrayLike, LengthsLike, PreparedBatch, check_pair, check_prepared_pair, check_sample_rate, to_model_input
from .functional import Weights, distance_between_embeddings, distance_from_prepared, embedding_from_prepared, resolve_network
from .model import CDPAMNetwork


class CDPAM(nn.Module):
    """CDPAM perceptual distance (Manocha et al., ICASSP 2021).

    Args:
        sample_rate: sample rate of the audio you will pass, in Hz (required).
        weights: ``"official"``, ``"lite"`` (CDPAM-lite: a distilled approximation at 1/55 of the
            encoder FLOPs; on held-out audio Spearman 0.96 with the exact distances and 93 % of the
            exact triplet preferences, docs/lite.md), the path of a checkpoint
            trained with this project (any encoder width), or a :class:`~metric.model.CDPAMNetwork` (used as it is, put in
            eval mode; ``.to()`` on this module moves it).
        pcm: ``"float"`` for [-1, 1] floats (default) or ``"int16"`` for 16-bit PCM values.
        channels: ``"error"``, ``"mean"`` or ``"first"`` for multi-channel input.

    ``forward(reference, estimate, lengths=None) -> Tensor[B]``; see
    :func:`metric.functional.cdpam_distance` for the input contract.

    Example::

        cdpam = CDPAM(sample_rate=16000)
        d = cdpam(clean, enhanced)            # [B], differentiable w.r.t. enhanced

        reference = cdpam.embed(clean[:1])    # embed once ...
        d = cdpam.distance_from_embeddings(reference, cdpam.embed(candidates))  # ... compare many
    """

    is_differentiable = True
    higher_is_better = False

    def __init__(
        self,
        sample_rate: int,
        *,
        weights: Weights = "official",
        pcm: str = "float",
        channels: str = "error",
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.pcm = pcm
        self.channels = channels
        self._device = torch.device("cpu")
        self._dtype = torch.float32
        given = weights.eval() if isinstance(weights, CDPAMNetwork) else None
        # A plain attribute, not a registered submodule: the network stays out of the parameters
        # and state_dict of this module and of any model that holds it.
        object.__setattr__(self, "_given_network", given)
        if given is not None:
            parameter = next(given.parameters())
            self._device, self._dtype = parameter.device, parameter.dtype
            self.weights = "<CDPAMNetwork>"
        else:
            self.weights = str(weights)
        self.network  # noqa: B018 - load now so that a bad weights path fails at construction

    @property
    def network(self) -> CDPAMNetwork:
        """The frozen network on this module's device and dtype (shared, or the one given)."""
        if self._given_network is not None:
            return self._given_network
        return resolve_network(self.weights, self._device, self._dtype)

    def _apply(self, fn, recurse=True):
        # Learn where .to()/.cuda()/.double() sends tensors by applying it to a probe.
        probe = fn(torch.empty(0, device=self._device, dtype=self._dtype))
        self._device = probe.device
        if probe.is_floating_point():
            self._dtype = probe.dtype if probe.dtype in (torch.float32, torch.float64) else torch.float32
        if self._given_network is not None:
            self._given_network.to(device=self._device, dtype=self._dtype)
        return super()._apply(fn, recurse)

    @property
    def device(self) -> torch.device:
        return self._device

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, weights={self.weights!r}, device={self._device}"

    def prepare(self, audio: ArrayLike, lengths: LengthsLike | None = None, name: str = "audio") -> PreparedBatch:
        """Validate ``audio`` and convert it to the network's input (22,050 Hz, int16 range) on this device."""
        prepared = to_model_input(audio, self.sample_rate, lengths, name=name, pcm=self.pcm, channels=self.channels)
        prepared.waveform = prepared.waveform.to(device=self._device, dtype=self._dtype)
        if prepared.lengths is not None:
            prepared.lengths = prepared.lengths.to(self._device)
        return prepared

    def forward(self, reference: ArrayLike, estimate: ArrayLike, lengths: LengthsLike | None = None) -> torch.Tensor:
        """Distances ``[B]`` between ``reference`` and ``estimate`` (same shape; ``lengths`` of a padded batch)."""
        check_pair(reference, estimate)
        ref = self.prepare(reference, lengths, "reference")
        est = self.prepare(estimate, lengths, "estimate")
        check_prepared_pair(ref, est)
        return distance_from_prepared(self.network, ref, est)

    def embed(self, audio: ArrayLike, lengths: LengthsLike | None = None) -> torch.Tensor:
        """Acoustic embeddings ``[B, 512]`` of ``audio`` (``[T]``, ``[B, T]``, ``[B, 1, T]``; any padding with ``lengths``).

        These are what :meth:`distance_from_embeddings` compares (L2-normalised acoustic halves
        of the encoder's pooled embedding; ``C/2`` wide for a network of another width). Each
        item's embedding is independent of the rest of the batch and of its padded tail.
        Differentiable with respect to ``audio`` when it requires gradients.
        """
        return embedding_from_prepared(self.network, self.prepare(audio, lengths))

    def distance_from_embeddings(self, reference_embedding: torch.Tensor, estimate_embedding: torch.Tensor) -> torch.Tensor:
        """Distances ``[B]`` between embeddings from :meth:`embed`: ``self(ref, est)`` equals
        ``self.distance_from_embeddings(self.embed(ref), self.embed(est))``.

        Both ``[B, 512]``, or one side a single row (``[512]`` or ``[1, 512]``) compared with
        every row of the other.
        """
        return distance_between_embeddings(self.network, reference_embedding, estimate_embedding)
