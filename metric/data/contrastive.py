"""Contrastive pairs for CDPAM's first stage (Manocha et al., ICASSP 2021, §3.1).

CDPAM learns two embeddings with SimCLR-style contrastive learning:

* **acoustic** pairs share the *perturbation parameters* but not the content: the same
  perturbation chain with the same seed (hence the same levels, band shapes, impulse
  response, ...) applied to two different utterances;
* **content** pairs share the *content* but not the perturbation parameters: one
  excerpt of one utterance perturbed by two different chains.

Items are generated on the fly and are a pure function of ``(seed, index)``: the same
index always gives the same pair, in any worker process, so epochs are reproducible and
``size`` is simply how many distinct pairs an epoch holds.

Default families leave out ``gain`` and ``time_shift``: the paper makes the metric
*invariant* to those (its online augmentation), so they must not define acoustic
classes; ``noise_file`` is used only when ``family_options["noise_file"]`` names files.
Babble is made of the dataset's own speech (up to :data:`BABBLE_POOL` utterances chosen
once per dataset, never the pair's own utterances) unless
``family_options["babble"]["sources"]`` is given.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from metric.perturb import FAMILIES, NEEDS_OPTIONS, Chain

from .corpora import AudioCache, as_utterances, crop, speaker_of, utterance_id_of

PAIR_KINDS = ("acoustic", "content")
INVARIANCE_FAMILIES = ("gain", "time_shift")
CONTRASTIVE_FAMILIES = tuple(f for f in FAMILIES if f not in INVARIANCE_FAMILIES and f not in NEEDS_OPTIONS)
BABBLE_POOL = 32


def babble_pool(utterances: Sequence[Any], seed: int) -> list[str]:
    """Paths of up to :data:`BABBLE_POOL` utterances (fixed per seed) that babble is mixed from."""
    rng = np.random.default_rng([seed, 0x42414242])
    chosen = rng.choice(len(utterances), size=min(BABBLE_POOL, len(utterances)), replace=False)
    return [str(utterances[int(i)].path) for i in sorted(chosen)]


def with_babble_sources(chain: Chain, pool: Sequence[str], exclude: Sequence[Any]) -> Chain:
    """Give babble links without ``sources`` the pool's speech, minus the excluded utterances."""
    if not any(l.family == "babble" and "sources" not in l.options for l in chain.links):
        return chain
    excluded = {str(u.path) for u in exclude}
    sources = [p for p in pool if p not in excluded] or list(pool)
    return Chain([(l.family, l.level, {**l.options, "sources": sources} if l.family == "babble" and "sources" not in l.options else l.options)
                  for l in chain.links])


def usable_families(families: Sequence[str] | None, family_options: dict[str, dict] | None) -> tuple[str, ...]:
    """The default family set (plus option-needing families whose options are given), or a checked list."""
    family_options = family_options or {}
    if families is None:
        extra = tuple(f for f in NEEDS_OPTIONS if f in family_options)
        return CONTRASTIVE_FAMILIES + extra
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown perturbation families {unknown}; known: {', '.join(FAMILIES)}")
    lacking = [f for f in families if f in NEEDS_OPTIONS and f not in family_options]
    if lacking:
        raise ValueError(f"families {lacking} need options, e.g. family_options={{'noise_file': {{'noise_files': [...]}}}}")
    return tuple(families)


def random_chain(rng: np.random.Generator, families: Sequence[str], max_links: int,
                 level_range: tuple[float, float], family_options: dict[str, dict] | None = None) -> Chain:
    """1..max_links distinct families in random order, each at a uniform level in ``level_range``."""
    count = int(rng.integers(1, max(1, min(max_links, len(families))) + 1))
    chosen = rng.choice(len(families), size=count, replace=False)
    links = []
    for index in chosen:
        family = families[int(index)]
        level = float(np.round(rng.uniform(*level_range), 4))
        links.append((family, level, dict((family_options or {}).get(family, {}))))
    return Chain(links)


