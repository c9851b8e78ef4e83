"""Stage 0: noisy/clean manifests for the DEMUCS recipe.

    python prepare_data.py --data toy --out-dir data/toy
    python prepare_data.py --data valentini --path /corpora/valentini --out-dir data/valentini
    python prepare_data.py --data dns --path /corpora/DNS-Challenge --out-dir data/dns

Writes ``train``/``valid``/``test`` (DNS also ``test_reverb``) as ``.json`` and ``.csv``
manifests (``metric.prepare_enhancement_data``), resampling to 16 kHz where needed. For the toy
corpus it also builds ``test_large`` (``metric.prepare_toy_test_set``): its 15 test utterances
under 4 of 54 noise conditions each (9 noise kinds, 4 of them absent from training, at −5 to
20 dB SNR), 60 pairs generated from a fixed seed; the variant comparison (``compare.sh``) is
tested on it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from metric import prepare_enhancement_data, prepare_toy_test_set

SAMPLE_RATE = 16_000
CORPORA = ("toy", "valentini", "dns")


def prepare(data: str, out_dir: str | Path, path: str | Path | None = None) -> dict[str, Path]:
    if data not in CORPORA:
        raise ValueError(f"Unknown data={data!r}: choose toy, valentini or dns.")
    if data != "toy" and path is None:
        raise ValueError(f"data={data} needs the corpus folder: pass path=/where/the/{data}/corpus/is.")
    written = prepare_enhancement_data(data, out_dir, path, SAMPLE_RATE)
    if data == "toy":
        written["test_large"] = prepare_toy_test_set(out_dir, SAMPLE_RATE)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=CORPORA, default="toy")
    parser.add_argument("--path", help="corpus root (valentini, dns)")
    parser.add_argument("--out-dir", required=True, help="where the manifests (and resampled audio) go")
    args = parser.parse_args(argv)
    written = prepare(args.data, args.out_dir, args.path)
    for split, manifest in written.items():
        count = len(json.loads(Path(manifest).read_text()))
        print(f"{split}: {count} pairs -> {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
