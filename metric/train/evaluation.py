"""Judge a trained network beside what a trivial metric reaches: the report of stage (a).

Stage (a) learns to group recordings by their acoustic condition, so it is judged on
that, on held-out speech, always next to two baselines scored on the same pairs: an
*untrained* network of the same architecture (seeded) and *MSE*.

* **Monotonicity** (energy-controlled, :mod:`metric.evaluate.testsets`): the default
  families and combinations at the default levels, noise as an SNR, one random gain per
  clip; ``mono`` pools the clips of a family, ``mono_within`` averages each clip's own
  Spearman correlation.
* **Acoustic groups**: the default groups (a family at a level; same perturbation,
  different content, each file at its own random gain): MP@5 and MP@10 with every file as
  a query, and the common area of same-group vs different-group pairs.
* **Held-out pairs**: contrastive pairs made from held-out speech exactly as in training;
  the share of views whose nearest other view (cosine of the acoustic half for acoustic
  pairs, of the content half for content pairs) is their positive. Chance is
  ``1 / (2N - 1)`` for ``N`` pairs.

Distances of a network, with its loss-net untrained after stage (a):

* ``l1``: ``‖n(E_a(ref)) − n(E_a(deg))‖₁`` between L2-normalised acoustic embeddings;
* ``cosine``: ``1 − cos(E_a(ref), E_a(deg))``;
* ``lossnet``: the network's own distance (after stage (a): random loss-net features).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Hashable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from metric.evaluate.scorers import CDPAMScorer, Scorer, build_scorer, untrained_network
from metric.model import CDPAMNetwork, split_embedding
from metric.module import CDPAM

EMBEDDING_DISTANCES = ("l1", "cosine", "lossnet")
REPORT_SAMPLE_RATE = 22050
RETRIEVAL_KS = (5, 10)
BASELINE_SCORERS = ("mse",)


class EmbeddingScorer(Scorer):
    """Distance between acoustic embeddings of ``network`` (any encoder width): ``l1``, ``cosine`` or ``lossnet``.

    Embeddings are cached per recording (name, length and checksum of the audio), so the
    all-pairs retrieval test embeds each file once; scorers of one network may share the
    cache (``cache=``), so that its three distances embed each file once in all.
    """

    def __init__(self, network: CDPAMNetwork, kind: str = "l1", name: str | None = None, batch_size: int = 8,
                 cache: dict[tuple, torch.Tensor] | None = None):
        if kind not in EMBEDDING_DISTANCES:
            raise ValueError(f"kind must be one of {EMBEDDING_DISTANCES}, got {kind!r}")
        super().__init__(name or f"embedding_{kind}", self._unused, higher_is_better=False)
        self.network, self.kind, self.batch_size = network.eval(), kind, batch_size
        self._embeddings: dict[tuple, torch.Tensor] = {} if cache is None else cache

    def metric(self, sample_rate: int) -> CDPAM:
        return CDPAM(sample_rate, weights=self.network)

    @staticmethod
    def _unused(reference, degraded, sample_rate):  # distances() is the only path
        raise NotImplementedError

    def embed(self, clips: Mapping[Hashable, np.ndarray], keys: Sequence[Hashable], sample_rate: int) -> dict:
        """L2-normalised acoustic embeddings of ``keys``, in zero-padded batches."""
        cache_keys = {key: CDPAMScorer.cache_key(key, clips[key], sample_rate) for key in dict.fromkeys(keys)}
        missing = [key for key, cache_key in cache_keys.items() if cache_key not in self._embeddings]
        if missing:
            metric = self.metric(sample_rate)
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start : start + self.batch_size]
                longest = max(len(clips[k]) for k in chunk)
                batch = torch.zeros(len(chunk), longest)
                for row, key in enumerate(chunk):
                    batch[row, : len(clips[key])] = torch.as_tensor(np.asarray(clips[key], np.float32))
                lengths = torch.tensor([len(clips[k]) for k in chunk])
                with torch.no_grad():
                    for key, row in zip(chunk, metric.embed(batch, lengths)):
                        self._embeddings[cache_keys[key]] = row
        return {key: self._embeddings[cache_key] for key, cache_key in cache_keys.items()}

    def distances(self, clips, pairs, sample_rate: int, progress: bool = True) -> np.ndarray:
        if not pairs:
            return np.zeros(0)
        embeddings = self.embed(clips, [k for pair in pairs for k in pair], sample_rate)
        ref = torch.stack([embeddings[r] for r, _ in pairs])
        deg = torch.stack([embeddings[d] for _, d in pairs])
        with torch.no_grad():
            if self.kind == "cosine":
                result = 1.0 - F.cosine_similarity(ref, deg, dim=-1)
            elif self.kind == "l1":
                result = (ref - deg).abs().sum(dim=-1)
            else:
                result = self.metric(sample_rate).distance_from_embeddings(ref, deg)
        return result.double().numpy()


def _speech(corpus: str) -> list[Any]:
    """Utterances of ``corpus`` (``toy:SPLIT`` or a folder of audio files) for held-out contrastive pairs."""
    if corpus.startswith("toy"):
        from metric.data import toy

        return toy.utterances(corpus.partition(":")[2] or "test", REPORT_SAMPLE_RATE)
    from metric.io import AUDIO_SUFFIXES

    files = sorted(p for p in Path(corpus).expanduser().rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if len(files) < 2:
        raise ValueError(f"held-out pairs need at least two recordings under {corpus}")
    return files


def held_out_pair_accuracy(network: CDPAMNetwork, utterances: Sequence[Any], pairs: int = 16, seconds: float = 1.0,
                           seed: int = 0, batch_size: int = 8) -> dict[str, float]:
    """``{"acoustic": ..., "content": ..., "chance": ...}``: nearest-neighbour accuracy of held-out contrastive pairs.

    ``pairs`` pairs of each kind are made from ``utterances`` by :class:`metric.data.contrastive.ContrastivePairs`
    (the training recipe); a view counts as right when its most similar other view (cosine, acoustic
    half for acoustic pairs, content half for content pairs) is its positive.
    """
    from metric.audio import to_model_input
    from metric.data.contrastive import ContrastivePairs

    from .losses import pair_retrieval_accuracy

    if pairs < 2:
        raise ValueError(f"held-out pairs need at least 2 pairs per kind, got {pairs}")
    network = network.eval()
    result = {}
    for kind in ("acoustic", "content"):
        data = ContrastivePairs(utterances, sample_rate=REPORT_SAMPLE_RATE, kind=kind, size=pairs, segment_seconds=seconds, seed=seed)
        items = [data[i] for i in range(pairs)]
        views = [item["a"] for item in items] + [item["b"] for item in items]
        halves = []
        for start in range(0, len(views), batch_size):
            chunk = views[start : start + batch_size]
            batch = torch.zeros(len(chunk), max(len(v) for v in chunk))
            for row, view in enumerate(chunk):
                batch[row, : len(view)] = view
            prepared = to_model_input(batch, REPORT_SAMPLE_RATE, torch.tensor([len(v) for v in chunk]))
            with torch.no_grad():
                acoustic, content = split_embedding(network.encoder(prepared.waveform, prepared.lengths))
            halves.append(acoustic if kind == "acoustic" else content)
        half = torch.cat(halves)
        result[kind] = float(pair_retrieval_accuracy(half[:pairs], half[pairs:]))
    result["chance"] = 1.0 / (2 * pairs - 1)
    return result


def stage_a_report(network: CDPAMNetwork, corpus: str = "toy:test", monotonicity_clips: int = 6, group_files: int = 12,
                   seconds: float = 1.0, held_out_pairs: int = 32, kinds: Sequence[str] = EMBEDDING_DISTANCES, seed: int = 0,
                   untrained_seed: int | None = None, progress: bool = False) -> dict[str, Any]:
    """The report of a trained network beside an untrained one of the same architecture and MSE (module docstring).

    ``seed`` fixes the test sets, ``untrained_seed`` (default: ``seed``) the untrained network's
    initialisation, so that several trained runs can be compared on one test set with their own
    untrained counterparts.

    Returns ``{"rows": {scorer: {"mono", "mono_within", "mp@5", "mp@10", "common_area"}}, "per_family": {...},
    "held_out_pairs": {"trained": {...}, "untrained": {...}}, "test_sets": {...}}``. Scorer names are
    ``"trained <kind>"``, ``"untrained <kind>"`` and ``"mse"``.
    """
    from metric.evaluate.suite import run_common_area, run_monotonicity, run_retrieval
    from metric.evaluate.testsets import (
        DEFAULT_COMBINATIONS,
        DEFAULT_GROUPS,
        DEFAULT_LEVELS,
        DEFAULT_MONOTONICITY_FAMILIES,
        build_acoustic_groups,
        build_monotonicity_set,
        load_clips,
    )

    untrained = untrained_network(network.architecture, seed if untrained_seed is None else untrained_seed)
    scorers: list[Scorer] = []
    for label, net in (("trained", network), ("untrained", untrained)):
        cache: dict = {}
        scorers += [EmbeddingScorer(net, kind, name=f"{label} {kind}", cache=cache) for kind in kinds]
    scorers += [build_scorer(name) for name in BASELINE_SCORERS]
    rate = REPORT_SAMPLE_RATE
    mono_set = build_monotonicity_set(load_clips(corpus, monotonicity_clips, seconds, rate), DEFAULT_MONOTONICITY_FAMILIES,
                                      DEFAULT_COMBINATIONS, DEFAULT_LEVELS, rate, seed, progress)
    groups = build_acoustic_groups(load_clips(corpus, group_files, seconds, rate), DEFAULT_GROUPS, rate, seed, progress)
    mono = run_monotonicity(scorers, mono_set, progress)
    ks = tuple(k for k in RETRIEVAL_KS if k < group_files)
    retrieval = run_retrieval(scorers, groups, ks, None, seed, progress)
    common = run_common_area(scorers, groups, seed=seed, progress=progress)
    rows = {}
    for scorer in scorers:
        rows[scorer.name] = {"mono": mono["metrics"][scorer.name]["mono"],
                             "mono_within": mono["metrics"][scorer.name]["mono_within_content"],
                             **{f"mp@{k}": retrieval["metrics"][scorer.name][f"mp@{k}"] for k in ks},
                             "common_area": common["metrics"][scorer.name]["common_area"]}
    speech = _speech(corpus)
    pairs = {name: held_out_pair_accuracy(net, speech, held_out_pairs, seconds, seed) for name, net in (("trained", network), ("untrained", untrained))}
    return {
        "rows": rows,
        "seeds": {"test_sets": seed, "untrained": seed if untrained_seed is None else untrained_seed},
        "per_family": {name: mono["metrics"][name]["per_family"] for name in rows},
        "held_out_pairs": pairs,
        "test_sets": {"corpus": corpus, "seconds": seconds, "sample_rate": rate, "monotonicity": mono["test_set"],
                      "groups": {k: v for k, v in retrieval["test_set"].items() if k != "pairs"}, "held_out_pairs": held_out_pairs},
    }


def report_table(report: Mapping[str, Any]) -> str:
    """The report as Markdown: one row per scorer, then the held-out pair accuracies."""
    rows = report["rows"]
    columns = list(next(iter(rows.values())))
    text = lambda v: "–" if v is None or not math.isfinite(v) else f"{v:.3f}"  # noqa: E731
    lines = ["| distance | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {name} | " + " | ".join(text(values[c]) for c in columns) + " |" for name, values in rows.items()]
    lines += ["", "| held-out pairs, nearest-neighbour accuracy | acoustic | content | chance |", "|---|---|---|---|"]
    lines += [f"| {name} | {text(v['acoustic'])} | {text(v['content'])} | {text(v['chance'])} |" for name, v in report["held_out_pairs"].items()]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m metric.train.evaluation EXPORT``: the stage-(a) report of an export of any width, with its baselines."""
    import argparse
    import json

    from metric.evaluate.threads import limit_blas_threads
    from metric.weights import load_network

    parser = argparse.ArgumentParser(prog="python -m metric.train.evaluation", description=main.__doc__)
    parser.add_argument("weights", help="a network exported by `cdpam train` (any encoder width), or 'official'")
    parser.add_argument("--corpus", default="toy:test", help="held-out speech: toy:SPLIT or a folder of audio files")
    parser.add_argument("--monotonicity-clips", type=int, default=6)
    parser.add_argument("--group-files", type=int, default=12, help="files per acoustic group (MP@K needs K + 1)")
    parser.add_argument("--held-out-pairs", type=int, default=32, help="contrastive pairs of each kind")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0, help="seed of the test sets")
    parser.add_argument("--untrained-seed", type=int, help="seed of the untrained network's initialisation (default: --seed)")
    parser.add_argument("--json", type=Path, help="also write the full report here")
    args = parser.parse_args(argv)
    limit_blas_threads(1)
    report = stage_a_report(load_network(args.weights), corpus=args.corpus, monotonicity_clips=args.monotonicity_clips,
                            group_files=args.group_files, seconds=args.seconds, held_out_pairs=args.held_out_pairs,
                            seed=args.seed, untrained_seed=args.untrained_seed, progress=True)
    if args.json:
        from metric.evaluate.report import write_json

        write_json(report, args.json)
    print(report_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
