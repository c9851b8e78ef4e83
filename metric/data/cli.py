"""``cdpam data``: perturbation families, perturbed datasets on disk, JND download checks.

What the user sees is :data:`DESCRIPTION` and :data:`EPILOG` (the examples).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from metric.extras import require

from . import CORPUS_KINDS

# The perturbation engine, the corpora and torch load only when a command runs (`--help` stays
# instant); a missing extra is still reported when the command is listed.
require("data", feature="`cdpam data`")

DEFAULT_LEVELS = (0.25, 0.5, 0.75, 1.0)

DESCRIPTION = """\
The perturbation families CDPAM is trained and evaluated on, perturbed copies of a corpus
written to disk with a manifest, and a check of a JND download against the shipped label
files. Run `cdpam data COMMAND --help` for the options of each command."""

EPILOG = """\
examples:
  cdpam data families                       # every family and its level mapping
  cdpam data build --toy --output runs/perturbed --families reverb mp3 --levels 0.25 0.5 1
  cdpam data build --input ~/LibriSpeech/dev-clean --layout librispeech --limit 200 \\
      --chain "reverb:0.4+mp3:0.5" --sample-rate 22050 --output runs/libri_perturbed
  cdpam data check-jnd --root ~/jnd_audio   # are all files of the JND label files there?"""


def _toy_utterances(split: str, sample_rate: int):
    from metric.data import toy

    try:
        # the corpus ships at 16 and 22.05 kHz; other rates are resampled from 16 kHz on load
        return toy.utterances(split, sample_rate=22050 if sample_rate == 22050 else 16000)
    except toy.ToyCorpusMissingError as error:
        raise SystemExit(f"{error} Here: --input DIR instead of --toy.") from None


def _babble_sources(sample_rate: int) -> list[str]:
    """Babble is mixed from the toy corpus's training speech, whatever corpus is perturbed."""
    try:
        from metric.data import toy

        return toy.babble_sources(sample_rate)
    except FileNotFoundError as error:
        raise SystemExit(f"babble needs the embedded toy corpus's speech ({error})") from None


def _families(args) -> list[str]:
    from metric.perturb import FAMILIES, NEEDS_OPTIONS

    if args.families:
        unknown = [f for f in args.families if f not in FAMILIES]
        if unknown:
            raise SystemExit(f"unknown families: {', '.join(unknown)}. Known: {', '.join(FAMILIES)}")
        if "noise_file" in args.families and not args.noise_files:
            raise SystemExit("the noise_file family needs --noise-files FILE [FILE ...]")
        return list(args.families)
    if args.chain:
        return []  # only the chains were asked for
    return [f for f in FAMILIES if f not in NEEDS_OPTIONS or args.noise_files]


def run_build(args) -> int:
    from .build import build_perturbed_dataset, conditions_for
    from .corpora import load_corpus

    if bool(args.input) == bool(args.toy):
        raise SystemExit("give exactly one of --input DIR or --toy")
    if args.toy:
        utterances = _toy_utterances(args.toy_split, args.sample_rate)
    else:
        utterances = load_corpus(args.layout, args.input)
    if args.limit:
        utterances = list(utterances)[: args.limit]
    levels = [float(v) for v in args.levels]
    bad = [v for v in levels if not 0.0 <= v <= 1.0]
    if bad:
        raise SystemExit(f"levels must be in [0, 1], got {bad}")
    families = _families(args)
    options = {"noise_file": {"noise_files": [str(p) for p in args.noise_files]}} if args.noise_files else {}
    if "babble" in families or any("babble" in chain for chain in args.chain or []):
        options["babble"] = {"sources": _babble_sources(args.sample_rate)}
    conditions = conditions_for(families, levels, args.chain or [], options)
    if not conditions:
        raise SystemExit("nothing to do: give --families and/or --chain")
    print(f"{len(utterances)} utterances x {len(conditions)} conditions -> {args.output}", file=sys.stderr)
    manifest = build_perturbed_dataset(
        utterances, args.output, conditions, sample_rate=args.sample_rate, seed=args.seed,
        segment_seconds=args.segment_seconds, seed_per_utterance=args.seed_per_utterance,
        subtype="FLOAT" if args.float else "PCM_16", overwrite=args.overwrite, progress=not args.quiet,
    )
    print(f"manifest: {manifest}")
    return 0


