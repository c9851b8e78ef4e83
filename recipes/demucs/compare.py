"""The loss comparison: DEMUCS trained on L1 + MRSTFT alone and with each perceptual term, same budget, several seeds.

    cd recipes/demucs
    python compare.py cost        # every variant for a few steps: CPU seconds per training step
    python compare.py search      # each perceptual variant at each candidate weight (and the baseline), seed 0
    python compare.py select      # score them on the validation split; choose each variant's weight
    python compare.py train       # every variant x every seed with the chosen weights, equal steps
    python compare.py evaluate    # score every model on the test set (one evaluation per seed)
    python compare.py summarize   # means ± 95 % CI over seeds, paired per-file differences from DEMUCS,
                                  # cost per step, spectrograms of one file, example audio

``compare.sh`` runs these in order (its stages 1-6). Outputs go to ``exp/<data>/compare/``:
``cost/``, ``search/`` (runs, ``eval/``, ``weights.json``, ``table.md``), ``runs/<variant>/seed<s>/``,
``eval/seed<s>/`` and ``summary/`` (``table.md``, ``summary.json``, ``spectrograms.png``, ``examples/``).

Jobs run as ``nice -n <nice> python train.py ...`` (or ``evaluate.py``) with ``<threads>`` torch/BLAS
threads each, at most ``--jobs`` at a time. Everything resumes: a run whose ``model.pt`` has its
steps is skipped, an unfinished one continues from its ``last.ckpt``, and evaluations reuse the
scores of unchanged models. Hydra overrides after ``--`` go to every ``train.py`` (e.g.
``-- trainer.accelerator=gpu data.batch_size=16``).

Equal steps: every variant trained from scratch runs ``--steps`` steps; Finetune-CDPAM starts from
the baseline of the same seed after ``steps − finetune_steps`` steps (``model_step<N>.pt``, which
the baseline run exports) and fine-tunes for ``--finetune-steps``, so it too has ``--steps`` in all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from demucs.callbacks import snapshot_path
from demucs.figures import spectrogram_png
from demucs.measures import COLUMNS, SAMPLE_RATE
from demucs.statistics import (average_over_seeds, markdown_table, mean_ranks, mean_with_ci, paired_differences,
                               paired_table, seed_table, select_weight)
from demucs.variants import VARIANTS, row_tag, variant
from metric import read_audio, read_enhancement_manifest

RECIPE = Path(__file__).resolve().parent
DEFAULT_VARIANTS = ("baseline", "cdpam", "cdpam_lite", "pmsqe", "stoi", "pesq", "finetune")
EXAMPLE_KINDS = ("babble", "music", "speech_shaped")  # the example files: the first test file of each kind


# -- jobs --------------------------------------------------------------------------------------
@dataclass
class Job:
    name: str
    argv: list[str]  # a script of this recipe and its arguments
    log: Path
    after: list[str] = field(default_factory=list)  # names of jobs that must have succeeded first
    finished: Callable[[], bool] = lambda: False  # already done (a resumed experiment skips it)


def run_jobs(jobs: list[Job], parallel: int, nice: int, threads: int) -> None:
    """Run ``jobs`` (at most ``parallel`` at once, each after the jobs it needs); raise if any failed."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "OPENBLAS_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    pending, running, succeeded, failed = list(jobs), {}, set(), set()
    while pending or running:
        for job in list(pending):
            if any(name in failed for name in job.after):
                pending.remove(job)
                failed.add(job.name)
                print(f"[skip] {job.name}: a job it needs failed", flush=True)
            elif all(name in succeeded for name in job.after):
                if job.finished():
                    pending.remove(job)
                    succeeded.add(job.name)
                    print(f"[done] {job.name} (already finished)", flush=True)
                elif len(running) < parallel:
                    pending.remove(job)
                    job.log.parent.mkdir(parents=True, exist_ok=True)
                    handle = open(job.log, "a")
                    command = ["nice", "-n", str(nice), sys.executable, *job.argv]
                    print(f"[start] {job.name}: {' '.join(command)}  (log: {job.log})", flush=True)
                    running[job.name] = (subprocess.Popen(command, cwd=RECIPE, env=env, stdout=handle,
                                                          stderr=subprocess.STDOUT), handle, time.time(), job)
        for name, (process, handle, started, job) in list(running.items()):
            if process.poll() is not None:
                handle.close()
                del running[name]
                minutes = (time.time() - started) / 60
                if process.returncode == 0:
                    succeeded.add(name)
                    print(f"[ok] {name} in {minutes:.1f} min", flush=True)
                else:
                    failed.add(name)
                    print(f"[FAILED] {name} (exit {process.returncode}) after {minutes:.1f} min: see {job.log}", flush=True)
        if pending and not running and not any(all(n in succeeded for n in job.after) for job in pending):
            break  # nothing can start any more
        time.sleep(2)
    if failed:
        raise SystemExit(f"{len(failed)} job(s) failed: {', '.join(sorted(failed))}")


