"""Datasets and resumable loaders for the three stages.

Which dataset a stage trains on depends on ``data.name``:

==============  ======================================  ===========================  ==========================
``data.name``   stage ``contrastive`` (a)               stage ``jnd`` (b)            stage ``triplet`` (c)
==============  ======================================  ===========================  ==========================
``toy``         contrastive pairs of the toy corpus     JND *proxy* pairs (toy)      triplet *proxy* (toy)
``corpus``      contrastive pairs of a speech corpus    JND *proxy* pairs (corpus)   triplet *proxy* (corpus)
``jnd``         —                                       human JND pairs              —
``triplets``    —                                       —                            triplets from a CSV
==============  ======================================  ===========================  ==========================

Stage ``distill`` trains on ``toy`` or ``corpus`` speech too: groups of perturbed excerpts
(:class:`metric.data.distill.PerturbedGroups`) whose teacher embeddings are computed once into
``stage.cache_dir`` (:mod:`metric.train.teacher_cache`); :func:`distill_datasets` builds or
reuses that cache and returns its two splits.

Proxies are rules, not listeners (see :mod:`metric.data.proxy`);
they exist so that every stage runs offline. Items are pure functions of their index, and
the training order is a seeded permutation per epoch (:class:`EpochSampler`), so a run
resumed from a mid-epoch checkpoint continues with exactly the batches it had not trained
on (:class:`ResumableLoader`).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from metric.data.collate import collate_padded
from metric.data.contrastive import ContrastivePairs
from metric.data.corpora import load_corpus, speaker_of
from metric.data.proxy import JNDProxyPairs, ProxyTriplets

STAGE_DATA = {
    "contrastive": ("toy", "corpus"),
    "jnd": ("toy", "corpus", "jnd"),
    "triplet": ("toy", "corpus", "triplets"),
    "distill": ("toy", "corpus"),
}


class ConfigError(ValueError):
    """A training configuration that cannot work, with what to change."""


# ----------------------------------------------------------------- wrappers


class Cropped(Dataset):
    """Crops every waveform of an item (the keys given) at one seeded random offset to ``segment`` samples."""

    def __init__(self, dataset: Dataset, keys: Sequence[str], segment: int | None, seed: int = 0):
        self.dataset, self.keys, self.segment, self.seed = dataset, tuple(keys), segment, int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.dataset[index])
        total = min(len(item[k]) for k in self.keys)
        if self.segment is not None and total > self.segment:
            start = int(np.random.default_rng([self.seed, 0x43524F50, int(index)]).integers(0, total - self.segment + 1))
            for key in self.keys:
                item[key] = item[key][start : start + self.segment]
        return item


class Indexed(Dataset):
    """Adds the item's ``"index"`` (lets a run record exactly which items each step trained on)."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.dataset[index])
        item["index"] = int(index)
        return item


# ----------------------------------------------------------------- building datasets


