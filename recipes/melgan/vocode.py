#!/usr/bin/env python
"""Turn audio or log-mel files into waveforms with a trained MelGAN generator.

    python vocode.py --checkpoint exp/toy/melgan/generator.pt \
        --input FILE_OR_DIR --out-dir DIR

Inputs (a file, or every *.wav / *.flac / *.npy in a directory):
* audio (.wav, .flac): mixed to mono, resampled to the generator's rate (22,050 Hz),
  analysed with the generator's log-mel front end, then re-synthesised (copy synthesis);
* log-mel arrays (.npy): float arrays of shape [n_mels, frames] = [80, frames] holding
  log10 mel magnitudes from the same front end (n_fft 1024, hop 256, window 1024,
  Slaney mel filters 0..11,025 Hz, floor 1e-5), e.g. ``melgan.mel.LogMelSpectrogram``.

Each input gives DIR/<name>.wav (16-bit PCM) with frames x 256 samples.
--checkpoint takes an exported generator.pt or a training checkpoint (checkpoints/last.pt).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from melgan.checkpoint import load_generator
from melgan.data import load_audio
from melgan.mel import LogMelSpectrogram

AUDIO_SUFFIXES = {".wav", ".flac"}
MEL_SUFFIX = ".npy"


def collect_inputs(path: Path) -> list[Path]:
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES | {MEL_SUFFIX})
    else:
        raise FileNotFoundError(f"--input {path} does not exist.")
    unsupported = [p for p in files if p.suffix.lower() not in AUDIO_SUFFIXES | {MEL_SUFFIX}]
    if unsupported:
        raise ValueError(f"Cannot vocode {unsupported[0]}: expected .wav, .flac (audio) or .npy ([80, frames] log-mel).")
    if not files:
        raise FileNotFoundError(f"No .wav, .flac or .npy files in {path}.")
    return files


def load_mel(path: Path, n_mels: int) -> torch.Tensor:
    mel = np.load(path, allow_pickle=False)
    if mel.ndim == 3 and mel.shape[0] == 1:
        mel = mel[0]
    if mel.ndim != 2 or mel.shape[0] != n_mels:
        raise ValueError(
            f"{path} holds an array of shape {mel.shape}; expected [n_mels={n_mels}, frames] log10 mel magnitudes "
            "(transpose a [frames, n_mels] array first)."
        )
    if not np.isfinite(mel).all():
        raise ValueError(f"{path} contains NaN or infinite values.")
    return torch.from_numpy(mel.astype(np.float32))[None]


@torch.no_grad()
def vocode_file(path: Path, generator, front_end: LogMelSpectrogram) -> np.ndarray:
    if path.suffix.lower() == MEL_SUFFIX:
        mel = load_mel(path, generator.config.n_mels)
    else:
        audio = load_audio(path, front_end.config.sample_rate)
        mel = front_end(torch.from_numpy(audio)[None])
    return generator(mel)[0, 0].numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="generator.pt or checkpoints/last.pt")
    parser.add_argument("--input", type=Path, required=True, help="a .wav/.flac/.npy file or a directory of them")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    generator, mel_config, step = load_generator(args.checkpoint)
    front_end = LogMelSpectrogram(mel_config)
    files = collect_inputs(args.input)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for path in tqdm(files, desc="vocode", unit="file"):
        waveform = vocode_file(path, generator, front_end)
        sf.write(str(args.out_dir / f"{path.stem}.wav"), np.clip(waveform, -1, 1), mel_config.sample_rate, subtype="PCM_16")
    print(f"Vocoded {len(files)} file(s) with the step-{step} generator into {args.out_dir}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
