"""Offline **proxies** for the JND and triplet stages, for when human judgments are not available.

These are *not* human data and never pretend to be: items carry ``"source": "jnd_proxy"`` or
``"triplet_proxy"`` (the human pairs of :class:`metric.data.jnd.JNDPairs` carry
``"jnd_human"``), and the labels are rules, not judgments.

Both draw the same way: one utterance excerpt, one family, two levels, one seed (same noise
realisation, band shape, impulse-response draw...), so the two recordings differ only in the
perturbation's strength, as in the JND data.

:class:`JNDProxyPairs` (stage b):

the proxy label is::

    label = 1 ("different")  if |level_a - level_b| > threshold   (default 0.15)
    label = 0 ("same")       otherwise

The threshold is in level units (each family's level is spaced roughly perceptually:
dB, log-bitrate, log-RT60...), identical for all families; it is a documented
convention, not a measured JND. A share ``identical_fraction`` of pairs are exactly
identical (label 0), as the JND data contains identical pairs too.

:class:`ProxyTriplets` (stage c): the reference is the clean excerpt; A and B are its two
perturbed versions, at levels at least ``min_gap`` apart. The proxy "listener" prefers the
weaker perturbation: ``preference = 1`` when A's level is lower. Use
:class:`metric.data.triplets.TripletDataset` for real listener data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from metric.perturb import Chain

from .contrastive import babble_pool, usable_families, with_babble_sources
from .corpora import AudioCache, as_utterances, crop, utterance_id_of

PROXY_THRESHOLD = 0.15
MAX_LEVEL_GAP = 0.4


def proxy_label(level_a: float, level_b: float, threshold: float = PROXY_THRESHOLD) -> int:
    """1 when the two levels differ by more than ``threshold``, else 0 (the proxy's rule)."""
    return int(abs(float(level_a) - float(level_b)) > threshold)


@dataclass(frozen=True)
class _Draw:
    """One item's draw: an excerpt, a family, two levels and the perturbation at either level."""

    utterance: Any
    excerpt: np.ndarray
    family: str
    gap: float
    level_a: float
    level_b: float
    perturbed: Callable[[float], np.ndarray]  # level -> the excerpt perturbed with the item's seed


class _SameSeedLevels(Dataset):
    """The draw both proxies share; subclasses set the generator salt and the level gap."""

    salt: int

    def __init__(self, utterances: Sequence[Any], sample_rate: int, size: int, families: Sequence[str] | None,
                 segment_seconds: float | None, seed: int, family_options: dict[str, dict] | None, cache: bool):
        self.utterances = as_utterances(utterances)
        self.sample_rate = int(sample_rate)
        self.size = int(size)
        self.family_options = dict(family_options or {})
        self.families = usable_families(families, self.family_options)
        self.segment = None if segment_seconds is None else int(round(segment_seconds * sample_rate))
        self.seed = int(seed)
        self._load = AudioCache(sample_rate, cache)
        self._babble_pool = babble_pool(self.utterances, self.seed)

    def __len__(self) -> int:
        return self.size

    def _gap(self, rng: np.random.Generator) -> float:
        raise NotImplementedError

    def _draw(self, index: int) -> _Draw:
        if not 0 <= index < self.size:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, self.salt, int(index)])
        utterance = self.utterances[int(rng.integers(0, len(self.utterances)))]
        x = crop(self._load(utterance), self.segment, rng)
        family = self.families[int(rng.integers(0, len(self.families)))]
        gap = self._gap(rng)
        low = float(rng.uniform(0.0, 1.0 - gap))
        level_a, level_b = (low, low + gap) if rng.uniform() < 0.5 else (low + gap, low)
        seed = int(rng.integers(0, 2**31))
        options = dict(self.family_options.get(family, {}))

        def perturbed(level: float) -> np.ndarray:
            chain = with_babble_sources(Chain([(family, level, options)]), self._babble_pool, (utterance,))
            return chain(x, self.sample_rate, seed=seed)

        return _Draw(utterance, x, family, gap, level_a, level_b, perturbed)


