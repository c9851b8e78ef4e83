"""The input contract: turn what users hold into what the CDPAM network expects.

Users hold float waveforms in [-1, 1] at whatever sample rate their pipeline
uses, often zero-padded batches with lengths. The network expects mono 22,050 Hz
audio in the int16 range (the official loader feeds ``round(x · 32768)``), and
its global average pooling would count padding as signal. Every conversion
happens here, differentiably:

* shape ``[T]``, ``[B, T]``, ``[B, 1, T]`` (and SpeechBrain's ``[B, T, 1]``) → ``[B, 1, T]``;
* ``pcm="float"`` (default) expects [-1, 1]; ``pcm="int16"`` takes int16 values
  (an integer array or floats in the int16 range) and scales them by 1/32768;
* resampling to 22,050 Hz (:mod:`metric.resample`), then scaling by 32768;
* ``lengths`` — absolute sample counts, or SpeechBrain's relative lengths in
  (0, 1] — converted to valid lengths at 22,050 Hz; whatever lies beyond an
  item's length is zeroed first, so it changes neither the distance nor the gradient.

Anything that would give a silently wrong number raises :class:`AudioInputError`
with what was wrong and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .model import receptive_field
from .resample import resample, resampled_length

MODEL_SAMPLE_RATE = 22_050
INT16_SCALE = 32_768.0
# Float audio may exceed ±1 somewhat: a model's estimate during training, a
# resampler's overshoot. Twice full scale is beyond any of those and is what
# int16-scaled audio (peaks in the hundreds or thousands) always exceeds.
MAX_FLOAT_AMPLITUDE = 2.0
MIN_SAMPLES_AT_MODEL_RATE = receptive_field()  # 841 samples ≈ 38 ms at 22,050 Hz

PCM_FORMATS = ("float", "int16")
CHANNEL_POLICIES = ("error", "mean", "first")

ArrayLike = torch.Tensor | np.ndarray | Sequence[float]
"""Audio as callers hold it: a tensor, a numpy array or a list of samples."""
LengthsLike = torch.Tensor | np.ndarray | Sequence[float]
"""Valid lengths per item: whole sample counts, or relative lengths in (0, 1]."""


class AudioInputError(ValueError):
    """Input audio that cannot be scored without giving a wrong number."""


@dataclass
class PreparedBatch:
    """Model-ready audio: ``[B, 1, T]`` int16-range floats at 22,050 Hz."""

    waveform: torch.Tensor
    lengths: torch.Tensor | None  # valid samples per item at 22,050 Hz; None when none are padded


def min_duration_seconds() -> float:
    return MIN_SAMPLES_AT_MODEL_RATE / MODEL_SAMPLE_RATE


def check_sample_rate(sample_rate) -> int:
    if sample_rate is None:
        raise AudioInputError(
            "sample_rate is required: pass the rate of your audio, e.g. sample_rate=16000 "
            f"(it is resampled to {MODEL_SAMPLE_RATE} Hz inside)."
        )
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float, np.integer, np.floating)):
        raise AudioInputError(f"sample_rate must be a number of Hz, got {type(sample_rate).__name__} {sample_rate!r}.")
    if not np.isfinite(sample_rate) or sample_rate <= 0 or float(sample_rate) != int(sample_rate):
        raise AudioInputError(f"sample_rate must be a positive whole number of Hz, got {sample_rate!r}.")
    return int(sample_rate)


def _to_tensor(audio, name: str, pcm: str) -> torch.Tensor:
    if isinstance(audio, torch.Tensor):
        tensor = audio
    elif isinstance(audio, np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(audio))
    elif isinstance(audio, (list, tuple)):
        tensor = torch.as_tensor(np.asarray(audio))
    else:
        raise AudioInputError(f"{name} must be a torch.Tensor or numpy array, got {type(audio).__name__}.")
    if tensor.is_complex():
        raise AudioInputError(f"{name} is complex; pass a real waveform.")
    if tensor.dtype == torch.bool:
        raise AudioInputError(f"{name} is a boolean tensor; pass a float waveform in [-1, 1].")
    if not tensor.is_floating_point():
        if pcm != "int16":
            raise AudioInputError(
                f"{name} has integer dtype {tensor.dtype}. If it holds 16-bit PCM samples pass pcm='int16' "
                f"(they are scaled by 1/32768); otherwise convert it to float in [-1, 1]."
            )
        if tensor.dtype not in (torch.int16, torch.int32, torch.int64):
            raise AudioInputError(f"{name} has dtype {tensor.dtype}; 16-bit PCM must be int16 (or a wider int type).")
        tensor = tensor.to(torch.float32)
    elif tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.float()
    return tensor


def to_mono_batch(tensor: torch.Tensor, name: str = "audio", channels: str = "error") -> torch.Tensor:
    """``[T]``, ``[B, T]``, ``[B, 1, T]`` or ``[B, T, 1]`` → ``[B, 1, T]``: the project's one shape normaliser."""
    if tensor.dim() == 1:
        return tensor[None, None, :]
    if tensor.dim() == 2:
        return tensor[:, None, :]
    if tensor.dim() == 3:
        if tensor.shape[1] == 1:
            return tensor
        if tensor.shape[2] == 1:  # SpeechBrain's [B, T, 1]
            return tensor.transpose(1, 2)
        if channels == "mean":
            return tensor.mean(dim=1, keepdim=True)
        if channels == "first":
            return tensor[:, :1, :]
        raise AudioInputError(
            f"{name} has shape {tuple(tensor.shape)}: {tensor.shape[1]} channels. CDPAM scores mono audio; "
            f"pass channels='mean' to downmix or channels='first' to keep the first channel, or select a channel."
        )
    raise AudioInputError(
        f"{name} has shape {tuple(tensor.shape)}; expected [T], [B, T], [B, 1, T] or [B, T, 1] (mono waveforms)."
    )


