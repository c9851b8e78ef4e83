"""The perturbation engine: apply one family (:func:`perturb`) or a seeded chain (:class:`Chain`).

Contract of :func:`perturb` (stable; training and evaluation build on it):

* input: a mono float waveform ``[T]`` (numpy array or torch tensor) in [-1, 1];
* output: ``np.float32`` array with exactly ``T`` samples, **hard-clipped** to
  [-1, 1] (clipping rather than rescaling, because rescaling the whole clip would
  add a gain change of its own; only families that add energy, at high levels,
  ever reach the clip);
* deterministic: the same ``(waveform, sample_rate, family, level, seed, options)``
  gives the same output in every process; randomness comes from a
  ``numpy.random.Generator`` seeded from ``(seed, family)``. Families marked
  non-random (``random_families()`` excludes them) ignore the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

# Importing a family module registers its families; this order is the order of FAMILIES (the
# JND data's: noise, reverberation, equalisation, codecs, damage, band-limiting, phase, gain/shift),
# which seeded datasets index into, so it is part of their reproducibility.
from . import noise, room, filters, codecs, damage, bandlimit, phase, gain_shift  # noqa: F401, I001
from .noise import ADDITIVE_NOISE_FAMILIES
from .registry import check_level, check_sample_rate, check_waveform, derived_seed, family_rng, get_family, registered_names

FAMILIES: tuple[str, ...] = registered_names()

# Families that need user input (noise recordings) and so are skipped by "all families" defaults.
NEEDS_OPTIONS: tuple[str, ...] = ("noise_file",)


def describe(family: str, level: float, sample_rate: int) -> dict[str, Any]:
    """The physical parameters ``family`` uses at ``level`` (e.g. ``{"rt60_s": 0.23, ...}``)."""
    return dict(get_family(family).parameters(check_level(level), check_sample_rate(sample_rate)))


def level_mapping(family: str) -> str:
    """One line describing how ``family``'s level maps onto its physical parameter."""
    return get_family(family).mapping


def random_families() -> tuple[str, ...]:
    """Families whose output depends on the seed."""
    return tuple(name for name in FAMILIES if get_family(name).random)


def perturb(waveform, sample_rate: int, family: str, level: float, seed: int = 0, **options) -> np.ndarray:
    """Apply one perturbation family at a level in [0, 1].

    Args:
        waveform: mono float signal ``[T]`` in [-1, 1] (numpy array or torch tensor).
        sample_rate: its rate in Hz (any rate; codecs resample internally if needed).
        family: one of :data:`FAMILIES`.
        level: 0 = (near) no change ... 1 = strongest; see :func:`describe`.
        seed: seed of the family's random draws (noise, positions, band shape, ...).
        **options: family-specific inputs: ``sources=`` (babble: arrays at
            ``sample_rate`` or file paths), ``talkers=`` (babble, default 6),
            ``noise_files=`` (noise_file: paths or arrays; required),
            ``relative_to_signal=True`` (the families of ``ADDITIVE_NOISE_FAMILIES``:
            the level is an SNR, not an absolute amplitude), ``impulse_responses=``
            (reverb: measured room responses, paths or arrays).

    Returns:
        ``np.float32`` array of ``T`` samples, hard-clipped to [-1, 1].
    """
    x = check_waveform(waveform)
    sample_rate = check_sample_rate(sample_rate)
    spec = get_family(family)
    level = check_level(level)
    params = spec.parameters(level, sample_rate)
    y = spec.apply(x, sample_rate, params, family_rng(seed, family), **options)
    if len(y) != len(x):  # a family bug, never the caller's fault
        raise AssertionError(f"family {family!r} changed the length from {len(x)} to {len(y)}")
    return np.clip(y, -1.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Link:
    """One step of a :class:`Chain`: a family, its level and its options."""

    family: str
    level: float
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        get_family(self.family)
        check_level(self.level)


class Chain:
    """Several perturbations applied in order with one seed.

    ``Chain([("white_noise", 0.3), ("mp3", 0.5)])``; a link may carry options:
    ``("babble", 0.4, {"sources": utterances})``. Link ``i`` is applied with
    ``derived_seed(seed, i)``, so links draw independent random streams and
    the whole chain is reproducible from its one seed.
    """

    def __init__(self, links: Iterable[Sequence[Any] | Link]):
        parsed = []
        for link in links:
            if isinstance(link, Link):
                parsed.append(link)
            elif len(link) == 2:
                parsed.append(Link(str(link[0]), float(link[1])))
            elif len(link) == 3:
                parsed.append(Link(str(link[0]), float(link[1]), dict(link[2])))
            else:
                raise ValueError(f"a chain link is (family, level) or (family, level, options), got {link!r}")
        self.links: tuple[Link, ...] = tuple(parsed)

    def __call__(self, waveform, sample_rate: int, seed: int = 0) -> np.ndarray:
        y = check_waveform(waveform).astype(np.float32)
        for index, link in enumerate(self.links):
            y = perturb(y, sample_rate, link.family, link.level, seed=derived_seed(seed, index), **link.options)
        return y

    def describe(self, sample_rate: int) -> list[dict[str, Any]]:
        """Physical parameters of every link, in order."""
        return [{"family": l.family, "level": l.level, **describe(l.family, l.level, sample_rate)} for l in self.links]

    def spec(self) -> str:
        """Compact text form, e.g. ``"white_noise:0.3+mp3:0.5"`` (parse back with :meth:`parse`)."""
        return "+".join(f"{l.family}:{l.level:g}" for l in self.links)

    @classmethod
    def parse(cls, text: str) -> "Chain":
        """Build a chain from ``"family:level+family:level"`` (the CLI and manifest form)."""
        links = []
        for part in text.split("+"):
            name, sep, value = part.strip().partition(":")
            if not sep:
                raise ValueError(f"chain part {part!r} must look like family:level, e.g. reverb:0.4")
            links.append((name, float(value)))
        return cls(links)

    def __repr__(self) -> str:
        return f"Chain({self.spec()!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Chain) and self.links == other.links

    def __hash__(self) -> int:
        return hash(self.spec())
