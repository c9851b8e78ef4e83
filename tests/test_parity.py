"""The re-implementation against the official CDPAM: golden distances, padded batches, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metric import CDPAM, cdpam_distance
from metric.functional import shared_network


def test_official_golden_distances(clips, golden):
    cases = golden["cases"]
    ref = torch.from_numpy(np.stack([clips[c["ref"]] for c in cases]))
    deg = torch.from_numpy(np.stack([clips[c["deg"]] for c in cases]))
    distances = cdpam_distance(ref, deg, sample_rate=22050)
    expected = torch.tensor([c["dist"] for c in cases])
    assert distances.shape == (len(cases),)
    assert torch.allclose(distances, expected, atol=1e-4, rtol=0), (distances, expected)


def test_single_waveform_matches_batched(clips):
    single = cdpam_distance(clips["ref"][:22050], clips["2"][:22050], 22050)
    batched = cdpam_distance(clips["ref"][None, None, :22050], clips["2"][None, None, :22050], 22050)
    assert single.shape == (1,) and batched.shape == (1,)
    assert abs(float(single) - float(batched)) < 1e-6


@pytest.mark.parametrize("sample_rate", [22050, 16000])
def test_padded_batch_scores_each_item_as_alone(clips, sample_rate):
    lengths = [int(0.5 * sample_rate), int(0.8 * sample_rate), int(0.35 * sample_rate)]
    total = max(lengths)
    rng = np.random.default_rng(1)
    refs = np.zeros((3, total), np.float32)
    ests = np.zeros((3, total), np.float32)
    alone = []
    for i, n in enumerate(lengths):
        start = int(rng.integers(0, len(clips["ref"]) - n))
        ref = clips["ref"][start : start + n]
        est = clips["4"][start : start + n]
        refs[i, :n], ests[i, :n] = ref, est
        alone.append(float(cdpam_distance(ref, est, sample_rate)))
    padded = cdpam_distance(refs, ests, sample_rate, lengths=lengths)
    relative = cdpam_distance(refs, ests, sample_rate, lengths=torch.tensor(lengths) / total)
    assert np.allclose(padded.numpy(), alone, atol=1e-5, rtol=0), (padded, alone)
    assert np.allclose(relative.numpy(), alone, atol=1e-5, rtol=0)
    # Without lengths the padding is scored as signal: the result must differ (the official behaviour).
    unpadded = cdpam_distance(refs, ests, sample_rate)
    assert abs(float(unpadded[2]) - alone[2]) > 1e-3


def test_gradient_matches_finite_differences_in_float64(clips):
    metric = CDPAM(sample_rate=22050).double()
    ref = torch.from_numpy(clips["ref"][10000:12205].astype(np.float64))[None]
    est = torch.from_numpy(clips["2"][10000:12205].astype(np.float64))[None].requires_grad_(True)
    distance = metric(ref, est).sum()
    (grad,) = torch.autograd.grad(distance, est)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    generator = torch.Generator().manual_seed(3)
    step = 1e-8  # small enough not to cross leaky-ReLU kinks in the int16-scaled domain
    for _ in range(3):
        direction = torch.randn(est.shape, generator=generator, dtype=torch.float64)
        direction /= direction.norm()
        with torch.no_grad():
            plus = metric(ref, est + step * direction).sum()
            minus = metric(ref, est - step * direction).sum()
        numeric = float((plus - minus) / (2 * step))
        analytic = float((grad * direction).sum())
        assert abs(numeric - analytic) <= 1e-5 + 1e-4 * abs(analytic), (numeric, analytic)


def test_module_owns_no_trainable_state_and_stays_in_eval(clips):
    metric = CDPAM(sample_rate=22050)
    assert list(metric.parameters()) == []
    assert metric.state_dict() == {}
    metric.train()
    assert not metric.network.training
    assert not any(p.requires_grad for p in metric.network.parameters())
    ref = torch.from_numpy(clips["ref"][:8000])[None]
    est = torch.from_numpy(clips["2"][:8000])[None].requires_grad_(True)
    first = metric(ref, est)
    second = metric(ref, est)  # batch-norm statistics must not move in train mode
    assert torch.equal(first, second)
    first.sum().backward()
    assert est.grad is not None and torch.isfinite(est.grad).all()


def test_double_moves_the_network_dtype_and_back():
    metric = CDPAM(sample_rate=16000).double()
    assert metric.network.encoder.convs[0].weight.dtype == torch.float64
    metric.float()
    assert metric.network.encoder.convs[0].weight.dtype == torch.float32
    # the shared float32 master is untouched by the float64 copy
    assert shared_network().encoder.convs[0].weight.dtype == torch.float32


def test_distance_is_symmetric_and_zero_on_identity(clips):
    a = torch.from_numpy(clips["ref"][:11025])
    b = torch.from_numpy(clips["4"][:11025])
    ab = cdpam_distance(a, b, 22050)
    ba = cdpam_distance(b, a, 22050)
    assert float(cdpam_distance(a, a, 22050)) == 0.0
    assert abs(float(ab) - float(ba)) < 1e-6 and float(ab) > 0.01


def test_first_use_under_inference_mode_does_not_break_later_losses(clips):
    import subprocess
    import sys

    # A fresh process: the shared network must be first loaded inside inference_mode.
    script = """
import numpy as np, soundfile as sf, torch
from metric import cdpam_distance
from metric.audio import to_model_input
ref, _ = sf.read(%r, dtype="float32")
ref = torch.from_numpy(ref[:8000])
est = (ref * 0.5).clone()
with torch.inference_mode():
    scored = cdpam_distance(ref, est, 22050)
est.requires_grad_(True)
loss = cdpam_distance(ref, est, 22050)
loss.sum().backward()
assert torch.allclose(scored, loss.detach(), atol=1e-6), (scored, loss)
assert torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0
print("ok")
""" % str(__import__("conftest").SAMPLE_AUDIO / "ref.wav")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]
