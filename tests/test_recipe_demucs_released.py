"""The DEMUCS recipe's released layout: geometry, look-ahead and the x2 windowed-sinc resampler."""

import math

import pytest
import torch

from recipe_scripts import recipe_dir

recipe_dir("demucs")
from demucs.halfband import ZERO_CROSSINGS, downsample2, upsample2  # noqa: E402
from demucs.model import CausalDemucs  # noqa: E402

# ---------------------------------------------------------------- the released layout


def _encoder_lengths(model: CausalDemucs, length: int) -> list[int]:
    """Frame counts down the encoder for an input of ``length`` samples (at the input rate)."""
    lengths = [length * model.config.resample]
    for _ in range(model.config.depth):
        lengths.append((lengths[-1] - model.config.kernel_size) // model.config.stride + 1)
    return lengths


@pytest.mark.parametrize("length", [1, 597, 598, 4000, 16000, 72000])
def test_released_valid_length_runs_the_encoder_without_remainder(length):
    model = CausalDemucs(hidden=4, depth=5)
    valid = model.valid_length(length)
    assert valid >= length and model.valid_length(valid) == valid
    frames = valid * model.config.resample
    for _ in range(model.config.depth):
        assert (frames - model.config.kernel_size) % model.config.stride == 0
        frames = (frames - model.config.kernel_size) // model.config.stride + 1
    # The transposed convolutions rebuild exactly the upsampled valid length.
    for _ in range(model.config.depth):
        frames = (frames - 1) * model.config.stride + model.config.kernel_size
    assert frames == valid * model.config.resample
    # One bottleneck frame sees 597 samples (37 ms at 16 kHz) with the released sizes.
    assert model.valid_length(1) == 597


def test_released_layout_uses_unpadded_convolutions_and_full_transposed_outputs():
    # Record every encoder and decoder output length on a valid-length input.
    torch.manual_seed(0)
    model = CausalDemucs(hidden=4, depth=4, resample=1)
    seen = []
    hooks = [layer.register_forward_hook(lambda m, i, o: seen.append(o.shape[-1])) for layer in [*model.encoder, *model.decoder]]
    length = model.valid_length(3000)
    model(torch.randn(1, length))
    for hook in hooks:
        hook.remove()
    encoder = _encoder_lengths(model, length)
    assert seen[:4] == encoder[1:]
    assert seen[4:] == encoder[:-1][::-1]  # each decoder writes (L - 1) * S + K samples: the level above


@pytest.mark.parametrize("layout", ["released", "strict_causal"])
@pytest.mark.parametrize("length", [1, 2, 257, 3001])
def test_output_has_the_input_length(layout, length):
    torch.manual_seed(0)
    out = CausalDemucs(hidden=4, depth=3, layout=layout)(torch.randn(2, length))
    assert out.shape == (2, 1, length) and torch.isfinite(out).all()


def _furthest_dependency(model: CausalDemucs, outputs: range) -> int:
    """max over ``outputs`` of (last input sample with a non-zero gradient) - (output index)."""
    x = torch.randn(1, 3000, dtype=torch.float64, requires_grad=True)
    y = model(x, scale=torch.ones(1, dtype=torch.float64))[0, 0]
    furthest = -10**9
    for index in outputs:
        (grad,) = torch.autograd.grad(y[index], x, retain_graph=True)
        furthest = max(furthest, int((grad[0] != 0).nonzero().max()) - index)
    return furthest


@pytest.mark.parametrize(
    "settings",
    [{}, {"resampler": "hold"}, {"resample": 2}, {"layout": "strict_causal"}],
    ids=["released-sinc", "released-hold", "released-x2", "strict-sinc"],
)
def test_declared_lookahead_is_the_furthest_future_input_used(settings):
    # The released layout is causal in the release's sense (unidirectional LSTM) but each output
    # also sees the rest of its bottleneck frame and the resampling filters' reach: `lookahead`
    # bounds that exactly (within a few samples that ReLUs may leave without gradient).
    torch.manual_seed(0)
    model = CausalDemucs(hidden=4, depth=3, **settings).double()
    period = max(1, model.total_stride)
    furthest = _furthest_dependency(model, range(1200, 1200 + period))
    assert furthest <= model.lookahead
    assert furthest >= model.lookahead - 4
    if settings.get("layout") != "strict_causal":
        assert model.lookahead >= (model.receptive_span - 1) // model.config.resample


def test_released_lookahead_of_the_full_model():
    # H=48, depth 5, x4 sinc: one bottleneck frame (2388 samples at 64 kHz) plus 84 samples of
    # resampling reach up and down, in 16 kHz samples.
    model = CausalDemucs()
    assert model.receptive_span == 2388
    assert model.lookahead == math.ceil(2387 / 4) + 2 * (ZERO_CROSSINGS + ZERO_CROSSINGS // 2)


# ---------------------------------------------------------------- the x2 windowed-sinc resampler


def test_upsample2_keeps_the_input_samples_and_interpolates_band_limited_tones():
    rate = 8000
    t = torch.arange(4000, dtype=torch.float64) / rate
    t2 = torch.arange(8000, dtype=torch.float64) / (2 * rate)
    noise = torch.randn(3, 1000, dtype=torch.float64)
    assert torch.equal(upsample2(noise)[..., ::2], noise)
    for frequency in [250, 1000, 2000, 3000]:  # up to 0.375 of the input rate
        tone = torch.sin(2 * math.pi * frequency * t)
        error = (upsample2(tone) - torch.sin(2 * math.pi * frequency * t2))[500:7500]  # away from the edges
        assert float(error.abs().max()) < 1e-4, frequency


def test_upsample2_impulse_response_is_the_hann_windowed_sinc():
    # An impulse at n0 comes out, at the odd positions 2k + 1, as h(n0 - k - 0.5) with
    # h(u) = sinc(u) cos²(π u / (2 Z)), Z = 56 zero crossings: the release's kernel.
    n0, zeros = 100, ZERO_CROSSINGS
    impulse = torch.zeros(200, dtype=torch.float64)
    impulse[n0] = 1.0
    odd = upsample2(impulse)[1::2]
    u = n0 - torch.arange(200, dtype=torch.float64) - 0.5
    expected = torch.where(u.abs() < zeros, torch.sinc(u) * torch.cos(math.pi * u / (2 * zeros)) ** 2, torch.zeros_like(u))
    assert torch.allclose(odd, expected, atol=1e-12)
    assert int((odd != 0).sum()) == 2 * zeros


def _gain_db(signal: torch.Tensor) -> float:
    return 20 * math.log10(float(signal.pow(2).mean().sqrt()) / math.sqrt(0.5))


def test_downsample2_frequency_response_is_a_half_band_low_pass():
    rate = 16000
    t = torch.arange(8000, dtype=torch.float64) / rate
    middle = slice(1000, 3000)
    for frequency in [250, 1000, 2000, 3000]:  # pass band: below 0.2 of the input rate
        assert abs(_gain_db(downsample2(torch.sin(2 * math.pi * frequency * t))[middle])) < 0.01, frequency
    for frequency in [4500, 5000, 6000, 7500]:  # above the new Nyquist frequency (4 kHz) + 500 Hz: aliases
        assert _gain_db(downsample2(torch.sin(2 * math.pi * frequency * t))[middle]) < -70, frequency


def test_round_trip_and_shapes():
    t = torch.arange(6000, dtype=torch.float64) / 16000
    speechband = sum(torch.sin(2 * math.pi * f * t + f) for f in [180, 440, 1250, 3100, 5200])
    back = downsample2(upsample2(speechband))
    assert float((back - speechband)[300:-300].abs().max()) < 1e-3
    assert downsample2(torch.randn(2, 1, 1001)).shape == (2, 1, 501)  # odd lengths are zero-padded
    assert upsample2(torch.randn(2, 1, 7)).shape == (2, 1, 14)


def test_resampler_is_linear_and_differentiable():
    x = torch.randn(1, 500, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: downsample2(upsample2(v))[..., ::50], (x,))
    a, b = torch.randn(2, 300, dtype=torch.float64)
    assert torch.allclose(upsample2(2 * a - b), 2 * upsample2(a) - upsample2(b), atol=1e-12)
