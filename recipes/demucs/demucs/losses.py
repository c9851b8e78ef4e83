"""Training objectives of the DEMUCS recipe: L1 + multi-resolution STFT (+ one perceptual term).

* ``metric.MultiResolutionSTFTLoss`` — Yamamoto et al., "Parallel WaveGAN", ICASSP 2020
  (Eq. 4-6), as used by DEMUCS (Défossez et al., Interspeech 2020, §2.3): spectral
  convergence and log-magnitude distance, each averaged over the resolutions
  (FFT 512/1024/2048, hop 50/120/240, Hann windows 240/600/1200), power floored at 1e-7.
* :class:`EnhancementLoss` — ``L1 + sc_factor * SC + mag_factor * LogMag
  + perceptual_weight * P``; the DEMUCS paper uses 0.1 / 0.1 for its causal model, and the
  CDPAM paper (Manocha et al., ICASSP 2021, §4.4) adds CDPAM as ``P``.
* :func:`make_perceptual_term` builds ``P``, one of :data:`PERCEPTUAL_TERMS`: the losses people
  reach for when they want a perceptual training objective.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from metric import MultiResolutionSTFTLoss

# name -> (what it is, how it is named in tables and logs)
PERCEPTUAL_TERMS = {
    "cdpam": ("CDPAM distance, official weights (cdpam_plugins.CDPAMLoss)", "CDPAM"),
    "cdpam_lite": ("CDPAM distance of the distilled student (cdpam_plugins.CDPAMLoss(weights='lite'))", "CDPAM-lite"),
    "pmsqe": ("PMSQE on 512-point STFT power spectra (asteroid.losses.SingleSrcPMSQE)", "PMSQE"),
    "stoi": ("negative STOI (asteroid.losses.SingleSrcNegSTOI)", "NegSTOI"),
    "pesq": ("differentiable PESQ (torch_pesq.PesqLoss, exact IIR filters)", "PESQ-loss"),
}
CDPAM_TERMS = ("cdpam", "cdpam_lite")  # the terms that take segment_seconds


def check_perceptual_name(name: str) -> None:
    if name not in PERCEPTUAL_TERMS:
        raise ValueError(f"unknown perceptual term {name!r}; choose one of {', '.join(PERCEPTUAL_TERMS)} (or null for none).")


def check_length(loss: str, estimate: torch.Tensor, min_seconds: float, sample_rate: int) -> None:
    """Refuse items shorter than a loss's shortest input, naming the fix (its library fails obscurely instead)."""
    if estimate.shape[-1] < min_seconds * sample_rate:
        raise ValueError(f"the {loss} loss needs at least {min_seconds} s of audio per item; got "
                         f"{estimate.shape[-1]} samples at {sample_rate} Hz (lengthen the segments).")


class CDPAMTerm(nn.Module):
    """Mean CDPAM distance of ``(estimate, target)`` on optional random sub-segments.

    The estimate is clamped to [-1, 1] first: CDPAM is defined on [-1, 1] audio (the L1/STFT
    terms pull an overshooting estimate back).
    """

    def __init__(self, sample_rate: int, segment_seconds: float | None = None, weights: str = "official"):
        super().__init__()
        from cdpam_plugins import CDPAMLoss  # imported only by the variants that use it

        self.loss = CDPAMLoss(sample_rate=sample_rate, weight=1.0, segment_seconds=segment_seconds, weights=weights)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss(estimate.clamp(-1.0, 1.0), target)


class PMSQETerm(nn.Module):
    """Mean PMSQE (Martín-Doñas et al., IEEE SPL 2018) through Asteroid's ``SingleSrcPMSQE``.

    PMSQE compares power spectra of a 512-point STFT (32 ms at 16 kHz) with a square-root Hann
    window and a hop of 256, the front end Asteroid documents for it (``STFTFB(kernel_size=512,
    n_filters=512, stride=256)``, whose default window is the square-root Hann that
    ``SingleSrcPMSQE(window_name="sqrt_hann")`` corrects for). Its ``forward`` takes power
    spectra, as the method is defined (the squared magnitudes of that STFT).
    """

    def __init__(self, sample_rate: int):
        super().__init__()
        from asteroid.losses import SingleSrcPMSQE
        from asteroid_filterbanks import STFTFB, Encoder

        if sample_rate != 16_000:
            raise ValueError(f"the PMSQE term is set up for 16 kHz audio (a 512-point STFT); got {sample_rate} Hz.")
        self.stft = Encoder(STFTFB(kernel_size=512, n_filters=512, stride=256))
        self.pmsqe = SingleSrcPMSQE(window_name="sqrt_hann", sample_rate=sample_rate)

    def power(self, signal: torch.Tensor) -> torch.Tensor:
        from asteroid_filterbanks import transforms

        return transforms.mag(self.stft(signal[:, None])) ** 2  # [B, 257, frames]

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.pmsqe(self.power(estimate), self.power(target)).mean()