def _check_values(batch: torch.Tensor, name: str, pcm: str) -> None:
    with torch.no_grad():
        finite = torch.isfinite(batch)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise AudioInputError(
                f"{name} contains {bad} NaN or Inf value(s); fix the signal upstream (a diverged model or a "
                f"division by zero) before scoring."
            )
        peak = float(batch.abs().max()) if batch.numel() else 0.0
    if pcm == "float" and peak > MAX_FLOAT_AMPLITUDE:
        hint = (
            "This looks like int16-scaled audio: divide it by 32768 or pass pcm='int16'."
            if peak >= 64
            else "Normalise or clip it to [-1, 1]."
        )
        raise AudioInputError(
            f"{name} reaches {peak:.4g}; float audio must lie in [-1, 1] (up to ±{MAX_FLOAT_AMPLITUDE:g} is "
            f"tolerated for model outputs). {hint}"
        )
    if pcm == "int16" and peak > INT16_SCALE * MAX_FLOAT_AMPLITUDE:
        raise AudioInputError(f"{name} reaches {peak:.4g}, far outside the int16 range [-32768, 32767].")


def parse_lengths(lengths: LengthsLike | None, batch: int, total: int, name: str = "lengths") -> torch.Tensor | None:
    """Absolute valid lengths ``[B]`` (int64) from absolute or relative (0, 1] lengths."""
    if lengths is None:
        return None
    values = lengths if isinstance(lengths, torch.Tensor) else torch.as_tensor(np.asarray(lengths))
    values = values.detach().to("cpu").reshape(-1)
    if values.numel() != batch:
        raise AudioInputError(f"{name} has {values.numel()} entries for a batch of {batch}; give one length per item.")
    if values.is_floating_point():
        if not bool(torch.isfinite(values).all()):
            raise AudioInputError(f"{name} contains NaN or Inf.")
        if bool((values <= 1.0).all()):
            if bool((values <= 0).any()):
                raise AudioInputError(f"relative {name} must lie in (0, 1], got {values.tolist()}.")
            absolute = torch.round(values.double() * total).to(torch.int64)
        else:
            if bool((values != torch.round(values)).any()):
                raise AudioInputError(
                    f"{name} {values.tolist()} mixes relative and absolute values; pass either relative lengths "
                    f"in (0, 1] (SpeechBrain) or whole sample counts."
                )
            absolute = values.to(torch.int64)
    elif values.dtype == torch.bool:
        raise AudioInputError(f"{name} must be numbers, got booleans.")
    else:
        absolute = values.to(torch.int64)
    if bool((absolute <= 0).any()) or bool((absolute > total).any()):
        raise AudioInputError(
            f"{name} {absolute.tolist()} fall outside 1..{total} samples (the padded length); lengths count the valid "
            f"samples of each item."
        )
    return absolute


