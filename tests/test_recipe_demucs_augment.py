"""The released DEMUCS's training augmentations: remix, band mask, shift and echo-train reverb."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from metric import read_audio
from recipe_scripts import recipe_dir

ROOT = Path(__file__).resolve().parents[1]
recipe_dir("demucs")
from demucs.augment import (  # noqa: E402
    Augmentation,
    BandMask,
    RevEcho,
    Remix,
    Shift,
    filter_same,
    mel_frequencies,
)

SPEECH = ROOT / "metric" / "assets" / "sample_audio" / "ref.wav"


def speech_and_noise(seconds=2.0, batch=2):
    speech, _ = read_audio(SPEECH, 16000, mono=True)
    clean = torch.from_numpy(np.stack([speech[i * 4000 : i * 4000 + int(seconds * 16000)] for i in range(batch)]))
    noise = 0.05 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    return noise[:, None], clean[:, None]


def band_energy_db(signal: torch.Tensor, low_hz: float, high_hz: float) -> float:
    spectrum = torch.fft.rfft(signal.double(), dim=-1).abs() ** 2
    freqs = torch.fft.rfftfreq(signal.shape[-1], 1 / 16000)
    inside = (freqs >= low_hz) & (freqs <= high_hz)
    return 10 * math.log10(float(spectrum[..., inside].sum()))


def test_mel_frequencies_follow_the_mel_scale():
    freqs = mel_frequencies(120, 40, 8000)
    mels = 2595 * torch.log10(1 + freqs / 700)
    assert float(freqs[0]) == pytest.approx(40) and float(freqs[-1]) == pytest.approx(8000)
    assert torch.allclose(mels.diff(), mels.diff()[0].expand(119), atol=1e-9)


def test_bandmask_removes_a_mel_band_from_noise_and_clean():
    noise, clean = speech_and_noise()
    mask = BandMask(0.2)
    low, high = 20, 40  # mel bands 20-40: 299-1059 Hz, filters of 2 / (299 / 16000) = 107 taps a side
    kernel = mask.band_stop_kernel(low, high)
    f_low, f_high = (float(mask.cutoffs[i]) * 16000 for i in (low, high))
    inner = (f_low + 0.2 * (f_high - f_low), f_high - 0.2 * (f_high - f_low))
    for before in (noise, clean):
        after = filter_same(before, kernel)
        assert band_energy_db(after, *inner) < band_energy_db(before, *inner) - 30
        for outside in [(f_high + 300, 7900), (20, f_low - 150)]:  # elsewhere the signal is untouched
            assert abs(band_energy_db(after, *outside) - band_energy_db(before, *outside)) < 0.1


def test_bandmask_draws_one_band_of_at_most_24_mel_bands_for_the_whole_batch():
    noise, clean = speech_and_noise(0.25)
    mask = BandMask(0.2, generator=torch.Generator().manual_seed(3))
    lows, widths = [], []
    for _ in range(60):
        masked_noise, masked_clean = mask(noise, clean)
        low, high = mask.last_band
        lows.append(low)
        widths.append(high - low)
        kernel = mask.band_stop_kernel(low, high)
        # The same filter on noise and clean, so the noisy mixture loses the band as its parts do.
        assert torch.allclose(masked_noise, filter_same(noise, kernel), atol=1e-6)
        assert torch.allclose(masked_clean, filter_same(clean, kernel), atol=1e-6)
    assert min(widths) >= 0 and max(widths) <= 23 and len(set(widths)) > 5
    assert min(lows) >= 0 and max(lows) <= 119 and len(set(lows)) > 20


def test_shift_crops_noise_and_clean_at_one_random_offset_per_item():
    length, shift = 12000, 8000
    ramp = torch.arange(length, dtype=torch.float64).expand(16, 1, length)
    noise, clean = Shift(shift, same=True, generator=torch.Generator().manual_seed(0))(ramp, 10 * ramp)
    assert noise.shape == clean.shape == (16, 1, length - shift)
    offsets = noise[:, 0, 0]
    assert torch.equal(clean[:, 0, 0], 10 * offsets)  # the same offset for noise and clean
    assert torch.equal(noise, offsets[:, None, None] + torch.arange(length - shift))
    assert 0 <= float(offsets.min()) and float(offsets.max()) < shift and len(set(offsets.tolist())) > 8
    apart_noise, apart_clean = Shift(shift, same=False, generator=torch.Generator().manual_seed(0))(ramp, ramp)
    assert not torch.equal(apart_noise, apart_clean)  # shift_same=False: independent offsets
    with pytest.raises(ValueError, match="shift"):
        Shift(shift)(ramp[..., :shift], ramp[..., :shift])


def test_remix_permutes_the_noises_and_keeps_the_speech():
    noise, clean = speech_and_noise(0.5, batch=6)
    remixed, same_clean = Remix(torch.Generator().manual_seed(1))(noise, clean)
    assert torch.equal(same_clean, clean)
    order = [int(torch.nonzero((noise == item).all(dim=-1).all(dim=-1))[0]) for item in remixed]
    assert sorted(order) == list(range(6)) and order != list(range(6))


def test_revecho_keeps_the_noise_reverb_in_the_noise_and_can_be_skipped():
    noise, clean = speech_and_noise(1.0)
    silent = torch.zeros_like(clean)
    out_noise, out_target = RevEcho(generator=torch.Generator().manual_seed(0))(noise.double(), silent.double())
    assert torch.equal(out_target, silent.double())  # no speech, no speech reverb in the target
    tail = (out_noise - noise)[..., 800:]  # echoes of the noise, after the first delay
    assert float(tail.abs().max()) > 1e-3
    assert RevEcho(proba=0.0)(noise, clean) == (noise, clean)


def test_revecho_impulse_response_decays_60_db_per_rt60_and_goes_mostly_to_the_noise():
    impulse = torch.zeros(1, 1, 32000, dtype=torch.float64)
    impulse[..., 0] = 1.0
    # One train, no jitter, RT60 0.5 s and a first delay of 20 ms: an echo every 1 + 320 samples,
    # each 10^(-3 · 0.02 / 0.5) of the previous one, until the train has decayed by 60 dB.
    reverb = RevEcho(repeat=1, jitter=0.0, rt60=(0.5, 0.5), first_delay=(0.02, 0.02),
                     generator=torch.Generator().manual_seed(5))
    noise, target = reverb(torch.zeros_like(impulse), impulse)
    # keep_clean = 10 % of the speech's reverb stays in the target, 90 % becomes noise.
    response = (target - impulse)[0, 0] / 0.1
    assert torch.allclose(noise[0, 0], 0.9 * response, atol=1e-12)
    echoes = torch.nonzero(response).flatten()
    assert torch.equal(echoes, 321 * torch.arange(1, len(echoes) + 1))
    ratios = response[echoes[1:]] / response[echoes[:-1]]
    assert torch.allclose(ratios, torch.full_like(ratios, 10 ** (-3 * 0.02 / 0.5)))
    assert len(echoes) == 25  # 25 echoes of 20 ms: 0.5 s, the RT60, to fall below -60 dB
    assert 0 < float(response[echoes[0]]) <= 0.3  # the first echo at U(0, 1) · initial (0.3)


def test_augmentation_runs_in_the_release_order_and_can_be_empty():
    assert not Augmentation()
    pipeline = Augmentation(remix=True, bandmask=0.2, shift=8000, revecho=1)
    assert [type(step).__name__ for step in pipeline.steps] == ["Remix", "BandMask", "Shift", "RevEcho"]
    noise, clean = speech_and_noise(1.0)
    out_noise, out_clean = pipeline(noise, clean)
    assert out_noise.shape == out_clean.shape == (2, 1, 8000)


def test_training_steps_train_on_the_augmented_pair_and_validation_is_not_augmented():
    from demucs.losses import EnhancementLoss
    from demucs.model import CausalDemucs
    from demucs.system import EnhancementSystem

    noise, clean = speech_and_noise(0.5)
    noise, clean = noise[:, 0], clean[:, 0]
    seen = []

    def augment(noise_part, clean_part):  # drop the noise, keep the first 3000 samples
        seen.append(noise_part)
        return torch.zeros_like(noise_part[:, :3000]), clean_part[:, :3000]

    torch.manual_seed(0)
    model = CausalDemucs(hidden=2, depth=2)
    system = EnhancementSystem(model, torch.optim.Adam(model.parameters()), EnhancementLoss(), None, None,
                               augmentation=augment)
    loss = system.common_step((clean + noise, clean), 0, train=True)
    assert torch.allclose(seen[0], noise, atol=1e-6)  # the augmentation receives noisy - clean
    assert float(loss.detach()) == pytest.approx(float(EnhancementLoss()(model(clean[:, :3000]), clean[:, :3000]).detach()), rel=1e-6)
    estimate, target = system.common_step((clean + noise, clean), 0, train=False)
    assert len(seen) == 1 and torch.equal(target, clean) and estimate.shape[-1] == clean.shape[-1]
