"""Groups of perturbed recordings for distilling CDPAM into a smaller network.

One item is a *group*: a clean speech excerpt (row 0) and ``group_size - 1`` perturbed
versions of it, all the same length and all scaled by one random gain. The teacher's
embeddings of every row make any pair of the group a distillation target (clean vs
perturbed, and perturbed vs perturbed), so a group of 8 rows holds 28 teacher distances for
8 encoder passes.

How the perturbed rows are drawn (``pairs_per_family`` levels of ``families_per_group``
distinct families, then chains of 2 families for the remaining rows):

* the rows of one family share a seed (the same noise realisation, band shape, impulse
  response), so they differ only in the level, as in the JND data;
* levels come from a fixed grid (``levels``), so that evaluation can use levels that are
  not in the training mix;
* one gain per group, uniform in ``gain_db``, applied to every row after perturbing, so
  absolute noise levels become a spread of signal-to-noise ratios and loudness alone never
  tells rows apart;
* families are drawn uniformly, or in proportion to ``family_weights`` (to over-sample the
  families a student still disagrees on), for the single-family rows and the chain links alike.

Items are a pure function of ``(seed, index)``, like every generated dataset of
:mod:`metric.data`: ``size`` only says how many there are, and a larger ``size`` keeps the
first items unchanged.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from metric.perturb import Chain

from .contrastive import babble_pool, usable_families, with_babble_sources
from .corpora import AudioCache, as_utterances, crop, speaker_of, utterance_id_of

# The default level grid: evaluation levels such as 0.1, 0.3, ..., 0.9 and 1.0 lie between or beyond it.
DISTILL_LEVELS: tuple[float, ...] = (0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85)


class PerturbedGroups(Dataset):
    """Items ``{"audio": FloatTensor [group_size, T], "chains": [spec, ...], "gain_db", "utterance_id",
    "speaker"}``; ``chains[0]`` is ``""`` (the clean row).

    Args:
        utterances: utterance objects, a ``SpeechCorpus`` or paths.
        sample_rate: rate of the returned audio (22,050 Hz: the rate CDPAM's encoder runs at).
        size: number of groups.
        families: families to draw from (default: every family that needs no extra input).
        levels: the level grid.
        group_size: rows per group, the clean one included (>= 2).
        families_per_group: distinct single families per group.
        pairs_per_family: levels drawn per single family (distinct grid points).
        chain_links: families in each chained row (rows left after the single families).
        gain_db: range of the per-group gain.
        segment_seconds: excerpt length (shorter utterances are zero-padded to it).
        family_options: per-family options (``{"babble": {"sources": [...]}}``); babble is
            otherwise mixed from the corpus' own speech, never the group's utterance.
        family_weights: relative drawing weight of families (``{"mp3": 3}``; a family not named
            weighs 1, 0 leaves it out); ``None`` draws every family alike.
    """

    salt = 0x44495354

    def __init__(self, utterances: Sequence[Any], sample_rate: int = 22050, size: int = 100,
                 families: Sequence[str] | None = None, levels: Sequence[float] = DISTILL_LEVELS, group_size: int = 8,
                 families_per_group: int = 3, pairs_per_family: int = 2, chain_links: int = 2,
                 gain_db: tuple[float, float] = (-20.0, 0.0), segment_seconds: float = 0.5, seed: int = 0,
                 family_options: dict[str, dict] | None = None, family_weights: dict[str, float] | None = None,
                 cache: bool = True):
        self.utterances = as_utterances(utterances)
        self.sample_rate = int(sample_rate)
        self.size = int(size)
        self.family_options = dict(family_options or {})
        self.families = usable_families(families, self.family_options)
        self.family_weights = None if family_weights is None else {str(k): float(v) for k, v in dict(family_weights).items()}
        self._probabilities = self._family_probabilities()
        self.levels = tuple(float(v) for v in levels)
        if not self.levels or not all(0.0 <= v <= 1.0 for v in self.levels):
            raise ValueError(f"levels must be a non-empty list of numbers in [0, 1], got {list(levels)}")
        self.group_size = int(group_size)
        self.families_per_group = int(families_per_group)
        self.pairs_per_family = int(pairs_per_family)
        self.chain_links = int(chain_links)
        singles = self.families_per_group * self.pairs_per_family
        if self.group_size < 2 or singles > self.group_size - 1:
            raise ValueError(
                f"group_size={group_size} leaves no room for families_per_group x pairs_per_family = {singles} "
                f"perturbed rows beside the clean one; raise group_size or lower the others"
            )
        drawable = len(self.families) if self._probabilities is None else int((self._probabilities > 0).sum())
        if self.families_per_group > drawable or self.pairs_per_family > len(self.levels):
            raise ValueError(
                f"{self.families_per_group} families x {self.pairs_per_family} levels per group cannot be drawn from "
                f"{drawable} families (of non-zero weight) and {len(self.levels)} levels"
            )
        if self.chain_links < 1 or self.chain_links > drawable:
            raise ValueError(f"chain_links must be between 1 and {drawable}, got {chain_links}")
        self.gain_db = (float(gain_db[0]), float(gain_db[1]))
        if self.gain_db[0] > self.gain_db[1]:
            raise ValueError(f"gain_db must be (low, high), got {gain_db}")
        self.segment = int(round(float(segment_seconds) * self.sample_rate))
        self.seed = int(seed)
        self._load = AudioCache(self.sample_rate, cache)
        self._babble_pool = babble_pool(self.utterances, self.seed)

    def __len__(self) -> int:
        return self.size

    def _family_probabilities(self) -> np.ndarray | None:
        if self.family_weights is None:
            return None
        unknown = sorted(set(self.family_weights) - set(self.families))
        if unknown:
            raise ValueError(f"family_weights names {unknown}, which are not among the families drawn "
                             f"({', '.join(self.families)}); weigh only those")
        weights = np.array([self.family_weights.get(f, 1.0) for f in self.families], dtype=np.float64)
        if not np.all(np.isfinite(weights)) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"family_weights must be finite, >= 0 and not all 0, got {self.family_weights}")
        return weights / weights.sum()

    def config(self) -> dict[str, Any]:
        """What defines the items (everything but ``size``): two datasets with equal configs agree item by item."""
        config = self._config()
        if self.family_weights is not None:  # only when set, so that caches built before weights existed still match
            config["family_weights"] = dict(sorted(self.family_weights.items()))
        return config

    def _config(self) -> dict[str, Any]:
        return {"utterances": [f"{speaker_of(u)}/{utterance_id_of(u)}" for u in self.utterances], "sample_rate": self.sample_rate,
                "families": list(self.families), "levels": list(self.levels), "group_size": self.group_size,
                "families_per_group": self.families_per_group, "pairs_per_family": self.pairs_per_family,
                "chain_links": self.chain_links, "gain_db": list(self.gain_db), "segment": self.segment,
                "seed": self.seed, "family_options": {k: sorted(v) for k, v in self.family_options.items()}}

    def chains(self, rng: np.random.Generator) -> list[tuple[Chain, int]]:
        """The perturbed rows' chains and seeds, in row order."""
        rows: list[tuple[Chain, int]] = []
        chosen = self._draw_families(rng, self.families_per_group)
        for index in chosen:
            family = self.families[int(index)]
            seed = int(rng.integers(0, 2**31))
            levels = rng.choice(len(self.levels), size=self.pairs_per_family, replace=False)
            for level in sorted(self.levels[int(i)] for i in levels):
                rows.append((Chain([(family, level, dict(self.family_options.get(family, {})))]), seed))
        while len(rows) < self.group_size - 1:
            picks = self._draw_families(rng, self.chain_links)
            links = [(self.families[int(i)], self.levels[int(rng.integers(0, len(self.levels)))],
                      dict(self.family_options.get(self.families[int(i)], {}))) for i in picks]
            rows.append((Chain(links), int(rng.integers(0, 2**31))))
        return rows

    def _draw_families(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """Indices of ``count`` distinct families (uniform, or by ``family_weights``)."""
        if self._probabilities is None:  # the draw of every cache built without weights
            return rng.choice(len(self.families), size=count, replace=False)
        return rng.choice(len(self.families), size=count, replace=False, p=self._probabilities)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.size:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, self.salt, int(index)])
        utterance = self.utterances[int(rng.integers(0, len(self.utterances)))]
        clean = np.zeros(self.segment, dtype=np.float32)
        excerpt = crop(self._load(utterance), self.segment, rng)
        clean[: len(excerpt)] = excerpt
        gain_db = float(rng.uniform(*self.gain_db))
        rows, specs = [clean], [""]
        for chain, seed in self.chains(rng):
            chain = with_babble_sources(chain, self._babble_pool, (utterance,))
            rows.append(chain(clean, self.sample_rate, seed=seed))
            specs.append(chain.spec())
        audio = np.stack(rows).astype(np.float32) * np.float32(10.0 ** (gain_db / 20.0))
        return {"audio": torch.from_numpy(audio), "chains": specs, "gain_db": gain_db,
                "utterance_id": utterance_id_of(utterance), "speaker": speaker_of(utterance)}
