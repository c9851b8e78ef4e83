"""``cdpam score``: distances between two files, or two folders paired by file name.

Unreadable, truncated or unpaired files are reported one by one with the
reason; they do not stop the run, but the exit code is 1 when any pair failed.

`cdpam --help` and `cdpam score --help` import this module, so it imports nothing heavy at
module level: NumPy, torch and the readers load when a command runs.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch

DESCRIPTION = """\
Print the CDPAM distance between REFERENCE and ESTIMATE (0 = identical, larger = more
different). Two folders are paired by relative file name (extension ignored) and scored pair by
pair. Audio at any sample rate is resampled to 22,050 Hz; WAV/FLAC/OGG/MP3 are read with
soundfile, other formats with ffmpeg when it is installed."""

EPILOG = """\
examples:
  cdpam score clean.wav enhanced.wav
  cdpam score clean_dir/ enhanced_dir/ --csv -o scores.csv
  cdpam score --demo                        # the bundled example clips"""


@dataclass
class PairResult:
    reference: str
    estimate: str
    distance: float | None = None
    error: str | None = None


def sample_audio_dir() -> Path:
    """The official example clips shipped with the package (ref.wav, 2.wav, 4.wav; 22,050 Hz)."""
    return Path(str(resources.files("metric") / "assets" / "sample_audio"))


def _audio_files(folder: Path) -> dict[str, Path]:
    from .io import AUDIO_SUFFIXES

    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
            files[str(path.relative_to(folder).with_suffix(""))] = path
    return files


def pair_paths(reference: Path, estimate: Path) -> tuple[list[tuple[Path, Path]], list[PairResult]]:
    """Pairs to score, plus the files that have no partner (as failures)."""
    if reference.is_file() and estimate.is_file():
        return [(reference, estimate)], []
    if reference.is_dir() and estimate.is_dir():
        refs, ests = _audio_files(reference), _audio_files(estimate)
        pairs = [(refs[key], ests[key]) for key in refs if key in ests]
        unpaired = [PairResult(str(refs[k]), "", error="no file of that name in the estimate folder") for k in refs if k not in ests]
        unpaired += [PairResult("", str(ests[k]), error="no file of that name in the reference folder") for k in ests if k not in refs]
        return pairs, unpaired
    for path in (reference, estimate):
        if not path.exists():
            raise SystemExit(f"cdpam score: {path} does not exist")
    raise SystemExit("cdpam score: give two files or two folders (not one of each)")


def _to_mono(samples: np.ndarray, channels: str, path: Path) -> np.ndarray:
    from .audio import AudioInputError

    if samples.shape[0] == 1:
        return samples[0]
    if channels == "mean":
        return samples.mean(axis=0)
    if channels == "first":
        return samples[0]
    raise AudioInputError(f"{path} has {samples.shape[0]} channels; pass --channels mean or --channels first")


def score_pair(metric, ref_path: Path, est_path: Path, args) -> PairResult:
    import torch

    from .audio import AudioInputError
    from .io import AudioFileError, read_audio
    from .weights import WeightsError

    result = PairResult(str(ref_path), str(est_path))
    try:
        ref, ref_rate = read_audio(ref_path)
        est, est_rate = read_audio(est_path)
        if ref_rate != est_rate:
            raise AudioInputError(f"sample rates differ ({ref_rate} vs {est_rate} Hz); resample one of the files")
        ref, est = _to_mono(ref, args.channels, ref_path), _to_mono(est, args.channels, est_path)
        if ref.shape[-1] != est.shape[-1]:
            if not args.trim:
                raise AudioInputError(
                    f"lengths differ ({ref.shape[-1]} vs {est.shape[-1]} samples); pass --trim to score the common part"
                )
            common = min(ref.shape[-1], est.shape[-1])
            ref, est = ref[:common], est[:common]
        with torch.inference_mode():
            distance = metric(ref, est, ref_rate)
        result.distance = float(distance[0])
    except (AudioFileError, AudioInputError) as error:
        result.error = str(error)
    except WeightsError:
        raise
    except Exception as error:  # one odd file must not end a folder run; report it with its type
        result.error = f"unexpected {type(error).__name__}: {error}"
    return result