class NegSTOITerm(nn.Module):
    """Mean negative STOI (Taal et al. 2011) through Asteroid's ``SingleSrcNegSTOI`` (torch_stoi)."""

    def __init__(self, sample_rate: int):
        super().__init__()
        import warnings

        with warnings.catch_warnings():  # torch_stoi warns about torchaudio's resampler defaults
            warnings.simplefilter("ignore")
            from asteroid.losses import SingleSrcNegSTOI

            self.stoi = SingleSrcNegSTOI(sample_rate=sample_rate)
        self.sample_rate = sample_rate

    # STOI correlates 30-frame (384 ms) envelopes of 256-sample frames, hop 128, at 10 kHz: shorter
    # items have no such segment and fail inside torch_stoi (silent frames, dropped first, shorten them more).
    MIN_SECONDS = 0.4

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_length("STOI", estimate, self.MIN_SECONDS, self.sample_rate)
        return self.stoi(estimate, target).mean()


class _LinearFilter(torch.autograd.Function):
    """``scipy.signal.lfilter(b, a, x)`` along the last axis (zero initial state), differentiable in ``x``.

    The filter is linear and time-invariant, so the gradient of ``y = H x`` is ``Hᵀ dy``: the
    same filter run over the time-reversed ``dy``, reversed back.
    """

    @staticmethod
    def forward(ctx, signal, b, a):
        from scipy.signal import lfilter

        ctx.coefficients = (b, a)
        return torch.from_numpy(lfilter(b, a, signal.detach().cpu().double().numpy(), axis=-1)).to(signal)

    @staticmethod
    def backward(ctx, grad):
        from scipy.signal import lfilter

        b, a = ctx.coefficients
        reversed_grad = grad.detach().cpu().double().numpy()[..., ::-1]
        return torch.from_numpy(lfilter(b, a, reversed_grad, axis=-1)[..., ::-1].copy()).to(grad), None, None


def _pesq_loss_class():
    from torch_pesq import PesqLoss

    class ExactFilterPesqLoss(PesqLoss):
        """``torch_pesq.PesqLoss`` with its two IIR filters run by :class:`_LinearFilter`.

        torch_pesq filters with ``torchaudio.functional.lfilter``. Without torchaudio's compiled
        extension (as beside a CPU-only torch from PyPI) that function runs a Python loop per
        sample and its backward fails ("modified by an inplace operation"). These two methods
        compute the same quantities as torch_pesq 0.1.2 — the ITU-T P.862 level alignment
        (power of the 325 Hz–3.25 kHz band, divided by ``length + 5120`` and 1.04684, scaled to
        1e7) and the pre-emphasis filter after 15-sample fades at both ends — with an exact
        filter whose gradient is its adjoint. Outputs agree with torch_pesq's own within 1e-3.
        """

        def align_level(self, signal):
            b, a = (coefficients.detach().double().cpu().numpy() for coefficients in self.power_filter)
            filtered = _LinearFilter.apply(signal, b, a)
            power = (filtered**2).sum(dim=1, keepdim=True) / (filtered.shape[1] + 5120) / 1.04684
            return signal * (1e7 / power).sqrt()

        def preemphasize(self, signal):
            fade = torch.arange(1, 16, device=signal.device, dtype=signal.dtype) / 16.0
            ramp = torch.ones(signal.shape[-1], device=signal.device, dtype=signal.dtype)
            ramp[:15], ramp[-15:] = fade, fade.flip(0)
            b, a = (coefficients.detach().double().cpu().numpy() for coefficients in self.pre_filter)
            return _LinearFilter.apply(signal * ramp, b, a)

    return ExactFilterPesqLoss


