"""MelGAN recipe as released (descriptinc/melgan-neurips): feature-matching scaling, residual
shortcut, peak normalisation with random amplitude, and feature-matching targets from the
discriminator step."""

from __future__ import annotations

import copy
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "melgan"
sys.path.insert(0, str(RECIPE))

import melgan.trainer as trainer_module  # noqa: E402
from melgan.checkpoint import GENERATOR_FORMAT, load_generator  # noqa: E402
from melgan.data import SegmentDataset  # noqa: E402
from melgan.generator import Generator, ResidualBlock  # noqa: E402
from melgan.losses import feature_matching_loss, feature_matching_scale  # noqa: E402
from test_recipe_melgan_training import _config as tiny_config  # noqa: E402
from test_recipe_melgan_training import manifests  # noqa: E402,F401  (the shared fixture)

SAMPLES = ROOT / "metric" / "assets" / "sample_audio"


# ----------------------------------------------------------------------------- feature matching
def _activations(feature_values, layers=6, scales=3):
    """Per scale: ``layers`` feature maps filled with the given values, then a realness map."""
    return [[torch.full((2, 3, 5), float(feature_values[s][i])) for i in range(layers)] + [torch.zeros(2, 1, 4)]
            for s in range(scales)]


def test_release_feature_matching_scaling_on_known_values():
    # The release multiplies each scale's layer terms by 1/num_D and 4/(n_layers_D + 1):
    # 1/3 * 4/5 = 4/15 for 3 scales of 4 downsampling layers (6 feature maps each).
    assert feature_matching_scale("release", 3, 4) == pytest.approx(4 / 15)
    assert feature_matching_scale("release", 2, 3) == pytest.approx(1 / 2)
    assert feature_matching_scale("sum", 3, 4) == 1.0
    with pytest.raises(ValueError, match="release"):
        feature_matching_scale("mean", 3, 4)
    real = _activations([[0.0] * 6] * 3)
    fake = _activations([[1.0, -2.0, 0.5, 0.0, 3.0, -1.0], [0.5] * 6, [-0.25] * 6])
    # Σ over scales and layers of the mean absolute differences: 7.5 + 3.0 + 1.5 = 12.
    assert feature_matching_loss(real, fake).item() == pytest.approx(12.0)
    assert feature_matching_loss(real, fake, feature_matching_scale("release", 3, 4)).item() == pytest.approx(12.0 * 4 / 15)


def _config(manifests: Path, exp_dir: Path, *overrides: str):
    return tiny_config(manifests, exp_dir, "train.validate_every=0", *overrides)


def test_release_is_the_default_and_the_paper_equation_a_flag(manifests, tmp_path):
    for size in ("toy", "paper"):
        with initialize_config_dir(config_dir=str(RECIPE / "conf"), version_base="1.3"):
            cfg = compose("config", overrides=[f"model={size}", f"train={size}"])
        assert cfg.train.feature_matching_scaling == "release" and cfg.model.generator.residual_shortcut == "conv1x1"
        assert cfg.train.peak_normalize == 0.95 and list(cfg.train.random_amplitude) == [0.3, 1.0]
    release = trainer_module.Trainer(_config(manifests, tmp_path / "a"))
    paper = trainer_module.Trainer(_config(manifests, tmp_path / "b", "train.feature_matching_scaling=sum",
                                           "train.peak_normalize=null", "train.random_amplitude=null"))
    assert release.feature_matching_scale == pytest.approx(4 / 15) and paper.feature_matching_scale == 1.0
    assert (release.loader.dataset.peak, release.loader.dataset.amplitude) == (0.95, (0.3, 1.0))
    assert (paper.loader.dataset.peak, paper.loader.dataset.amplitude) == (None, None)


def test_feature_matching_targets_are_the_real_features_of_the_discriminator_step(manifests, tmp_path, monkeypatch):
    # As the release: D(real) is computed once, in the discriminator step (before its update), and
    # the generator matches those features, not those of the updated discriminator.
    trainer = trainer_module.Trainer(_config(manifests, tmp_path / "exp"))
    real = next(iter(trainer.loader))
    before = copy.deepcopy(trainer.discriminator)
    seen = {}

    def spy(real_features, fake_features, scale=1.0):
        seen["real"], seen["scale"] = real_features, scale
        return feature_matching_loss(real_features, fake_features, scale)

    monkeypatch.setattr(trainer_module, "feature_matching_loss", spy)
    logs = trainer.train_step(real)
    with torch.no_grad():
        expected, updated = before(real), trainer.discriminator(real)
    assert seen["scale"] == pytest.approx(4 / 15)
    for got_scale, want_scale, new_scale in zip(seen["real"], expected, updated):
        for got, want, new in zip(got_scale, want_scale, new_scale):
            assert torch.allclose(got, want, atol=1e-6)
            assert not got.requires_grad
    assert any(not torch.allclose(g, n) for gs, ns in zip(seen["real"], updated) for g, n in zip(gs, ns))
    assert logs["loss_g"] == pytest.approx(logs["loss_g_adv"] + 10 * logs["loss_fm"], rel=1e-5)


