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
    _drop_unimportable_lazy_modules()
    yield


def _drop_unimportable_lazy_modules() -> None:
    """Remove SpeechBrain's lazy placeholders for optional integrations (k2, …) from sys.modules.

    Hypothesis scans every module in sys.modules for constants and reads ``__file__``;
    on a placeholder whose optional dependency is absent that read raises ImportError
    and aborts the whole session. Nothing imports those integrations here.
    """
    import sys
    import types
    import warnings

    for name, module in list(sys.modules.items()):
        if type(module) is types.ModuleType:  # only lazy/redirecting subclasses import on access
            continue
        try:
            with warnings.catch_warnings():  # a redirecting placeholder warns when probed; nothing uses it
                warnings.simplefilter("ignore")
                getattr(module, "__file__", None)
        except Exception:
            del sys.modules[name]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    _drop_unimportable_lazy_modules()


def pytest_configure(config):
    """Hide exactly what dependencies emit and the project cannot fix (metric/dependency_warnings.py)."""
    from metric.dependency_warnings import hide_lightning_tips, pytest_filters

    for line in pytest_filters():
        config.addinivalue_line("filterwarnings", line)
    hide_lightning_tips()
