"""MelGAN recipe: mel front end, generator, discriminator and losses."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "melgan"
sys.path.insert(0, str(RECIPE))

from melgan.discriminator import MultiScaleDiscriminator  # noqa: E402
from melgan.generator import Generator  # noqa: E402
from melgan.losses import discriminator_hinge_loss, feature_matching_loss, generator_adversarial_loss  # noqa: E402
from melgan.mel import LogMelSpectrogram, MelConfig  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "metric" / "assets" / "sample_audio" / "ref.wav"


# ----------------------------------------------------------------------------- numpy reference front end
def _slaney_hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    linear = 3.0 * f / 200.0
    log = 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, linear)


def _slaney_mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    linear = 200.0 * m / 3.0
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
    return np.where(m >= 15.0, log, linear)


def _numpy_log_mel(x: np.ndarray, sr=22050, n_fft=1024, hop=256, n_mels=80) -> np.ndarray:
    """Independent reference: explicit framing, periodic Hann, rfft, area-normalised triangles."""
    pad = (n_fft - hop) // 2
    padded = np.pad(x.astype(np.float64), pad, mode="reflect")
    frames = 1 + (len(padded) - n_fft) // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    spectrum = np.stack([np.abs(np.fft.rfft(padded[i * hop : i * hop + n_fft] * window)) for i in range(frames)], axis=1)
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = _slaney_mel_to_hz(np.linspace(_slaney_hz_to_mel(0.0), _slaney_hz_to_mel(sr / 2), n_mels + 2))
    bank = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, centre, hi = edges[m], edges[m + 1], edges[m + 2]
        rising = (freqs - lo) / (centre - lo)
        falling = (hi - freqs) / (hi - centre)
        bank[m] = np.maximum(0, np.minimum(rising, falling)) * 2.0 / (hi - lo)
    return np.log10(np.maximum(bank @ spectrum, 1e-5))


def test_log_mel_matches_an_independent_numpy_reference_on_speech():
    speech, sr = sf.read(SAMPLE, dtype="float32")
    assert sr == 22050
    x = speech[: 256 * 60]
    ours = LogMelSpectrogram()(torch.from_numpy(x)[None])[0].double().numpy()
    reference = _numpy_log_mel(x)
    assert ours.shape == reference.shape == (80, 60)
    # float32 STFT vs float64 rfft: agreement well inside the dynamic range (log10 units).
    assert np.max(np.abs(ours - reference)) < 2e-3
    assert np.mean(np.abs(ours - reference)) < 2e-4


def test_log_mel_frames_and_floor():
    mel = LogMelSpectrogram()
    assert mel(torch.zeros(1, 256 * 10)).shape == (1, 80, 10)
    # Silence hits the floor exactly: log10(1e-5) = -5.
    assert torch.allclose(mel(torch.zeros(1, 2048)), torch.full((1, 80, 8), -5.0))
    # A 1 kHz tone peaks in the mel band whose centre is closest to 1 kHz.
    t = torch.arange(256 * 20) / 22050
    tone = mel(0.5 * torch.sin(2 * math.pi * 1000 * t)[None])[0]
    peak_band = int(tone.mean(dim=1).argmax())
    centres = _slaney_mel_to_hz(np.linspace(0, _slaney_hz_to_mel(11025), 82))[1:-1]
    assert abs(centres[peak_band] - 1000) < 120


def test_log_mel_rejects_bad_shapes_with_clear_errors():
    mel = LogMelSpectrogram()
    with pytest.raises(ValueError, match="mono"):
        mel(torch.zeros(2, 2, 4096))
    with pytest.raises(ValueError, match="too short"):
        mel(torch.zeros(1, 100))


# ----------------------------------------------------------------------------- generator
@pytest.mark.parametrize("frames", [4, 7, 32])
def test_generator_output_length_is_frames_times_hop(frames):
    torch.manual_seed(0)
    generator = Generator(ngf=4)
    out = generator(torch.randn(2, 80, frames))
    assert generator.hop_length == 256
    assert out.shape == (2, 1, frames * 256)
    assert out.abs().max() < 1  # tanh output


def test_generator_odd_ratios_and_paper_size():
    assert Generator(ngf=2, ratios=(3, 5)).forward(torch.randn(1, 80, 9)).shape == (1, 1, 9 * 15)
    paper = Generator()  # ngf 32, ratios 8,8,2,2, 3 residual blocks: ~4 M parameters (MelGAN paper: 4.26 M)
    parameters = sum(p.numel() for p in paper.parameters())
    assert 3.5e6 < parameters < 4.5e6
    # The first convolution maps 80 mels to ngf * 2**4 = 512 channels.
    first = paper.layers[0][1]
    assert (first.in_channels, first.out_channels) == (80, 512)


def test_generator_rejects_wrong_mel_count_and_too_few_frames():
    with pytest.raises(ValueError, match="80"):
        Generator(ngf=2)(torch.randn(1, 64, 10))
    with pytest.raises(ValueError, match="at least 4 mel frames"):
        Generator(ngf=2)(torch.randn(1, 80, 3))


# ----------------------------------------------------------------------------- discriminator
def test_discriminator_has_three_scales_at_halving_rates():
    torch.manual_seed(0)
    discriminator = MultiScaleDiscriminator(ndf=4, max_channels=64)
    outputs = discriminator(torch.randn(2, 1, 8192))
    assert len(outputs) == 3
    lengths = [scale[-1].shape[-1] for scale in outputs]
    # Each block downsamples by 4**4 = 256; each scale sees half the samples of the previous one.
    assert lengths == [8192 // 256, 8192 // 512, 8192 // 1024]
    for scale in outputs:
        assert len(scale) == 1 + 4 + 2  # 15x1, four strided, 5x1, realness map
        assert scale[-1].shape[:2] == (2, 1)


def test_paper_discriminator_channels_and_groups():
    block = MultiScaleDiscriminator().discriminators[0]
    strided = [layer[0] for layer in list(block.layers)[1:5]]
    assert [(c.in_channels, c.out_channels, c.groups, c.kernel_size[0], c.stride[0]) for c in strided] == [
        (16, 64, 4, 41, 4),
        (64, 256, 16, 41, 4),
        (256, 1024, 64, 41, 4),
        (1024, 1024, 256, 41, 4),
    ]


def test_discriminator_scales_see_average_pooled_audio():
    # A constant signal stays constant under average pooling; an alternating one vanishes
    # after pooling, so the coarser scales must see (almost) silence.
    discriminator = MultiScaleDiscriminator(ndf=2, max_channels=8)
    seen = []
    for index, block in enumerate(discriminator.discriminators):
        block.register_forward_hook(lambda module, inputs, output, i=index: seen.append(inputs[0]))
    alternating = torch.ones(1, 1, 1024)
    alternating[..., 1::2] = -1
    discriminator(alternating)
    assert seen[0].abs().mean() == 1
    assert seen[1].shape[-1] == 512 and seen[1][..., 2:-2].abs().max() < 1e-6
    assert seen[2].shape[-1] == 256


# ----------------------------------------------------------------------------- losses
def _activations(values_per_scale, feature_values):
    return [[torch.full((2, 3, 5), f) for f in feature_values] + [torch.full((2, 1, 4), v)] for v in values_per_scale]


def test_hinge_losses_on_known_outputs():
    real = _activations([0.5, 2.0, -1.0], [0.0])
    fake = _activations([-2.0, 0.0, 1.5], [0.0])
    # real: relu(1-0.5) + relu(1-2) + relu(1+1) = 0.5 + 0 + 2 ; fake: relu(1-2) + relu(1) + relu(2.5) = 0 + 1 + 2.5
    assert discriminator_hinge_loss(real, fake).item() == pytest.approx(6.0)
    # generator: -(-2 + 0 + 1.5) = 0.5
    assert generator_adversarial_loss(fake).item() == pytest.approx(0.5)


def test_feature_matching_is_mean_absolute_difference_summed_over_layers_and_scales():
    real = _activations([0.0, 0.0, 0.0], [1.0, -2.0])
    fake = _activations([9.0, 9.0, 9.0], [0.5, 1.0])  # realness maps must not count
    # per scale: |1-0.5| + |-2-1| = 3.5 ; three scales
    assert feature_matching_loss(real, fake).item() == pytest.approx(10.5)
    assert feature_matching_loss(real, real).item() == 0


def test_feature_matching_gradient_reaches_fake_only():
    real_feature = torch.ones(1, 2, 3, requires_grad=True)
    fake_feature = torch.zeros(1, 2, 3, requires_grad=True)
    loss = feature_matching_loss([[real_feature, torch.zeros(1, 1, 1)]], [[fake_feature, torch.zeros(1, 1, 1)]])
    loss.backward()
    assert real_feature.grad is None
    assert torch.allclose(fake_feature.grad, torch.full((1, 2, 3), -1 / 6))
