"""An offline **proxy** for the JND stage, for when the human JND data is not available.

This is *not* human data and never pretends to be: items carry ``"source": "jnd_proxy"``
(the human pairs of :class:`metric.data.jnd.JNDPairs` carry ``"jnd_human"``), and the
label is a rule, not a judgment.

Each pair is one utterance excerpt perturbed by one family at two levels with the *same*
seed (same noise realisation, band shape, impulse-response draw...), so the two
recordings differ only in the perturbation's strength, as in the JND data. The proxy
label is::

    label = 1 ("different")  if |level_a - level_b| > threshold   (default 0.15)
    label = 0 ("same")       otherwise

The threshold is in level units (each family's level is spaced roughly perceptually:
dB, log-bitrate, log-RT60...), identical for all families; it is a documented
convention, not a measured JND. A share ``identical_fraction`` of pairs are exactly
identical (label 0), as the JND data contains identical pairs too.
"""

from __future__ import annotations

from typing import Any, Sequence

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


class JNDProxyPairs(Dataset):
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

    def __init__(self, utterances: Sequence[Any], sample_rate: int = 22050, size: int = 1000,
                 families: Sequence[str] | None = None, threshold: float = PROXY_THRESHOLD,
                 max_level_gap: float = MAX_LEVEL_GAP, identical_fraction: float = 0.1,
                 segment_seconds: float | None = 2.0, seed: int = 0,
                 family_options: dict[str, dict] | None = None, cache: bool = True):
        self.utterances = as_utterances(utterances)
        self.sample_rate = int(sample_rate)
        self.size = int(size)
        self.family_options = dict(family_options or {})
        self.families = usable_families(families, self.family_options)
        self.threshold = float(threshold)
        self.max_level_gap = float(max_level_gap)
        self.identical_fraction = float(identical_fraction)
        self.segment = None if segment_seconds is None else int(round(segment_seconds * sample_rate))
        self.seed = int(seed)
        self._load = AudioCache(sample_rate, cache)
        self._babble_pool = babble_pool(self.utterances, self.seed)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.size:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, 0x50525859, int(index)])
        utterance = self.utterances[int(rng.integers(0, len(self.utterances)))]
        x = crop(self._load(utterance), self.segment, rng)
        family = self.families[int(rng.integers(0, len(self.families)))]
        gap = 0.0 if rng.uniform() < self.identical_fraction else float(rng.uniform(0.0, self.max_level_gap))
        low = float(rng.uniform(0.0, 1.0 - gap))
        level_a, level_b = (low, low + gap) if rng.uniform() < 0.5 else (low + gap, low)
        seed = int(rng.integers(0, 2**31))
        options = dict(self.family_options.get(family, {}))
        chain_a = with_babble_sources(Chain([(family, level_a, options)]), self._babble_pool, (utterance,))
        chain_b = with_babble_sources(Chain([(family, level_b, options)]), self._babble_pool, (utterance,))
        y_a = chain_a(x, self.sample_rate, seed=seed)
        y_b = y_a if gap == 0.0 else chain_b(x, self.sample_rate, seed=seed)
        return {
            "reference": torch.from_numpy(y_a.copy()),
            "perturbed": torch.from_numpy(y_b.copy()),
            "label": float(proxy_label(level_a, level_b, self.threshold)),
            "family": family,
            "level_a": level_a,
            "level_b": level_b,
            "level_gap": abs(level_b - level_a),
            "utterance_id": utterance_id_of(utterance),
            "source": "jnd_proxy",
            "is_proxy": True,
        }