class PESQTerm(nn.Module):
    """Mean differentiable PESQ loss (torch_pesq: ``0.1 d_sym + 0.0309 d_asym`` of ITU-T P.862, no time alignment).

    ``torch-pesq`` (MIT licence; github.com/audiolabs/torch-pesq) is in the ``recipes`` extra.
    """

    def __init__(self, sample_rate: int):
        super().__init__()
        try:
            loss_class = _pesq_loss_class()
        except ImportError as error:
            raise ImportError(f"loss=pesq needs torch-pesq ({error}): pip install 'cdpam-plugins[recipes]' or pip install torch-pesq") from error
        self.pesq = loss_class(1.0, sample_rate=sample_rate)
        self.sample_rate = sample_rate

    # torch_pesq averages its frame disturbances over windows of 20 STFT frames (hop 256 at 16 kHz); shorter
    # signals have no window and fail inside unfold (the shortest that passes, measured: 5248 samples).
    MIN_SECONDS = 0.33

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_length("PESQ", estimate, self.MIN_SECONDS, self.sample_rate)
        return self.pesq(target, estimate).mean().to(estimate.dtype)


def make_perceptual_term(name: str, sample_rate: int, segment_seconds: float | None = None) -> nn.Module:
    """The unweighted perceptual term ``name``: ``(estimate [B, T], target [B, T]) -> mean over the batch``.

    ``segment_seconds`` (CDPAM terms only) scores one random sub-segment of each item, to cap the cost.
    """
    check_perceptual_name(name)
    if name in CDPAM_TERMS:
        return CDPAMTerm(sample_rate, segment_seconds, weights="lite" if name == "cdpam_lite" else "official")
    if segment_seconds is not None:
        raise ValueError(f"perceptual_segment_seconds applies to the CDPAM terms only; the {name} term scores whole "
                         f"training segments (set it to null).")
    return {"pmsqe": PMSQETerm, "stoi": NegSTOITerm, "pesq": PESQTerm}[name](sample_rate)


class EnhancementLoss(nn.Module):
    """``l1 * L1 + sc_factor * SC + mag_factor * LogMag + perceptual_weight * P`` (scalar).

    ``forward(estimate, target)`` follows Asteroid's ``loss_func(est_targets, targets)``
    convention. The unweighted terms of the last call are kept in :attr:`last_terms` for
    logging, under ``l1``, ``sc``, ``mag`` and the perceptual term's name.

    Args:
        l1: weight of the waveform L1 term.
        sc_factor, mag_factor: weights of spectral convergence and log-magnitude
            (0.1 each for the causal DEMUCS; 0 disables the STFT loss).
        perceptual: the perceptual term ``P``, a name of :data:`PERCEPTUAL_TERMS`, or ``None``.
        perceptual_weight: its weight (0 disables it and never builds it).
        perceptual_segment_seconds: CDPAM terms only: score one random sub-segment of this
            length per item (caps the cost); ``None`` scores whole items.
        sample_rate: sample rate of the audio, in Hz.
    """

    def __init__(
        self,
        l1: float = 1.0,
        sc_factor: float = 0.1,
        mag_factor: float = 0.1,
        perceptual: str | None = None,
        perceptual_weight: float = 0.0,
        perceptual_segment_seconds: float | None = None,
        sample_rate: int = 16_000,
    ):
        super().__init__()
        self.l1, self.sc_factor, self.mag_factor = l1, sc_factor, mag_factor
        if perceptual_weight and not perceptual:
            raise ValueError(f"perceptual_weight={perceptual_weight} needs a perceptual term: set perceptual to one of "
                             f"{', '.join(PERCEPTUAL_TERMS)}.")
        self.perceptual_name = perceptual if perceptual_weight else None
        self.perceptual_weight = float(perceptual_weight)
        self.stft = MultiResolutionSTFTLoss() if (sc_factor or mag_factor) else None
        self.perceptual = (make_perceptual_term(perceptual, sample_rate, perceptual_segment_seconds)
                           if self.perceptual_name else None)
        self.use_perceptual = True  # the training loop may switch the perceptual term off for some steps
        self.last_terms: dict[str, float] = {}

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if estimate.dim() == 3 and estimate.shape[1] == 1:  # the model's [B, 1, T]
            estimate = estimate[:, 0]
        if estimate.shape != target.shape:
            raise ValueError(f"estimate {tuple(estimate.shape)} and target {tuple(target.shape)} differ in shape.")
        terms: dict[str, torch.Tensor] = {}
        total = estimate.new_zeros(())
        if self.l1:
            terms["l1"] = F.l1_loss(estimate, target)
            total = total + self.l1 * terms["l1"]
        if self.stft is not None:
            terms["sc"], terms["mag"] = self.stft(estimate, target)
            total = total + self.sc_factor * terms["sc"] + self.mag_factor * terms["mag"]
        if self.perceptual is not None and self.use_perceptual:
            terms[self.perceptual_name] = self.perceptual(estimate, target)
            total = total + self.perceptual_weight * terms[self.perceptual_name]
        self.last_terms = {name: float(value.detach()) for name, value in terms.items()}
        return total
