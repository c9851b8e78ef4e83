"""Training objectives against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from metric.train.losses import judgment_loss, nt_xent, pair_retrieval_accuracy, ranking_loss


def _nt_xent_by_hand() -> float:
    # Views v0=(1,0), v1=(0,1) | v2=(.6,.8), v3=(.8,-.6); positives 0<->2, 1<->3; tau = 0.5.
    # Cosines: c01=0, c02=.6, c03=.8, c12=.8, c13=-.6, c23=0; logits are cosines / 0.5.
    e = math.exp
    l0 = -math.log(e(1.2) / (e(0.0) + e(1.2) + e(1.6)))
    l1 = -math.log(e(-1.2) / (e(0.0) + e(1.6) + e(-1.2)))
    l2 = -math.log(e(1.2) / (e(1.2) + e(1.6) + e(0.0)))
    l3 = -math.log(e(-1.2) / (e(1.6) + e(-1.2) + e(0.0)))
    return (l0 + l1 + l2 + l3) / 4


def test_nt_xent_matches_hand_computation():
    z_a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z_b = torch.tensor([[0.6, 0.8], [0.8, -0.6]])
    assert float(nt_xent(z_a, z_b, temperature=0.5)) == pytest.approx(_nt_xent_by_hand(), abs=1e-6)
    # cosine similarity: the scale of the projections does not matter
    assert float(nt_xent(3 * z_a, 0.1 * z_b, temperature=0.5)) == pytest.approx(_nt_xent_by_hand(), abs=1e-6)


def test_nt_xent_rewards_agreeing_pairs_and_depends_on_temperature():
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    aligned = nt_xent(z, z + 0.01 * torch.randn(6, 8), 0.5)
    shuffled = nt_xent(z, z.roll(1, dims=0), 0.5)
    assert aligned < shuffled
    assert float(nt_xent(z, z, 0.1)) != pytest.approx(float(nt_xent(z, z, 1.0)))
    assert float(pair_retrieval_accuracy(z, z)) == 1.0


def test_nt_xent_rejects_unusable_batches():
    with pytest.raises(ValueError, match="at least 2 pairs"):
        nt_xent(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(torch.randn(2, 4), torch.randn(2, 4), temperature=0.0)
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(torch.randn(2, 4), torch.randn(3, 4))


def test_ranking_loss_is_the_margin_hinge_in_the_preferred_direction():
    d_a = torch.tensor([0.2, 0.5, 0.3, 0.9])
    d_b = torch.tensor([0.6, 0.55, 0.1, 0.1])
    preference = torch.tensor([1.0, 0.8, 0.0, 0.5])  # A, A, B, tie
    # by hand: max(0, -(0.6-0.2)+0.1)=0, max(0, -(0.55-0.5)+0.1)=0.05, B preferred: max(0, (0.1-0.3)+0.1)=0; tie left out
    assert float(ranking_loss(d_a, d_b, preference, margin=0.1)) == pytest.approx((0.0 + 0.05 + 0.0) / 3, abs=1e-6)


def test_judgment_loss_is_cross_entropy_of_the_label():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0.0, 1.0])
    expected = (-math.log(math.exp(2) / (math.exp(2) + 1)) - math.log(math.e / (math.e + 1))) / 2
    assert float(judgment_loss(logits, labels)) == pytest.approx(expected, abs=1e-6)


def test_distance_order_loss_is_zero_only_for_the_teachers_order_and_pulls_towards_it():
    from metric.train.losses import distance_order_loss

    teacher = torch.tensor([[0.10, 0.30, 0.20, 0.80], [0.05, 0.40, 0.45, 0.02]])
    assert float(distance_order_loss(teacher.clone(), teacher)) == pytest.approx(0.0, abs=1e-6)
    # a common scale changes no order (log distances): the loss stays 0
    assert float(distance_order_loss(teacher * 3.0, teacher)) == pytest.approx(0.0, abs=1e-6)
    reversed_order = (1.0 / teacher).requires_grad_(True)
    loss = distance_order_loss(reversed_order, teacher)
    assert float(loss.detach()) > 1.0
    loss.backward()
    # gradient descent moves the largest teacher distance up relative to the smallest
    step = (reversed_order - 0.01 * reversed_order.grad).detach()
    for row, t in zip(step, teacher):
        hi, lo = int(t.argmax()), int(t.argmin())
        assert float(row[hi] / row[lo]) > float((1.0 / t[hi]) / (1.0 / t[lo]))
    # by hand: teacher log gap -1 at temperature 0.1 -> target t = sigmoid(-1); an undecided student says 0.5
    t = 1.0 / (1.0 + math.exp(1.0))
    by_hand = t * math.log(t / 0.5) + (1 - t) * math.log((1 - t) / 0.5)
    two = torch.tensor([[1.0, math.exp(0.1)]])
    assert float(distance_order_loss(torch.ones(1, 2), two, temperature=0.1, eps=0.0)) == pytest.approx(by_hand, abs=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        distance_order_loss(teacher, teacher[:, :3])
