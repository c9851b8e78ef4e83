"""Per-layer speed of the FFT convolution against the direct one, on the encoder's own shapes.

Usage (from the repository root)::

    python benchmarks/fftconv_layers.py                        # batch 4 x 1 s, 2 threads, 3 rounds
    python benchmarks/fftconv_layers.py --batch 1 --seconds 0.25 --passes forward input-grad
    python benchmarks/fftconv_layers.py --julius               # also julius.fftconv.fft_conv1d (MIT)

For every layer of the CDPAM encoder (with the shipped shortcuts: stride 2 on the
decimating layers, the acoustic half of the last one) and every pass (forward, input
gradient, weight gradient), the direct ``F.conv1d`` (oneDNN on CPU) and
:func:`metric.fftconv.fft_conv1d` at each block size are timed interleaved, in random
order within each round; medians over rounds are reported as gains (direct / FFT time),
next to the machine's measured FFT and matrix-product rates and what the shipped rule
(:data:`metric.fftconv.RULES`) picks. ``--device cuda`` measures on a GPU (the rule for
``cuda`` is then to be set from the output).

Times are wall-clock; with ``--threads 1`` they are CPU time of the process, which a
shared machine disturbs less.
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


def methods(blocks, with_julius: bool):
    out = {"direct": lambda x, w, b, s, p: F.conv1d(x, w, b, stride=s, padding=p)}
    for block in blocks:
        out[f"fft{block}"] = lambda x, w, b, s, p, block=block: fftconv.fft_conv1d(x, w, b, s, p, block)
    if with_julius:
        from julius.fftconv import fft_conv1d as julius_fft_conv1d

        out["julius"] = lambda x, w, b, s, p: julius_fft_conv1d(x, w, b, stride=s, padding=p)
    return out


def measure(args) -> dict:
    device = torch.device(args.device)
    clock = _clock(args.threads)
    generator = torch.Generator().manual_seed(0)
    results = {}
    for index, cin, cout, length, stride in encoder_layers(args.seconds):
        if args.layers and index not in args.layers:
            continue
        x = torch.randn(args.batch, cin, length, generator=generator).to(device)
        w = (torch.randn(cout, cin, KERNEL_SIZE, generator=generator) / math.sqrt(cin * KERNEL_SIZE)).to(device)
        b = torch.randn(cout, generator=generator).to(device)
        kernel_ok = {name: fn for name, fn in methods(args.blocks, args.julius).items()
                     if not name.startswith("fft") or int(name[3:]) > -(-KERNEL_SIZE // stride)}
        for pass_name in args.passes:
            runners = {name: _runner(fn, pass_name, x, w, b, stride) for name, fn in kernel_ok.items()}
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
            medians = {name: statistics.median(t) for name, t in times.items()}
            direct = medians["direct"]
            results[(index, pass_name)] = {
                "layer": index, "pass": pass_name, "in": cin, "out": cout, "length": length, "stride": stride,
                "direct_ms": 1e3 * direct, "all_ms": {n: [1e3 * v for v in t] for n, t in times.items()},
                "gain": {name: direct / m for name, m in medians.items() if name != "direct"},
            }
            row = results[(index, pass_name)]
            gains = " ".join(f"{name} {g:5.2f}x" for name, g in row["gain"].items())
            print(f"layer {index:2d} {cin:4d}->{cout:4d} T={length:6d} s{stride} {pass_name:11s} direct "
                  f"{1e3 * direct:8.1f} ms  {gains}", flush=True)
            del runners
    return results


def summary(results: dict, args) -> None:
    rule = fftconv.RULES.get(torch.device(args.device).type)
    print("\nper layer: best FFT block and its gain per pass; what the shipped rule picks")
    print(f"{'layer':>5s} {'shape':>16s} {'T':>6s} {'s':>2s}  " + "  ".join(f"{p:>18s}" for p in args.passes)
          + "   rule")
    for index, cin, cout, length, stride in encoder_layers(args.seconds):
        cells = []
        for pass_name in args.passes:
            row = results.get((index, pass_name))
            if row is None:
                continue
            ffts = {n: g for n, g in row["gain"].items() if n.startswith("fft")}
            if not ffts:
                cells.append(f"{'-':>18s}")
                continue
            best = max(ffts, key=ffts.get)
            cells.append(f"{best:>8s} {ffts[best]:5.2f}x{'':4s}")
        if not cells:
            continue
        out_length = (length + 2 * (KERNEL_SIZE // 2) - KERNEL_SIZE) // stride + 1
        picked = "direct"
        if rule is not None and rule.prefers_fft(cin, cout, args.batch * out_length):
            picked = f"fft{rule.block_for(cin, cout)}"
        print(f"{index:5d} {cin:7d}->{cout:<7d} {length:6d} {stride:2d}  " + "  ".join(cells) + f"   {picked}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--blocks", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--passes", nargs="+", choices=PASSES, default=list(PASSES))
    parser.add_argument("--layers", type=int, nargs="*", help="only these layer indices (0-15)")
    parser.add_argument("--julius", action="store_true", help="also time julius.fftconv.fft_conv1d")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="also write all numbers to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    peaks = machine_peaks(torch.device(args.device), args.threads)
    print(f"{args.device}, {args.threads} threads, batch {args.batch} x {args.seconds:g} s, {args.rounds} rounds; "
          + ", ".join(f"{k.replace('_gflops', '')} {v:.0f} GFLOP/s" for k, v in peaks.items()), flush=True)
    results = measure(args)
    summary(results, args)
    if args.json:
        args.json.write_text(json.dumps({"peaks": peaks, "layers": list(results.values())}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
