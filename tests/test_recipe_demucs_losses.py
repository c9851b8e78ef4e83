"""The perceptual terms of the DEMUCS recipe's variants, on real speech: each prefers the clean signal
to a noisy one, passes a gradient to the estimate, and the PESQ loss's exact filters match torch_pesq."""

import numpy as np
import pytest
import torch

from metric import read_audio
from recipe_scripts import recipe_dir

recipe_dir("demucs")
from demucs.losses import PERCEPTUAL_TERMS, EnhancementLoss, make_perceptual_term  # noqa: E402

SPEECH = recipe_dir("demucs").parents[1] / "metric" / "assets" / "sample_audio" / "ref.wav"


@pytest.fixture(scope="module")
def speech_pair():
    """Two 1 s excerpts of real speech (16 kHz) and the same excerpts with white noise at about 5 dB SNR."""
    speech, _ = read_audio(SPEECH, 16000, mono=True)
    clean = torch.from_numpy(np.stack([speech[4000:20000], speech[20000:36000]])).float()
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(clean.shape, generator=generator)
    noise *= clean.pow(2).mean(dim=1, keepdim=True).sqrt() / noise.pow(2).mean(dim=1, keepdim=True).sqrt() * 10 ** (-5 / 20)
    return clean, clean + noise


TERMS = ["cdpam", "pmsqe", "stoi", "pesq"]


def build(name):
    if name == "pesq":
        pytest.importorskip("torch_pesq", reason="loss=pesq needs torch-pesq (the recipes extra)")
    return make_perceptual_term(name, 16000, 0.1 if name == "cdpam" else None)


@pytest.mark.parametrize("name", TERMS)
def test_each_term_prefers_the_clean_signal_and_passes_a_gradient(name, speech_pair):
    clean, noisy = speech_pair
    term = build(name)
    torch.manual_seed(0)  # CDPAM's random sub-segments
    estimate = noisy.clone().requires_grad_(True)
    noisy_value = term(estimate, clean)
    noisy_value.backward()
    torch.manual_seed(0)
    clean_value = term(clean.clone(), clean)
    assert noisy_value.ndim == 0 and float(clean_value) < float(noisy_value.detach())
    assert torch.isfinite(estimate.grad).all() and estimate.grad.abs().sum() > 0
    assert not list(term.parameters()) or not any(p.requires_grad for p in term.parameters())  # frozen, nothing to train


def test_the_loss_adds_the_weighted_term_and_logs_it_unweighted(speech_pair):
    clean, noisy = speech_pair
    loss = EnhancementLoss(perceptual="stoi", perceptual_weight=2.0)
    plain = EnhancementLoss()
    total = loss(noisy, clean)
    assert set(loss.last_terms) == {"l1", "sc", "mag", "stoi"}
    assert float(total) == pytest.approx(float(plain(noisy, clean)) + 2.0 * loss.last_terms["stoi"], rel=1e-5)
    loss.use_perceptual = False  # a step without the term
    assert float(loss(noisy, clean)) == pytest.approx(float(plain(noisy, clean)), rel=1e-6)


def test_misconfigured_terms_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="needs a perceptual term"):
        EnhancementLoss(perceptual_weight=0.5)
    with pytest.raises(ValueError, match="unknown perceptual term 'stoy'"):
        EnhancementLoss(perceptual="stoy", perceptual_weight=0.5)
    with pytest.raises(ValueError, match="CDPAM terms only"):
        make_perceptual_term("stoi", 16000, 0.25)
    assert EnhancementLoss(perceptual="pesq", perceptual_weight=0.0).perceptual is None  # weight 0 builds nothing


@pytest.mark.parametrize("name, too_short", [("pesq", 5000), ("stoi", 6000)])
def test_losses_with_a_minimum_length_say_so(name, too_short, speech_pair):
    clean, noisy = speech_pair
    term = build(name)
    with pytest.raises(ValueError, match=r"needs at least 0\.\d+ s of audio per item"):
        term(noisy[:, :too_short], clean[:, :too_short])
    assert set(TERMS) < set(PERCEPTUAL_TERMS)


def test_exact_filter_has_the_adjoint_as_gradient():
    from scipy.signal import butter, lfilter

    from demucs.losses import _LinearFilter

    # The PESQ loss's band-pass filter: y = H x with H[n, m] = h[n - m], h its impulse response.
    b, a = butter(5, [325, 3250], fs=16000, btype="band")
    length = 300
    matrix = lfilter(b, a, np.eye(length), axis=0)  # column m: the response to a unit impulse at m
    signal = torch.randn(2, length, dtype=torch.float64, requires_grad=True)
    out = _LinearFilter.apply(signal, b, a)
    assert np.allclose(out.detach().numpy(), signal.detach().numpy() @ matrix.T, atol=1e-10)
    upstream = torch.randn(2, length, dtype=torch.float64)
    (out * upstream).sum().backward()
    # (Finite differences are too inexact for this ill-conditioned filter; its matrix is exact.)
    assert np.allclose(signal.grad.numpy(), upstream.numpy() @ matrix, atol=1e-10)


def test_pesq_term_matches_torch_pesq(speech_pair):
    torch_pesq = pytest.importorskip("torch_pesq", reason="loss=pesq needs torch-pesq (the recipes extra)")
    clean, noisy = speech_pair
    reference = torch_pesq.PesqLoss(1.0, sample_rate=16000)
    with torch.no_grad():  # torch_pesq's own filters run forward (slowly) but cannot run backward here
        expected = reference(clean.clone(), noisy.clone())
        ours = build("pesq").pesq(clean.clone(), noisy.clone())
    assert torch.allclose(ours, expected, rtol=1e-3, atol=1e-4)
