"""The DEMUCS recipe's model (shapes, causality, init) and its L1 + multi-resolution STFT loss."""

import math

import pytest
import torch

from recipe_scripts import recipe_dir
from test_stft_loss import speechlike as _speechlike

recipe_dir("demucs")
from demucs.losses import EnhancementLoss  # noqa: E402
from demucs.model import CausalDemucs, DemucsConfig  # noqa: E402


def small(**kwargs):
    return CausalDemucs(hidden=8, depth=4, **kwargs)


@pytest.mark.parametrize("length", [1, 257, 3001, 16000])
def test_output_has_the_input_shape(length):
    torch.manual_seed(0)
    model = small()
    for shape in [(length,), (2, length), (2, 1, length)]:
        out = model(torch.randn(*shape))
        batch = shape[0] if len(shape) > 1 else 1
        assert out.shape == (batch, 1, length)
        assert torch.isfinite(out).all()


def test_released_sizes():
    # The released causal DEMUCS: H=48 (Valentini) and H=64 (DNS), depth 5, 2-layer LSTM. The counts
    # are those of facebookresearch/denoiser's Demucs(hidden=48) and Demucs(hidden=64).
    assert CausalDemucs().num_parameters() == 18_867_937
    assert CausalDemucs(hidden=64).num_parameters() == 33_533_569


def test_valid_length_is_divisible_by_every_layer():
    model = CausalDemucs(hidden=4, depth=5, layout="strict_causal")
    for length in [1, 100, 255, 256, 257, 16000]:
        valid = model.valid_length(length)
        assert valid >= length and (valid * 4) % 4**5 == 0
        assert valid - length < 256


def _first_changed_sample(model, x, t, scale):
    """Index of the first output sample that changes when the input after ``t`` is perturbed."""
    y = model(x, scale=scale)
    perturbed = x.clone()
    perturbed[..., t + 1 :] += torch.randn_like(perturbed[..., t + 1 :])
    changed = ((model(perturbed, scale=scale) - y).abs() > 1e-12).nonzero()
    return int(changed[:, -1].min()) if len(changed) else None


def test_strict_causal_output_at_t_does_not_depend_on_input_after_t():
    torch.manual_seed(0)
    model = small(layout="strict_causal", resampler="hold").double()
    x = torch.randn(2, 2100, dtype=torch.float64)
    scale = torch.ones(2, dtype=torch.float64)  # a fixed scale: the utterance std is the only global statistic
    for t in [0, 63, 64, 500, 1023, 2000]:
        # Everything up to t is unchanged, and the model does react right after t (not trivially causal).
        assert _first_changed_sample(model, x, t, scale) == t + 1


def test_strict_causal_with_sinc_looks_ahead_only_by_its_declared_lookahead():
    torch.manual_seed(0)
    model = small(layout="strict_causal", resampler="sinc").double()
    assert model.lookahead > 0
    x = torch.randn(1, 2100, dtype=torch.float64)
    scale = torch.ones(1, dtype=torch.float64)
    for t in [200, 1000, 1800]:
        first = _first_changed_sample(model, x, t, scale)
        assert t - model.lookahead <= first <= t


@pytest.mark.parametrize("layout", ["released", "strict_causal"])
def test_normalisation_divides_by_floor_plus_std_and_multiplies_by_std(layout):
    # The release's rule: the network sees x / (1e-3 + std(x)) and its output is multiplied by std(x)
    # (the unbiased estimate), so scaling a loud input scales the output.
    torch.manual_seed(0)
    model = small(layout=layout).double()
    torch.manual_seed(0)
    raw = small(layout=layout, normalize=False).double()
    raw.load_state_dict(model.state_dict())
    x = 0.05 * torch.randn(2, 4000, dtype=torch.float64)
    std = x.std(dim=-1, keepdim=True)[:, None]
    assert torch.allclose(model(x), std * raw(x[:, None] / (1e-3 + std)), rtol=0, atol=1e-12)
    assert torch.allclose(model(10 * x), 10 * model(x), rtol=2e-3, atol=1e-6)


def test_weight_rescaling_moves_conv_std_towards_reference():
    torch.manual_seed(0)
    plain = small(rescale=0)
    torch.manual_seed(0)
    rescaled = small(rescale=0.1)
    for a, b in zip(plain.modules(), rescaled.modules()):
        if isinstance(a, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            std_a, std_b = float(a.weight.detach().std()), float(b.weight.detach().std())
            assert math.isclose(std_b, std_a / math.sqrt(std_a / 0.1), rel_tol=1e-4)


def test_serialize_round_trip():
    torch.manual_seed(0)
    model = small()
    x = torch.randn(1, 1000)
    restored = CausalDemucs.from_serialized(model.serialize())
    assert torch.equal(model(x), restored(x))


def test_bad_configs_and_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="resampler"):
        DemucsConfig(resampler="linear")
    with pytest.raises(ValueError, match="layout"):
        DemucsConfig(layout="symmetric")
    with pytest.raises(ValueError, match="mono"):
        small()(torch.randn(2, 2, 100))


# ---------------------------------------------------------------- losses


def test_enhancement_loss_combines_l1_and_stft_with_the_paper_factors():
    x = _speechlike()
    estimate = 0.5 * x
    loss = EnhancementLoss()  # l1=1, sc=0.1, mag=0.1, no perceptual term
    total = loss(estimate[:, None], x)  # [B, 1, T] estimate, [B, T] target
    expected_l1 = float((x - estimate).abs().mean())
    assert loss.last_terms["l1"] == pytest.approx(expected_l1, rel=1e-6)
    # |X/2| vs |X|: SC = 1/2 exactly; log-magnitude = log 2.
    assert loss.last_terms["sc"] == pytest.approx(0.5, abs=1e-4)
    assert loss.last_terms["mag"] == pytest.approx(math.log(2.0), abs=1e-3)
    assert float(total) == pytest.approx(expected_l1 + 0.1 * 0.5 + 0.1 * math.log(2.0), abs=2e-4)
    assert loss.perceptual is None and set(loss.last_terms) == {"l1", "sc", "mag"}


def test_enhancement_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        EnhancementLoss()(torch.zeros(1, 100), torch.zeros(1, 120))


def test_loss_gradients_reach_the_model():
    torch.manual_seed(0)
    model = small()
    x = _speechlike(0.25)
    loss = EnhancementLoss()(model(x + 0.05 * torch.randn_like(x)), x)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
