"""Toolkit tensor layouts → the ``[B, T]`` waveforms the metric takes."""

from __future__ import annotations

import torch


def as_batch_of_waveforms(tensor: torch.Tensor, name: str) -> torch.Tensor:
    """``[B, T]``, ``[B, 1, T]`` (Asteroid) or ``[B, T, 1]`` (SpeechBrain) → ``[B, T]``."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() == 2:
        return tensor
    if tensor.dim() == 3 and tensor.shape[1] == 1:
        return tensor[:, 0, :]
    if tensor.dim() == 3 and tensor.shape[2] == 1:
        return tensor[:, :, 0]
    raise ValueError(
        f"{name} has shape {tuple(tensor.shape)}; expected single-source waveforms [B, T], [B, 1, T] or [B, T, 1]. "
        f"For multi-source outputs score each source separately (e.g. with asteroid's PITLossWrapper)."
    )