def to_model_input(
    audio: ArrayLike,
    sample_rate: int,
    lengths: LengthsLike | None = None,
    *,
    name: str = "audio",
    pcm: str = "float",
    channels: str = "error",
) -> PreparedBatch:
    """Validate one batch of audio and convert it to the network's input convention."""
    if pcm not in PCM_FORMATS:
        raise AudioInputError(f"pcm must be one of {PCM_FORMATS}, got {pcm!r}.")
    if channels not in CHANNEL_POLICIES:
        raise AudioInputError(f"channels must be one of {CHANNEL_POLICIES}, got {channels!r}.")
    sample_rate = check_sample_rate(sample_rate)
    batch = to_mono_batch(_to_tensor(audio, name, pcm), name, channels)
    if batch.shape[0] == 0:
        raise AudioInputError(f"{name} is an empty batch.")
    total = batch.shape[-1]
    absolute = parse_lengths(lengths, batch.shape[0], total)
    if absolute is not None and bool((absolute < total).any()):
        # The samples beyond an item's length are not part of it. Zeroed before anything reads
        # them (checks, resampler, first convolution), the item scores as it would alone and
        # the gradient with respect to them is exactly zero, whatever they hold.
        batch = zero_beyond(batch, absolute.to(batch.device))
    _check_values(batch, name, pcm)
    valid = absolute if absolute is not None else torch.full((batch.shape[0],), total, dtype=torch.int64)
    shortest = int(valid.min())
    needed = int(np.ceil(MIN_SAMPLES_AT_MODEL_RATE * sample_rate / MODEL_SAMPLE_RATE))
    if shortest < needed:
        raise AudioInputError(
            f"{name} has an item of {shortest} samples ({shortest / sample_rate * 1000:.1f} ms at {sample_rate} Hz); "
            f"CDPAM needs at least {needed} samples ({min_duration_seconds() * 1000:.0f} ms, its receptive field)."
        )
    if pcm == "int16":
        batch = batch / INT16_SCALE
    try:
        batch = resample(batch, sample_rate, MODEL_SAMPLE_RATE) * INT16_SCALE
    except ValueError as error:  # a rate with no practical exact ratio to 22,050 Hz
        raise AudioInputError(f"{name}: {error}") from error
    if absolute is None or bool((absolute == total).all()):
        return PreparedBatch(batch, None)
    model_lengths = torch.tensor(
        [resampled_length(int(n), sample_rate, MODEL_SAMPLE_RATE) for n in absolute], dtype=torch.int64
    ).to(batch.device)
    # A padded item resampled in the batch spills filter tails into its padding;
    # zeroing them keeps it identical to the item resampled alone.
    if sample_rate != MODEL_SAMPLE_RATE:
        batch = zero_beyond(batch, model_lengths)
    return PreparedBatch(batch, model_lengths)


def zero_beyond(batch: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``batch`` ``[B, 1, T]`` with the samples at and after ``lengths[b]`` set to exactly zero.

    ``torch.where`` rather than a multiplication: NaN or Inf in the tail stays out, and the
    gradient with respect to the tail is exactly zero.
    """
    keep = torch.arange(batch.shape[-1], device=batch.device)[None, None, :] < lengths[:, None, None]
    return torch.where(keep, batch, torch.zeros((), dtype=batch.dtype, device=batch.device))


def check_pair(reference: torch.Tensor, estimate: torch.Tensor) -> None:
    """Reference and estimate must describe the same batch on the same device."""
    if isinstance(reference, torch.Tensor) and isinstance(estimate, torch.Tensor):
        if reference.device != estimate.device:
            raise AudioInputError(
                f"reference is on {reference.device} and estimate on {estimate.device}; move both to one device."
            )


def check_prepared_pair(reference: PreparedBatch, estimate: PreparedBatch) -> None:
    ref, est = reference.waveform, estimate.waveform
    if ref.shape[0] != est.shape[0]:
        raise AudioInputError(
            f"reference has {ref.shape[0]} item(s) and estimate {est.shape[0]}; pass batches of the same size."
        )
    if ref.shape[-1] != est.shape[-1]:
        raise AudioInputError(
            f"reference and estimate have different lengths ({ref.shape[-1]} vs {est.shape[-1]} samples at "
            f"{MODEL_SAMPLE_RATE} Hz); trim or zero-pad them to a common length and pass lengths=."
        )
