#!/usr/bin/env python
"""Stage 3: evaluate trained generators on held-out utterances.

    python evaluate.py --manifest data/toy/test.jsonl \
        --model melgan=exp/toy/melgan/generator.pt \
        --model melgan_cdpam=exp/toy/melgan_cdpam/generator.pt \
        --out-dir exp/toy/evaluation [--max-utterances 8] [--max-seconds 4]

Writes results.json, results.md, audio/ and spectrograms.png into --out-dir.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from melgan.data import read_manifest
from melgan.evaluation import evaluate
from melgan.metrics import MEASURES


def _model(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"--model expects NAME=CHECKPOINT, got {text!r}")
    return name, path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, required=True, help="test manifest (JSON Lines)")
    parser.add_argument("--model", type=_model, action="append", required=True, help="NAME=CHECKPOINT (repeatable)")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--max-utterances", type=int, default=None)
    parser.add_argument("--max-seconds", type=float, default=None, help="score only the first N seconds of each utterance")
    parser.add_argument("--measures", nargs="+", default=list(MEASURES), choices=list(MEASURES))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core machine)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    result = evaluate(
        dict(args.model),
        read_manifest(args.manifest),
        args.out_dir,
        max_utterances=args.max_utterances,
        max_seconds=args.max_seconds,
        measures=tuple(args.measures),
    )
    print((args.out_dir / "results.md").read_text())
    print(f"Wrote {args.out_dir}/results.json, audio/ and spectrograms.png ({result['utterances']} utterances).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
