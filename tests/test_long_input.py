"""Chunked encoding of long inputs: same pooled embedding and distance as the whole input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metric.model as model_module
from metric import cdpam_distance
from metric.functional import shared_network
from metric.model import DECIMATION, context_frames, receptive_field


@pytest.fixture(scope="module")
def encoder():
    return shared_network().encoder


def _speech_batch(clips, lengths):
    total = max(lengths)
    batch = np.zeros((len(lengths), 1, total), np.float32)
    for i, n in enumerate(lengths):
        start = 3001 * i
        batch[i, 0, :n] = clips["ref"][start : start + n]
    return torch.from_numpy(batch) * 32768.0


def test_context_covers_the_receptive_field():
    # 27 frames of 16 samples (432) reach past the 420 samples each side of a frame's field.
    assert context_frames() * DECIMATION >= (receptive_field() - 1) // 2
    assert (context_frames() - 1) * DECIMATION < (receptive_field() - 1) // 2


@pytest.mark.parametrize("chunk_samples", [1000, 2768])
def test_chunks_give_the_whole_input_embedding(encoder, clips, chunk_samples):
    x = _speech_batch(clips, [9001, 9001])
    with torch.inference_mode():
        whole = encoder(x, acoustic_only=True, chunk_samples=10**9)
        chunked = encoder(x, acoustic_only=True, chunk_samples=chunk_samples)
    assert chunked.shape == whole.shape == (2, 512)
    assert torch.allclose(chunked, whole, atol=1e-5, rtol=0), (chunked - whole).abs().max()


def test_chunks_respect_padded_lengths(encoder, clips):
    lengths = [9001, 5333, 2100]
    x = _speech_batch(clips, lengths)
    lengths_tensor = torch.tensor(lengths)
    with torch.inference_mode():
        whole = encoder(x, lengths_tensor, acoustic_only=True, chunk_samples=10**9)
        chunked = encoder(x, lengths_tensor, acoustic_only=True, chunk_samples=1500)
        alone = encoder(x[2:, :, : lengths[2]], acoustic_only=True, chunk_samples=10**9)
    assert torch.allclose(chunked, whole, atol=1e-5, rtol=0), (chunked - whole).abs().max()
    assert torch.allclose(chunked[2:], alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("layers", [8, 20])
def test_chunks_are_exact_for_encoders_of_another_depth(clips, layers):
    # Another depth decimates by another factor (4 for 8 layers, 32 for 20) and needs other context.
    torch.manual_seed(layers)
    encoder = model_module.Encoder(layers, 4).eval().requires_grad_(False)
    for norm in encoder.norms:
        norm.running_var.uniform_(0.5, 2.0)
    lengths = torch.tensor([9001, 5333])
    x = _speech_batch(clips, lengths.tolist())
    with torch.inference_mode():
        whole = encoder(x, lengths, chunk_samples=10**9)
        chunked = encoder(x, lengths, chunk_samples=1000)
    assert encoder.decimation == 2 ** (layers // 4)
    assert torch.allclose(chunked, whole, atol=1e-5 * float(whole.abs().max()), rtol=0), (chunked - whole).abs().max()


def test_too_little_context_would_be_detected(encoder, clips, monkeypatch):
    # The equality above is not vacuous: cutting the context short changes the result.
    x = _speech_batch(clips, [9001])
    with torch.inference_mode():
        whole = encoder(x, acoustic_only=True, chunk_samples=10**9)
        monkeypatch.setattr(model_module, "context_frames", lambda *a, **k: 4)
        short = encoder(x, acoustic_only=True, chunk_samples=1000)
    assert (short - whole).abs().max() > 1e-4


def test_scoring_switches_to_chunks_above_the_threshold(clips, monkeypatch):
    ref = torch.from_numpy(clips["ref"][:16000])
    est = torch.from_numpy(clips["4"][:16000])
    whole = cdpam_distance(ref, est, 16000)
    calls = []
    original = model_module.Encoder.pooled_in_chunks

    def spy(self, *args, **kwargs):
        calls.append(torch.is_grad_enabled())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(model_module.Encoder, "pooled_in_chunks", spy)
    monkeypatch.setattr(model_module, "LONG_INPUT_SAMPLES", 8000)
    chunked = cdpam_distance(ref, est, 16000)
    assert calls, "scoring an input above LONG_INPUT_SAMPLES did not use chunks"
    assert abs(float(chunked) - float(whole)) < 1e-5

    # As a loss, only the graph-free reference branch may use chunks; gradients still flow.
    calls.clear()
    est_grad = est.clone().requires_grad_(True)
    distance = cdpam_distance(ref, est_grad, 16000)
    distance.sum().backward()
    assert calls == [False]
    assert abs(float(distance.detach()) - float(whole)) < 1e-5
    assert est_grad.grad is not None and est_grad.grad.abs().sum() > 0
