"""MelGAN objectives (Kumar et al., NeurIPS 2019, §2.4).

With ``D_k`` the k-th scale discriminator, ``x`` real audio and ``s`` its mel:

    L_D = Σ_k  E[ max(0, 1 - D_k(x)) ] + E[ max(0, 1 + D_k(G(s))) ]        (hinge)
    L_G = Σ_k -E[ D_k(G(s)) ]  +  λ · c · Σ_k Σ_i (1/N_i) || D_k^(i)(x) - D_k^(i)(G(s)) ||_1

where ``D_k^(i)`` is the i-th intermediate feature map (all layers but the
output), ``N_i`` its number of units (so each term is a mean absolute error)
and λ = 10. Expectations are means over batch and time.

The constant ``c`` is the released code's scaling (descriptinc/melgan-neurips,
``scripts/train.py``): each term is multiplied by ``1 / num_D`` (the number of
scales) and by ``4 / (n_layers_D + 1)`` (``n_layers_D`` the downsampling layers of a
scale, 4), i.e. ``c = 1/3 · 4/5 ≈ 0.267`` for the paper's sizes. The paper's
equation has ``c = 1`` (:func:`feature_matching_scale` with ``scaling="sum"``).
"""

from __future__ import annotations

import torch

Activations = list[list[torch.Tensor]]  # per scale: per layer; the last is the realness map


def discriminator_hinge_loss(real: Activations, fake: Activations) -> torch.Tensor:
    total = real[0][-1].new_zeros(())
    for real_scale, fake_scale in zip(real, fake, strict=True):
        total = total + torch.relu(1 - real_scale[-1]).mean() + torch.relu(1 + fake_scale[-1]).mean()
    return total


def generator_adversarial_loss(fake: Activations) -> torch.Tensor:
    total = fake[0][-1].new_zeros(())
    for fake_scale in fake:
        total = total - fake_scale[-1].mean()
    return total


FEATURE_MATCHING_SCALINGS = ("release", "sum")


def feature_matching_scale(scaling: str, scales: int, downsampling_layers: int) -> float:
    """``c`` of the module docstring: ``1 / scales · 4 / (downsampling_layers + 1)`` ("release") or 1 ("sum")."""
    if scaling == "release":
        return 1.0 / scales * 4.0 / (downsampling_layers + 1)
    if scaling == "sum":
        return 1.0
    raise ValueError(f"feature-matching scaling must be one of {FEATURE_MATCHING_SCALINGS}, got {scaling!r}.")


def feature_matching_loss(real: Activations, fake: Activations, scale: float = 1.0) -> torch.Tensor:
    """``scale`` · Σ over scales and layers of the mean absolute feature difference (real features are targets)."""
    total = fake[0][-1].new_zeros(())
    for real_scale, fake_scale in zip(real, fake, strict=True):
        for real_feature, fake_feature in zip(real_scale[:-1], fake_scale[:-1], strict=True):
            total = total + torch.mean(torch.abs(real_feature.detach() - fake_feature))
    return scale * total
