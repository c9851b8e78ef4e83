"""Toolkit conventions → what the adapters pass on: ``[B, T]`` waveforms (through
:func:`metric.audio.to_mono_batch`) and one ``lengths`` argument."""

from __future__ import annotations

import torch

from metric.audio import AudioInputError, LengthsLike, parse_lengths, to_mono_batch


def as_batch_of_waveforms(tensor: torch.Tensor, name: str) -> torch.Tensor:
    """``[B, T]``, ``[B, 1, T]`` (Asteroid) or ``[B, T, 1]`` (SpeechBrain) → ``[B, T]``."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    multi_source = (
        f"{name} has shape {tuple(tensor.shape)}; expected single-source waveforms [B, T], [B, 1, T] or [B, T, 1]. "
        f"For multi-source outputs score each source separately (e.g. with asteroid's PITLossWrapper)."
    )
    if tensor.dim() not in (2, 3):  # a loss needs a batch: a bare [T] is refused here
        raise ValueError(multi_source)
    try:
        return to_mono_batch(tensor, name)[:, 0, :]
    except AudioInputError:
        raise ValueError(multi_source) from None


def lengths_argument(lengths, length):
    """The one lengths value of a call that may spell it ``lengths`` (or positionally) or ``length``."""
    if length is None:
        return lengths
    if lengths is not None:
        raise TypeError("pass the valid lengths once, as lengths= (or the third positional argument), not also length=")
    return length


def paired_batch(
    predictions: torch.Tensor,
    targets: torch.Tensor,
    lengths: LengthsLike | None,
    names: tuple[str, str] = ("predictions", "targets"),
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Estimates and references as ``[B, T]`` of one padded batch, and absolute ``lengths`` (or ``None``)."""
    predictions = as_batch_of_waveforms(predictions, names[0])
    targets = as_batch_of_waveforms(targets, names[1])
    if predictions.shape != targets.shape:
        raise ValueError(
            f"{names[0]} {tuple(predictions.shape)} and {names[1]} {tuple(targets.shape)} differ in shape; "
            f"they must be the same padded batch"
        )
    return predictions, targets, parse_lengths(lengths, predictions.shape[0], predictions.shape[-1])