def _make_metric(args):
    import numpy as np
    import torch

    from .functional import cdpam_distance

    device = torch.device(args.device)

    def metric(ref: np.ndarray, est: np.ndarray, rate: int) -> torch.Tensor:
        ref_t = torch.from_numpy(np.ascontiguousarray(ref)).to(device)
        est_t = torch.from_numpy(np.ascontiguousarray(est)).to(device)
        return cdpam_distance(ref_t, est_t, rate, weights=args.weights)

    return metric


def _summary(results: list[PairResult]) -> dict:
    import numpy as np

    scored = [r.distance for r in results if r.distance is not None]
    return {
        "pairs": len(scored),
        "failed": sum(r.error is not None for r in results),
        "mean": float(np.mean(scored)) if scored else math.nan,
    }


def format_results(results: list[PairResult], fmt: str) -> str:
    summary = _summary(results)
    if fmt == "json":
        return json.dumps({"results": [asdict(r) for r in results], **summary}, indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["reference", "estimate", "distance", "error"])
        for r in results:
            writer.writerow([r.reference, r.estimate, "" if r.distance is None else f"{r.distance:.6f}", r.error or ""])
        return buffer.getvalue().rstrip("\n")
    lines = []
    for r in results:
        if r.distance is not None:
            lines.append(f"{r.distance:.6f}  {r.reference}  {r.estimate}")
    lines.append(f"mean CDPAM distance over {summary['pairs']} pair(s): {summary['mean']:.6f}")
    return "\n".join(lines)


def run(args) -> int:
    from .weights import WeightsError

    if args.demo:
        clips = sample_audio_dir()
        pairs, unpaired = [(clips / "ref.wav", clips / "2.wav"), (clips / "ref.wav", clips / "4.wav")], []
    else:
        if args.reference is None or args.estimate is None:
            raise SystemExit("cdpam score: give REFERENCE and ESTIMATE (files or folders), or --demo")
        pairs, unpaired = pair_paths(Path(args.reference), Path(args.estimate))
    try:
        metric = _make_metric(args)
    except WeightsError as error:
        print(f"cdpam score: {error}", file=sys.stderr)
        return 2
    results = list(unpaired)
    progress = None
    if len(pairs) > 1 and not args.quiet:
        from tqdm import tqdm

        progress = tqdm(total=len(pairs), desc="scoring", unit="pair", file=sys.stderr)
    try:
        for ref_path, est_path in pairs:
            results.append(score_pair(metric, ref_path, est_path, args))
            if progress:
                progress.update()
    except WeightsError as error:
        print(f"cdpam score: {error}", file=sys.stderr)
        return 2
    finally:
        if progress:
            progress.close()
    fmt = "json" if args.json else "csv" if args.csv else "text"
    text = format_results(results, fmt)
    if args.output:
        Path(args.output).write_text(text + "\n")
    else:
        print(text)
    failures = [r for r in results if r.error is not None]
    for r in failures:
        print(f"cdpam score: FAILED {r.reference or '-'} vs {r.estimate or '-'}: {r.error}", file=sys.stderr)
    return 1 if failures else 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "score",
        help="CDPAM distance between two audio files or two folders",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument("reference", nargs="?", help="reference (clean) file or folder")
    parser.add_argument("estimate", nargs="?", help="estimate (processed) file or folder")
    parser.add_argument("--demo", action="store_true", help="score the bundled official example clips")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON (per-pair results, mean, failures)")
    output.add_argument("--csv", action="store_true", help="print CSV (reference, estimate, distance, error)")
    parser.add_argument("-o", "--output", help="write the result to this file instead of stdout")
    parser.add_argument("--weights", default="official", help="'official' (default), 'lite' (the distilled CDPAM-lite: about 50x cheaper, an approximation; docs/lite.md) or a checkpoint trained with cdpam train")
    parser.add_argument(
        "--channels", choices=("mean", "first", "error"), default="mean",
        help="how to treat multi-channel files: downmix (default), first channel, or refuse",
    )
    parser.add_argument("--trim", action="store_true", help="score the common part when lengths differ (default: report an error)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
