"""Noisy/clean segments from a manifest (``metric.prepare_enhancement_data`` writes them)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from metric import read_audio, read_enhancement_manifest


class NoisyCleanSegments(Dataset):
    """``(noisy [T], clean [T])`` float tensors cut from the pairs of a manifest.

    Args:
        manifest: path of a ``<split>.json`` manifest (or its list of entries).
        segment_seconds: length of each example; ``None`` yields whole files (batch size 1).
        stride_seconds: hop between the segment starts of a file (default: the segment).
        segment_samples: length of each example in samples (overrides ``segment_seconds``;
            training uses the model's valid length of the segment, as the released DEMUCS).
        cache: keep decoded audio in memory (small corpora).

    As in the released DEMUCS, a file yields segments starting every stride until one
    reaches its end, ``ceil((length - segment) / stride) + 1`` of them; the last one, and
    the single segment of a file shorter than a segment, are zero-padded at the end.
    Random offsets are the training loop's business (``demucs.augment.Shift``).
    """

    def __init__(
        self,
        manifest: str | Path | list[dict],
        segment_seconds: float | None = 1.0,
        stride_seconds: float | None = None,
        sample_rate: int = 16_000,
        segment_samples: int | None = None,
        cache: bool = True,
    ):
        self.entries = manifest if isinstance(manifest, list) else read_enhancement_manifest(manifest)
        if not self.entries:
            raise ValueError(f"Manifest {manifest} is empty: check the data preparation stage.")
        wrong_rate = [e["id"] for e in self.entries if int(e["sample_rate"]) != sample_rate]
        if wrong_rate:
            raise ValueError(f"Manifest entries {wrong_rate[:3]} are not at {sample_rate} Hz: re-run data preparation.")
        self.sample_rate = sample_rate
        self.segment = None if segment_seconds is None else int(round(segment_seconds * sample_rate))
        if segment_samples is not None:
            self.segment = int(segment_samples)
        self.stride = self.segment if stride_seconds is None else max(1, int(round(stride_seconds * sample_rate)))
        self.cache = cache
        self._audio: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.examples: list[tuple[int, int]] = []
        for index, entry in enumerate(self.entries):
            samples = int(entry["samples"])
            if self.segment is None or samples <= self.segment:
                self.examples.append((index, 0))
            else:
                count = math.ceil((samples - self.segment) / self.stride) + 1
                self.examples.extend((index, k * self.stride) for k in range(count))

    def __len__(self) -> int:
        return len(self.examples)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index in self._audio:
            return self._audio[index]
        entry = self.entries[index]
        noisy, noisy_rate = read_audio(entry["noisy"])
        clean, clean_rate = read_audio(entry["clean"])
        if len(noisy) != 1 or len(clean) != 1 or noisy_rate != self.sample_rate or clean_rate != self.sample_rate:
            raise ValueError(f"{entry['id']}: expected mono {self.sample_rate} Hz audio; re-run data preparation.")
        noisy, clean = noisy[0], clean[0]
        if len(noisy) != len(clean):
            raise ValueError(f"{entry['id']}: noisy has {len(noisy)} samples, clean {len(clean)}.")
        if self.cache:
            self._audio[index] = (noisy, clean)
        return noisy, clean

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        index, start = self.examples[item]
        noisy, clean = self._load(index)
        if self.segment is None:
            return torch.from_numpy(noisy.copy()), torch.from_numpy(clean.copy())
        noisy, clean = noisy[start : start + self.segment], clean[start : start + self.segment]
        if len(noisy) < self.segment:
            pad = self.segment - len(noisy)
            noisy, clean = np.pad(noisy, (0, pad)), np.pad(clean, (0, pad))
        return torch.from_numpy(noisy.copy()), torch.from_numpy(clean.copy())

    def entry(self, item: int) -> dict:
        return self.entries[self.examples[item][0]]
