"""Stage 0: noisy/clean manifests for the DEMUCS recipe.

    python prepare_data.py --data toy --out-dir data/toy
    python prepare_data.py --data valentini --path /corpora/valentini --out-dir data/valentini
    python prepare_data.py --data dns --path /corpora/DNS-Challenge --out-dir data/dns

Writes ``train``/``valid``/``test`` (DNS also ``test_reverb``) as ``.json`` and ``.csv``
manifests (format: ``recipes/common/enhancement_manifests.py``), resampling to 16 kHz where needed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from recipes.common.enhancement_manifests import (  # noqa: E402
    pairs_to_entries,
    prepare_dns,
    prepare_valentini,
    write_manifest,
)

SAMPLE_RATE = 16_000


def prepare_toy(out_dir: str | Path, sample_rate: int = SAMPLE_RATE) -> dict[str, Path]:
    """Manifests for the toy corpus embedded in the package (``metric.data.toy``)."""
    from metric.data.toy import enhancement_pairs

    out_dir = Path(out_dir)

    def triples(split: str) -> list[tuple[str, Path, Path]]:
        return [(Path(noisy).stem, Path(noisy), Path(clean)) for noisy, clean in enhancement_pairs(split)]

    splits = {split: triples(split) for split in ("train", "valid", "test")}
    written = {}
    for split, pairs in splits.items():
        written[split] = write_manifest(pairs_to_entries(pairs, out_dir, split, sample_rate, f"toy {split}"), out_dir, split)
    return written


def prepare(data: str, out_dir: str | Path, path: str | Path | None = None) -> dict[str, Path]:
    if data == "toy":
        return prepare_toy(out_dir)
    if path is None:
        raise ValueError(f"data={data} needs the corpus folder: pass path=/where/the/{data}/corpus/is.")
    if data == "valentini":
        return prepare_valentini(path, out_dir, SAMPLE_RATE)
    if data == "dns":
        return prepare_dns(path, out_dir, SAMPLE_RATE)
    raise ValueError(f"Unknown data={data!r}: choose toy, valentini or dns.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("toy", "valentini", "dns"), default="toy")
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
