"""Train one DEMUCS variant (baseline | cdpam | finetune) with Asteroid's System on Lightning.

    cd recipes/demucs
    python train.py                                  # toy data, small model, L1 + MRSTFT
    python train.py loss=cdpam                       # DEMUCS+CDPAM from scratch
    python train.py loss=finetune                    # Finetune-CDPAM from exp/toy/baseline/model.pt
    python train.py data=valentini model=paper trainer.devices=2 trainer.strategy=ddp

Writes to ``exp_dir`` (default ``exp/<data>/<loss>``): ``checkpoints/{best,last}.ckpt``
(resumed from automatically), TensorBoard and CSV logs under ``logs/``, and
``model.pt`` — the best model as a plain, ``weights_only``-loadable dict that
``enhance.py`` and ``evaluate.py`` read.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader

from demucs.data import NoisyCleanSegments
from demucs.inference import load_model
from demucs.losses import EnhancementLoss
from demucs.model import CausalDemucs
from demucs.system import EnhancementSystem

MODEL_FILE = "model.pt"


def build_loaders(cfg: DictConfig) -> tuple[DataLoader, DataLoader]:
    data = cfg.data
    manifest_dir = Path(data.manifest_dir)
    train_set = NoisyCleanSegments(
        manifest_dir / "train.json", data.segment_seconds, data.stride_seconds, random_shift=True,
        sample_rate=data.sample_rate,
    )
    valid_set = NoisyCleanSegments(manifest_dir / "valid.json", data.valid_segment_seconds, sample_rate=data.sample_rate)
    workers = cfg.trainer.num_workers
    train_loader = DataLoader(train_set, batch_size=data.batch_size, shuffle=True, drop_last=len(train_set) > data.batch_size,
                              num_workers=workers, persistent_workers=workers > 0)
    valid_batch = 1 if data.valid_segment_seconds is None else data.batch_size
    valid_loader = DataLoader(valid_set, batch_size=valid_batch, shuffle=False, num_workers=workers)
    return train_loader, valid_loader


def export_model(system: EnhancementSystem, checkpoint_callback: ModelCheckpoint, out_path: Path, info: dict) -> Path:
    """Save the best (else the last) weights as a plain dict: config + state_dict + run info."""
    best = checkpoint_callback.best_model_path
    model = system.model
    if best and Path(best).exists():
        model = load_model(best)
        info = {**info, "checkpoint": str(Path(best).resolve()), "val_loss": float(checkpoint_callback.best_model_score)}
    package = {**model.serialize(), "training": info}
    torch.save(package, out_path)
    return out_path


def train(cfg: DictConfig) -> Path:
    """Train the variant described by ``cfg``; returns the path of the exported ``model.pt``."""
    if cfg.trainer.threads:
        torch.set_num_threads(int(cfg.trainer.threads))
    pl.seed_everything(cfg.seed, workers=True)
    exp_dir = Path(cfg.exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)

    model = CausalDemucs(**OmegaConf.to_container(cfg.model, resolve=True))
    if cfg.init_from:
        start = load_model(cfg.init_from)
        if replace(start.config, rescale=0) != replace(model.config, rescale=0):
            raise ValueError(f"init_from={cfg.init_from} has model config {start.config}, but this run asks for {model.config}.")
        model.load_state_dict(start.state_dict())
    terms = OmegaConf.to_container(cfg.loss.terms, resolve=True)
    loss = EnhancementLoss(**terms, sample_rate=cfg.data.sample_rate)
    val_loss = EnhancementLoss(l1=1.0, sc_factor=0.1, mag_factor=0.1, sample_rate=cfg.data.sample_rate)
    train_loader, valid_loader = build_loaders(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))
    system = EnhancementSystem(
        model, optimizer, loss, train_loader, valid_loader,
        config=OmegaConf.to_container(cfg, resolve=True), val_loss_func=val_loss,
        remix=cfg.data.remix, cdpam_every=cfg.loss.cdpam_every,
    )

    checkpoints = ModelCheckpoint(
        dirpath=exp_dir / "checkpoints", filename="best", monitor="val_loss", mode="min", save_top_k=1, save_last=True,
    )
    loggers = [TensorBoardLogger(exp_dir / "logs", name="tensorboard"), CSVLogger(exp_dir / "logs", name="csv")]
    trainer = pl.Trainer(
        max_steps=cfg.trainer.max_steps,
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        num_nodes=cfg.trainer.num_nodes,
        strategy=cfg.trainer.strategy,
        val_check_interval=min(cfg.trainer.val_check_interval, cfg.trainer.max_steps),
        check_val_every_n_epoch=None,
        limit_val_batches=cfg.trainer.limit_val_batches,
        log_every_n_steps=cfg.trainer.log_every_n_steps,
        gradient_clip_val=cfg.optim.grad_clip or None,
        enable_progress_bar=cfg.trainer.progress_bar,
        callbacks=[checkpoints],
        logger=loggers,
        default_root_dir=exp_dir,
    )
    last = exp_dir / "checkpoints" / "last.ckpt"
    ckpt_path = str(last) if cfg.resume and last.exists() else None
    if ckpt_path:
        print(f"Resuming from {ckpt_path}")
    started = time.time()
    trainer.fit(system, ckpt_path=ckpt_path)
    # ModelCheckpoint saves last.ckpt after validations; make it the true end of training so
    # that a later resume (e.g. with more max_steps) continues from here.
    trainer.save_checkpoint(last)
    out_path = exp_dir / MODEL_FILE
    if trainer.is_global_zero:
        info = {"variant": cfg.loss.name, "data": cfg.data.name, "steps": int(trainer.global_step),
                "seconds": round(time.time() - started, 1), "parameters": model.num_parameters()}
        export_model(system, checkpoints, out_path, info)
        print(f"Exported {out_path} ({info})")
    return out_path


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