def _seeded_split(count: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    order = np.random.default_rng([seed, 0x53504C54]).permutation(count)
    val_count = max(1, int(round(count * val_fraction))) if val_fraction > 0 else 0
    return sorted(order[val_count:].tolist()), sorted(order[:val_count].tolist())


def _split_by_speaker(utterances: Sequence[Any], val_fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """Train/validation utterances with no speaker in both (by utterance if there is one speaker only)."""
    speakers = sorted({speaker_of(u) for u in utterances})
    if len(speakers) < 2:
        train_idx, val_idx = _seeded_split(len(utterances), val_fraction, seed)
        return [utterances[i] for i in train_idx], [utterances[i] for i in val_idx]
    _, val_speakers_idx = _seeded_split(len(speakers), val_fraction, seed)
    val_speakers = {speakers[i] for i in val_speakers_idx}
    return ([u for u in utterances if speaker_of(u) not in val_speakers], [u for u in utterances if speaker_of(u) in val_speakers])


def speech_splits(data: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    """Training and validation utterances of ``data.name`` ``toy`` or ``corpus``."""
    if data["name"] == "toy":
        from metric.data import toy

        return toy.utterances(data["train_split"], 22050), toy.utterances(data["val_split"], 22050)
    if data.get("root") in (None, "", "???"):
        raise ConfigError("data=corpus needs data.root=/path/to/corpus (and data.kind=folder|librispeech|vctk|ljspeech)")
    utterances = load_corpus(data["kind"], data["root"])
    train, val = _split_by_speaker(utterances, float(data["val_fraction"]), int(data["seed"]))
    if len(train) < 2 or not val:
        raise ConfigError(f"the corpus at {data['root']} has too few utterances ({len(utterances)}) for a train/validation split")
    return train, val


def _generated(stage: str, utterances: Sequence[Any], data: Mapping[str, Any], size: int, seed: int, pair_kinds: str) -> Dataset:
    common = dict(sample_rate=int(data["sample_rate"]), size=int(size), seed=seed,
                  families=list(data["families"]) if data.get("families") else None,
                  segment_seconds=data.get("segment_seconds"))
    if stage == "contrastive":
        return ContrastivePairs(utterances, kind=pair_kinds, max_links=int(data["max_links"]),
                                level_range=tuple(data["level_range"]), **common)
    if stage == "jnd":
        return JNDProxyPairs(utterances, **common)
    return ProxyTriplets(utterances, min_gap=float(data["triplet_min_gap"]), **common)


def build_datasets(stage: str, data: Mapping[str, Any], pair_kinds: str = "both") -> tuple[Dataset, Dataset]:
    """(training, validation) datasets of ``stage`` for the ``data`` config (see the module table)."""
    name = data["name"]
    if stage not in STAGE_DATA:
        raise ConfigError(f"unknown stage {stage!r}; choose contrastive, jnd or triplet")
    if stage == "distill":
        raise ConfigError("stage=distill trains on a teacher cache: build its datasets with distill_datasets(data, stage)")
    if name not in STAGE_DATA[stage]:
        raise ConfigError(f"stage={stage} cannot train on data={name}; use data=" + " or data=".join(STAGE_DATA[stage]))
    if name in ("toy", "corpus"):
        train_utt, val_utt = speech_splits(data)
        seed = int(data["seed"])
        train = _generated(stage, train_utt, data, data["train_size"], seed, pair_kinds)
        val = _generated(stage, val_utt, data, data["val_size"], seed + 1, pair_kinds)
        return train, val
    segment = None if data.get("segment_seconds") is None else int(round(float(data["segment_seconds"]) * int(data["sample_rate"])))
    if name == "jnd":
        from metric.data.jnd import JNDPairs

        if data.get("jnd_root") in (None, "", "???"):
            raise ConfigError("data=jnd needs data.jnd_root=/path/to/the/unzipped/JND/audio (label files ship with the package)")
        full = JNDPairs(data["jnd_root"], subsets=list(data["subsets"]), sample_rate=int(data["sample_rate"]), missing=data["missing"])
        keys = ("reference", "perturbed")
    else:
        from metric.data.triplets import TripletDataset

        if data.get("csv") in (None, "", "???"):
            raise ConfigError("data=triplets needs data.csv=/path/to/triplets.csv (columns reference,a,b,preference)")
        full = TripletDataset(data["csv"], sample_rate=int(data["sample_rate"]), root=data.get("root"))
        keys = ("reference", "a", "b")
    if data.get("val_csv"):
        from metric.data.triplets import TripletDataset

        train, val = full, TripletDataset(data["val_csv"], sample_rate=int(data["sample_rate"]), root=data.get("root"))
    else:
        train_idx, val_idx = _seeded_split(len(full), float(data["val_fraction"]), int(data["seed"]))
        train, val = Subset(full, train_idx), Subset(full, val_idx)
    return Cropped(train, keys, segment, int(data["seed"])), Cropped(val, keys, segment, int(data["seed"]) + 1)


def distill_datasets(data: Mapping[str, Any], stage: Mapping[str, Any], progress: bool = True) -> tuple[Dataset, Dataset]:
    """(training, validation) teacher caches of stage ``distill``, built first where shards are missing.

    Both splits use ``data.seed`` (their utterances differ), so a cache is shared by every run
    with the same data settings; ``stage.cache_dir`` holds one folder per split, named after
    ``data.train_split`` / ``data.val_split`` (``train/`` and ``valid/`` for a corpus).
    """
    from metric.data.distill import PerturbedGroups
    from metric.train.teacher_cache import build_teacher_cache, TeacherCache

    if data["name"] not in STAGE_DATA["distill"]:
        raise ConfigError(f"stage=distill cannot train on data={data['name']}; use data=toy or data=corpus")
    train_utt, val_utt = speech_splits(data)
    families = data.get("families") or stage.get("families")
    groups = dict(sample_rate=int(data["sample_rate"]), families=list(families) if families else None,
                  levels=list(stage["levels"]), group_size=int(stage["group_size"]),
                  families_per_group=int(stage["families_per_group"]), pairs_per_family=int(stage["pairs_per_family"]),
                  chain_links=int(stage["chain_links"]), gain_db=tuple(stage["gain_db"]),
                  segment_seconds=float(data["segment_seconds"]), seed=int(data["seed"]),
                  family_weights=dict(stage["family_weights"]) if stage.get("family_weights") else None)
    folder = Path(str(stage["cache_dir"])).expanduser()
    datasets = []
    names = (data.get("train_split") or "train", data.get("val_split") or "valid")
    for name, utterances, size in ((names[0], train_utt, data["train_size"]), (names[1], val_utt, data["val_size"])):
        generated = PerturbedGroups(utterances, size=int(size), **groups)
        build_teacher_cache(generated, folder / name, teacher=str(stage["teacher"]), shard_size=int(stage["cache_shard_size"]),
                            batch_size=int(stage["cache_batch_size"]), progress=progress)
        datasets.append(TeacherCache(folder / name, size=int(size)))
    return datasets[0], datasets[1]


# ----------------------------------------------------------------- sampling and loading


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class EpochSampler(Sampler[int]):
    """A seeded order per epoch (same on every rank), split across ranks, that can resume mid-epoch.

    The rank and world size are read from ``torch.distributed`` when iterating, so the same
    sampler works before and after DDP starts. Every rank gets ``size // world`` items (the
    remainder is dropped, so all ranks take the same number of steps).
    """

    def __init__(self, size: int, shuffle: bool = True, seed: int = 0):
        self.size, self.shuffle, self.seed = int(size), bool(shuffle), int(seed)
        self.epoch = 0
        self._resume: tuple[int, int] | None = None  # (epoch, items already consumed on this rank)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def resume(self, epoch: int, consumed: int) -> None:
        self._resume = (int(epoch), int(consumed))

    def __len__(self) -> int:
        return self.size // _rank_and_world()[1]

    def order(self, epoch: int) -> list[int]:
        """This rank's indices for ``epoch`` (before any resume skip)."""
        rank, world = _rank_and_world()
        if self.shuffle:
            generator = torch.Generator().manual_seed(zlib.crc32(f"{self.seed}|{epoch}".encode()))
            order = torch.randperm(self.size, generator=generator)
        else:
            order = torch.arange(self.size)
        return order[rank : (self.size // world) * world : world].tolist()

    def __iter__(self):
        indices = self.order(self.epoch)
        if self._resume is not None and self._resume[0] == self.epoch:
            indices = indices[self._resume[1]:]
        return iter(indices)


class ResumableLoader(DataLoader):
    """A ``DataLoader`` whose position Lightning stores in checkpoints (it implements ``state_dict``).

    ``progress`` returns how many batches of the current epoch have been trained on; it is
    wired to the trainer's batch progress (batches *prefetched* by the loader do not count).
    """

    progress: Callable[[], int] | None = None

    def state_dict(self) -> dict[str, int]:
        done = int(self.progress()) if self.progress is not None else 0
        return {"epoch": int(self.sampler.epoch), "batches_done": done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        batches = int(state.get("batches_done", 0))
        if 0 < batches < len(self):
            self.sampler.resume(int(state["epoch"]), batches * int(self.batch_size))


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int, num_workers: int = 0,
                collate_fn: Callable[[Sequence[dict[str, Any]]], dict[str, Any]] = collate_padded) -> ResumableLoader:
    if len(dataset) < batch_size and shuffle:
        raise ConfigError(f"the training set has {len(dataset)} items, fewer than one batch of {batch_size}; "
                          "lower optim.batch_size or raise data.train_size")
    return ResumableLoader(
        Indexed(dataset),
        batch_size=int(batch_size),
        sampler=EpochSampler(len(dataset), shuffle=shuffle, seed=seed),
        drop_last=shuffle,
        collate_fn=collate_fn,
        num_workers=int(num_workers),
        persistent_workers=int(num_workers) > 0,
    )
