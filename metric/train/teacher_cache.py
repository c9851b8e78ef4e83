"""The teacher's outputs for distillation, computed once and kept on disk.

:func:`build_teacher_cache` runs a generated dataset of perturbed groups
(:class:`metric.data.distill.PerturbedGroups`) through the teacher (the official CDPAM by
default) and writes, shard by shard:

* ``audio``: every row of every group as 16-bit PCM (the exact samples both the teacher
  and, later, the student see: the cache is the training data, whatever the perturbation
  engine of a later version would generate);
* ``embedding``: the teacher's L2-normalised acoustic embedding of each row (``CDPAM.embed``),
  from which the teacher distance of any pair in a group follows through the loss-net at no
  encoder cost;
* the chains, gains and utterances of each group.

Shards are written atomically (:func:`metric.atomic.atomic_torch_save`) and skipped when
present, so a killed build resumes where it stopped, and a larger ``size`` only adds shards.
``manifest.json`` holds the dataset's configuration and the teacher's identity; a cache
built with other settings is refused instead of mixed. The CPU seconds spent are recorded
per shard (the teacher pass is the dominant cost of distillation).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset

from metric.atomic import atomic_torch_save, atomic_write_bytes

CACHE_FORMAT = "cdpam-plugins/teacher-cache"
CACHE_VERSION = 1
MANIFEST = "manifest.json"
PCM_SCALE = 32767.0


class TeacherCacheError(RuntimeError):
    """A teacher cache that does not match the requested data or teacher."""


def to_pcm16(audio: torch.Tensor) -> torch.Tensor:
    """Float audio in [-1, 1] as int16 samples (rounded, clipped)."""
    return torch.round(audio.clamp(-1.0, 1.0) * PCM_SCALE).to(torch.int16)


def from_pcm16(pcm: torch.Tensor) -> torch.Tensor:
    return pcm.to(torch.float32) / PCM_SCALE


def _fingerprint(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def _teacher_identity(teacher: str) -> str:
    if str(teacher) == "official":
        from metric.weights import OFFICIAL_SHA256

        return f"official:{OFFICIAL_SHA256}"
    from metric.weights import sha256_of

    return f"file:{sha256_of(Path(teacher))}"


def _shard_path(folder: Path, shard: int) -> Path:
    return folder / f"shard_{shard:05d}.pt"


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    atomic_write_bytes(folder / MANIFEST, lambda handle: handle.write(text.encode("utf-8")))


def _open_manifest(folder: Path, config: dict[str, Any], teacher_id: str, shard_size: int) -> dict[str, Any]:
    wanted = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "fingerprint": _fingerprint(config),
              "teacher": teacher_id, "shard_size": int(shard_size)}
    path = folder / MANIFEST
    if path.is_file():
        manifest = json.loads(path.read_text())
        differing = [key for key, value in wanted.items() if manifest.get(key) != value]
        if differing:
            raise TeacherCacheError(
                f"the teacher cache in {folder} was built with other settings ({', '.join(differing)} differ); "
                f"point the cache at another folder, or delete {folder} to rebuild it."
            )
        return manifest
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {**wanted, "config": config, "shards": {}}
    _write_manifest(folder, manifest)
    return manifest


def build_teacher_cache(dataset, folder: str | Path, teacher: str = "official", shard_size: int = 8,
                        batch_size: int = 8, progress: bool = True) -> dict[str, Any]:
    """Teacher embeddings of every row of ``dataset`` (a :class:`PerturbedGroups`) in ``folder``.

    Returns the manifest (with ``cpu_seconds`` and ``audio_seconds`` of the teacher pass so far).
    """
    from metric.module import CDPAM

    folder = Path(folder).expanduser()
    config = dataset.config()
    manifest = _open_manifest(folder, config, _teacher_identity(teacher), shard_size)
    metric = CDPAM(dataset.sample_rate, weights=teacher)
    shards = -(-len(dataset) // shard_size)
    for shard in range(shards):
        indices = list(range(shard * shard_size, min(len(dataset), (shard + 1) * shard_size)))
        path = _shard_path(folder, shard)
        if path.is_file() and manifest["shards"].get(str(shard), {}).get("items") == len(indices):
            continue
        wall, cpu = time.perf_counter(), time.process_time()
        items = [dataset[i] for i in indices]
        pcm = to_pcm16(torch.stack([item["audio"] for item in items]))  # [S, G, T]
        rows = from_pcm16(pcm).reshape(-1, pcm.shape[-1])
        with torch.inference_mode():
            embedding = torch.cat([metric.embed(rows[i : i + batch_size]) for i in range(0, len(rows), batch_size)])
        atomic_torch_save({"format": CACHE_FORMAT, "index": indices, "audio": pcm,
                           "embedding": embedding.reshape(pcm.shape[0], pcm.shape[1], -1).clone(),
                           "chains": [item["chains"] for item in items], "gain_db": [item["gain_db"] for item in items],
                           "utterance_id": [item["utterance_id"] for item in items],
                           "speaker": [item["speaker"] for item in items]}, path)
        cost = {"items": len(indices), "cpu_seconds": round(time.process_time() - cpu, 1),
                "wall_seconds": round(time.perf_counter() - wall, 1),
                "audio_seconds": round(rows.numel() / dataset.sample_rate, 2)}
        manifest["shards"][str(shard)] = cost
        _write_manifest(folder, manifest)
        if progress:
            print(f"teacher cache {folder.name}: shard {shard + 1}/{shards} ({cost['audio_seconds']:.0f} s of audio, "
                  f"{cost['cpu_seconds']:.0f} CPU s, {cost['wall_seconds']:.0f} s)", file=sys.stderr, flush=True)
    done = [manifest["shards"][str(s)] for s in range(shards)]
    manifest["cpu_seconds"] = round(sum(s["cpu_seconds"] for s in done), 1)
    manifest["audio_seconds"] = round(sum(s["audio_seconds"] for s in done), 1)
    _write_manifest(folder, manifest)
    return manifest


class TeacherCache(Dataset):
    """The first ``size`` groups of a built cache: ``{"audio": FloatTensor [G, T], "teacher": FloatTensor [G, D]}``.

    Everything is held in memory (16-bit audio: 8 groups of 8 half-second rows take 1.4 MB).
    """

    def __init__(self, folder: str | Path, size: int | None = None):
        folder = Path(folder).expanduser()
        path = folder / MANIFEST
        if not path.is_file():
            raise TeacherCacheError(f"no teacher cache in {folder} (missing {MANIFEST}); build it first")
        manifest = json.loads(path.read_text())
        shard_size = int(manifest["shard_size"])
        available = sum(int(s["items"]) for s in manifest["shards"].values())
        size = available if size is None else int(size)
        if size > available:
            raise TeacherCacheError(f"{folder} holds {available} groups, {size} were asked for; build it with a larger size")
        audio, embedding, self.chains = [], [], []
        for shard in range(-(-size // shard_size)):
            data = torch.load(_shard_path(folder, shard), map_location="cpu", weights_only=True)
            audio.append(data["audio"])
            embedding.append(data["embedding"])
            self.chains += data["chains"]
        self.audio = torch.cat(audio)[:size]
        self.embedding = torch.cat(embedding)[:size].float()
        self.chains = self.chains[:size]
        self.manifest = manifest

    def __len__(self) -> int:
        return self.audio.shape[0]

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"audio": from_pcm16(self.audio[index]), "teacher": self.embedding[index]}


def collate_groups(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack groups of one shape: ``audio [B, G, T]``, ``teacher [B, G, D]`` (and ``index`` when present)."""
    batch = {"audio": torch.stack([i["audio"] for i in items]), "teacher": torch.stack([i["teacher"] for i in items])}
    if "index" in items[0]:
        batch["index"] = torch.tensor([int(i["index"]) for i in items])
    return batch


