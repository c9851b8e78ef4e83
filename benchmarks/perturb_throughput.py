"""Throughput of every perturbation family, in seconds of audio processed per second.

Run:  python benchmarks/perturb_throughput.py [--seconds 10] [--repeats 3] [--workers 2]

For each family and rate (16 kHz and 22,050 Hz) the official sample clip is tiled to
``--seconds`` of speech and perturbed at level 0.5 with ``--repeats`` different seeds.
"1 proc" is one process; "N procs" runs N processes side by side (like N DataLoader
workers), each process limited to one BLAS/torch thread, and reports their summed
throughput. A ratio above 1 means faster than real time; on-the-fly data generation
needs well above 1 per worker. The machine's load average is printed because a shared
machine slows everything down.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from metric.perturb import FAMILIES, perturb  # noqa: E402
from metric.resample import resample_array  # noqa: E402

RATES = (16000, 22050)
CLIP = Path(__file__).resolve().parent.parent / "metric" / "assets" / "sample_audio" / "ref.wav"


def speech(rate: int, seconds: float) -> np.ndarray:
    clip, clip_rate = sf.read(CLIP, dtype="float32")
    clip = resample_array(clip, clip_rate, rate)
    return np.resize(clip, int(seconds * rate)).astype(np.float32)


def _options(family: str, rate: int) -> dict:
    if family == "noise_file":  # an in-memory "recording": the engine loops it like a file
        return {"noise_files": [np.random.default_rng(0).standard_normal(rate * 3) * 0.1]}
    if family == "babble":  # the toy corpus's training speech, as `cdpam data build` uses
        from metric.data import toy

        return {"sources": toy.babble_sources(rate)}
    return {}


def time_family(family: str, rate: int, seconds: float, repeats: int) -> float:
    """Seconds of audio per second of wall time for one process."""
    import torch

    torch.set_num_threads(1)
    x = speech(rate, seconds)
    options = _options(family, rate)
    perturb(x[: rate], rate, family, 0.5, seed=0, **options)  # warm caches (filters, sources)
    start = time.perf_counter()
    for seed in range(repeats):
        perturb(x, rate, family, 0.5, seed=seed, **options)
    return seconds * repeats / (time.perf_counter() - start)


def parallel(family: str, rate: int, seconds: float, repeats: int, workers: int) -> float:
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(time_family, [family] * workers, [rate] * workers, [1.0] * workers, [1] * workers))  # spawn + import
        start = time.perf_counter()
        list(pool.map(time_family, [family] * workers, [rate] * workers, [seconds] * workers, [repeats] * workers))
        elapsed = time.perf_counter() - start
    return seconds * repeats * workers / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    args = parser.parse_args()

    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.seconds:g} s clips x {args.repeats}, level 0.5")
    header = f"{'family':<12}" + "".join(f"{f'{r} Hz 1 proc':>16}{f'{r} Hz {args.workers} procs':>17}" for r in RATES)
    print(header)
    print("-" * len(header))
    for family in args.families:
        cells = []
        for rate in RATES:
            cells.append(time_family(family, rate, args.seconds, args.repeats))
            cells.append(parallel(family, rate, args.seconds, args.repeats, args.workers))
        print(f"{family:<12}" + "".join(f"{c:>16.1f}{d:>17.1f}" for c, d in zip(cells[::2], cells[1::2])), flush=True)


if __name__ == "__main__":
    main()
