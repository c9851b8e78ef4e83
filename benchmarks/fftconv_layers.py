"""Per-layer speed of the FFT convolution against the direct one, on the encoder's own shapes.

Usage (from the repository root)::

    python benchmarks/fftconv_layers.py                              # batch 4 x 1 s, 1 thread, 3 rounds
    python benchmarks/fftconv_layers.py --cases 4x1 1x1 1x0.5 1x0.25 1x0.1 --fit   # refit metric.fftconv.RULES
    python benchmarks/fftconv_layers.py --julius --passes forward    # also julius.fftconv.fft_conv1d (MIT)

For every layer of the CDPAM encoder (with the shipped shortcuts: stride 2 on the
decimating layers, the acoustic half of the last one), every case (``BATCHxSECONDS``) and
every pass (forward, input gradient, weight gradient), the direct ``F.conv1d`` (oneDNN on
CPU) and :func:`metric.fftconv.fft_conv1d` at each block size are timed in random order
within each round; medians over rounds give the gains (direct time / FFT time), printed
next to the machine's measured matrix-product, FFT and conv1d rates and to what the
shipped rule (:data:`metric.fftconv.RULES`) picks and predicts. ``--fit`` fits the rule's
constants to the forward and input-gradient times and prints them. ``--device cuda``
measures on a GPU (a rule for ``cuda`` would then be added from ``--fit``).

With ``--threads 1`` (the default) times are CPU time of the process, which neighbours on a
shared machine disturb far less than wall time; both paths use all threads when there are
several (the FFT path as parallel tasks, see :func:`metric.fftconv._run`), so the ratios
carry over. With more threads, times are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metric import fftconv  # noqa: E402
from metric.model import ENCODER_LAYERS, KERNEL_SIZE, encoder_channels  # noqa: E402

RATE = 22_050
PASSES = ("forward", "input-grad", "weight-grad")


def encoder_layers(seconds: float, acoustic_only: bool = True):
    """(index, in_channels, out_channels, input length, stride) of every encoder layer."""
    channels = encoder_channels()
    length, cin, out = int(round(seconds * RATE)), 1, []
    for i, cout in enumerate(channels):
        decimate = (i + 1) % 4 == 0
        if acoustic_only and i == ENCODER_LAYERS - 1:
            cout //= 2
        out.append((i, cin, cout, length, 2 if decimate else 1))
        if decimate:
            length = -(-length // 2)
        cin = channels[i]
    return out


def out_length(length: int, stride: int) -> int:
    return (length + 2 * (KERNEL_SIZE // 2) - KERNEL_SIZE) // stride + 1


def _clock(threads: int):
    return time.process_time if threads == 1 else time.perf_counter


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def machine_peaks(device: torch.device, threads: int) -> dict:
    """Best-of-5 GFLOP/s of a real and a complex matrix product, a batched real FFT and conv1d."""
    clock = _clock(threads)

    def best(fn):
        fn()
        times = []
        for _ in range(5):
            _sync(device)
            start = clock()
            fn()
            _sync(device)
            times.append(clock() - start)
        return min(times)

    with torch.inference_mode():
        a, b = torch.randn(2048, 2048, device=device), torch.randn(2048, 2048, device=device)
        ca = torch.randn(1024, 1024, dtype=torch.complex64, device=device)
        cb = torch.randn(1024, 1024, dtype=torch.complex64, device=device)
        frames = torch.randn(4 * 256 * 128, 64, device=device)
        x, w = torch.randn(4, 256, 5512, device=device), torch.randn(256, 256, KERNEL_SIZE, device=device)
        # FFT "flops" by the usual 2.5 N log2 N convention for a real transform of length N.
        return {
            "sgemm_gflops": 2 * 2048**3 / best(lambda: a @ b) / 1e9,
            "cgemm_gflops": 8 * 1024**3 / best(lambda: ca @ cb) / 1e9,
            "rfft64_gflops": 2.5 * 64 * 6 * frames.shape[0] / best(lambda: torch.fft.rfft(frames)) / 1e9,
            "conv1d_gflops": 2 * 4 * 256 * 256 * KERNEL_SIZE * 5512 / best(lambda: F.conv1d(x, w, padding=7)) / 1e9,
        }


def _runner(method, pass_name: str, x, w, b, stride: int):
    padding = KERNEL_SIZE // 2
    if pass_name == "forward":
        def run():
            with torch.inference_mode():
                return method(x, w, b, stride, padding)
        return run
    xg = x.clone().requires_grad_(pass_name == "input-grad")
    wg = w.clone().requires_grad_(pass_name == "weight-grad")
    target = xg if pass_name == "input-grad" else wg
    y = method(xg, wg, b, stride, padding)
    grad = torch.randn_like(y)

    def run():
        return torch.autograd.grad(y, target, grad, retain_graph=True)
    return run


def methods(blocks, with_julius: bool, stride: int):
    out = {"direct": lambda x, w, b, s, p: F.conv1d(x, w, b, stride=s, padding=p)}
    for block in blocks:
        if block > -(-KERNEL_SIZE // stride):
            out[f"fft{block}"] = lambda x, w, b, s, p, block=block: fftconv.fft_conv1d(x, w, b, s, p, block)
    if with_julius:
        from julius.fftconv import fft_conv1d as julius_fft_conv1d

        out["julius"] = lambda x, w, b, s, p: julius_fft_conv1d(x, w, b, stride=s, padding=p)
    return out


def measure(args) -> list[dict]:
    device = torch.device(args.device)
    clock = _clock(args.threads)
    generator = torch.Generator().manual_seed(0)
    rows = []
    for batch, seconds in args.cases:
        for index, cin, cout, length, stride in encoder_layers(seconds):
            if args.layers and index not in args.layers:
                continue
            x = torch.randn(batch, cin, length, generator=generator).to(device)
            w = (torch.randn(cout, cin, KERNEL_SIZE, generator=generator) / math.sqrt(cin * KERNEL_SIZE)).to(device)
            b = torch.randn(cout, generator=generator).to(device)
            for pass_name in args.passes:
                runners = {name: _runner(fn, pass_name, x, w, b, stride)
                           for name, fn in methods(args.blocks, args.julius, stride).items()}
                times = {name: [] for name in runners}
                for run in runners.values():
                    run()  # warm-up
                for _ in range(args.rounds):
                    order = list(runners)
                    random.shuffle(order)
                    for name in order:
                        _sync(device)
                        start = clock()
                        runners[name]()
                        _sync(device)
                        times[name].append(clock() - start)
                del runners
                medians = {name: statistics.median(t) for name, t in times.items()}
                row = {
                    "batch": batch, "seconds": seconds, "layer": index, "pass": pass_name, "in": cin, "out": cout,
                    "length": length, "stride": stride, "median_ms": {n: 1e3 * m for n, m in medians.items()},
                    "all_ms": {n: [1e3 * v for v in t] for n, t in times.items()},
                }
                rows.append(row)
                gains = " ".join(f"{n} {medians['direct'] / m:5.2f}x" for n, m in medians.items() if n != "direct")
                print(f"{batch}x{seconds:g}s layer {index:2d} {cin:4d}->{cout:4d} T={length:6d} s{stride} "
                      f"{pass_name:11s} direct {1e3 * medians['direct']:8.1f} ms  {gains}", flush=True)
    return rows


def _shape(row) -> tuple:
    return (row["in"], row["out"], KERNEL_SIZE, row["stride"], row["batch"], out_length(row["length"], row["stride"]))


def fit(rows: list[dict]) -> fftconv.CostModel:
    """Least-squares fit (relative error) of the cost model's constants to forward and input-gradient times."""
    unit = fftconv.CostModel(1.0, 1.0, 1.0, 1.0)
    direct, ffts = [], []
    for row in rows:
        if row["pass"] == "weight-grad":
            continue
        shape = _shape(row)
        direct.append((unit.direct_ns(*shape), 1e6 * row["median_ms"]["direct"]))
        for name, ms in row["median_ms"].items():
            if name.startswith("fft"):
                ffts.append((unit.fft_terms(*shape, int(name[3:])), 1e6 * ms))
    d = np.array([a for a, _ in direct]), np.array([t for _, t in direct])
    direct_ns_per_mac = float(np.sum(d[0] / d[1]) / np.sum((d[0] / d[1]) ** 2))
    terms = np.array([a for a, _ in ffts], dtype=float)
    times = np.array([t for _, t in ffts])
    coefficients, *_ = np.linalg.lstsq(terms / times[:, None], np.ones_like(times), rcond=None)
    return fftconv.CostModel(direct_ns_per_mac, *(float(c) for c in coefficients))