def trained_steps(model_file: Path) -> int:
    """Steps recorded in an exported ``model.pt`` (0 when there is none)."""
    if not model_file.exists():
        return 0
    return int(torch.load(model_file, map_location="cpu", weights_only=True).get("training", {}).get("steps", 0))


def available_variants(names) -> list[str]:
    """``names`` that have a ``conf/loss/<name>.yaml`` (with a note for those that do not)."""
    kept = []
    for name in names:
        variant(name)
        if (RECIPE / "conf" / "loss" / f"{name}.yaml").exists():
            kept.append(name)
        else:
            print(f"[note] {name}: no conf/loss/{name}.yaml in this checkout; left out of the comparison", flush=True)
    return kept


# -- paths -------------------------------------------------------------------------------------
class Layout:
    def __init__(self, args):
        self.data = args.data
        # Absolute paths: the jobs run in the recipe's folder, wherever this driver runs.
        self.root = Path(args.out).resolve() if args.out else RECIPE / "exp" / args.data / "compare"
        self.manifests = Path(args.manifest_dir).resolve() if args.manifest_dir else RECIPE / "data" / args.data

    def run(self, name: str, seed: int) -> Path:
        return self.root / "runs" / name / f"seed{seed}"

    def search_run(self, name: str, weight: float | None) -> Path:
        return self.root / "search" / name / ("baseline" if weight is None else f"w{weight:g}")

    @property
    def weights_file(self) -> Path:
        return self.root / "search" / "weights.json"


def train_job(args, layout: Layout, name: str, seed: int, exp_dir: Path, weight: float | None = None,
              steps: int | None = None, extra: list[str] = (), after: list[str] = ()) -> Job:
    steps = args.steps if steps is None else steps
    argv = ["train.py", f"data={args.data}", f"loss={name}", f"seed={seed}", f"exp_dir={exp_dir}",
            f"trainer.threads={args.threads}", "trainer.progress_bar=false"]
    if args.model:
        argv.append(f"model={args.model}")
    argv.append(f"data.manifest_dir={layout.manifests}")
    if name == "finetune":
        argv += [f"data.max_steps.fine_tune={steps}", f"data.val_every.fine_tune={max(1, steps // 4)}"]
    else:
        argv.append(f"data.max_steps.from_scratch={steps}")
    if weight is not None:
        argv.append(f"loss.terms.perceptual_weight={weight}")
    argv += [*extra, *args.overrides]
    return Job(f"train {exp_dir}", argv, exp_dir / "train.log", list(after),
               finished=lambda: trained_steps(exp_dir / "model.pt") >= steps)


