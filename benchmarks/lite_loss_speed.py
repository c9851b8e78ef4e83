"""CDPAM-lite against the exact CDPAM as a training loss, in one run: forward + backward w.r.t. the
estimate, batch 4 x 1 s at 16 kHz, 2 threads (``CDPAMLoss`` as a recipe uses it).

The two are measured interleaved, alternating which goes first in each round, after warm-up
rounds, so that load on a shared machine hits both alike; the report gives the median time of
each, the median of the per-round ratios with its range, and the analytic FLOPs of both encoders.

    python benchmarks/lite_loss_speed.py                       # 9 rounds
    python benchmarks/lite_loss_speed.py --rounds 5 --student runs/distill/cdpam_distill.pt
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from cdpam_plugins import CDPAMLoss
from metric import load_network

RATE = 16_000
MODEL_RATE = 22_050


def step_seconds(loss_fn: CDPAMLoss, clean: torch.Tensor, estimate: torch.Tensor) -> float:
    """Seconds of one forward + backward of ``loss_fn`` w.r.t. a fresh leaf copy of ``estimate``."""
    leaf = estimate.clone().requires_grad_(True)
    started = time.perf_counter()
    loss_fn(leaf, clean).backward()
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student", default="lite", help="'lite' (default) or a student checkpoint")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    samples = int(args.seconds * RATE)
    clean = 0.1 * torch.randn(args.batch, samples, generator=generator)
    estimate = clean + 0.02 * torch.randn(args.batch, samples, generator=generator)
    losses = {"exact": CDPAMLoss(RATE, weights="official"), "lite": CDPAMLoss(RATE, weights=args.student)}
    times: dict[str, list[float]] = {name: [] for name in losses}
    for round_index in range(args.warmup + args.rounds):
        order = list(losses) if round_index % 2 == 0 else list(reversed(losses))
        measured = {name: step_seconds(losses[name], clean, estimate) for name in order}
        if round_index >= args.warmup:
            for name, value in measured.items():
                times[name].append(value)
    ratios = [e / l for e, l in zip(times["exact"], times["lite"])]
    model_samples = int(args.seconds * MODEL_RATE)
    flops = {name: args.batch * load_network(weights).encoder.flops(model_samples)
             for name, weights in (("exact", "official"), ("lite", args.student))}
    result = {
        "batch": args.batch, "seconds": args.seconds, "threads": args.threads, "rounds": args.rounds,
        "exact_median_s": statistics.median(times["exact"]), "lite_median_s": statistics.median(times["lite"]),
        "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
        "exact_gflop_per_pass": flops["exact"] / 1e9, "lite_gflop_per_pass": flops["lite"] / 1e9,
        "flop_ratio": flops["exact"] / flops["lite"], "times": times,
    }
    print(f"loss forward+backward, batch {args.batch} x {args.seconds:g} s at {RATE} Hz, {args.threads} threads, "
          f"{args.rounds} interleaved rounds")
    print(f"  exact CDPAM  median {result['exact_median_s']:.3f} s   ({result['exact_gflop_per_pass']:.0f} GFLOP per encoder pass)")
    print(f"  CDPAM-lite   median {result['lite_median_s']:.3f} s   ({result['lite_gflop_per_pass']:.1f} GFLOP per encoder pass)")
    print(f"  speed-up     median {result['ratio_median']:.1f}x (per-round range {result['ratio_min']:.1f}x..{result['ratio_max']:.1f}x); "
          f"FLOP ratio {result['flop_ratio']:.0f}x")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
