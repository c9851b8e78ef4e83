"""``cdpam evaluate``: the paper's protocols for CDPAM, baselines and trained checkpoints.

What the user sees is :data:`DESCRIPTION` and :data:`EPILOG` (the examples); the CSV formats
are in docs/evaluation.md (and :mod:`.two_afc`, :mod:`.mos`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

PROTOCOLS = ("all", "monotonicity", "common-area", "retrieval", "2afc", "mos")

DESCRIPTION = """\
Run the paper's evaluation protocols for CDPAM, baseline metrics and checkpoints trained with
cdpam train: monotonicity, common area and retrieval precision (MP@10, MP@20) on perturbed
copies of a corpus (the embedded toy corpus by default), 2AFC accuracy and MOS correlation
on your own listening tests.

Writes results.json, results.md (rows = metrics, columns = protocols) and PNG plots to --out.
The CSV formats of --triplets and --mos are described in docs/evaluation.md."""

EPILOG = """\
examples:
  cdpam evaluate all                        # monotonicity + common area + MP@k on the toy corpus
  cdpam evaluate monotonicity --metrics cdpam,mse,pesq --corpus path/to/wavs
  cdpam evaluate retrieval --weights runs/stage3/best.pt --out eval/
  cdpam evaluate monotonicity --weights lite  # CDPAM-lite beside the exact CDPAM
  cdpam evaluate 2afc --triplets listening_test.csv
  cdpam evaluate mos --mos ratings.csv --metrics cdpam,pesq,stoi"""


def _csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _gain_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in _csv_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"give the gain range as LOW,HIGH in dB, e.g. -20,0; got {text!r}") from None
    if low > high:
        raise argparse.ArgumentTypeError(f"the gain range must be LOW,HIGH with LOW <= HIGH, got {text!r}")
    return low, high


def _levels(text: str) -> list[float]:
    try:
        levels = [float(v) for v in _csv_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"levels must be comma-separated numbers in [0, 1], got {text!r}") from None
    if len(levels) < 2 or not all(0 <= v <= 1 for v in levels):
        raise argparse.ArgumentTypeError("give at least two levels, each in [0, 1]")
    return levels


def register(subparsers) -> argparse.ArgumentParser:
    from .scorers import DEFAULT_METRICS, METRIC_NAMES
    from .testsets import DEFAULT_CLIP_GAIN_DB, DEFAULT_COMBINATIONS, DEFAULT_GROUPS, DEFAULT_LEVELS, DEFAULT_MONOTONICITY_FAMILIES

    parser = subparsers.add_parser(
        "evaluate",
        help="the paper's evaluation protocols (Mono, ComArea, MP@k, 2AFC, MOS) for CDPAM and baselines",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument("protocol", choices=PROTOCOLS, help="'all' = monotonicity + common-area + retrieval (+ 2afc/mos when their CSVs are given)")
    parser.add_argument("--metrics", type=_csv_list, default=list(DEFAULT_METRICS),
                        help=f"comma-separated metrics from {', '.join(METRIC_NAMES)} or checkpoint:PATH (default: {','.join(DEFAULT_METRICS)})")
    parser.add_argument("--no-baselines", action="store_true",
                        help="leave out the baseline rows (mse, and an untrained network of each CDPAM width) added by default")
    parser.add_argument("--weights", action="append", default=[], metavar="PATH",
                        help="'lite' (the distilled CDPAM-lite) or a CDPAM checkpoint trained with this project, scored as an extra metric (repeatable)")
    parser.add_argument("--corpus", default="toy", help="'toy' (embedded corpus, test split; 'toy:train' for another split), 'sample' (the 3 official clips) or a folder of audio files")
    parser.add_argument("--out", type=Path, default=Path("evaluation"), help="output folder (default: ./evaluation)")
    parser.add_argument("--triplets", type=Path, help="2AFC listening test CSV: reference,a,b,p_a")
    parser.add_argument("--mos", type=Path, help="MOS listening test CSV: reference,degraded,mos,speaker,condition")
    parser.add_argument("--sample-rate", type=int, default=16000, help="rate every recording is resampled to before scoring (default 16000)")
    parser.add_argument("--seconds", type=float, default=0.75, help="length of each corpus clip in seconds (default 0.75; STOI needs about 0.5 s)")
    sizes = parser.add_argument_group("test-set sizes (defaults keep `evaluate all` around 10-15 min on 2 CPU cores)")
    sizes.add_argument("--contents", type=int, default=4, help="clips of distinct content per monotonicity condition (default 4)")
    sizes.add_argument("--families", type=_csv_list, default=list(DEFAULT_MONOTONICITY_FAMILIES), help="monotonicity families")
    sizes.add_argument("--combinations", type=_csv_list, default=list(DEFAULT_COMBINATIONS), help="combined perturbations, e.g. white_noise+reverb")
    sizes.add_argument("--levels", type=_levels, default=list(DEFAULT_LEVELS), help="monotonicity levels (default 0.2,0.4,0.6,0.8)")
    sizes.add_argument("--groups", type=_csv_list, default=list(DEFAULT_GROUPS), help="acoustic groups as family:level or chains a:l+b:l (default: 10 groups)")
    sizes.add_argument("--files-per-group", type=int, default=21, help="files per acoustic group (MP@K needs K+1; default 21)")
    sizes.add_argument("--queries-per-group", type=int, default=2, help="retrieval queries per group; 0 = every file (default 2)")
    sizes.add_argument("--pairs", type=int, default=200, help="pairs per side of the common-area test (default 200)")
    sizes.add_argument("--bins", type=int, default=20, help="histogram bins of the common-area test (default 20)")
    energy = parser.add_argument_group("energy control (so that loudness alone cannot rank pairs or tell groups apart)")
    energy.add_argument("--gain-db", type=_gain_range, default=DEFAULT_CLIP_GAIN_DB, metavar="LOW,HIGH",
                        help="one random gain per clip, the same for both files of a pair (default -20,0; 0,0 = none)")
    energy.add_argument("--absolute-noise", action="store_true",
                        help="additive noise at the JND data's absolute amplitudes instead of an SNR to the clean clip")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)
    return parser


def _load_listening_files(paths, sample_rate: int) -> dict[Path, np.ndarray]:
    from metric.io import read_audio

    return {path: read_audio(path, sample_rate, mono=True)[0] for path in dict.fromkeys(paths)}


def _pair_clips(audio: dict, clips: dict, reference: Path, degraded: Path) -> tuple[str, str]:
    """Register a pair, both trimmed to the shorter one (sample-wise metrics need equal lengths)."""
    length = min(len(audio[reference]), len(audio[degraded]))
    ref_key, deg_key = f"{reference}@{length}", f"{degraded}@{length}"
    clips[ref_key] = audio[reference][:length]
    clips[deg_key] = audio[degraded][:length]
    return ref_key, deg_key


def run(args) -> int:
    from . import suite
    from .report import markdown_table, write_reports
    from .scorers import build_scorers
    from .testsets import build_acoustic_groups, build_monotonicity_set, load_clips
    from .threads import limit_blas_threads

    started = time.time()
    limit_blas_threads(1)  # thousands of tiny BLAS calls: threads only add overhead (see .threads)
    progress = not args.quiet
    protocols = [args.protocol] if args.protocol != "all" else ["monotonicity", "common-area", "retrieval"]
    if args.protocol == "all":
        protocols += (["2afc"] if args.triplets else []) + (["mos"] if args.mos else [])
    if "2afc" in protocols and not args.triplets:
        print("cdpam evaluate 2afc needs --triplets CSV (header reference,a,b,p_a); see docs/evaluation.md", file=sys.stderr)
        return 2
    if "mos" in protocols and not args.mos:
        print("cdpam evaluate mos needs --mos CSV (header reference,degraded,mos,speaker,condition); see docs/evaluation.md", file=sys.stderr)
        return 2
    try:
        scorers = build_scorers(args.metrics, args.weights, baselines=not args.no_baselines)
    except (ValueError, FileNotFoundError) as error:
        print(f"cdpam evaluate: {error}", file=sys.stderr)
        return 2
    print(f"metrics: {', '.join(s.name for s in scorers)}", file=sys.stderr)

    results = []
    try:
        if "monotonicity" in protocols:
            clips = load_clips(args.corpus, args.contents, args.seconds, args.sample_rate)
            test_set = build_monotonicity_set(clips, args.families, args.combinations, args.levels, args.sample_rate, args.seed, progress,
                                              gain_db=args.gain_db, relative_noise=not args.absolute_noise)
            print(f"monotonicity: {len(test_set.pairs)} pairs", file=sys.stderr)
            results.append(suite.run_monotonicity(scorers, test_set, progress))
        if "common-area" in protocols or "retrieval" in protocols:
            clips = load_clips(args.corpus, args.files_per_group, args.seconds, args.sample_rate)
            groups = build_acoustic_groups(clips, args.groups, args.sample_rate, args.seed, progress,
                                           gain_db=args.gain_db, relative_noise=not args.absolute_noise)
            if "common-area" in protocols:
                print(f"common area: {len(groups.keys)} files in {len(args.groups)} groups", file=sys.stderr)
                results.append(suite.run_common_area(scorers, groups, args.pairs, args.bins, args.seed, progress))
            if "retrieval" in protocols:
                print(f"retrieval: {len(groups.keys)} files in {len(args.groups)} groups", file=sys.stderr)
                per_group = args.queries_per_group or None
                results.append(suite.run_retrieval(scorers, groups, (10, 20), per_group, args.seed, progress))
        if "2afc" in protocols:
            from metric.data.triplets import read_triplets

            triplets = read_triplets(args.triplets)
            audio = _load_listening_files([p for t in triplets for p in (t.reference, t.a, t.b)], args.sample_rate)
            clips, keyed = {}, []
            for t in triplets:
                ref_a, a = _pair_clips(audio, clips, t.reference, t.a)
                ref_b, b = _pair_clips(audio, clips, t.reference, t.b)
                keyed.append((ref_a, a, ref_b, b, t.preference))
            results.append(suite.run_two_afc(scorers, clips, keyed, args.sample_rate, progress))
        if "mos" in protocols:
            from .mos import read_mos_csv

            ratings = read_mos_csv(args.mos)
            audio = _load_listening_files([p for r in ratings for p in (r.reference, r.degraded)], args.sample_rate)
            clips, keyed = {}, []
            for r in ratings:
                ref, deg = _pair_clips(audio, clips, r.reference, r.degraded)
                keyed.append((ref, deg, r.mos, r.speaker, r.condition))
            results.append(suite.run_mos(scorers, clips, keyed, args.sample_rate, progress))
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"cdpam evaluate: {error}", file=sys.stderr)
        return 1

    command = "cdpam evaluate " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["evaluate"] else ""
    written = write_reports(results, args.out, command, plots=not args.no_plots)
    print(markdown_table(results))
    print(f"wrote {written['json']} and {written['markdown']} ({len(written) - 2} plots) in {time.time() - started:.0f} s", file=sys.stderr)
    return 0

