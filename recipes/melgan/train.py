#!/usr/bin/env python
"""Train MelGAN or MelGAN+CDPAM (Hydra entry point).

    python recipes/melgan/train.py                                   # toy corpus, MelGAN
    python recipes/melgan/train.py variant=melgan_cdpam              # + CDPAM term
    python recipes/melgan/train.py data=ljspeech model=paper train=paper
    torchrun --nproc_per_node 2 recipes/melgan/train.py data=ljspeech model=paper train=paper

Re-running the same command resumes from ``<exp_dir>/checkpoints/last.pt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))

from melgan.trainer import train  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