# -- stages ------------------------------------------------------------------------------------
def cost(args) -> None:
    """Each variant for ``--cost-steps`` steps from scratch: the CPU seconds of a training step."""
    layout = Layout(args)
    names = available_variants(args.variants)
    jobs = []
    for name in names:
        exp_dir = layout.root / "cost" / name
        extra = ["init_from=null"] if name == "finetune" else []
        if name == "finetune":  # a fine-tuning step costs the same from any start; here from a fresh model
            extra.append(f"data.val_every.fine_tune={args.cost_steps}")
        jobs.append(train_job(args, layout, name, 0, exp_dir, steps=args.cost_steps, extra=extra))
    run_jobs(jobs, 1, args.nice, args.threads)  # one at a time: the measured cost is not shared with a neighbour
    rows, base = {}, None
    for name in names:
        info = torch.load(layout.root / "cost" / name / "model.pt", map_location="cpu", weights_only=True)["training"]
        rows[name] = {"cpu_seconds_per_step": info["cpu_seconds_per_step"], "wall_seconds_per_step": info["wall_seconds_per_step"],
                      "timed_steps": info["timed_steps"]}
    base = rows.get("baseline", {}).get("cpu_seconds_per_step")
    lines = ["| variant | CPU s / step | × DEMUCS |", "|---|---:|---:|"]
    for name, row in rows.items():
        ratio = f"{row['cpu_seconds_per_step'] / base:.1f}" if base else "–"
        lines.append(f"| {VARIANTS[name].label} | {row['cpu_seconds_per_step']:.3f} | {ratio} |")
    (layout.root / "cost" / "cost.json").write_text(json.dumps(rows, indent=1))
    (layout.root / "cost" / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def search(args) -> None:
    """Seed-0 runs of each perceptual variant at each candidate weight, and of the baseline."""
    layout = Layout(args)
    names = [name for name in available_variants(args.variants) if VARIANTS[name].weights]
    jobs = [train_job(args, layout, "baseline", 0, layout.search_run("baseline", None), steps=args.search_steps)]
    for name in names:
        for weight in VARIANTS[name].weights:
            jobs.append(train_job(args, layout, name, 0, layout.search_run(name, weight), weight, steps=args.search_steps))
    run_jobs(jobs, args.jobs, args.nice, args.threads)


def select(args) -> None:
    """Score the search runs on the validation split and keep, per variant, the weight with the best mean rank."""
    layout = Layout(args)
    names = [name for name in available_variants(args.variants) if VARIANTS[name].weights]
    baseline = layout.search_run("baseline", None) / "model.pt"
    jobs = []
    for name in names:
        argv = ["evaluate.py", "--manifest", str(layout.manifests / "valid.json"), "--out-dir",
                str(layout.root / "search" / "eval" / name), "--examples", "0", "--model", f"DEMUCS={baseline}"]
        if args.select_files:
            argv += ["--max-files", str(args.select_files)]
        argv += [arg for weight in VARIANTS[name].weights
                 for arg in ("--model", f"w {weight:g}={layout.search_run(name, weight) / 'model.pt'}")]
        jobs.append(Job(f"validate {name}", argv, layout.root / "search" / "eval" / f"{name}.log"))
    run_jobs(jobs, args.jobs, args.nice, args.threads)
    chosen, lines = {}, ["Validation split, seed 0: means over its files; mean rank over the seven measures (1 = best).", ""]
    for name in names:
        results = json.loads((layout.root / "search" / "eval" / name / "results.json").read_text())
        candidates = {weight: results["means"][f"w {weight:g}"] for weight in VARIANTS[name].weights}
        ranks = mean_ranks(candidates)
        weight = select_weight(candidates)
        chosen[name] = {"weight": weight, "mean_ranks": {f"{w:g}": r for w, r in ranks.items()},
                        "validation_means": {f"{w:g}": m for w, m in candidates.items()},
                        "baseline_means": results["means"]["DEMUCS"]}
        rows = {"DEMUCS (w = 0)": results["means"]["DEMUCS"],
                **{f"w = {w:g}{' (chosen)' if w == weight else ''}, mean rank {ranks[w]:.2f}": m for w, m in candidates.items()}}
        lines += [f"### {VARIANTS[name].label}", "", markdown_table(rows), ""]
    layout.weights_file.write_text(json.dumps(chosen, indent=1))
    (layout.root / "search" / "table.md").write_text("\n".join(lines))
    print("\n".join(lines))
    print("Chosen weights:", {name: entry["weight"] for name, entry in chosen.items()})


def chosen_weights(layout: Layout) -> dict[str, float]:
    if not layout.weights_file.exists():
        print(f"[note] no {layout.weights_file}: the weights of conf/data/{layout.data}.yaml are used", flush=True)
        return {}
    return {name: float(entry["weight"]) for name, entry in json.loads(layout.weights_file.read_text()).items()}


def train(args) -> None:
    """Every variant at every seed; Finetune-CDPAM from the same seed's baseline after steps − finetune_steps."""
    layout = Layout(args)
    names = available_variants(args.variants)
    weights = chosen_weights(layout)
    start = args.steps - args.finetune_steps
    if "finetune" in names and not 0 < start < args.steps:
        raise SystemExit(f"--finetune-steps must be between 1 and --steps - 1 (got {args.finetune_steps} of {args.steps}).")
    jobs = []
    for seed in args.seeds:
        for name in names:
            exp_dir = layout.run(name, seed)
            if name == "baseline":
                extra = [f"export_steps=[{start}]"] if "finetune" in names else []
                jobs.append(train_job(args, layout, name, seed, exp_dir, extra=extra))
            elif name == "finetune":
                init = snapshot_path(layout.run("baseline", seed), start)
                jobs.append(train_job(args, layout, name, seed, exp_dir, steps=args.finetune_steps, extra=[f"init_from={init}"],
                                      after=[f"train {layout.run('baseline', seed)}"]))
            else:
                jobs.append(train_job(args, layout, name, seed, exp_dir, weights.get(name)))
    run_jobs(jobs, args.jobs, args.nice, args.threads)


def example_ids(manifest: Path, count: int = 3) -> list[str]:
    """The first test file of each of :data:`EXAMPLE_KINDS` (fixed before any result), else the first files."""
    entries = read_enhancement_manifest(manifest)
    ids = [next(e["id"] for e in entries if e.get("noise_kind") == kind) for kind in EXAMPLE_KINDS
           if any(e.get("noise_kind") == kind for e in entries)]
    return ids or [e["id"] for e in entries[:count]]


def spread_subset(entries: list[dict], count: int | None) -> list[dict]:
    """``count`` entries spread evenly over ``entries`` (every k-th, from the first); all of them if ``count`` is None.

    The large toy test set lists each utterance's conditions together, so the first ``count`` files
    would cover a few utterances only; every k-th file covers all of them.
    """
    if count is None or count >= len(entries):
        return list(entries)
    if count < 1:
        raise ValueError(f"a test subset needs at least 1 file, got {count}")
    step = len(entries) / count
    return [entries[int(i * step)] for i in range(count)]


def test_manifest(args, layout: Layout) -> Path:
    """The test split's manifest, or (``--test-files N``) a manifest of N of its files spread over it."""
    from metric import atomic_write_bytes

    manifest = layout.manifests / f"{args.test_split}.json"
    if not manifest.exists():
        raise SystemExit(f"no {manifest}: run the data preparation (compare.sh --stage 0) first.")
    if args.test_files is None:
        return manifest
    subset = layout.root / f"{args.test_split}_{args.test_files}files.json"
    text = json.dumps(spread_subset(read_enhancement_manifest(manifest), args.test_files), indent=1).encode()
    if not subset.exists() or subset.read_bytes() != text:
        subset.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(subset, lambda handle: handle.write(text))
    return subset


def evaluate(args) -> None:
    """One evaluation per seed on the test split: every variant's selected model (model.pt)."""
    layout = Layout(args)
    names = available_variants(args.variants)
    manifest = test_manifest(args, layout)
    jobs = []
    for seed in args.seeds:
        argv = ["evaluate.py", "--manifest", str(manifest), "--out-dir", str(layout.root / "eval" / f"seed{seed}"),
                "--reference", VARIANTS["baseline"].label, "--example-ids", *example_ids(manifest)]
        argv += [arg for name in names for arg in ("--model", f"{VARIANTS[name].label}={layout.run(name, seed) / 'model.pt'}")]
        jobs.append(Job(f"evaluate seed {seed}", argv, layout.root / "eval" / f"seed{seed}.log"))
    run_jobs(jobs, args.jobs, args.nice, args.threads)


def summarize(args) -> dict:
    """Tables over seeds, paired per-file differences from DEMUCS, cost per step, spectrograms and example audio."""
    import soundfile as sf

    layout = Layout(args)
    names = available_variants(args.variants)
    labels = {name: VARIANTS[name].label for name in names}
    results = {seed: json.loads((layout.root / "eval" / f"seed{seed}" / "results.json").read_text()) for seed in args.seeds}
    rows = ["Noisy", *labels.values()]
    missing = [(seed, row) for seed, result in results.items() for row in rows if row not in result["per_file"]]
    if missing:
        raise SystemExit(f"evaluations lack rows {missing}: run the evaluate stage after training every variant.")
    over_seeds = {row: {key: mean_with_ci([results[seed]["means"][row][key] for seed in args.seeds]) for key, *_ in COLUMNS}
                  for row in rows}
    averaged = {row: average_over_seeds([results[seed]["per_file"][row] for seed in args.seeds]) for row in rows}
    reference = labels["baseline"]
    paired = paired_differences(averaged, reference)
    marks = {VARIANTS[name].label: VARIANTS[name].trained_on for name in names}
    costs, training = {}, {}
    for name in names:
        infos = [torch.load(layout.run(name, seed) / "model.pt", map_location="cpu", weights_only=True)["training"]
                 for seed in args.seeds]
        costs[labels[name]] = mean_with_ci([info["cpu_seconds_per_step"] for info in infos])
        training[labels[name]] = [{key: info.get(key) for key in ("seed", "steps", "selected_step", "perceptual_weight",
                                                                    "cpu_seconds_per_step", "wall_seconds_per_step", "init_from")}
                                  for info in infos]
    base_cost = costs[reference]["mean"]
    files = results[args.seeds[0]]["files"]
    cost_lines = ["| | w | CPU s / training step | × DEMUCS | selected step per seed |", "|---|---:|---:|---:|---|"]
    for name in names:
        label, runs = labels[name], training[labels[name]]
        weight = runs[0]["perceptual_weight"] or 0.0
        cost_lines.append(f"| {label} | {weight:g} | {costs[label]['mean']:.3f} ± {costs[label]['ci95']:.3f} | "
                          f"{costs[label]['mean'] / base_cost:.1f} | {', '.join(str(r['selected_step']) for r in runs)} |")
    seeds = ", ".join(str(seed) for seed in args.seeds)
    text = [
        f"Test split `{args.test_split}`: {files} files. Seeds {seeds}. * marks the measure a variant's perceptual "
        "term stands for (CDPAM for the CDPAM variants, PESQ for PMSQE and the PESQ loss, STOI for NegSTOI).",
        "", f"Means over seeds ± 95 % CI (t, {len(args.seeds) - 1} df) of each seed's mean over the test files:", "",
        seed_table(over_seeds, marks), "",
        f"Paired per-file differences from {reference} (each file's score averaged over the seeds first): mean ± 95 % CI "
        f"(t, {files - 1} df), (files where the variant is better / files):", "",
        paired_table(paired, reference, marks), "",
        "Training cost (CPU seconds per training step, one thread, mean ± 95 % CI over seeds) and the checkpoint "
        "each run kept (best validation value of its own objective):", "", "\n".join(cost_lines), "",
    ]
    out = layout.root / "summary"
    (out / "examples").mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text("\n".join(text))
    summary = {"seeds": list(args.seeds), "files": files, "over_seeds": over_seeds, "paired": paired, "reference": reference,
               "marks": marks, "costs": costs, "training": training, "per_file_seed_mean": averaged}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    first_seed = layout.root / "eval" / f"seed{args.seeds[0]}"
    manifest = test_manifest(args, layout)
    shown = example_ids(manifest)
    for file_id in shown:
        signals = {row: read_audio(first_seed / "examples" / f"{file_id}_{row_tag(row)}.wav", SAMPLE_RATE, mono=True)[0]
                   for row in ("Clean", *rows)}
        for row, audio in signals.items():
            sf.write(out / "examples" / f"{file_id}_{row_tag(row)}.flac", audio, SAMPLE_RATE, subtype="PCM_16")
        if file_id == shown[0]:
            spectrogram_png(signals, out / "spectrograms.png",
                            f"{file_id} (seed {args.seeds[0]}): log-magnitude spectrograms (dB)", columns=3)
    print("\n".join(text))
    return summary


STAGES = {"cost": cost, "search": search, "select": select, "train": train, "evaluate": evaluate, "summarize": summarize}


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=list(STAGES))
    parser.add_argument("--data", default="toy", help="corpus (conf/data/<data>.yaml); manifests in data/<data>/")
    parser.add_argument("--out", default=None, help="output folder (default: exp/<data>/compare)")
    parser.add_argument("--manifest-dir", default=None, help="folder of the manifests (default: data/<data>)")
    parser.add_argument("--model", default="", help="model config (conf/model/); default: the data's (toy: toy)")
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), help="variants (conf/loss/) to compare")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="seeds of the compared runs (the search uses 0)")
    parser.add_argument("--steps", type=int, default=500, help="training steps of every variant")
    parser.add_argument("--finetune-steps", type=int, default=100, help="of --steps, how many Finetune-CDPAM fine-tunes")
    parser.add_argument("--search-steps", type=int, default=None, help="steps of the weight-search runs (default: --steps)")
    parser.add_argument("--cost-steps", type=int, default=20, help="steps of the cost stage's runs")
    parser.add_argument("--test-split", default=None, help="test manifest name (default: test_large for toy, else test)")
    parser.add_argument("--test-files", type=int, default=None, help="score N files spread over the test split (default: all)")
    parser.add_argument("--select-files", type=int, default=None,
                        help="the weight choice scores the first N validation files (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="jobs at a time (at most one per core)")
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads per job")
    parser.add_argument("--nice", type=int, default=5, help="niceness of the jobs")
    parser.epilog = "Hydra overrides for every train.py run follow a --, e.g. -- data.batch_size=16"
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.overrides = argv[split + 1:]
    args.search_steps = args.search_steps or args.steps
    args.test_split = args.test_split or ("test_large" if args.data == "toy" else "test")
    return args


def main(argv=None) -> int:
    args = parse_arguments(argv)
    STAGES[args.stage](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
