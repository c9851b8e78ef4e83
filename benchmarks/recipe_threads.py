"""Which torch thread count makes the recipes' default runs faster on this machine: 1 or 2?

The recipes fix their thread count (``threads=1`` by default) because the count changes both
the speed and the numbers (float sums are split differently). This measures the speed side on
the DEMUCS toy recipe's work, one training step each, in one process, alternating the thread
count step by step (interleaved, so a busy moment hits both settings alike):

* ``L1+MRSTFT``: the toy model (released layout, H=16, depth 5), batch 8 x 1 s, the
  baseline objective, forward + backward + Adam;
* ``+CDPAM``: the same plus ``CDPAMLoss`` on one random 0.25 s sub-segment per item (the
  DEMUCS+CDPAM and Finetune-CDPAM steps, and what the SpeechBrain and MelGAN CDPAM variants
  pay per step).

Prints the median wall and CPU seconds per step for each setting, the ratio of 2 threads to
1 thread (> 1: one thread is faster), and the 1-minute load average before and after, which
decides what the figures mean: on an idle 2-core machine two threads may win; on a shared one
they wait for each other.

    python benchmarks/recipe_threads.py               # 5 steps per setting and variant
    python benchmarks/recipe_threads.py --steps 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "recipes" / "demucs"))

import torch  # noqa: E402

from demucs.losses import EnhancementLoss  # noqa: E402
from demucs.model import CausalDemucs  # noqa: E402

SAMPLE_RATE = 16_000
TOY_MODEL = {"hidden": 16, "depth": 5}  # recipes/demucs/conf/model/toy.yaml over the released layout


def _step(model, optimizer, loss, noisy, clean) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    optimizer.zero_grad()
    value = loss(model(noisy.unsqueeze(1)), clean)
    value.backward()
    optimizer.step()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per thread setting and variant (default 5)")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    clean = 0.1 * torch.randn(args.batch, SAMPLE_RATE)
    noisy = clean + 0.05 * torch.randn_like(clean)
    model = CausalDemucs(**TOY_MODEL)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    variants = {
        "L1+MRSTFT": EnhancementLoss(sample_rate=SAMPLE_RATE),
        "+CDPAM (0.25 s)": EnhancementLoss(perceptual="cdpam", perceptual_weight=1.0, perceptual_segment_seconds=0.25,
                                             sample_rate=SAMPLE_RATE),
    }
    settings = (1, 2)
    load_before = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores, python {sys.version.split()[0]}, torch {torch.__version__}; "
          f"batch {args.batch} x 1 s at {SAMPLE_RATE} Hz, median of {args.steps} steps, settings interleaved")
    print(f"{'variant':18s} {'threads':>7s} {'wall s/step':>12s} {'cpu s/step':>11s} {'min':>7s} {'max':>7s}")
    for name, loss in variants.items():
        for threads in settings:  # warm-up: first-call allocations and kernel selection
            torch.set_num_threads(threads)
            _step(model, optimizer, loss, noisy, clean)
        walls = {t: [] for t in settings}
        cpus = {t: [] for t in settings}
        for _ in range(args.steps):
            for threads in settings:
                torch.set_num_threads(threads)
                wall, cpu = _step(model, optimizer, loss, noisy, clean)
                walls[threads].append(wall)
                cpus[threads].append(cpu)
        for threads in settings:
            print(f"{name:18s} {threads:7d} {statistics.median(walls[threads]):12.3f} "
                  f"{statistics.median(cpus[threads]):11.3f} {min(walls[threads]):7.3f} {max(walls[threads]):7.3f}")
        ratio = statistics.median(walls[2]) / statistics.median(walls[1])
        print(f"{name:18s} wall time of 2 threads / 1 thread: {ratio:.2f} ({'one' if ratio > 1 else 'two'} faster)")
    print(f"1-minute load average: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
