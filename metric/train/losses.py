"""Training objectives of CDPAM's three stages (Manocha et al., ICASSP 2021, §3.2).

* :func:`nt_xent` — SimCLR's normalised temperature-scaled cross-entropy (Chen et al.,
  ICML 2020, eq. 1), the contrastive loss of stage (a);
* :func:`judgment_loss` — cross-entropy of the judgment head's two logits against the
  human "same"/"different" label (equivalent to the paper's binary cross-entropy on
  the probability of "different"), stage (b);
* :func:`ranking_loss` — ``MarginRankingLoss(margin=0.1)`` on the two distances of a
  triplet, stage (c);
* :func:`distance_order_loss` — a soft pairwise ranking of a student's distances against a
  teacher's (distillation): the order of the distances within a group, which triplet
  preferences and monotonicity read.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent over ``N`` positive pairs ``(z_a[i], z_b[i])``; every other view is a negative.

    With the ``2N`` views ``z`` L2-normalised and ``s_ij = z_i · z_j / τ`` (cosine similarity
    over the temperature), the loss of view ``i`` with positive ``p(i)`` is
    ``-log( exp(s_{i,p(i)}) / Σ_{k≠i} exp(s_ik) )``, averaged over all ``2N`` views.

    Args:
        z_a, z_b: projections ``[N, D]`` of the two views; ``N >= 2`` (one pair has no negatives).
        temperature: τ > 0.
    """
    if z_a.shape != z_b.shape or z_a.dim() != 2:
        raise ValueError(f"nt_xent needs two [N, D] tensors of the same shape, got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
    count = z_a.shape[0]
    if count < 2:
        raise ValueError("nt_xent needs at least 2 pairs: with one pair there are no negatives")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    views = F.normalize(torch.cat([z_a, z_b]), dim=-1)
    similarity = views @ views.T / temperature
    self_mask = torch.eye(2 * count, dtype=torch.bool, device=views.device)
    similarity = similarity.masked_fill(self_mask, float("-inf"))
    positives = torch.cat([torch.arange(count, 2 * count), torch.arange(0, count)]).to(views.device)
    return F.cross_entropy(similarity, positives)


def pair_retrieval_accuracy(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """Share of the ``2N`` views whose most similar other view is their positive (a readable NT-Xent proxy)."""
    count = z_a.shape[0]
    views = F.normalize(torch.cat([z_a, z_b]), dim=-1)
    similarity = (views @ views.T).fill_diagonal_(float("-inf"))
    positives = torch.cat([torch.arange(count, 2 * count), torch.arange(0, count)]).to(views.device)
    return (similarity.argmax(dim=1) == positives).float().mean()


def judgment_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``[B, 2]`` logits (0 = same, 1 = different) against float or int labels ``[B]``."""
    return F.cross_entropy(logits, labels.round().long())


def ranking_targets(preference: torch.Tensor) -> torch.Tensor:
    """+1 where A was judged closer to the reference (preference > 0.5), -1 where B was, 0 for ties."""
    return torch.sign(preference - 0.5)


def ranking_loss(distance_a: torch.Tensor, distance_b: torch.Tensor, preference: torch.Tensor, margin: float = 0.1) -> torch.Tensor:
    """``MarginRankingLoss(margin)`` asking ``d(ref, A) + margin <= d(ref, B)`` when listeners preferred A.

    ``max(0, -y (d_B - d_A) + margin)`` with ``y = ranking_targets(preference)``; ties
    (preference exactly 0.5) carry no ordering and are left out.
    """
    targets = ranking_targets(preference.to(distance_a.dtype))
    keep = targets != 0
    if not bool(keep.any()):
        return distance_a.sum() * 0.0
    return F.margin_ranking_loss(distance_b[keep], distance_a[keep], targets[keep], margin=margin)


def distance_order_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 0.1, eps: float = 1e-4) -> torch.Tensor:
    """How far the order of the distances ``[B, P]`` of each group departs from the teacher's (0 when it matches).

    For every two distances ``i < j`` of a group, the probability that ``d_i > d_j`` is
    ``sigmoid((log d_i - log d_j) / temperature)`` (RankNet, Burges et al., ICML 2005, with
    soft targets); the loss is the Kullback-Leibler divergence of the student's probability
    from the teacher's, averaged over all such comparisons. Close calls of the teacher carry
    a target near 0.5 and little weight; clear ones are pulled to the teacher's side with a
    force that grows with the student's error. Log distances make a ratio, not an absolute
    gap, decide how clear a comparison is.
    """
    if student.shape != teacher.shape or student.dim() != 2:
        raise ValueError(f"distance_order_loss needs two [B, P] tensors of the same shape, got {tuple(student.shape)} and {tuple(teacher.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    first, second = torch.triu_indices(student.shape[1], student.shape[1], 1, device=student.device)
    log_s, log_t = torch.log(student + eps), torch.log(teacher + eps)
    logits = (log_s[:, first] - log_s[:, second]) / temperature
    target_logits = (log_t[:, first] - log_t[:, second]) / temperature
    target = torch.sigmoid(target_logits)
    # cross-entropy minus the target's own entropy: KL(target || student), exactly 0 at a perfect match
    cross = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    entropy = F.binary_cross_entropy_with_logits(target_logits, target, reduction="none")
    return (cross - entropy).mean()
