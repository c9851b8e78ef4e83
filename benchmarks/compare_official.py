"""Speed, memory and parity of this project's CDPAM against the official package, in one run.

Usage (from the repository root, ~20-60 min on a quiet 2-core machine)::

    python benchmarks/compare_official.py                       # everything, 2 threads
    python benchmarks/compare_official.py --lengths 1 2 --rounds 1 --json out.json   # quick look

Every measurement runs in its own subprocess (``--worker``) so that peak RSS is per task
and implementation; ours and the official one are run interleaved, alternating which goes
first, and medians over rounds are reported because the machine may be shared.

Measured, each for ours and for the official ``cdpam==0.0.6`` code as shipped (loaded by
:mod:`official_shim`):

* parity: distances for the official sample clips (max abs difference, also to the
  published values) and the gradient of a distance w.r.t. the estimate;
* (a) scoring: forward for a batch of 4 x 1 s (official: ``CDPAM.forward`` under
  ``torch.no_grad()``; ours: ``cdpam_distance``);
* (b) loss use: forward + backward w.r.t. the estimate for the same batch (official as
  shipped: its weights require grad, so its backward also computes weight gradients and
  backpropagates through the reference branch);
* (c) peak RSS of each (``ru_maxrss`` of the worker) and the part above the idle RSS
  after loading the model;
* (d) time and peak RSS against audio length (batch 1) for both tasks;
* achieved GFLOP/s (analytic FLOPs of what each implementation computes / time) next to
  the machine's measured conv1d and matmul peak on the same threads.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLE_AUDIO = REPO / "metric" / "assets" / "sample_audio"
GOLDEN = REPO / "tests" / "data" / "golden_public.json"
RATE = 22_050
LAYERS, KERNEL, BASE = 16, 15, 64


# ----------------------------------------------------------------------------- FLOP model
def encoder_flops(samples: int, batch: int, *, official: bool) -> float:
    """Multiply-adds x 2 of one encoder pass over ``batch`` x ``samples`` inputs.

    The official model computes every layer at full rate and then drops every other
    sample after each 4th layer, and computes all 1024 channels of the last layer; ours
    computes those layers with stride 2 and only the 512 acoustic channels of the last.
    """
    flops, length, cin, channels = 0.0, samples, 1, BASE
    for i in range(LAYERS):
        decimate = (i + 1) % 4 == 0
        if decimate:
            channels *= 2
        cout = channels // 2 if (not official and i == LAYERS - 1) else channels
        out_length = length if (official or not decimate) else math.ceil(length / 2)
        flops += 2.0 * cin * cout * KERNEL * out_length * batch
        if decimate:
            length = math.ceil(length / 2)
        cin = channels
    return flops


def task_flops(task: str, samples: int, batch: int, *, official: bool) -> float:
    """FLOPs each implementation performs for a task (convolutions only; the rest is < 1 %)."""
    one = encoder_flops(samples, batch, official=official)
    if task.startswith("score"):
        return 2 * one
    if official:
        # Both branches: forward, weight gradient and input gradient (the weights require grad).
        return 6 * one
    # Reference forward without graph; estimate forward and its input gradient only.
    return 3 * one


# ----------------------------------------------------------------------------- data
def _clips():
    import numpy as np
    import soundfile as sf

    out = {}
    for name in ("ref", "2", "4"):
        data, rate = sf.read(SAMPLE_AUDIO / f"{name}.wav", dtype="float32")
        assert rate == RATE
        out[name] = data
    return out


def make_batch(batch: int, seconds: float):
    """Reference / estimate batches ``[B, T]`` in [-1, 1] cut from the tiled sample clips."""
    import numpy as np

    clips = _clips()
    samples = int(round(seconds * RATE))
    longest = samples + batch * 8191
    reps = longest // len(clips["ref"]) + 1
    ref = np.tile(clips["ref"], reps)
    est = np.tile(clips["4"], reps)
    offsets = [i * 8191 for i in range(batch)]
    refs = np.stack([ref[o : o + samples] for o in offsets])
    ests = np.stack([est[o : o + samples] for o in offsets])
    return refs, ests


# ----------------------------------------------------------------------------- workers
def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _peak_worker(args) -> dict:
    import torch

    from fftconv_layers import machine_peaks

    torch.set_num_threads(args.threads)
    return machine_peaks(torch.device("cpu"), args.threads)


def _load(impl: str):
    import torch

    if impl == "official":
        sys.path.insert(0, str(HERE))
        from official_shim import load_official

        model = load_official()

        def score(ref, est):
            with torch.no_grad():
                return model.forward(ref * 32768.0, est * 32768.0)

        def score_as_readme(ref, est):
            # Its README calls forward() directly: its weights require grad, so a graph is built.
            return model.forward(ref * 32768.0, est * 32768.0).detach()

        score.as_readme = score_as_readme

        def loss(ref, est):
            model.model.zero_grad(set_to_none=True)
            est = est.clone().requires_grad_(True)
            # The official API takes int16-range floats; the scaling is part of the graph.
            distance = model.forward(ref * 32768.0, est * 32768.0)
            distance.sum().backward()
            return distance.detach(), est.grad

        return score, loss
    from metric import cdpam_distance, fftconv

    # "ours-direct": every convolution computed directly, as before the FFT path.
    path = "direct" if impl == "ours-direct" else "auto"

    def score(ref, est):
        with fftconv.path(path):
            return cdpam_distance(ref, est, RATE)

    def loss(ref, est):
        est = est.clone().requires_grad_(True)
        with fftconv.path(path):
            distance = cdpam_distance(ref, est, RATE)
            distance.sum().backward()
        return distance.detach(), est.grad

    return score, loss


def _task_worker(args) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    score, loss = _load(args.worker)
    # Build the weights-derived caches of either implementation before measuring idle memory.
    tiny = torch.zeros(1, RATE // 2)
    score(tiny, tiny)
    idle = _rss_kib()
    if args.task == "parity":
        clips = _clips()
        golden = json.loads(GOLDEN.read_text())["cases"]
        ref = torch.from_numpy(np.stack([clips[c["ref"]] if c["ref"] != "silence" else 0 * clips["ref"] for c in golden]))
        est = torch.from_numpy(np.stack([clips[c["deg"]] if c["deg"] != "silence" else 0 * clips["ref"] for c in golden]))
        distances = score(ref, est)
        _, grad = loss(torch.from_numpy(clips["ref"][None, 11025:33075]), torch.from_numpy(clips["2"][None, 11025:33075]))
        np.save(args.grad_out, grad.numpy())
        return {"distances": [float(d) for d in distances], "golden": [c["dist"] for c in golden]}
    refs, ests = make_batch(args.batch, args.seconds)
    ref, est = torch.from_numpy(refs), torch.from_numpy(ests)
    run = {"score": score, "loss": loss, "score-readme": getattr(score, "as_readme", score)}[args.task]
    warm = torch.from_numpy(refs[:1, : RATE // 2].copy())
    run(warm, warm)  # warms up kernels and allocators on a short input
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run(ref, est)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"times": times, "peak_rss_mib": peak / 1024, "idle_rss_mib": idle / 1024}


def run_worker(impl: str, task: str, args, **extra) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        impl,
        "--task",
        task,
        "--threads",
        str(args.threads),
    ]
    for key, value in extra.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(f"worker {impl}/{task} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- orchestration
def measure_pair(task: str, batch: int, seconds: float, args, rounds: int, repeats: int) -> dict:
    impls = ["official", "ours"] + (["ours-direct"] if args.direct else [])
    samples = {impl: {"times": [], "peak": [], "extra": []} for impl in impls}
    for r in range(rounds):
        order = impls[r % len(impls):] + impls[: r % len(impls)]  # each goes first in turn
        for impl in order:
            out = run_worker(impl, task, args, batch=batch, seconds=seconds, repeats=repeats)
            samples[impl]["times"] += out["times"]
            samples[impl]["peak"].append(out["peak_rss_mib"])
            samples[impl]["extra"].append(out["peak_rss_mib"] - out["idle_rss_mib"])
            print(
                f"    {task:5s} {batch}x{seconds:g}s {impl:8s} round {r + 1}: "
                + ", ".join(f"{t:.2f}s" for t in out["times"])
                + f"  peak {out['peak_rss_mib']:.0f} MiB",
                flush=True,
            )
    summary = {}
    for impl, data in samples.items():
        seconds_median = statistics.median(data["times"])
        # FLOPs of the direct computation (the FFT path does fewer; GF/s is then "effective").
        flops = task_flops(task, int(round(seconds * RATE)), batch, official=impl == "official")
        summary[impl] = {
            "median_s": seconds_median,
            "all_s": data["times"],
            "peak_rss_mib": max(data["peak"]),
            "above_idle_mib": max(data["extra"]),
            "gflop": flops / 1e9,
            "gflops_per_s": flops / seconds_median / 1e9,
        }
    summary["speedup"] = summary["official"]["median_s"] / summary["ours"]["median_s"]
    summary["time_ratio_ours_over_official"] = 1 / summary["speedup"]
    summary["peak_ratio_ours_over_official"] = summary["ours"]["peak_rss_mib"] / summary["official"]["peak_rss_mib"]
    summary["above_idle_ratio_ours_over_official"] = (
        summary["ours"]["above_idle_mib"] / summary["official"]["above_idle_mib"]
    )
    if "ours-direct" in summary:
        summary["fft_gain_over_direct"] = summary["ours-direct"]["median_s"] / summary["ours"]["median_s"]
        summary["direct_speedup"] = summary["official"]["median_s"] / summary["ours-direct"]["median_s"]
    return summary


def measure_ours_only(task: str, seconds: float, args, repeats: int) -> dict:
    out = run_worker("ours", task, args, batch=1, seconds=seconds, repeats=repeats)
    median = statistics.median(out["times"])
    flops = task_flops(task, int(round(seconds * RATE)), 1, official=False)
    print(f"    {task:5s} 1x{seconds:g}s ours     : " + ", ".join(f"{t:.2f}s" for t in out["times"])
          + f"  peak {out['peak_rss_mib']:.0f} MiB", flush=True)
    return {"ours": {"median_s": median, "all_s": out["times"], "peak_rss_mib": out["peak_rss_mib"],
                     "above_idle_mib": out["peak_rss_mib"] - out["idle_rss_mib"], "gflop": flops / 1e9,
                     "gflops_per_s": flops / median / 1e9}}


def _row(name: str, s: dict) -> str:
    o = s["ours"]
    direct = ""
    if "ours-direct" in s:
        direct = (f"   direct {s['ours-direct']['median_s']:.2f} s ({s['direct_speedup']:.2f}x official; "
                  f"FFT path {s['fft_gain_over_direct']:.2f}x direct), RSS {s['ours-direct']['peak_rss_mib']:.0f} MiB")
    if "official" not in s:
        return (f"{name:22s} {'-':>8s} {o['median_s']:8.2f} {'-':>6s} {'-':>7s}  {'-':>6s} {o['gflops_per_s']:6.0f}  "
                f"{'-':>7s} {o['peak_rss_mib']:7.0f} {'-':>5s}  {'-':>7s} {o['above_idle_mib']:7.0f} {'-':>5s}")
    f = s["official"]
    return (
        f"{name:22s} {f['median_s']:8.2f} {o['median_s']:8.2f} {s['time_ratio_ours_over_official']:6.2f} "
        f"{s['speedup']:6.2f}x  {f['gflops_per_s']:6.0f} {o['gflops_per_s']:6.0f}  "
        f"{f['peak_rss_mib']:7.0f} {o['peak_rss_mib']:7.0f} {s['peak_ratio_ours_over_official']:5.2f}  "
        f"{f['above_idle_mib']:7.0f} {o['above_idle_mib']:7.0f} {s['above_idle_ratio_ours_over_official']:5.2f}"
        + direct
    )


def _peaks(peak: dict) -> str:
    return ", ".join(f"{name.replace('_gflops', '')} {value:.0f} GFLOP/s" for name, value in peak.items())


HEADER = (
    f"{'case':22s} {'off s':>8s} {'ours s':>8s} {'ratio':>6s} {'speed':>7s}  {'offGF/s':>6s} {'oursGF/s':>6s}  "
    f"{'offRSS':>7s} {'ourRSS':>7s} {'ratio':>5s}  {'off+MiB':>7s} {'our+MiB':>7s} {'ratio':>5s}"
)


def orchestrate(args) -> dict:
    results: dict = {"threads": args.threads}
    print(f"CDPAM: this project vs official cdpam==0.0.6, {args.threads} threads", flush=True)
    peak = run_worker("peak", "peak", args)
    results["machine_peak"] = peak
    print(f"machine peak: {_peaks(peak)}", flush=True)

    if not args.skip_parity:
        check_parity(results, args)
    p = results.get("parity", {"max_abs_diff_ours_vs_official": float("nan")})
    _compare(results, peak, p, args)
    return results


def check_parity(results: dict, args) -> None:
    import numpy as np

    grad_paths = {impl: Path(f"/tmp/cdpam-bench-grad-{impl}-{os.getpid()}.npy") for impl in ("ours", "official")}
    parity = {impl: run_worker(impl, "parity", args, grad_out=grad_paths[impl]) for impl in ("official", "ours")}
    ours_d, off_d = np.array(parity["ours"]["distances"]), np.array(parity["official"]["distances"])
    golden = np.array(parity["ours"]["golden"])
    g_ours, g_off = np.load(grad_paths["ours"]), np.load(grad_paths["official"])
    for path in grad_paths.values():
        path.unlink(missing_ok=True)
    results["parity"] = {
        "ours": ours_d.tolist(),
        "official": off_d.tolist(),
        "max_abs_diff_ours_vs_official": float(np.abs(ours_d - off_d).max()),
        "max_abs_diff_official_vs_published": float(np.abs(off_d - golden).max()),
        "gradient_max_rel_diff": float(np.abs(g_ours - g_off).max() / np.abs(g_off).max()),
        "gradient_rel_l2_diff": float(np.linalg.norm(g_ours - g_off) / np.linalg.norm(g_off)),
    }
    p = results["parity"]
    print(
        f"parity: max |ours - official| = {p['max_abs_diff_ours_vs_official']:.2e} over {len(ours_d)} sample pairs "
        f"(official vs published {p['max_abs_diff_official_vs_published']:.2e}); gradient rel L2 diff "
        f"{p['gradient_rel_l2_diff']:.2e} (max elementwise / max {p['gradient_max_rel_diff']:.2e})",
        flush=True,
    )


def _compare(results: dict, peak: dict, p: dict, args) -> None:
    print(f"\n(a)-(c) batch of {args.batch} x {args.seconds:g} s, {args.rounds} rounds x {args.repeats} repeats", flush=True)
    results["batch"] = {
        task: measure_pair(task, args.batch, args.seconds, args, args.rounds, args.repeats) for task in args.tasks
    }
    results["lengths"] = {}
    if args.lengths:
        print(f"\n(d) batch of 1 against length {args.lengths} s", flush=True)
        for seconds in args.lengths:
            rounds = args.rounds if seconds <= 4 else 1
            repeats = args.repeats if seconds <= 8 else 1
            results["lengths"][str(seconds)] = {}
            for task in ("score", "loss"):
                if seconds > args.official_max_seconds or (task == "loss" and seconds > args.official_loss_max_seconds):
                    # ~15 kB of saved activations per sample: 30 s needs ~20 GB, more than this machine has.
                    print(f"    {task} 1x{seconds:g}s: official skipped (longer than its --official-*-max-seconds)", flush=True)
                    results["lengths"][str(seconds)][task] = measure_ours_only(task, seconds, args, repeats)
                    continue
                results["lengths"][str(seconds)][task] = measure_pair(task, 1, seconds, args, rounds, repeats)

    print("\nsummary (times are medians; ratio = ours / official; speed = official / ours; RSS in MiB)")
    print(f"machine peak on {args.threads} threads: {_peaks(peak)}; parity max |ours - official| = "
          f"{p['max_abs_diff_ours_vs_official']:.2e}")
    print(HEADER)
    for task, s in results["batch"].items():
        print(_row(f"{task} {args.batch}x{args.seconds:g}s", s))
    for seconds, tasks in results["lengths"].items():
        for task, s in tasks.items():
            print(_row(f"{task} 1x{seconds}s", s))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved ours/official rounds per case")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per worker (after one warm-up)")
    parser.add_argument("--lengths", type=float, nargs="*", default=[1, 2, 4, 8, 30])
    parser.add_argument("--official-loss-max-seconds", type=float, default=8.0,
                        help="longer loss cases run ours only (the official graph needs ~15 kB per sample)")
    parser.add_argument("--official-max-seconds", type=float, default=60.0, help="longer cases run ours only")
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=["score", "loss"],
        choices=["score", "loss", "score-readme"],
        help="batch cases; score-readme times the official forward called without no_grad, as its README does",
    )
    parser.add_argument("--skip-parity", action="store_true")
    parser.add_argument("--direct", action="store_true",
                        help="also run ours with every convolution computed directly (before the FFT path)")
    parser.add_argument("--json", type=Path, help="also write all numbers to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--grad-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        out = _peak_worker(args) if args.worker == "peak" else _task_worker(args)
        print(json.dumps(out))
        return 0
    results = orchestrate(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
