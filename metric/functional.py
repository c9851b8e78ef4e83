"""Stateless entry points: ``cdpam_distance`` and the shared, frozen networks behind it.

    d(ref, est) = LossNet( n(E_a(s(ref))), n(E_a(s(est))) )

where ``s`` resamples to 22,050 Hz and scales to the int16 range, ``E_a`` is the
acoustic half of the encoder's pooled embedding and ``n`` is L2 normalisation
(Manocha et al., ICASSP 2021, §3.2). Lower is more similar; ``d(x, x) = 0``.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import torch

from .audio import check_pair, check_prepared_pair, to_model_input
from .model import CDPAMNetwork
from .weights import load_network

_LOCK = threading.Lock()
_MASTERS: dict[str, CDPAMNetwork] = {}
_COPIES: dict[tuple[str, str, torch.dtype], CDPAMNetwork] = {}


def _weights_key(weights: str | Path) -> str:
    return "official" if str(weights) == "official" else str(Path(weights).expanduser().resolve())


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


def distance_from_prepared(network: CDPAMNetwork, reference, estimate) -> torch.Tensor:
    """Distance between two :class:`~metric.audio.PreparedBatch` es with ``network``.

    Scoring (no input requires grad, or grad mode is off) runs in inference mode and,
    for long inputs, chunk by chunk in bounded memory (:meth:`Encoder.pooled_in_chunks
    <metric.model.Encoder.pooled_in_chunks>`). As a loss, the reference branch builds no
    graph unless the reference itself requires gradients; the network's weights never do.
    """
    needs_graph = torch.is_grad_enabled()
    if not (needs_graph and (reference.waveform.requires_grad or estimate.waveform.requires_grad)):
        with torch.inference_mode():
            distance = network(reference.waveform, estimate.waveform, reference.lengths, estimate.lengths)
        # A plain tensor again, so that callers may mix it into autograd code.
        return distance.clone()
    with torch.set_grad_enabled(needs_graph and reference.waveform.requires_grad):
        ref_embedding = network.acoustic_embedding(reference.waveform, reference.lengths)
    with torch.set_grad_enabled(needs_graph and estimate.waveform.requires_grad):
        est_embedding = network.acoustic_embedding(estimate.waveform, estimate.lengths)
    return network.lossnet(ref_embedding, est_embedding)


def cdpam_distance(
    reference,
    estimate,
    sample_rate: int,
    lengths=None,
    *,
    weights: str | Path = "official",
    pcm: str = "float",
    channels: str = "error",
) -> torch.Tensor:
    """CDPAM distance per item, ``[B]`` (``[1]`` for a single waveform).

    Args:
        reference: clean / target audio, ``[T]``, ``[B, T]`` or ``[B, 1, T]``, floats in [-1, 1].
        estimate: the audio to judge, same shape as ``reference``. Gradients flow to it.
        sample_rate: sample rate of both, in Hz (resampled to 22,050 Hz inside).
        lengths: valid samples per item of a zero-padded batch — absolute counts, or
            relative lengths in (0, 1] as SpeechBrain passes them. Each item then scores
            exactly as it would alone.
        weights: ``"official"`` (the released CDPAM) or the path of a checkpoint
            written by this project's training.
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
    dtype = torch.promote_types(ref.waveform.dtype, est.waveform.dtype)
    network = shared_network(weights, est.waveform.device, dtype)
    ref.waveform, est.waveform = ref.waveform.to(dtype), est.waveform.to(dtype)
    return distance_from_prepared(network, ref, est)
