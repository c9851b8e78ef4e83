"""Scoring a long file in bounded memory: peak RSS and time of chunked scoring.

Usage (from the repository root)::

    python benchmarks/long_input.py                      # a 10-minute pair at 16 kHz, 2 threads
    python benchmarks/long_input.py --minutes 1 --check  # also compare with the whole-input result

The pair is a 10-minute reference built by tiling the official sample clips (with a
varying gain so that no two chunks are alike) and a degraded copy (added noise), at
16 kHz so that the resampler is part of the measurement. ``cdpam_distance`` switches to
chunked encoding on its own above ``metric.model.LONG_INPUT_SAMPLES``; a progress line is
printed per chunk with the peak RSS so far, so an interrupted run still shows the memory
bound (every chunk has the same size). ``--check`` also computes the whole-input
distance (only sensible for short inputs: it needs ~5 kB per sample) and prints the
difference.

At ~150 GFLOP per second of audio per encoder pass, 10 minutes of audio cost about
180 TFLOP for a distance: ~15 min on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import metric.model as model_module  # noqa: E402
from compare_official import SAMPLE_AUDIO  # noqa: E402
from metric import cdpam_distance  # noqa: E402
from metric.functional import shared_network  # noqa: E402
from metric.resample import resample  # noqa: E402


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_pair(minutes: float, rate: int = 16_000):
    import soundfile as sf

    clip, clip_rate = sf.read(SAMPLE_AUDIO / "ref.wav", dtype="float32")
    clip = resample(torch.from_numpy(clip), clip_rate, rate).numpy()
    samples = int(minutes * 60 * rate)
    reps = samples // len(clip) + 1
    gains = 0.4 + 0.5 * np.abs(np.sin(np.arange(reps) * 0.7))
    ref = (np.tile(clip, reps) * np.repeat(gains, len(clip)))[:samples].astype(np.float32)
    rng = np.random.default_rng(0)
    est = np.clip(ref + 0.01 * rng.standard_normal(samples).astype(np.float32), -1, 1)
    return torch.from_numpy(ref), torch.from_numpy(est), rate


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--check", action="store_true", help="also compute the whole-input distance")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    shared_network()
    idle = _peak_mib()
    ref, est, rate = make_pair(args.minutes)
    print(f"{args.minutes:g} min at {rate} Hz; idle peak RSS after loading {idle:.0f} MiB", flush=True)

    encoder_features = model_module.Encoder.features
    state = {"chunks": 0, "start": time.perf_counter()}

    def counting_features(self, *a, **k):
        out = encoder_features(self, *a, **k)
        state["chunks"] += 1
        elapsed = time.perf_counter() - state["start"]
        print(f"  chunk {state['chunks']}: {elapsed:7.1f} s, peak RSS {_peak_mib():.0f} MiB", flush=True)
        return out

    model_module.Encoder.features = counting_features
    start = time.perf_counter()
    distance = float(cdpam_distance(ref, est, rate))
    elapsed = time.perf_counter() - start
    model_module.Encoder.features = encoder_features
    print(
        f"chunked distance {distance:.6f} in {elapsed:.1f} s ({state['chunks']} chunk passes, "
        f"{args.minutes * 60 / elapsed:.2f}x real time); peak RSS {_peak_mib():.0f} MiB",
        flush=True,
    )
    if args.check:
        limit = model_module.LONG_INPUT_SAMPLES
        model_module.LONG_INPUT_SAMPLES = 10**12
        whole = float(cdpam_distance(ref, est, rate))
        model_module.LONG_INPUT_SAMPLES = limit
        print(f"whole-input distance {whole:.6f}; |difference| {abs(whole - distance):.2e}; "
              f"peak RSS now {_peak_mib():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