class ContrastivePairs(Dataset):
    """On-the-fly acoustic and content pairs.

    Items: ``{"a": FloatTensor [T], "b": FloatTensor [T], "kind": "acoustic"|"content",
    "kind_id": 0|1, "chain_a", "chain_b": chain specs, "seed_a", "seed_b",
    "utterance_a", "utterance_b", "speaker_a", "speaker_b"}``; ``a`` and ``b`` have the
    same length (at most ``segment_seconds``).

    Args:
        utterances: utterance objects (``.path``; ``.speaker`` used to prefer another
            speaker for acoustic pairs), a ``SpeechCorpus``, or paths.
        sample_rate: rate of the returned audio.
        kind: ``"acoustic"``, ``"content"`` or ``"both"`` (even indices acoustic, odd content).
        size: number of items (pairs) per epoch.
        families: perturbation families to draw chains from (default: see module docs).
        max_links: longest chain (1 = a single perturbation).
        level_range: levels are uniform in this range.
        segment_seconds: excerpt length (``None``: whole utterances, cropped to the shorter).
        family_options: per-family options, e.g. ``{"babble": {"sources": [...]}}``.
        transform: optional callable applied to each returned waveform (numpy in, numpy out).
        cache: keep decoded utterances in memory.
    """

    def __init__(self, utterances: Sequence[Any], sample_rate: int = 22050, kind: str = "both", size: int = 1000,
                 families: Sequence[str] | None = None, max_links: int = 2, level_range: tuple[float, float] = (0.05, 1.0),
                 segment_seconds: float | None = 2.0, seed: int = 0, family_options: dict[str, dict] | None = None,
                 transform: Callable[[np.ndarray], np.ndarray] | None = None, cache: bool = True):
        if kind not in PAIR_KINDS + ("both",):
            raise ValueError(f"kind must be 'acoustic', 'content' or 'both', got {kind!r}")
        self.utterances = as_utterances(utterances)
        if kind != "content" and len(self.utterances) < 2:
            raise ValueError("acoustic pairs need at least two utterances (different content)")
        self.sample_rate = int(sample_rate)
        self.kind = kind
        self.size = int(size)
        self.family_options = dict(family_options or {})
        self.families = usable_families(families, self.family_options)
        self.max_links = int(max_links)
        self.level_range = (float(level_range[0]), float(level_range[1]))
        self.segment = None if segment_seconds is None else int(round(segment_seconds * sample_rate))
        self.seed = int(seed)
        self.transform = transform
        self._load = AudioCache(sample_rate, cache)
        self._babble_pool = babble_pool(self.utterances, self.seed)

    def __len__(self) -> int:
        return self.size

    def kind_of(self, index: int) -> str:
        if self.kind == "both":
            return PAIR_KINDS[index % 2]
        return self.kind

    def _chain(self, rng: np.random.Generator) -> Chain:
        return random_chain(rng, self.families, self.max_links, self.level_range, self.family_options)

    def _other_utterance(self, rng: np.random.Generator, first: int) -> int:
        speaker = speaker_of(self.utterances[first])
        others = [i for i, u in enumerate(self.utterances) if i != first and speaker_of(u) != speaker]
        if not others:  # one speaker only: at least another utterance
            others = [i for i in range(len(self.utterances)) if i != first]
        return others[int(rng.integers(0, len(others)))]

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.size:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, int(index)])
        kind = self.kind_of(index)
        first = int(rng.integers(0, len(self.utterances)))
        if kind == "acoustic":
            second = self._other_utterance(rng, first)
            x_a = crop(self._load(self.utterances[first]), self.segment, rng)
            x_b = crop(self._load(self.utterances[second]), self.segment, rng)
            n = min(len(x_a), len(x_b))
            x_a, x_b = x_a[:n], x_b[:n]
            chain_a = chain_b = self._chain(rng)
            seed_a = seed_b = int(rng.integers(0, 2**31))
        else:
            second = first
            x_a = x_b = crop(self._load(self.utterances[first]), self.segment, rng)
            chain_a = self._chain(rng)
            chain_b = self._chain(rng)
            for _attempt in range(20):  # different parameters by construction ...
                if chain_b.spec() != chain_a.spec():
                    break
                chain_b = self._chain(rng)
            # ... unless the space has a single chain (one family, fixed level): the two
            # different seeds below still give different draws (noise, EQ shape, RIR, ...)
            seed_a, seed_b = (int(s) for s in rng.choice(2**31, size=2, replace=False))
        first_u, second_u = self.utterances[first], self.utterances[second]
        # one source list for both sides, so an acoustic pair's babble is the same mixture
        y_a = with_babble_sources(chain_a, self._babble_pool, (first_u, second_u))(x_a, self.sample_rate, seed=seed_a)
        y_b = with_babble_sources(chain_b, self._babble_pool, (first_u, second_u))(x_b, self.sample_rate, seed=seed_b)
        if self.transform is not None:
            y_a, y_b = self.transform(y_a), self.transform(y_b)
        return {
            "a": torch.from_numpy(np.ascontiguousarray(y_a, dtype=np.float32)),
            "b": torch.from_numpy(np.ascontiguousarray(y_b, dtype=np.float32)),
            "kind": kind,
            "kind_id": PAIR_KINDS.index(kind),
            "chain_a": chain_a.spec(),
            "chain_b": chain_b.spec(),
            "seed_a": seed_a,
            "seed_b": seed_b,
            "utterance_a": utterance_id_of(first_u),
            "utterance_b": utterance_id_of(second_u),
            "speaker_a": speaker_of(first_u),
            "speaker_b": speaker_of(second_u),
        }
