"""Batching variable-length audio: zero-padded ``[B, T]`` tensors plus absolute lengths ``[B]``.

Every dataset in :mod:`metric.data` returns a dict per item. :func:`collate_padded`
turns a list of such dicts into a batch:

* a 1-D float waveform under key ``k`` becomes ``batch[k]``: ``FloatTensor [B, T_max]``
  (zero-padded at the end) and ``batch[k + "_lengths"]``: ``LongTensor [B]`` of
  absolute sample counts;
* when all waveforms of every item have one common length (the pair and triplet
  datasets guarantee it), ``batch["lengths"]`` holds it too: pass it straight to
  ``cdpam_distance(ref, est, lengths=batch["lengths"])``;
* numbers become tensors ``[B]``; anything else (strings, dicts) stays a list.

Use it as ``DataLoader(dataset, batch_size=8, collate_fn=collate_padded)``.
"""

from __future__ import annotations

from numbers import Number
from typing import Any, Sequence

import numpy as np
import torch


def pad_batch(waveforms: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack 1-D waveforms (arrays or tensors) into ``([B, T_max] float32, lengths [B] int64)``."""
    tensors = [torch.as_tensor(np.asarray(w, dtype=np.float32) if not torch.is_tensor(w) else w, dtype=torch.float32) for w in waveforms]
    for t in tensors:
        if t.dim() != 1:
            raise ValueError(f"pad_batch expects 1-D waveforms [T], got shape {tuple(t.shape)}")
    lengths = torch.tensor([t.numel() for t in tensors], dtype=torch.long)
    batch = torch.zeros(len(tensors), int(lengths.max()) if len(tensors) else 0)
    for row, t in enumerate(tensors):
        batch[row, : t.numel()] = t
    return batch, lengths


def _is_waveform(value: Any) -> bool:
    if torch.is_tensor(value):
        return value.dim() == 1 and value.is_floating_point()
    return isinstance(value, np.ndarray) and value.ndim == 1 and np.issubdtype(value.dtype, np.floating)


def collate_padded(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Collate dict items: pad waveforms, add ``<key>_lengths`` (and ``lengths`` when shared)."""
    if not items:
        raise ValueError("cannot collate an empty batch")
    batch: dict[str, Any] = {}
    waveform_keys = [k for k, v in items[0].items() if _is_waveform(v)]
    for key in items[0]:
        values = [item[key] for item in items]
        if key in waveform_keys:
            batch[key], batch[f"{key}_lengths"] = pad_batch(values)
        elif all(isinstance(v, bool) for v in values):
            batch[key] = torch.tensor(values, dtype=torch.bool)
        elif all(isinstance(v, Number) for v in values):
            dtype = torch.long if all(isinstance(v, (int, np.integer)) for v in values) else torch.float32
            batch[key] = torch.tensor(values, dtype=dtype)
        else:
            batch[key] = values
    if waveform_keys:
        lengths = [batch[f"{k}_lengths"] for k in waveform_keys]
        if all(torch.equal(lengths[0], other) for other in lengths[1:]):
            batch["lengths"] = lengths[0].clone()
    return batch
