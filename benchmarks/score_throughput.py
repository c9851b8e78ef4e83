"""Corpus scoring throughput: pair by pair (the former ``cdpam score`` loop) vs :func:`metric.score_folders`.

Run:  python benchmarks/score_throughput.py [--references 70] [--rounds 3] [--variants serial,new,new-systems]

A corpus is built once in ``--work-dir``: ``--references`` random segments
(``--min-seconds`` to ``--max-seconds``) of the embedded toy corpus's 16 kHz utterances as
references (``clean/NNNN.wav``) and, for each of three systems (``sysA``, ``sysB``,
``sysC``), the same segment through a perturbation family at a random level: 3 x 70 = 210
pairs by default. Each variant scores all the pairs in a fresh process with the official
weights (loaded before the clock starts):

* ``serial``: the loop ``cdpam score`` ran before corpus scoring existed: read both files,
  ``cdpam_distance``, next pair, system after system; torch's default threads (one per core);
* ``serial-1thread``: the same loop with one thread;
* ``new``: ``score_folders(clean, sysX)`` once per system, defaults (on a CPU: one loader
  worker per core, each reading, resampling and running the network on length-sorted padded
  batches with one thread). Overlap, batching and worker processes, no reuse of references;
* ``new-main``: like ``new`` but with one loader worker that only reads and resamples while
  the main process runs the network with all threads (overlap and batching, nothing else);
* ``new-systems``: one ``score_folders(clean, [sysA, sysB, sysC])``: the references are
  encoded once for the three systems (4 encoder passes per reference instead of 6).

Rounds interleave the variants, alternating their order; every measurement prints the
load average before and after, because the machine is shared. The summary gives each
variant's audio seconds (of estimates) scored per second of wall time, median and range
over rounds, the per-round ratios to ``serial``, and the largest difference between any
variant's distances and the serial ones (they must agree within 1e-5).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VARIANTS = ("serial", "serial-1thread", "new", "new-main", "new-systems")
SYSTEMS = {"sysA": ("white_noise", "reverb", "eq", "mulaw"), "sysB": ("pink_noise", "clipping", "bandlimit", "dropout"),
           "sysC": ("brown_noise", "gain", "eq", "reverb")}


def build_corpus(folder: Path, references: int, min_seconds: float, max_seconds: float, seed: int = 0) -> float:
    """Write the reference and system folders (once); return the seconds of all estimates."""
    import numpy as np
    import soundfile as sf

    from metric import read_audio
    from metric.data import toy
    from metric.perturb import perturb

    manifest = folder / "manifest.json"
    wanted = {"references": references, "min_seconds": min_seconds, "max_seconds": max_seconds, "seed": seed,
              "systems": SYSTEMS}
    if manifest.exists() and json.loads(manifest.read_text())["settings"] == wanted:
        return json.loads(manifest.read_text())["seconds"]
    rng = np.random.default_rng(seed)
    utterances = [u for split in ("train", "valid", "test") for u in toy.utterances(split, 16000)]
    for name in ("clean", *SYSTEMS):
        (folder / name).mkdir(parents=True, exist_ok=True)
    total = 0.0
    for i in range(references):
        audio, rate = read_audio(utterances[i % len(utterances)].path, mono=True)
        length = min(len(audio), int(rng.uniform(min_seconds, max_seconds) * rate))
        start = int(rng.integers(0, len(audio) - length + 1))
        clean = audio[start : start + length]
        sf.write(folder / "clean" / f"{i:04d}.wav", clean, rate, subtype="FLOAT")
        for system, families in SYSTEMS.items():
            estimate = perturb(clean, rate, families[i % len(families)], float(rng.uniform(0.2, 0.8)), seed=i)
            sf.write(folder / system / f"{i:04d}.wav", np.clip(estimate, -1.0, 1.0).astype(np.float32), rate,
                     subtype="FLOAT")
            total += length / rate
    manifest.write_text(json.dumps({"settings": wanted, "seconds": total}))
    return total


def run_variant(variant: str, folder: Path, out: Path) -> None:
    """Score every pair one way (in this process) and write distances and wall time to ``out``."""
    from metric.functional import shared_network

    shared_network("official")  # weights loaded before the clock, for every variant
    clean, systems = folder / "clean", [folder / name for name in SYSTEMS]
    distances = {}
    start = time.perf_counter()
    if variant.startswith("serial"):
        from metric import cdpam_distance, read_audio

        for system in systems:
            for reference in sorted(clean.glob("*.wav")):
                ref, rate = read_audio(reference, mono=True)
                est, _ = read_audio(system / reference.name, mono=True)
                distances[f"{system.name}/{reference.name}"] = float(cdpam_distance(ref, est, rate)[0])
    else:
        from metric.scoring.corpus import collect_corpus
        from metric.scoring.engine import ScoringOptions, score_corpus

        options = ScoringOptions(device="cpu")
        if variant == "new-main":
            options = ScoringOptions(device="cpu", workers=1, network_in_workers=False)
        for group in [systems] if variant == "new-systems" else [[system] for system in systems]:
            table = score_corpus(collect_corpus(clean, group), options, progress=False)
            for record in table:
                for system in group:
                    column = "distance" if len(group) == 1 else f"distance:{system.name}"
                    distances[f"{system.name}/{Path(record['reference']).name}"] = record[column]
    wall = time.perf_counter() - start
    import torch

    out.write_text(json.dumps({"wall": wall, "distances": distances, "threads": torch.get_num_threads()}))


def measure(variant: str, folder: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if variant == "serial-1thread":
        env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    out = folder / f"result-{variant}.json"
    before = os.getloadavg()[0]
    subprocess.run([sys.executable, __file__, "--run-variant", variant, "--work-dir", str(folder), "--out", str(out)],
                   env=env, check=True)
    result = json.loads(out.read_text())
    result["load"] = (before, os.getloadavg()[0])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", type=int, default=70, help="references; three systems each (default 70: 210 pairs)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=0.3)
    parser.add_argument("--max-seconds", type=float, default=0.9)
    parser.add_argument("--variants", default="serial,new,new-systems", help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/cdpam-score-throughput"))
    parser.add_argument("--run-variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_variant:
        run_variant(args.run_variant, args.work_dir, args.out)
        return
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown or "serial" not in variants:
        parser.error(f"variants must include serial and come from {VARIANTS}; got {variants}")
    seconds = build_corpus(args.work_dir, args.references, args.min_seconds, args.max_seconds)
    print(f"corpus: {args.references} references x {len(SYSTEMS)} systems = {args.references * len(SYSTEMS)} pairs, "
          f"{seconds:.1f} s of estimates ({args.min_seconds}-{args.max_seconds} s each), "
          f"{os.cpu_count()} cores; load average before: {os.getloadavg()}", flush=True)
    rates: dict[str, list[float]] = {v: [] for v in variants}
    ratios: dict[str, list[float]] = {v: [] for v in variants if v != "serial"}
    loads: list[float] = []
    worst = {v: 0.0 for v in variants}
    for round_index in range(args.rounds):
        order = variants if round_index % 2 == 0 else variants[::-1]
        results = {}
        for variant in order:
            result = measure(variant, args.work_dir)
            results[variant] = result
            rate = seconds / result["wall"]
            rates[variant].append(rate)
            loads.extend(result["load"])
            print(f"round {round_index + 1} {variant:<15} {result['wall']:8.1f} s wall  {rate:6.3f} audio-s/s  "
                  f"threads {result['threads']}  load {result['load'][0]:.1f} -> {result['load'][1]:.1f}", flush=True)
        for variant in variants:
            worst[variant] = max(worst[variant], max(abs(results[variant]["distances"][k] - d)
                                                     for k, d in results["serial"]["distances"].items()))
            if variant != "serial":
                ratios[variant].append(rates[variant][-1] / rates["serial"][-1])
    print(f"\nsummary over {args.rounds} round(s); load average during the runs {min(loads):.1f}-{max(loads):.1f}")
    print(f"{'variant':<15} {'audio-s/s median':>17} {'range':>17} {'ratio to serial: median':>24} {'range':>15} "
          f"{'max |d - d_serial|':>19}")
    for variant in variants:
        r = rates[variant]
        line = f"{variant:<15} {statistics.median(r):17.3f} {min(r):8.3f}-{max(r):<8.3f}"
        if variant in ratios:
            q = ratios[variant]
            line += f" {statistics.median(q):24.2f}x {min(q):6.2f}-{max(q):.2f}x"
        else:
            line += f" {'1.00x':>25} {'':>15}"
        print(line + f" {worst[variant]:19.1e}")


if __name__ == "__main__":
    main()
