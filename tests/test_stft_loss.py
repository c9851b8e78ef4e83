"""The one multi-resolution STFT loss (metric.stft_loss): the DEMUCS objective, the MelGAN and baseline distances."""

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from metric import MultiResolutionSTFTLoss
from metric.evaluate.scorers import multi_resolution_stft_distance

SPEECH = __import__("pathlib").Path(__file__).resolve().parents[1] / "metric" / "assets" / "sample_audio" / "ref.wav"


def speechlike(seconds=1.0, rate=16000, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * rate)) / rate
    tone = sum(torch.sin(2 * math.pi * f * t) / k for k, f in enumerate([220, 440, 880, 1760], start=1))
    return (0.2 * tone + 0.01 * torch.randn(len(t), generator=g))[None]


def test_mrstft_is_zero_for_identical_signals():
    x = speechlike()
    sc, mag = MultiResolutionSTFTLoss()(x, x)
    assert float(sc) == 0.0 and float(mag) == 0.0


def test_mrstft_of_a_doubled_signal():
    # |2X| - |X| = |X|: spectral convergence is exactly 1 and the log-magnitude distance log 2,
    # wherever the magnitude floor does not apply (these bins have plenty of energy).
    x = speechlike()
    sc, mag = MultiResolutionSTFTLoss()(2 * x, x)
    assert float(sc) == pytest.approx(1.0, abs=1e-4)
    assert float(mag) == pytest.approx(math.log(2.0), abs=1e-3)


def test_the_loss_uses_the_requested_resolution():
    # A 1 kHz tone against its 1.06 kHz neighbour: resolved by 2048 bins (7.8 Hz), blurred by 64.
    t = torch.arange(16000) / 16000
    a, b = torch.sin(2 * math.pi * 1000 * t)[None], torch.sin(2 * math.pi * 1060 * t)[None]
    fine, _ = MultiResolutionSTFTLoss([(2048, 240, 1200)])(a, b)
    coarse, _ = MultiResolutionSTFTLoss([(64, 16, 64)])(a, b)
    assert float(fine) > 1.0 > float(coarse)


def test_reduction_shapes_and_layouts():
    x = torch.cat([speechlike(seed=0), speechlike(seed=1)])
    y = torch.cat([0.5 * x[:1], x[1:]])  # only the first item differs
    none_sc, none_mag = MultiResolutionSTFTLoss(reduction="none")(y, x)
    assert none_sc.shape == (2,) and float(none_sc[1]) == 0.0 and float(none_sc[0]) == pytest.approx(0.5, abs=1e-4)
    mean_sc, _ = MultiResolutionSTFTLoss()(y, x)
    sum_sc, _ = MultiResolutionSTFTLoss(reduction="sum")(y, x)
    assert float(mean_sc) == pytest.approx(float(none_sc.mean())) and float(sum_sc) == pytest.approx(float(none_sc.sum()))
    # [B, 1, T] (Asteroid) and [B, T, 1] (SpeechBrain) give the same values as [B, T]
    layouts = MultiResolutionSTFTLoss(reduction="none")(y[:, None], x[:, :, None])
    torch.testing.assert_close(layouts[0], none_sc)
    with pytest.raises(ValueError, match="reduction"):
        MultiResolutionSTFTLoss(reduction="avg")
    with pytest.raises(ValueError, match="differ in shape"):
        MultiResolutionSTFTLoss()(x, x[:, :-1])


def test_gradients_stay_finite_on_digital_silence_and_short_signals():
    target = speechlike()
    estimate = (0.5 * target).clone()
    estimate[:, :8000] = 0.0  # half a second of digital silence
    estimate.requires_grad_(True)
    sc, mag = MultiResolutionSTFTLoss()(estimate, target)
    (sc + mag).backward()
    assert torch.isfinite(estimate.grad).all() and estimate.grad.abs().sum() > 0
    short = torch.randn(1, 300)  # shorter than half the largest FFT: zero-padded instead of reflected
    assert float(MultiResolutionSTFTLoss()(short, short)[0]) == 0.0


def test_the_baseline_distance_is_the_same_loss_scaled_to_the_sample_rate():
    speech, rate = sf.read(SPEECH, dtype="float64")
    speech = speech[:rate]
    noisy = speech + 0.01 * np.random.default_rng(0).standard_normal(len(speech))
    resolutions = [tuple(round(v * rate / 16000) for v in r) for r in ((512, 50, 240), (1024, 120, 600), (2048, 240, 1200))]
    sc, mag = MultiResolutionSTFTLoss(resolutions, magnitude_floor=1e-7)(torch.from_numpy(noisy), torch.from_numpy(speech))
    assert multi_resolution_stft_distance(speech, noisy, rate) == pytest.approx(float(sc + mag), rel=1e-12)