def run_families(args) -> int:
    from metric.perturb import FAMILIES, describe, level_mapping

    for family in FAMILIES:
        example = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in describe(family, 0.5, args.sample_rate).items())
        print(f"{family:<12} {level_mapping(family)}")
        print(f"{'':<12} level 0.5 at {args.sample_rate} Hz: {example}")
    return 0


def run_check_jnd(args) -> int:
    from .jnd import missing_files, read_jnd_labels

    pairs = read_jnd_labels(args.subsets)
    missing = missing_files(args.root, pairs)
    total = len({p.reference for p in pairs} | {p.perturbed for p in pairs})
    print(f"{len(pairs)} judgments naming {total} files; {total - len(missing)} found under {args.root}")
    for path in missing[: args.show]:
        print(f"missing: {path}")
    if len(missing) > args.show:
        print(f"... and {len(missing) - args.show} more missing")
    return 1 if missing else 0


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="perturbation families, perturbed datasets, JND checks",
                                 description=DESCRIPTION, epilog=EPILOG)
    commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])

    build = commands.add_parser(
        "build", help="write a perturbed copy of a corpus plus manifest.csv",
        description="Write a perturbed copy of a corpus (every chosen family at every level, and any chains) "
        "plus manifest.csv. An interrupted build resumes where it stopped.",
        epilog="examples:\n"
        "  cdpam data build --toy --output runs/perturbed --families reverb mp3 --levels 0.25 0.5 1\n"
        "  cdpam data build --input ~/LibriSpeech/dev-clean --layout librispeech --limit 200 \\\n"
        "      --chain \"reverb:0.4+mp3:0.5\" --sample-rate 22050 --output runs/libri_perturbed",
    )
    source = build.add_argument_group("input (one of)")
    source.add_argument("--input", type=Path, help="corpus folder")
    source.add_argument("--layout", choices=CORPUS_KINDS, default="folder", help="layout of --input (default: any audio folder)")
    source.add_argument("--toy", action="store_true", help="use the embedded toy corpus")
    source.add_argument("--toy-split", default="test", choices=("train", "valid", "test"))
    build.add_argument("--output", type=Path, required=True, help="output folder (created)")
    build.add_argument("--families", nargs="*", help="families (default: all; noise_file only with --noise-files)")
    build.add_argument("--levels", nargs="*", default=list(DEFAULT_LEVELS), help="levels in [0, 1] for every family")
    build.add_argument("--chain", action="append", help="a chain like 'reverb:0.4+mp3:0.5' (repeatable)")
    build.add_argument("--noise-files", nargs="*", type=Path, default=[], help="recordings for the noise_file family")
    build.add_argument("--sample-rate", type=int, default=16000)
    build.add_argument("--segment-seconds", type=float, help="keep only the first N seconds of each utterance")
    build.add_argument("--limit", type=int, help="use only the first N utterances")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--seed-per-utterance", action="store_true",
                       help="new perturbation draw per file (default: one per condition, shared by its files)")
    build.add_argument("--float", action="store_true", help="write 32-bit float wav instead of 16-bit PCM")
    build.add_argument("--overwrite", action="store_true", help="rewrite existing files (default: resume)")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.set_defaults(func=run_build)

    families = commands.add_parser(
        "families", help="list the perturbation families and their level mappings",
        description="List every perturbation family, how its level in [0, 1] maps to physical parameters, "
        "and the parameters at level 0.5.",
        epilog="example:\n  cdpam data families --sample-rate 22050",
    )
    families.add_argument("--sample-rate", type=int, default=16000)
    families.set_defaults(func=run_families)

    check = commands.add_parser(
        "check-jnd", help="check a JND audio download against the shipped label files",
        description="Check that every file the shipped JND label files name is present under --root "
        "(the folder the JND audio was unzipped into); exit code 1 when any is missing.",
        epilog="example:\n  cdpam data check-jnd --root ~/jnd_audio",
    )
    check.add_argument("--root", type=Path, required=True, help="folder the JND audio was unzipped into")
    check.add_argument("--subsets", nargs="*", default=["combined", "linear", "reverb", "eq"])
    check.add_argument("--show", type=int, default=20, help="how many missing files to list")
    check.set_defaults(func=run_check_jnd)
