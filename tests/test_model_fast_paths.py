"""The encoder's exact fast paths against a plain re-statement of the official computation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from metric.model import LEAKY_SLOPE, CDPAMNetwork, Encoder


def _reference_pooled(encoder: Encoder, x: torch.Tensor) -> torch.Tensor:
    """Full-rate convs, separate BatchNorm and leaky ReLU, decimation by slicing, all channels."""
    for i, (conv, norm) in enumerate(zip(encoder.convs, encoder.norms)):
        x = F.leaky_relu(norm(conv(x)), LEAKY_SLOPE)
        if (i + 1) % 4 == 0:
            x = x[:, :, ::2]
    return x.mean(dim=-1)


def _random_network(seed: int) -> CDPAMNetwork:
    torch.manual_seed(seed)
    network = CDPAMNetwork().double()
    for norm in network.encoder.norms:  # non-trivial running statistics, as after training
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-0.2, 0.2)
    return network.eval()


def test_folded_strided_acoustic_path_equals_the_plain_computation():
    network = _random_network(0)
    x = torch.randn(2, 1, 1999, dtype=torch.float64)
    with torch.no_grad():
        expected = _reference_pooled(network.encoder, x)
        network.requires_grad_(False)
        full = network.encoder(x)
        acoustic = network.encoder(x, acoustic_only=True)
    assert torch.allclose(full, expected, atol=1e-10, rtol=1e-9)
    assert torch.allclose(acoustic, expected[:, :512], atol=1e-10, rtol=1e-9)


def test_folded_weights_follow_weight_updates():
    network = _random_network(1)
    network.requires_grad_(False)
    x = torch.randn(1, 1, 1500, dtype=torch.float64)
    with torch.no_grad():
        before = network.encoder(x)  # fills the folded-weight cache
        network.load_state_dict(_random_network(2).state_dict())
        after = network.encoder(x)
        network.encoder.norms[3].running_var.mul_(4.0)  # an in-place update must be seen too
        scaled = network.encoder(x)
        expected = _reference_pooled(network.encoder, x)
    assert not torch.allclose(before, after)
    assert not torch.allclose(after, scaled)
    assert torch.allclose(scaled, expected, atol=1e-10, rtol=1e-9)


def test_trainable_encoder_gets_gradients_through_the_folded_batchnorm():
    network = _random_network(3)
    x = torch.randn(1, 1, 1200, dtype=torch.float64)
    network.encoder(x).sum().backward()
    grads = [network.encoder.convs[0].weight.grad, network.encoder.norms[0].weight.grad, network.encoder.norms[0].bias.grad]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    # Same gradient as through the plain computation.
    plain = _random_network(3)
    _reference_pooled(plain.encoder, x).sum().backward()
    assert torch.allclose(network.encoder.norms[0].weight.grad, plain.encoder.norms[0].weight.grad, rtol=1e-8, atol=1e-10)
