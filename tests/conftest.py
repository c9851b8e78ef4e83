"""Shared fixtures: the official sample clips and their published distances (copies in the repo)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
SAMPLE_AUDIO = REPO / "metric" / "assets" / "sample_audio"


@pytest.fixture(scope="session")
def clips() -> dict[str, np.ndarray]:
    """The official example clips (22,050 Hz, float32 in [-1, 1]) plus the silence case of the golden file."""
    out = {}
    for name in ("ref", "2", "4"):
        data, rate = sf.read(SAMPLE_AUDIO / f"{name}.wav", dtype="float32")
        assert rate == 22050
        out[name] = data
    out["silence"] = np.zeros_like(out["ref"])
    return out


@pytest.fixture(scope="session")
def golden() -> dict:
    return json.loads((TESTS / "data" / "golden_public.json").read_text())


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.manual_seed(0)
    yield