class JNDProxyPairs(_SameSeedLevels):
    """Pairs labelled by level difference: ``{"reference", "perturbed", "label", "family",
    "level_a", "level_b", "level_gap", "source": "jnd_proxy", "is_proxy": True}``.

    ``reference``/``perturbed`` mirror the keys of the human :class:`JNDPairs` so the JND
    stage can train on either (here the "reference" is the level-``level_a`` version).

    Args:
        utterances: utterance objects, a ``SpeechCorpus`` or paths.
        size: pairs per epoch (items are a pure function of ``(seed, index)``).
        threshold: level gap above which the proxy says "different".
        max_level_gap: level gaps are uniform in [0, max_level_gap] (about balanced labels
            for the default threshold).
        identical_fraction: share of exactly identical pairs.
    """

    salt = 0x50525859

    def __init__(self, utterances: Sequence[Any], sample_rate: int = 22050, size: int = 1000,
                 families: Sequence[str] | None = None, threshold: float = PROXY_THRESHOLD,
                 max_level_gap: float = MAX_LEVEL_GAP, identical_fraction: float = 0.1,
                 segment_seconds: float | None = 2.0, seed: int = 0,
                 family_options: dict[str, dict] | None = None, cache: bool = True):
        super().__init__(utterances, sample_rate, size, families, segment_seconds, seed, family_options, cache)
        self.threshold = float(threshold)
        self.max_level_gap = float(max_level_gap)
        self.identical_fraction = float(identical_fraction)

    def _gap(self, rng: np.random.Generator) -> float:
        return 0.0 if rng.uniform() < self.identical_fraction else float(rng.uniform(0.0, self.max_level_gap))

    def __getitem__(self, index: int) -> dict[str, Any]:
        draw = self._draw(index)
        y_a = draw.perturbed(draw.level_a)
        y_b = y_a if draw.gap == 0.0 else draw.perturbed(draw.level_b)
        return {
            "reference": torch.from_numpy(y_a.copy()),
            "perturbed": torch.from_numpy(y_b.copy()),
            "label": float(proxy_label(draw.level_a, draw.level_b, self.threshold)),
            "family": draw.family,
            "level_a": draw.level_a,
            "level_b": draw.level_b,
            "level_gap": abs(draw.level_b - draw.level_a),
            "utterance_id": utterance_id_of(draw.utterance),
            "source": "jnd_proxy",
            "is_proxy": True,
        }


class ProxyTriplets(_SameSeedLevels):
    """Offline stand-in for human triplets: ``{"reference", "a", "b", "preference", "family",
    "level_a", "level_b", "utterance_id", "source": "triplet_proxy"}`` (see the module docs).

    Args:
        min_gap: the two levels are at least this far apart (gaps uniform in [min_gap, 1)).
    """

    salt = 0x54524950

    def __init__(self, utterances: Sequence[Any], sample_rate: int = 22050, size: int = 1000,
                 families: Sequence[str] | None = None, min_gap: float = 0.2, segment_seconds: float | None = 2.0,
                 seed: int = 0, family_options: dict[str, dict] | None = None, cache: bool = True):
        if not 0 < min_gap < 1:
            raise ValueError(f"min_gap must be in (0, 1), got {min_gap}")
        super().__init__(utterances, sample_rate, size, families, segment_seconds, seed, family_options, cache)
        self.min_gap = float(min_gap)

    def _gap(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.min_gap, 1.0))

    def __getitem__(self, index: int) -> dict[str, Any]:
        draw = self._draw(index)
        return {
            "reference": torch.from_numpy(np.ascontiguousarray(draw.excerpt, dtype=np.float32)),
            "a": torch.from_numpy(draw.perturbed(draw.level_a)),
            "b": torch.from_numpy(draw.perturbed(draw.level_b)),
            "preference": 1.0 if draw.level_a < draw.level_b else 0.0,
            "family": draw.family,
            "level_a": draw.level_a,
            "level_b": draw.level_b,
            "utterance_id": utterance_id_of(draw.utterance),
            "source": "triplet_proxy",
        }
