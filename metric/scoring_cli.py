"""``cdpam score``: distances between files, or a reference folder and one or more systems' folders.

The work is :func:`metric.score_folders` (:mod:`metric.scoring`); this module parses the
options, prints or writes the table, and reports. Unreadable, truncated or unpaired files
are reported one by one with the reason; they do not stop the run, but the exit code is 1
when any pair failed (2 for a usage error). torch and the model are imported only when a
command runs, so ``--help`` answers at once.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

SHOWN_FAILURES = 20

DESCRIPTION = """\
Print the CDPAM distance between REFERENCE and each ESTIMATE (0 = identical, larger = more
different). Folders are paired by relative file name (extension ignored); several estimate
folders are several systems, one distance column each, the references encoded once. Audio at
any sample rate is resampled to 22,050 Hz; WAV/FLAC/OGG/MP3 are read with soundfile, other
formats with ffmpeg when it is installed. Loader workers read and resample in the background
and, on a CPU, run the network; pairs of similar length are batched, each scoring exactly as
alone. Under `torchrun --nproc_per_node=N -m metric.cli score ...` the processes share the
pairs and rank 0 writes one result."""

EPILOG = """\
examples:
  cdpam score clean.wav enhanced.wav
  cdpam score clean_dir/ enhanced_dir/ --csv -o scores.csv
  cdpam score clean/ sysA/ sysB/ --csv -o scores.csv --resume --stats
  cdpam score --demo                        # the bundled example clips"""


def sample_audio_dir() -> Path:
    """The official example clips shipped with the package (ref.wav, 2.wav, 4.wav; 22,050 Hz)."""
    return Path(str(resources.files("metric") / "assets" / "sample_audio"))


def _output_format(args) -> str:
    from .scoring.output import format_from_suffix

    for fmt in ("json", "csv", "jsonl"):
        if getattr(args, fmt):
            return fmt
    return format_from_suffix(args.output)


def _report_failures(table) -> None:
    failures = [
        (record["reference"] or "-", record["estimate" + c[len("error") :]] or "-", record[c])
        for record in table
        for c in table.columns
        if c.startswith("error") and record[c] is not None
    ]
    for reference, estimate, error in failures[:SHOWN_FAILURES]:
        print(f"cdpam score: FAILED {reference} vs {estimate}: {error}", file=sys.stderr)
    if len(failures) > SHOWN_FAILURES:
        print(f"cdpam score: ... and {len(failures) - SHOWN_FAILURES} more failures (see the error column)", file=sys.stderr)


