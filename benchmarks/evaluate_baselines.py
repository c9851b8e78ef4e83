"""Per-pair cost of the evaluation baselines, with NumPy's OpenBLAS at its default thread
count and then limited to one thread (what `cdpam evaluate` does).

    python benchmarks/evaluate_baselines.py

Prints milliseconds per pair and the ratio default/limited for each metric; on a
machine whose cores are busy the ratio for BLAS-heavy metrics (STOI) is well above 1.
"""

import time

import numpy as np

from metric.evaluate.scorers import build_scorer
from metric.evaluate.threads import limit_blas_threads

NAMES = ("mse", "sisdr", "lsd", "mrstft", "pesq", "stoi", "csig")


def per_pair_ms(name: str, pairs) -> float:
    scorer = build_scorer(name)
    started = time.perf_counter()
    for reference, degraded in pairs:
        scorer.score(reference, degraded, 16000)
    return 1000 * (time.perf_counter() - started) / len(pairs)


def main() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(12000) / 16000
    speechlike = 0.2 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(len(t))
    pairs = [(speechlike, speechlike + 0.02 * rng.standard_normal(len(t))) for _ in range(10)]
    default = {name: per_pair_ms(name, pairs) for name in NAMES}
    limited_libraries = limit_blas_threads(1)
    limited = {name: per_pair_ms(name, pairs) for name in NAMES}
    print(f"OpenBLAS libraries limited to one thread: {limited_libraries}")
    print(f"{'metric':8s} {'default ms':>11s} {'1-thread ms':>12s} {'ratio':>7s}")
    for name in NAMES:
        print(f"{name:8s} {default[name]:11.2f} {limited[name]:12.2f} {default[name] / limited[name]:7.2f}")


if __name__ == "__main__":
    main()