def teacher_distances(lossnet: torch.nn.Module, embedding: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Loss-net distances ``[B, P]`` between rows ``pairs[:, 0]`` and ``pairs[:, 1]`` of every group ``[B, G, D]``."""
    first = embedding[:, pairs[:, 0]].reshape(-1, embedding.shape[-1])
    second = embedding[:, pairs[:, 1]].reshape(-1, embedding.shape[-1])
    return lossnet(first, second).reshape(embedding.shape[0], -1)


def all_pairs(group_size: int) -> torch.Tensor:
    """``[P, 2]`` row pairs ``(i, j)``, ``i < j``, of a group (row 0 = the clean excerpt comes first)."""
    return torch.tensor([(i, j) for i in range(group_size) for j in range(i + 1, group_size)], dtype=torch.long)


def summarise(manifest: dict[str, Any]) -> dict[str, Any]:
    """The cost figures of a manifest (for run.json and the docs)."""
    shards = manifest.get("shards", {}).values()
    return {"groups": sum(int(s["items"]) for s in shards), "audio_seconds": round(sum(s["audio_seconds"] for s in shards), 1),
            "cpu_seconds": round(sum(s["cpu_seconds"] for s in shards), 1),
            "wall_seconds": round(sum(s["wall_seconds"] for s in shards), 1)}


def spec_families(spec: str) -> list[str]:
    """Family names of a chain spec ``"a:0.1+b:0.2"`` (``[]`` for the clean row)."""
    return [link.split(":")[0] for link in spec.split("+") if link]


__all__ = ["PCM_SCALE", "TeacherCache", "TeacherCacheError", "all_pairs", "build_teacher_cache", "collate_groups",
           "from_pcm16", "spec_families", "summarise", "teacher_distances", "to_pcm16"]
