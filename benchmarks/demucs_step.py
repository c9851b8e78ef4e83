"""Training-step cost of the DEMUCS recipe with and without the CDPAM term.

    python benchmarks/demucs_step.py                       # toy model, batch 8 x 1 s, 2 threads
    python benchmarks/demucs_step.py --model paper --batch 4 --segment-seconds 0.25 0.5 1.0

One step = forward of the model, the loss, backward, Adam update. Variants:
``L1+MRSTFT`` (DEMUCS), ``+CDPAM`` on the whole training segment, and ``+CDPAM`` on a
random sub-segment per item (``CDPAMLoss(segment_seconds=s)``). Every CDPAM variant runs
with the encoder's convolutions computed directly (``direct``: before the FFT path) and as
shipped (``auto``: FFT where :mod:`metric.fftconv` measured it faster), interleaved per
step. Prints the median wall and CPU time per step, each variant's ratio to L1+MRSTFT and
the CDPAM term's own cost (the variant minus L1+MRSTFT). CPU time is reported next to wall
time because on a shared machine wall time mostly measures the neighbours.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

# the recipe's own package, as its scripts import it when run from recipes/demucs/
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes" / "demucs"))

import torch  # noqa: E402

from demucs.losses import EnhancementLoss  # noqa: E402
from demucs.model import CausalDemucs  # noqa: E402

from metric import fftconv  # noqa: E402

MODELS = {"toy": {"hidden": 16, "depth": 5}, "paper": {"hidden": 48, "depth": 5}}


def step_times(model, loss, noisy, clean, repeats: int, paths=("auto",), warmup: int = 1) -> dict:
    """Median (wall, cpu) seconds per step for each convolution path, the paths interleaved step by step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    times = {path: ([], []) for path in paths}
    for index in range(warmup + repeats):
        for path in paths if index % 2 == 0 else paths[::-1]:
            with fftconv.path(path):
                wall, cpu = time.perf_counter(), time.process_time()
                optimizer.zero_grad()
                value = loss(model(noisy), clean)
                value.backward()
                optimizer.step()
            if index >= warmup:
                times[path][0].append(time.perf_counter() - wall)
                times[path][1].append(time.process_time() - cpu)
    return {path: (statistics.median(w), statistics.median(c)) for path, (w, c) in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="toy")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=1.0, help="training segment length")
    parser.add_argument("--segment-seconds", type=float, nargs="*", default=[0.25, 0.5],
                        help="CDPAM sub-segment lengths to compare")
    parser.add_argument("--cdpam-weight", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--paths", nargs="+", choices=["direct", "auto"], default=["direct", "auto"],
                        help="convolution paths for the CDPAM variants (direct: before the FFT path)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rate = 16_000
    length = int(args.seconds * rate)
    clean = 0.1 * torch.randn(args.batch, length)
    noisy = clean + 0.05 * torch.randn_like(clean)
    model = CausalDemucs(**MODELS[args.model])
    variants = [("L1+MRSTFT", EnhancementLoss())]
    variants.append((f"+CDPAM (whole {args.seconds:g} s)", EnhancementLoss(perceptual="cdpam", perceptual_weight=args.cdpam_weight)))
    for seconds in args.segment_seconds:
        if seconds < args.seconds:
            variants.append((f"+CDPAM (segment_seconds={seconds:g})",
                             EnhancementLoss(perceptual="cdpam", perceptual_weight=args.cdpam_weight,
                                             perceptual_segment_seconds=seconds)))
    print(f"model={args.model} ({model.num_parameters() / 1e6:.2f} M parameters), batch {args.batch} x {args.seconds:g} s "
          f"at {rate} Hz, {args.threads} threads, median of {args.repeats} steps")
    print(f"{'variant':34s} {'path':>6s} {'wall s/step':>12s} {'cpu s/step':>11s} {'wall ratio':>11s} "
          f"{'cpu ratio':>10s} {'CDPAM cpu s':>12s}")
    base = None
    for name, loss in variants:
        paths = ("auto",) if base is None else tuple(args.paths)
        for path, (wall, cpu) in step_times(model, loss, noisy, clean, args.repeats, paths).items():
            label = path if base is not None else "-"
            base = base or (wall, cpu)
            print(f"{name:34s} {label:>6s} {wall:12.3f} {cpu:11.3f} {wall / base[0]:11.2f} {cpu / base[1]:10.2f} "
                  f"{cpu - base[1]:12.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
