"""Toolkit tensor layouts → the ``[B, T]`` waveforms the adapters pass on (through :func:`metric.audio.to_mono_batch`)."""

from __future__ import annotations

import torch

from metric.audio import AudioInputError, to_mono_batch


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
