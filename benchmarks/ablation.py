"""Gain of each exact transformation, one step at a time, on the same weights and inputs.

Usage (from the repository root)::

    python benchmarks/ablation.py                 # batch 4 x 1 s, 3 interleaved rounds, 2 threads
    python benchmarks/ablation.py --rounds 1 --batch 2

Starting from a straight re-implementation of the official computation (every layer at
full rate, decimation by slicing, BatchNorm and leaky ReLU as separate passes, all 1024
channels of the last layer, a graph for both branches and for the weights), each step
adds one transformation; the last step of each task is the project's shipped code path
(``cdpam_distance``). Steps are run interleaved within each round and medians reported;
peak memory above the idle level is read from ``VmHWM`` after resetting it
(``/proc/self/clear_refs``) before each step. Every step's distances are checked against
the first one.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_official import RATE, make_batch  # noqa: E402

from metric import cdpam_distance  # noqa: E402
from metric.functional import shared_network  # noqa: E402
from metric.model import LEAKY_SLOPE  # noqa: E402


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def encode(network, x, *, strided: bool, acoustic_only: bool, fused: bool):
    """Pooled acoustic embedding with the chosen transformations (no lengths: equal-length batch)."""
    encoder = network.encoder
    last = len(encoder.convs) - 1
    for i, (conv, norm) in enumerate(zip(encoder.convs, encoder.norms)):
        decimate = (i + 1) % 4 == 0
        out = conv.out_channels // 2 if acoustic_only and i == last else conv.out_channels
        stride = 2 if decimate and strided else 1
        if fused:
            weight, bias, _ = encoder._layer_weights(i, out)
            x = F.leaky_relu(F.conv1d(x, weight, bias, stride=stride, padding=7), LEAKY_SLOPE, inplace=True)
        else:
            x = F.conv1d(x, conv.weight[:out], conv.bias[:out], stride=stride, padding=7)
            x = F.batch_norm(
                x, norm.running_mean[:out], norm.running_var[:out], norm.weight[:out], norm.bias[:out], False, 0.0, norm.eps
            )
            x = F.leaky_relu(x, LEAKY_SLOPE)
        if decimate and not strided:
            x = x[:, :, ::2]
    return F.normalize(x.mean(dim=-1)[:, :512], dim=-1)


def make_step(network, *, graph_everywhere: bool, strided: bool, acoustic_only: bool, fused: bool, loss: bool):
    def run(ref, est):
        ref, est = ref[:, None] * 32768.0, est[:, None] * 32768.0
        if not loss:
            with torch.no_grad():
                return network.lossnet(*(encode(network, x, strided=strided, acoustic_only=acoustic_only, fused=fused) for x in (ref, est)))
        est = est.detach().requires_grad_(True)
        with torch.set_grad_enabled(graph_everywhere):
            a = encode(network, ref, strided=strided, acoustic_only=acoustic_only, fused=fused)
        b = encode(network, est, strided=strided, acoustic_only=acoustic_only, fused=fused)
        distance = network.lossnet(a, b)
        distance.sum().backward()
        return distance.detach()

    return run


def shipped(loss: bool):
    def run(ref, est):
        if not loss:
            return cdpam_distance(ref, est, RATE)
        est = est.clone().requires_grad_(True)
        distance = cdpam_distance(ref, est, RATE)
        distance.sum().backward()
        return distance.detach()

    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    network = shared_network()
    trainable = copy.deepcopy(network)  # a private copy whose weights require grad, as the official ones do
    trainable.requires_grad_(True)
    steps = {
        "score": [
            ("official computation (no_grad)", make_step(network, graph_everywhere=False, strided=False, acoustic_only=False, fused=False, loss=False)),
            ("+ strided decimating layers", make_step(network, graph_everywhere=False, strided=True, acoustic_only=False, fused=False, loss=False)),
            ("+ acoustic half of last layer", make_step(network, graph_everywhere=False, strided=True, acoustic_only=True, fused=False, loss=False)),
            ("+ BN folded, leaky ReLU in place", make_step(network, graph_everywhere=False, strided=True, acoustic_only=True, fused=True, loss=False)),
            ("+ inference mode = shipped", shipped(loss=False)),
        ],
        "loss": [
            ("official computation (weights+ref graph)", make_step(trainable, graph_everywhere=True, strided=False, acoustic_only=False, fused=False, loss=True)),
            ("+ frozen weights, no reference graph", make_step(network, graph_everywhere=False, strided=False, acoustic_only=False, fused=False, loss=True)),
            ("+ strided decimating layers", make_step(network, graph_everywhere=False, strided=True, acoustic_only=False, fused=False, loss=True)),
            ("+ acoustic half of last layer", make_step(network, graph_everywhere=False, strided=True, acoustic_only=True, fused=False, loss=True)),
            ("+ BN folded, leaky ReLU in place = shipped", shipped(loss=True)),
        ],
    }
    refs, ests = make_batch(args.batch, args.seconds)
    ref, est = torch.from_numpy(refs), torch.from_numpy(ests)
    print(f"ablation: batch {args.batch} x {args.seconds:g} s, {args.threads} threads, {args.rounds} rounds", flush=True)
    for task, variants in steps.items():
        times = {name: [] for name, _ in variants}
        peaks = {name: [] for name, _ in variants}
        values = {}
        for name, run in variants:  # warm-up (and folded-weight caches)
            values[name] = run(ref, est)
            trainable.zero_grad(set_to_none=True)
        for r in range(args.rounds):
            order = variants if r % 2 == 0 else variants[::-1]
            for name, run in order:
                has_peak = _reset_peak()
                idle = _status_kib("VmRSS")
                start = time.perf_counter()
                run(ref, est)
                times[name].append(time.perf_counter() - start)
                trainable.zero_grad(set_to_none=True)
                if has_peak:
                    peaks[name].append((_status_kib("VmHWM") - idle) / 1024)
        base_name = variants[0][0]
        base = statistics.median(times[base_name])
        print(f"\n{task}: {'step':44s} {'median s':>9s} {'speed-up':>9s} {'step gain':>9s} {'+MiB':>7s} {'max|d-d0|':>10s}")
        previous = base
        for name, _ in variants:
            median = statistics.median(times[name])
            peak = f"{max(peaks[name]):7.0f}" if peaks[name] else "    n/a"
            diff = float((values[name] - values[base_name]).abs().max())
            print(f"{'':6s}{name:44s} {median:9.2f} {base / median:8.2f}x {previous / median:8.2f}x {peak} {diff:10.1e}")
            previous = median
    return 0


if __name__ == "__main__":
    sys.exit(main())