def run(args) -> int:
    from .scoring.corpus import ScoringInputError
    from .scoring.engine import score_folders
    from .scoring.output import INCREMENTAL_FORMATS, ResumeError, render
    from .extras import MissingExtraError, require
    from .scoring.statistics import HISTOGRAM_FEATURE, STATISTICS_FEATURE, format_summary, save_histogram, summarize
    from .weights import WeightsError

    if args.demo:
        clips = sample_audio_dir()
        reference, estimates = clips / "ref.wav", [clips / "2.wav", clips / "4.wav"]
    elif args.reference is None or not args.estimates:
        print("cdpam score: give REFERENCE and ESTIMATE (files or folders; several estimate folders for several "
              "systems), or --demo", file=sys.stderr)
        return 2
    else:
        reference, estimates = args.reference, args.estimates
    fmt = _output_format(args)
    incremental = args.output is not None and fmt in INCREMENTAL_FORMATS
    if args.resume and not incremental:
        print("cdpam score: --resume continues a CSV or JSONL file: give -o FILE with --csv or --jsonl", file=sys.stderr)
        return 2
    try:  # before hours of scoring, not after
        if args.stats:
            require("eval", "scipy", feature=STATISTICS_FEATURE)
        if args.histogram:
            require("eval", "matplotlib", feature=HISTOGRAM_FEATURE)
    except MissingExtraError as error:
        print(f"cdpam score: {error}", file=sys.stderr)
        return 2
    try:
        table = score_folders(
            reference, estimates, weights=args.weights, channels=args.channels, trim=args.trim, device=args.device,
            workers=args.workers, threads=args.threads,
            batch_seconds=args.batch_seconds,
            output=args.output if incremental else None, output_format=fmt if incremental else None,
            resume=args.resume, progress=not args.quiet,
        )
    except (ScoringInputError, ResumeError, WeightsError) as error:
        print(f"cdpam score: {error}", file=sys.stderr)
        return 2
    shard = table.shard
    if shard.world > 1 and not args.quiet:
        print(f"cdpam score: process {shard.rank} of {shard.world} scored {shard.batches} of {shard.of} batches",
              file=sys.stderr)
    if shard.rank != 0:
        return 1 if table.failed else 0  # rank 0 reports for every process
    statistics = summarize(list(table), table.systems) if args.stats else None
    if not incremental:
        text = render(list(table), fmt, table.columns, table.systems,
                      extra={"statistics": statistics} if statistics and fmt == "json" else None)
        if args.output:
            from .atomic import atomic_write_bytes

            atomic_write_bytes(args.output, lambda handle: handle.write(text.encode()))
        else:
            sys.stdout.write(text)
    if statistics:
        print(format_summary(statistics), file=sys.stderr)
    if args.histogram:
        print(f"cdpam score: histogram in {save_histogram(list(table), table.systems, args.histogram)}", file=sys.stderr)
    _report_failures(table)
    if not args.quiet:
        print(f"cdpam score: {table.totals.summary()}", file=sys.stderr)
    return 1 if table.failed else 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "score",
        help="CDPAM distance between audio files, or a reference folder and systems' folders",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument("reference", nargs="?", help="reference (clean) file or folder")
    parser.add_argument("estimates", nargs="*", metavar="estimate",
                        help="estimate (processed) file(s), or one folder per system")
    parser.add_argument("--demo", action="store_true", help="score the bundled official example clips")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="JSON (per-row results, pairs, failures, mean)")
    output.add_argument("--csv", action="store_true", help="CSV: reference, estimate, distance, error (per system)")
    output.add_argument("--jsonl", action="store_true", help="JSON lines, one row each")
    parser.add_argument("-o", "--output",
                        help="write the table here instead of stdout (CSV and JSONL batch by batch, crash-safe); "
                             "the format follows the suffix when no format flag is given")
    parser.add_argument("--resume", action="store_true",
                        help="continue the -o CSV/JSONL file of a killed run: skip the pairs it holds")
    parser.add_argument("--weights", default="official", help="'official' (default), 'lite' (the distilled CDPAM-lite: an approximation at about 1/55 of the encoder FLOPs; docs/lite.md) or a checkpoint trained with cdpam train")
    parser.add_argument(
        "--channels", choices=("mean", "first", "error"), default="mean",
        help="how to treat multi-channel files: downmix (default), first channel, or refuse",
    )
    parser.add_argument("--trim", action="store_true", help="score the common part when lengths differ (default: report an error)")
    parser.add_argument("--device", default="auto",
                        help="auto (default: this process's GPU if any, else cpu), cpu, cuda, cuda:1, ...")
    parser.add_argument("--workers", type=int, default=None,
                        help="loader processes; on a CPU each also runs the network (default: one per core; "
                             "0 = all in this process); on a GPU they read and resample (default: up to 4)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per process running the network (default: cores / workers, i.e. 1 per worker)")
    parser.add_argument("--batch-seconds", type=float, default=None,
                        help="padded seconds of audio per batch (default: 4 on a CPU, 60 on a GPU)")
    parser.add_argument("--stats", action="store_true",
                        help="per-system mean (95%% CI), median and central 95%% range, on stderr (and in --json)")
    parser.add_argument("--histogram", metavar="PNG", help="save a histogram of the distances per system (needs matplotlib)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display and no summary line")
    parser.set_defaults(func=run)
