"""Enhance a folder of noisy wav files with a trained DEMUCS of this recipe.

    cd recipes/demucs
    python enhance.py --checkpoint exp/toy/baseline/model.pt --noisy-dir noisy/ --out-dir enhanced/

Every ``*.wav`` directly in ``--noisy-dir`` (any sample rate; multi-channel files are
averaged to mono) is resampled to 16 kHz, enhanced, and written as a 16 kHz, 16-bit wav
with the same file name in ``--out-dir``. ``--checkpoint`` takes the ``model.pt`` a
training run exports or one of its Lightning ``.ckpt`` files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from demucs.inference import enhance_waveform, load_model
from metric import read_audio


def enhance_folder(checkpoint: str | Path, noisy_dir: str | Path, out_dir: str | Path, progress: bool = True) -> list[Path]:
    """Enhance every ``*.wav`` in ``noisy_dir`` into ``out_dir`` (same names); returns the written paths."""
    noisy_dir, out_dir = Path(noisy_dir), Path(out_dir)
    files = sorted(p for p in noisy_dir.iterdir() if p.is_file() and p.suffix.lower() == ".wav") if noisy_dir.is_dir() else []
    if not files:
        raise FileNotFoundError(f"No .wav files in {noisy_dir}.")
    if out_dir.resolve() == noisy_dir.resolve():
        raise ValueError("--out-dir must differ from --noisy-dir (the inputs would be overwritten).")
    model = load_model(checkpoint).eval()
    rate = model.config.sample_rate
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in tqdm(files, desc="enhance", unit="file", disable=not progress):
        noisy, _ = read_audio(path, rate, mono=True)
        target = out_dir / path.name
        sf.write(str(target), enhance_waveform(model, noisy), rate, subtype="PCM_16")
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="model.pt (or .ckpt) written by train.py")
    parser.add_argument("--noisy-dir", required=True, help="folder of noisy .wav files")
    parser.add_argument("--out-dir", required=True, help="where the enhanced 16 kHz .wav files go")
    args = parser.parse_args(argv)
    written = enhance_folder(args.checkpoint, args.noisy_dir, args.out_dir)
    print(f"Enhanced {len(written)} files into {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
