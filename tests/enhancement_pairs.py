"""Noisy/clean manifests cut from real speech (the bundled ``ref.wav``) for the enhancement recipes' tests."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import soundfile as sf

from metric import read_audio
from metric.data.enhancement import write_manifest

SPEECH = Path(__file__).resolve().parents[1] / "metric" / "assets" / "sample_audio" / "ref.wav"


def write_speech_pairs(root: Path, counts: Mapping[str, int], samples: Callable[[str], int], noise_std: float,
                       extra: Callable[[str, int], dict] = lambda split, index: {}) -> Path:
    """``counts[split]`` pairs per split (16 kHz): speech at a random rotation, scaled by 0.6, plus white noise.

    ``samples(split)`` is each file's length; ``extra(split, index)`` adds fields to a manifest entry.
    Writes ``<root>/<split>.json``; returns ``root``.
    """
    speech, _ = read_audio(SPEECH, 16000, mono=True)
    rng = np.random.default_rng(0)
    for split, count in counts.items():
        entries = []
        for i in range(count):
            clean = 0.6 * np.roll(speech, int(rng.integers(len(speech))))[: samples(split)]
            noisy = (clean + rng.normal(0, noise_std, len(clean))).astype(np.float32)
            paths = {kind: root / f"{split}{i}_{kind}.wav" for kind in ("noisy", "clean")}
            sf.write(paths["noisy"], noisy, 16000, subtype="FLOAT")
            sf.write(paths["clean"], clean, 16000, subtype="FLOAT")
            entries.append({"id": f"{split}{i}", "noisy": str(paths["noisy"]), "clean": str(paths["clean"]),
                            "samples": len(clean), "sample_rate": 16000, **extra(split, i)})
        write_manifest(entries, root, split)
    return root
