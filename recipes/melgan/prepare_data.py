#!/usr/bin/env python
"""Stage 0: write train/valid/test manifests for the toy corpus, LJSpeech-1.1 or VCTK-0.92.

    python prepare_data.py toy --out-dir data/toy
    python prepare_data.py ljspeech --root /data/LJSpeech-1.1 --out-dir data/ljspeech
    python prepare_data.py vctk --root /data/VCTK-Corpus-0.92 --out-dir data/vctk \
        [--test-speakers p360 p361 p362 p363]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from melgan.data import prepare_ljspeech, prepare_toy, prepare_vctk, read_manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", choices=["toy", "ljspeech", "vctk"])
    parser.add_argument("--root", type=Path, help="corpus folder (LJSpeech-1.1/ or VCTK-Corpus-0.92/)")
    parser.add_argument("--out-dir", type=Path, required=True, help="where the manifests go")
    parser.add_argument("--n-valid", type=int, default=50, help="validation utterances (LJSpeech, VCTK)")
    parser.add_argument("--n-test", type=int, default=100, help="test utterances (LJSpeech)")
    parser.add_argument("--test-speakers", nargs="*", help="held-out VCTK speakers (default: the last --n-test-speakers ids)")
    parser.add_argument("--n-test-speakers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.corpus != "toy" and args.root is None:
        parser.error(f"--root is required for {args.corpus}")
    if args.corpus == "toy":
        paths = prepare_toy(args.out_dir)
    elif args.corpus == "ljspeech":
        paths = prepare_ljspeech(args.root, args.out_dir, n_valid=args.n_valid, n_test=args.n_test, seed=args.seed)
    else:
        paths = prepare_vctk(
            args.root,
            args.out_dir,
            test_speakers=args.test_speakers or None,
            n_test_speakers=args.n_test_speakers,
            n_valid=args.n_valid,
            seed=args.seed,
        )
    for split, path in paths.items():
        entries = read_manifest(path)
        hours = sum(e["num_samples"] / e["sample_rate"] for e in entries) / 3600
        speakers = len({e["speaker"] for e in entries})
        print(f"{split:5s} {len(entries):6d} utterances  {hours:7.3f} h  {speakers:4d} speakers  -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
