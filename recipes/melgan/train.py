#!/usr/bin/env python
"""Train MelGAN or MelGAN+CDPAM (Hydra entry point).

    python train.py                                   # toy corpus, MelGAN
    python train.py variant=melgan_cdpam              # + CDPAM term
    python train.py data=ljspeech model=paper train=paper
    torchrun --nproc_per_node 2 recipes/melgan/train.py data=ljspeech model=paper train=paper

Re-running the same command resumes from ``<exp_dir>/checkpoints/last.pt``.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from melgan.trainer import train


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
