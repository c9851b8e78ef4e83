"""Whatever lies beyond an item's length changes nothing: not its distance, not the gradient.

Every entry point gets the same padded batch: row 0 is a full-length item, rows 1-3 hold one
shorter item followed by a tail of noise, of a constant beyond full scale, and of a model's
output (a filter with a bias, run over the padded batch as a trainee would). Each padded row
must score within 1e-6 of the short item scored alone, and the gradient with respect to the
tail must be exactly zero — at 16 kHz, at the model's own 22,050 Hz (no resampler in between)
and at 44.1 kHz (downsampling), with absolute and relative lengths.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cdpam_plugins import CDPAMLoss, CDPAMMetric, CDPAMPerUtterance
from metric import CDPAM, cdpam_distance
from metric.resample import resample

RATES = (16000, 22050, 44100)
TOLERANCE = 1e-6


class PaddedCase:
    """Reference and estimate batches ``[4, T]`` at ``rate``, and the short item's distance alone."""

    def __init__(self, clips: dict[str, np.ndarray], rate: int):
        self.rate = rate
        self.total = int(0.25 * rate)
        self.length = int(0.15 * rate) + 7  # not a multiple of the resampling ratio
        ref = resample(torch.from_numpy(clips["ref"]), 22050, rate)
        est = resample(torch.from_numpy(clips["2"]), 22050, rate)
        start = int(0.6 * rate)
        self.full_ref, self.full_est = ref[start : start + self.total], est[start : start + self.total]
        offset = int(1.1 * rate)
        self.short_ref, self.short_est = ref[offset : offset + self.length], est[offset : offset + self.length]
        generator = torch.Generator().manual_seed(rate)
        self.model = torch.nn.Conv1d(1, 1, 9, padding=4)
        with torch.no_grad():
            self.model.weight.copy_(torch.randn(1, 1, 9, generator=generator) * 0.2)
            self.model.weight[0, 0, 4] += 1.0
            self.model.bias.fill_(0.3)  # what a model writes into zero padding
        tail = self.total - self.length
        self.ref_tails = [torch.rand(tail, generator=generator) * 2 - 1, torch.full((tail,), 3.0), torch.zeros(tail)]
        self.est_tails = [torch.rand(tail, generator=generator) * 2 - 1, torch.full((tail,), -3.0), None]
        with torch.no_grad():
            self.alone = float(cdpam_distance(self.short_ref, self.model_output(self.short_est[None])[0], rate))
        self.alone_plain = float(cdpam_distance(self.short_ref, self.short_est, rate))
        self.full_alone = float(cdpam_distance(self.full_ref, self.full_est, rate))

    def model_output(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch[:, None, :])[:, 0, :]

    def batches(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(reference, estimate)`` ``[4, T]``; row 3 of the estimate is the model's output.

        The estimate keeps its gradient (``retain_grad``): the gradient with respect to the
        samples the loss is given, tails included.
        """
        refs, ests = [self.full_ref], [self.full_est]
        for ref_tail, est_tail in zip(self.ref_tails, self.est_tails):
            refs.append(torch.cat([self.short_ref, ref_tail]))
            ests.append(torch.cat([self.short_est, est_tail if est_tail is not None else torch.zeros_like(ref_tail)]))
        inputs = torch.stack(ests).requires_grad_(True)
        # Row 3 goes through the model over the zero-padded item: its tail is the model's own output.
        model_row = self.model_output(inputs[3:4])
        assert float(model_row[0, self.length :].abs().min().detach()) > 0.05  # the tail really is not zero
        estimate = torch.cat([inputs[:3], model_row])
        estimate.retain_grad()
        return torch.stack(refs), estimate

    def expected(self) -> list[float]:
        return [self.full_alone, self.alone_plain, self.alone_plain, self.alone]

    def lengths(self, kind: str):
        absolute = [self.total, self.length, self.length, self.length]
        return absolute if kind == "absolute" else torch.tensor(absolute, dtype=torch.float64) / self.total

    def assert_tail_gradient_is_zero(self, estimate: torch.Tensor) -> None:
        grad = estimate.grad
        assert grad is not None
        for row in (1, 2, 3):
            assert torch.count_nonzero(grad[row, self.length :]) == 0, (row, grad[row, self.length : self.length + 20])
            assert float(grad[row, self.length - 20 : self.length].abs().sum()) > 0


@pytest.fixture(scope="module", params=RATES, ids=[f"{r}Hz" for r in RATES])
def case(request, clips) -> PaddedCase:
    return PaddedCase(clips, request.param)


def _close(values, expected) -> None:
    values = [float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for v in values]
    assert np.allclose(values, expected, atol=TOLERANCE, rtol=0), (np.array(values) - np.array(expected), values)


@pytest.mark.parametrize("kind", ["absolute", "relative"])
def test_cdpam_distance(case, kind):
    reference, estimate = case.batches()
    distances = cdpam_distance(reference, estimate, case.rate, lengths=case.lengths(kind))
    _close(distances, case.expected())
    distances.sum().backward()
    case.assert_tail_gradient_is_zero(estimate)


def test_cdpam_module_forward_and_embed(case):
    metric = CDPAM(sample_rate=case.rate)
    reference, estimate = case.batches()
    lengths = case.lengths("absolute")
    _close(metric(reference, estimate, lengths), case.expected())
    embedded = metric.distance_from_embeddings(metric.embed(reference, lengths), metric.embed(estimate, lengths))
    _close(embedded, case.expected())
    embedded.sum().backward()
    case.assert_tail_gradient_is_zero(estimate)


@pytest.mark.parametrize("kind", ["absolute", "relative"])
def test_cdpam_loss(case, kind):
    reference, estimate = case.batches()
    loss = CDPAMLoss(sample_rate=case.rate, reduction="none")
    per_item = loss(estimate, reference, case.lengths(kind))  # SpeechBrain's positional third argument
    _close(per_item, case.expected())
    per_item.mean().backward()
    case.assert_tail_gradient_is_zero(estimate)
    model_weight_grad = case.model.weight.grad
    assert model_weight_grad is not None and torch.isfinite(model_weight_grad).all()
    case.model.zero_grad()


def test_cdpam_metric(case):
    reference, estimate = case.batches()
    metric = CDPAMMetric(sample_rate=case.rate)
    metric.update(estimate[1:], reference[1:], lengths=case.lengths("absolute")[1:])
    assert abs(float(metric.compute()) - float(np.mean(case.expected()[1:]))) < TOLERANCE


def test_cdpam_per_utterance_with_relative_lengths(case):
    reference, estimate = case.batches()
    scores = CDPAMPerUtterance(sample_rate=case.rate)(estimate[:, :, None], reference[:, :, None], case.lengths("relative"))
    _close(scores, case.expected())


def test_a_tail_of_nan_or_far_out_of_range_values_is_not_looked_at():
    # Beyond its length nothing of an item is read, so nothing there can be refused either.
    speech = 0.5 * torch.sin(torch.arange(4000) * 0.05) * torch.linspace(0, 1, 4000)
    tails = [torch.full((2000,), float("nan")), torch.full((2000,), 40000.0)]
    reference = torch.stack([torch.cat([speech, tail]) for tail in tails])
    estimate = torch.nn.functional.pad(0.5 * speech, (0, 2000)).expand(2, -1)
    distances = cdpam_distance(reference, estimate, 16000, lengths=[4000, 4000])
    alone = float(cdpam_distance(speech, 0.5 * speech, 16000))
    assert alone > 1e-3
    assert np.allclose(distances.numpy(), alone, atol=TOLERANCE, rtol=0), (distances, alone)
