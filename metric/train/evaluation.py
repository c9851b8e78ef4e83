"""Noise monotonicity of a trained network, with distances that need no trained loss-net.

After stage (a) alone the loss-net is untrained, so besides the network's own distance
(``lossnet``: the exported metric, random loss-net features) two distances read the
acoustic embedding directly:

* ``l1``:     ``‖n(E_a(ref)) − n(E_a(deg))‖₁`` between L2-normalised acoustic embeddings;
* ``cosine``: ``1 − cos(E_a(ref), E_a(deg))``.

The protocol is :mod:`metric.evaluate`'s monotonicity (Manocha et al., ICASSP 2021, §4.2):
held-out clips perturbed at increasing levels, Spearman's correlation between distance
and level per family (pooled over clips), averaged over families.
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from metric.evaluate.scorers import Scorer
from metric.model import CDPAMNetwork
from metric.module import CDPAM

EMBEDDING_DISTANCES = ("l1", "cosine", "lossnet")
NOISE_FAMILIES = ("white_noise", "pink_noise")
DEFAULT_LEVELS = (0.1, 0.3, 0.5, 0.7, 0.9)


class EmbeddingScorer(Scorer):
    """Distance between acoustic embeddings of ``network`` (any encoder width): ``l1``, ``cosine`` or ``lossnet``."""

    def __init__(self, network: CDPAMNetwork, kind: str = "l1", name: str | None = None, batch_size: int = 8):
        if kind not in EMBEDDING_DISTANCES:
            raise ValueError(f"kind must be one of {EMBEDDING_DISTANCES}, got {kind!r}")
        super().__init__(name or f"embedding_{kind}", self._unused, higher_is_better=False)
        self.network, self.kind, self.batch_size = network.eval(), kind, batch_size

    def metric(self, sample_rate: int) -> CDPAM:
        return CDPAM(sample_rate, weights=self.network)

    @staticmethod
    def _unused(reference, degraded, sample_rate):  # distances() is the only path
        raise NotImplementedError

    def embed(self, clips: Mapping[Hashable, np.ndarray], keys: Sequence[Hashable], sample_rate: int) -> dict:
        """L2-normalised acoustic embeddings of ``keys``, in zero-padded batches."""
        metric = self.metric(sample_rate)
        keys = list(dict.fromkeys(keys))
        out = {}
        for start in range(0, len(keys), self.batch_size):
            chunk = keys[start : start + self.batch_size]
            longest = max(len(clips[k]) for k in chunk)
            batch = torch.zeros(len(chunk), longest)
            for row, key in enumerate(chunk):
                batch[row, : len(clips[key])] = torch.as_tensor(np.asarray(clips[key], np.float32))
            lengths = torch.tensor([len(clips[k]) for k in chunk])
            for key, row in zip(chunk, metric.embed(batch, lengths)):
                out[key] = row
        return out

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


def noise_monotonicity(network: CDPAMNetwork, corpus: str = "toy:test", families: Sequence[str] = NOISE_FAMILIES,
                       levels: Sequence[float] = DEFAULT_LEVELS, clips: int = 6, seconds: float = 1.0,
                       kinds: Sequence[str] = EMBEDDING_DISTANCES, seed: int = 0, progress: bool = False) -> dict:
    """``{kind: {"mono": mean Spearman over families, "per_family": {...}}}`` on held-out clips of ``corpus``."""
    from metric.evaluate.suite import run_monotonicity
    from metric.evaluate.testsets import build_monotonicity_set, load_clips

    sample_rate = 22050
    test_clips = load_clips(corpus, count=clips, seconds=seconds, sample_rate=sample_rate)
    test_set = build_monotonicity_set(test_clips, families=families, combinations=(), levels=levels,
                                      sample_rate=sample_rate, seed=seed, progress=progress)
    scorers = [EmbeddingScorer(network, kind) for kind in kinds]
    result = run_monotonicity(scorers, test_set, progress=progress)
    return {
        scorer.name: {"mono": result["metrics"][scorer.name]["mono"], "per_family": result["metrics"][scorer.name]["per_family"]}
        for scorer in scorers
    } | {"test_set": {"corpus": corpus, "clips": clips, "seconds": seconds, "families": list(families), "levels": list(levels)}}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m metric.train.evaluation EXPORT [--families ...]``: monotonicity of an export of any width."""
    import argparse
    import json

    from metric.weights import load_network

    parser = argparse.ArgumentParser(prog="python -m metric.train.evaluation", description=main.__doc__)
    parser.add_argument("weights", help="a network exported by `cdpam train` (any encoder width), or 'official'")
    parser.add_argument("--families", default=",".join(NOISE_FAMILIES), help="comma-separated perturbation families")
    parser.add_argument("--levels", default=",".join(str(v) for v in DEFAULT_LEVELS))
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--corpus", default="toy:test")
    parser.add_argument("--untrained", action="store_true", help="also score an untrained network of the same shape (seed 0)")
    args = parser.parse_args(argv)
    network = load_network(args.weights)
    options = dict(corpus=args.corpus, families=args.families.split(","), levels=[float(v) for v in args.levels.split(",")],
                   clips=args.clips, seconds=args.seconds, progress=True)
    report = {"trained": noise_monotonicity(network, **options)}
    if args.untrained:
        torch.manual_seed(0)
        report["untrained"] = noise_monotonicity(CDPAMNetwork(**network.architecture), **options)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