# ----------------------------------------------------------------------------- residual shortcut
def test_residual_block_shortcut_is_a_learned_weight_normed_1x1_convolution():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 40)
    learned, plain = ResidualBlock(6, 3, "conv1x1"), ResidualBlock(6, 3, "identity")
    for block in (learned, plain):
        block.body[-1].parametrizations.weight.original0.data.zero_()  # weight norm g = 0: the body's output is its bias
        block.body[-1].bias.data.zero_()
    shortcut = learned.shortcut
    assert isinstance(shortcut, torch.nn.Conv1d) and shortcut.kernel_size == (1,) and hasattr(shortcut, "parametrizations")
    weight = shortcut.weight[:, :, 0]
    assert torch.allclose(learned(x), torch.einsum("oc,bct->bot", weight, x) + shortcut.bias[:, None], atol=1e-6)
    assert torch.equal(plain(x), x)
    learned(x).sum().backward()
    assert shortcut.parametrizations.weight.original1.grad.abs().sum() > 0
    # The release's generator (ngf 32) has 4,266,050 parameters; without the shortcuts 264,000 fewer.
    assert sum(p.numel() for p in Generator().parameters()) == 4_266_050
    assert sum(p.numel() for p in Generator(residual_shortcut="identity").parameters()) == 4_002_050
    with pytest.raises(ValueError, match="residual_shortcut"):
        Generator(residual_shortcut="gated")


def test_generators_saved_without_the_shortcut_field_load_as_identity(tmp_path):
    old = Generator(ngf=2, residual_shortcut="identity")
    config = old.config.to_dict()
    del config["residual_shortcut"]
    torch.save({"format": GENERATOR_FORMAT, "step": 7, "generator_config": config, "mel_config": {},
                "state_dict": old.state_dict()}, tmp_path / "old.pt")
    generator, _, step = load_generator(tmp_path / "old.pt")
    assert step == 7 and generator.config.residual_shortcut == "identity"


# ----------------------------------------------------------------------------- data
def test_segments_are_peak_normalised_then_scaled_by_a_random_amplitude():
    path = SAMPLES / "ref.wav"
    audio, rate = sf.read(path, dtype="float32")
    entries = [{"path": str(path), "sample_rate": rate, "num_samples": len(audio)}]
    whole = len(audio) + 100  # one segment holds the whole utterance (zero-padded)
    normalised = SegmentDataset(entries, segment_length=whole, peak=0.95)[0][0]
    assert float(normalised.abs().max()) == pytest.approx(0.95, abs=1e-6)
    np.testing.assert_allclose(normalised[: len(audio)].numpy(), audio * 0.95 / np.abs(audio).max(), atol=1e-6)
    for cache in (True, False):
        dataset = SegmentDataset(entries, segment_length=whole, peak=0.95, amplitude=(0.3, 1.0), cache=cache)
        peaks = np.array([float(dataset[0].abs().max()) for _ in range(200)])
        gains = peaks / 0.95
        assert gains.min() >= 0.3 - 1e-6 and gains.max() <= 1.0 + 1e-6
        assert gains.min() < 0.35 and gains.max() > 0.95 and 0.55 < gains.mean() < 0.75  # uniform on [0.3, 1]
        # A short segment is scaled by the peak of the whole utterance, not its own.
        random.seed(cache)
        short = SegmentDataset(entries, segment_length=512, peak=0.95, cache=cache)[0][0].numpy()
        start = random.Random(cache).randint(0, len(audio) - 512)  # the dataset's one draw: the crop start
        np.testing.assert_allclose(short, audio[start : start + 512] * 0.95 / np.abs(audio).max(), atol=1e-6)
        assert np.abs(short).max() < 0.949  # not normalised to its own peak
    assert float(SegmentDataset(entries, segment_length=whole)[0].abs().max()) == pytest.approx(np.abs(audio).max())
    with pytest.raises(ValueError, match="amplitude"):
        SegmentDataset(entries, segment_length=512, amplitude=(0.0, 1.0))