def summary(rows: list[dict], model: fftconv.CostModel | None) -> None:
    print("\nper case and layer: direct ms and the best measured FFT block per pass; the rule's pick")
    print(f"{'case':>7s} {'layer':>5s} {'shape':>11s} {'s':>2s} {'direct ms':>9s}  "
          f"{'forward':>14s} {'input-grad':>14s} {'weight-grad':>14s}  {'rule':>7s} {'predicted':>9s}")
    cases = sorted({(r["batch"], r["seconds"], r["layer"]) for r in rows}, key=lambda c: (-c[0], -c[1], c[2]))
    for batch, seconds, layer in cases:
        mine = {r["pass"]: r for r in rows if (r["batch"], r["seconds"], r["layer"]) == (batch, seconds, layer)}
        first = next(iter(mine.values()))
        cells = []
        for pass_name in PASSES:
            row = mine.get(pass_name)
            ffts = {n: row["median_ms"]["direct"] / m for n, m in row["median_ms"].items() if n.startswith("fft")} if row else {}
            best = max(ffts, key=ffts.get) if ffts else None
            cells.append(f"{best:>7s} {ffts[best]:5.2f}x" if best else f"{'-':>14s}")
        picked, predicted = "direct", ""
        if model is not None:
            shape = _shape(first)
            costs = {n: model.fft_ns(*shape, n) for n in fftconv.BLOCKS if n > -(-KERNEL_SIZE // first["stride"])}
            block = min(costs, key=costs.get)
            predicted = f"{model.direct_ns(*shape) / costs[block]:8.2f}x"
            if costs[block] < model.direct_ns(*shape) and first["in"] > 1:
                picked = f"fft{block}"
        print(f"{batch}x{seconds:<4g} {layer:5d} {first['in']:4d}->{first['out']:<5d} {first['stride']:2d} "
              f"{first['median_ms']['direct']:9.1f}  " + " ".join(cells) + f"  {picked:>7s} {predicted}")


def _case(text: str) -> tuple[int, float]:
    batch, seconds = text.lower().split("x")
    return int(batch), float(seconds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=_case, nargs="+", default=[(4, 1.0)], help="BATCHxSECONDS, e.g. 4x1 1x0.25")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--blocks", type=int, nargs="+", default=list(fftconv.BLOCKS))
    parser.add_argument("--passes", nargs="+", choices=PASSES, default=list(PASSES))
    parser.add_argument("--layers", type=int, nargs="*", help="only these layer indices (0-15)")
    parser.add_argument("--julius", action="store_true", help="also time julius.fftconv.fft_conv1d")
    parser.add_argument("--fit", action="store_true", help="fit the rule's constants to these measurements")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="also write all numbers to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    peaks = machine_peaks(torch.device(args.device), args.threads)
    print(f"{args.device}, {args.threads} threads, cases {args.cases}, {args.rounds} rounds; "
          + ", ".join(f"{k.replace('_gflops', '')} {v:.0f} GFLOP/s" for k, v in peaks.items()), flush=True)
    rows = measure(args)
    model = fftconv.RULES.get(torch.device(args.device).type)
    if args.fit:
        model = fit(rows)
        print(f"\nfitted: {model}")
    summary(rows, model)
    if args.json:
        args.json.write_text(json.dumps({"peaks": peaks, "rows": rows, "model": str(model)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
