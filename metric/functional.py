"""Stateless entry points: ``cdpam_distance`` and the shared, frozen networks behind it.

    d(ref, est) = LossNet( n(E_a(s(ref))), n(E_a(s(est))) )

where ``s`` resamples to 22,050 Hz and scales to the int16 range, ``E_a`` is the
acoustic half of the encoder's pooled embedding and ``n`` is L2 normalisation
(Manocha et al., ICASSP 2021, §3.2). Lower is more similar; ``d(x, x) = 0``.
The two halves — ``n(E_a(s(x)))`` and the loss-net — are :func:`embedding_from_prepared`
and :func:`distance_between_embeddings`, behind ``CDPAM.embed`` and
``CDPAM.distance_from_embeddings``.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Union

import torch

from .audio import ArrayLike, LengthsLike, PreparedBatch, check_pair, check_prepared_pair, to_model_input
from .model import CDPAMNetwork
from .weights import NAMED_WEIGHTS, load_network

Weights = Union[str, Path, CDPAMNetwork]
"""What ``weights=`` accepts: ``"official"``, ``"lite"`` (the distilled approximation, docs/lite.md), a
checkpoint path (any width) or a network."""

_LOCK = threading.Lock()
_MASTERS: dict[str, CDPAMNetwork] = {}
_COPIES: dict[tuple[str, str, torch.dtype], CDPAMNetwork] = {}


def _weights_key(weights: str | Path) -> str:
    return str(weights) if str(weights) in NAMED_WEIGHTS else str(Path(weights).expanduser().resolve())


def shared_network(
    weights: str | Path = "official", device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> CDPAMNetwork:
    """The frozen eval-mode network for ``weights`` on ``device``/``dtype``, loaded once per process."""
    key = _weights_key(weights)
    device = torch.device(device)
    with _LOCK:
        cached = _COPIES.get((key, str(device), dtype))
        if cached is not None:
            return cached
        master = _MASTERS.get(key)
        if master is None:
            master = load_network(weights)
            _MASTERS[key] = master
        if device.type == "cpu" and dtype == torch.float32:
            network = master
        else:
            # Module.to() works in place: copy first so the CPU float32 master stays intact.
            network = copy.deepcopy(master).to(device=device, dtype=dtype)
        network.eval()
        network.requires_grad_(False)
        _COPIES[(key, str(device), dtype)] = network
        return network


def clear_network_cache() -> None:
    """Forget loaded networks (frees memory; the next call reloads from the converted cache)."""
    with _LOCK:
        _MASTERS.clear()
        _COPIES.clear()


def resolve_network(
    weights: Weights, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> CDPAMNetwork:
    """The network that ``weights`` names: the shared frozen copy of a file, or a given network as it is."""
    if isinstance(weights, CDPAMNetwork):
        return weights
    if not isinstance(weights, (str, Path)):
        raise TypeError(
            f"weights must be 'official', the path of a checkpoint or a metric.model.CDPAMNetwork, got "
            f"{type(weights).__name__}."
        )
    return shared_network(weights, device, dtype)


def embedding_from_prepared(network: CDPAMNetwork, prepared: PreparedBatch) -> torch.Tensor:
    """L2-normalised acoustic embeddings ``[B, C/2]`` of a :class:`~metric.audio.PreparedBatch`.

    Without a graph to build (the audio does not require gradients, or grad mode is off) the
    encoder runs in inference mode and, for long inputs, chunk by chunk in bounded memory
    (:meth:`Encoder.pooled_in_chunks <metric.model.Encoder.pooled_in_chunks>`); the result is
    a plain tensor again, so it may join later autograd code. Otherwise gradients flow to the
    audio (never to the frozen weights).
    """
    if torch.is_grad_enabled() and prepared.waveform.requires_grad:
        return network.acoustic_embedding(prepared.waveform, prepared.lengths)
    with torch.inference_mode():
        embedding = network.acoustic_embedding(prepared.waveform, prepared.lengths)
    return embedding.clone()


def distance_between_embeddings(
    network: CDPAMNetwork, reference_embedding: torch.Tensor, estimate_embedding: torch.Tensor
) -> torch.Tensor:
    """The loss-net distance ``[B]`` between acoustic embeddings ``[B, C/2]`` (a ``[C/2]`` or
    ``[1, C/2]`` side is compared with every item of the other)."""
    width = network.lossnet.layers[0].in_features
    reference, estimate = (
        _as_embedding_batch(e, name, width)
        for e, name in ((reference_embedding, "reference_embedding"), (estimate_embedding, "estimate_embedding"))
    )
    if reference.shape[0] != estimate.shape[0] and 1 not in (reference.shape[0], estimate.shape[0]):
        raise ValueError(
            f"reference_embedding has {reference.shape[0]} rows and estimate_embedding {estimate.shape[0]}; pass the "
            f"same number, or one row to compare with all of the other side."
        )
    reference, estimate = torch.broadcast_tensors(reference, estimate)
    return network.lossnet(reference, estimate)


def _as_embedding_batch(embedding: torch.Tensor, name: str, width: int) -> torch.Tensor:
    if not isinstance(embedding, torch.Tensor) or embedding.dim() not in (1, 2) or embedding.shape[-1] != width:
        shape = tuple(embedding.shape) if isinstance(embedding, torch.Tensor) else type(embedding).__name__
        raise ValueError(
            f"{name} has shape {shape}; expected [B, {width}] or [{width}], acoustic embeddings as returned by "
            f"CDPAM.embed with the same weights."
        )
    return embedding if embedding.dim() == 2 else embedding[None]


def distance_from_prepared(network: CDPAMNetwork, reference: PreparedBatch, estimate: PreparedBatch) -> torch.Tensor:
    """Distance between two :class:`~metric.audio.PreparedBatch` es with ``network``.

    As a loss, the reference branch builds no graph unless the reference itself requires
    gradients; the network's weights never do.
    """
    return network.lossnet(embedding_from_prepared(network, reference), embedding_from_prepared(network, estimate))


def cdpam_distance(
    reference: ArrayLike,
    estimate: ArrayLike,
    sample_rate: int,
    *,
    lengths: LengthsLike | None = None,
    weights: Weights = "official",
    pcm: str = "float",
    channels: str = "error",
) -> torch.Tensor:
    """CDPAM distance per item, ``[B]`` (``[1]`` for a single waveform).

    Args:
        reference: clean / target audio, ``[T]``, ``[B, T]`` or ``[B, 1, T]``, floats in [-1, 1].
        estimate: the audio to judge, same shape as ``reference``. Gradients flow to it.
        sample_rate: sample rate of both, in Hz (resampled to 22,050 Hz inside).
        lengths: valid samples per item of a padded batch — absolute counts, or relative
            lengths in (0, 1] as SpeechBrain passes them. Each item then scores exactly as it
            would alone, whatever the samples beyond its length hold.
        weights: ``"official"`` (the released CDPAM), ``"lite"`` (CDPAM-lite, a distilled
            approximation; docs/lite.md), the path of a checkpoint written by
            this project's training (any encoder width), or a :class:`~metric.model.CDPAMNetwork`.
        pcm: ``"float"`` for [-1, 1] floats; ``"int16"`` for 16-bit PCM values.
        channels: ``"error"`` (default) rejects multi-channel input; ``"mean"``
            downmixes; ``"first"`` keeps the first channel.

    Returns:
        Distances ``[B]`` on the inputs' device; 0 for identical inputs, larger is
        more different (about 0.17 and 0.24 for the official sample clips).
    """
    check_pair(reference, estimate)
    ref = to_model_input(reference, sample_rate, lengths, name="reference", pcm=pcm, channels=channels)
    est = to_model_input(estimate, sample_rate, lengths, name="estimate", pcm=pcm, channels=channels)
    check_prepared_pair(ref, est)
    if isinstance(weights, CDPAMNetwork):
        parameter = next(weights.parameters())
        device, dtype = parameter.device, parameter.dtype
    else:
        device, dtype = est.waveform.device, torch.promote_types(ref.waveform.dtype, est.waveform.dtype)
    network = resolve_network(weights, device, dtype)
    for prepared in (ref, est):
        prepared.waveform = prepared.waveform.to(device=device, dtype=dtype)
        if prepared.lengths is not None:
            prepared.lengths = prepared.lengths.to(device)
    return distance_from_prepared(network, ref, est)
