"""The family registry, seeding and input checks shared by every perturbation.

A *family* is one kind of degradation (``"white_noise"``, ``"mp3"``, ...). Each family
is two functions:

* ``parameters(level, sample_rate) -> dict``: the documented mapping from the
  continuous level in [0, 1] (0 = no or almost no change, 1 = the strongest) onto
  physical parameters (noise RMS, RT60, bitrate, ...). It is pure, so datasets
  can record exactly what was applied.
* ``apply(x, sample_rate, params, rng, **options) -> np.ndarray``: the degradation
  itself on a float64 signal; randomness comes only from ``rng``.

Random draws come from a ``numpy.random.Generator`` seeded from ``(seed, family)``
through ``numpy.random.SeedSequence``. The family's name is hashed with CRC-32
(stable across processes, unlike Python's ``hash``), so ``perturb(x, sr, f, l, seed)``
returns the same array in every process and on every run.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

ParameterMap = Callable[[float, int], dict[str, Any]]
Apply = Callable[..., np.ndarray]


@dataclass(frozen=True)
class Family:
    """One perturbation family: its name, level mapping, implementation and docs."""

    name: str
    parameters: ParameterMap
    apply: Apply
    mapping: str  # one line, human-readable level -> physical parameter mapping
    random: bool = True  # False when the output does not depend on the seed


_REGISTRY: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add a family to the registry (names are unique)."""
    if family.name in _REGISTRY:
        raise ValueError(f"perturbation family {family.name!r} is already registered")
    _REGISTRY[family.name] = family
    return family


def get_family(name: str) -> Family:
    """Look a family up by name, with an error listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown perturbation family {name!r}; known families: {known}") from None


def registered_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def family_rng(seed: int, name: str) -> np.random.Generator:
    """The generator every family draws from: seeded from ``(seed, family name)``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, zlib.crc32(name.encode())]))


def derived_seed(seed: int, index: int) -> int:
    """Seed of link ``index`` of a chain applied with ``seed`` (independent streams per link)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, 0x43484149, int(index)]).generate_state(2, np.uint32)
    return int(state[0]) << 32 | int(state[1])


def check_level(level: float) -> float:
    level = float(level)
    if not np.isfinite(level) or level < 0.0 or level > 1.0:
        raise ValueError(f"perturbation level must be a number in [0, 1], got {level!r}")
    return level


def check_waveform(waveform: Any) -> np.ndarray:
    """Return the input as a 1-D float64 array, or raise a helpful error."""
    if hasattr(waveform, "detach"):  # a torch tensor: accept it, the engine works in numpy
        waveform = waveform.detach().cpu().numpy()
    x = np.asarray(waveform)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise ValueError(
            f"perturb expects a mono waveform of shape [T], got shape {x.shape}; "
            "perturb each channel or each batch item separately"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"perturb expects floats in [-1, 1], got dtype {x.dtype}; "
            "convert integer PCM first (e.g. int16 / 32768)"
        )
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("the waveform contains NaN or infinite values")
    return x


def check_sample_rate(sample_rate: int) -> int:
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}")
    return int(sample_rate)
