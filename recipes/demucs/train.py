"""Train one DEMUCS variant (``conf/loss/``) with Asteroid's System on Lightning.

    cd recipes/demucs
    python train.py                                  # toy data, small model, L1 + MRSTFT
    python train.py loss=cdpam                       # DEMUCS+CDPAM from scratch (also pmsqe, stoi, pesq, cdpam_lite)
    python train.py loss=finetune                    # Finetune-CDPAM from exp/toy/baseline/model.pt
    python train.py loss=pmsqe seed=2 loss.terms.perceptual_weight=0.03 exp_dir=exp/toy/try
    python train.py data=valentini model=released trainer.devices=2 trainer.strategy=ddp

Writes to ``exp_dir`` (default ``exp/<data>/<loss>``): ``checkpoints/{best,last}.ckpt``
(resumed from automatically), TensorBoard and CSV logs under ``logs/``, ``model.pt`` — the
selected model (best validation value of the variant's own objective, see
``selection.py``) — and ``model_last.pt`` — the model at the end of training, both as
plain, ``weights_only``-loadable dicts that ``enhance.py`` and ``evaluate.py`` read
(``export_steps=[N]`` also writes ``model_step<N>.pt`` after N steps). Their ``training``
entry records the run, including the CPU and wall seconds per training step.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from metric import atomic_torch_save, hide_lightning_tips, ignoring_dependency_warnings

with ignoring_dependency_warnings():  # Lightning and Asteroid import torchmetrics, whose 0.11 warns on import
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    from demucs.augment import Augmentation
    from demucs.callbacks import ExportAtSteps, StepCost
    from demucs.data import NoisyCleanSegments
    from demucs.inference import load_model
    from demucs.losses import EnhancementLoss, make_perceptual_term
    from demucs.model import CausalDemucs
    from demucs.selection import ValidationObjective
    from demucs.system import EnhancementSystem

MODEL_FILE = "model.pt"  # the selected model
LAST_MODEL_FILE = "model_last.pt"  # the model at the end of training


def build_loaders(cfg: DictConfig, model: CausalDemucs) -> tuple[DataLoader, DataLoader]:
    data = cfg.data
    manifest_dir = Path(data.manifest_dir)
    # As the release: training segments are the model's valid length of the segment (the shift
    # augmentation then crops `shift` samples off at a random offset).
    segment = model.valid_length(int(round(data.segment_seconds * data.sample_rate)))
    train_set = NoisyCleanSegments(
        manifest_dir / "train.json", stride_seconds=data.stride_seconds, sample_rate=data.sample_rate,
        segment_samples=segment,
    )
    valid_set = NoisyCleanSegments(manifest_dir / "valid.json", data.valid_segment_seconds, sample_rate=data.sample_rate)
    workers = cfg.trainer.num_workers
    train_loader = DataLoader(train_set, batch_size=data.batch_size, shuffle=True, drop_last=len(train_set) > data.batch_size,
                              num_workers=workers, persistent_workers=workers > 0)
    valid_batch = 1 if data.valid_segment_seconds is None else data.batch_size
    valid_loader = DataLoader(valid_set, batch_size=valid_batch, shuffle=False, num_workers=workers)
    return train_loader, valid_loader


def export_models(system: EnhancementSystem, checkpoint_callback: ModelCheckpoint, exp_dir: Path, info: dict) -> Path:
    """Save the selected (else the last) and the last weights as plain dicts: config + state_dict + run info."""
    atomic_torch_save({**system.model.serialize(), "training": {**info, "checkpoint": "last"}}, exp_dir / LAST_MODEL_FILE)
    best = checkpoint_callback.best_model_path
    model, selected = system.model, {"checkpoint": "last"}
    if best and Path(best).exists():
        model = load_model(best)
        selected = {"checkpoint": str(Path(best).resolve()), "val_loss": float(checkpoint_callback.best_model_score),
                    "selected_step": int(torch.load(best, map_location="cpu", weights_only=True)["global_step"])}
    out_path = exp_dir / MODEL_FILE
    atomic_torch_save({**model.serialize(), "training": {**info, **selected}}, out_path)
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
    data = cfg.data
    terms = OmegaConf.to_container(cfg.loss.terms, resolve=True)
    loss = EnhancementLoss(**terms, sample_rate=data.sample_rate)
    objective = ValidationObjective.from_loss_terms(terms, cfg.loss.perceptual_every)
    train_loader, valid_loader = build_loaders(cfg, model)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))
    augmentation = Augmentation(remix=data.remix, bandmask=data.bandmask, shift=data.shift, shift_same=data.shift_same,
                                revecho=data.revecho, sample_rate=data.sample_rate)
    system = EnhancementSystem(
        model, optimizer, loss, train_loader, valid_loader,
        config=OmegaConf.to_container(cfg, resolve=True), augmentation=augmentation,
        perceptual_every=cfg.loss.perceptual_every, validation_objective=objective,
        validation_loss=EnhancementLoss(l1=1.0, sc_factor=1.0, mag_factor=1.0, sample_rate=data.sample_rate),
        validation_perceptual=(make_perceptual_term(objective.perceptual, data.sample_rate)
                               if objective.needs_perceptual else None),
        perceptual_items=data.perceptual_valid_items, perceptual_seconds=data.perceptual_valid_seconds,
        sample_rate=data.sample_rate,
    )
    print(f"Validation objective ({cfg.loss.name}, selects model.pt): {objective.describe()}")

    checkpoints = ModelCheckpoint(
        dirpath=exp_dir / "checkpoints", filename="best", monitor="val_loss", mode="min", save_top_k=1, save_last=True,
    )
    loggers = [TensorBoardLogger(exp_dir / "logs", name="tensorboard"), CSVLogger(exp_dir / "logs", name="csv")]
    step_cost = StepCost()
    run_info = {"variant": cfg.loss.name, "data": cfg.data.name, "seed": int(cfg.seed),
                "perceptual": objective.perceptual, "perceptual_weight": float(terms.get("perceptual_weight") or 0.0),
                "perceptual_every": int(cfg.loss.perceptual_every), "init_from": cfg.init_from}
    callbacks = [checkpoints, step_cost]
    if cfg.export_steps:
        callbacks.append(ExportAtSteps(exp_dir, cfg.export_steps, run_info))
    max_steps = cfg.trainer.max_steps if cfg.trainer.max_steps is not None else -1
    hide_lightning_tips()
    trainer = pl.Trainer(
        max_steps=max_steps,
        max_epochs=cfg.trainer.max_epochs if cfg.trainer.max_epochs is not None else -1,
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        num_nodes=cfg.trainer.num_nodes,
        strategy=cfg.trainer.strategy,
        deterministic=cfg.trainer.deterministic,
        val_check_interval=min(cfg.trainer.val_check_interval, max_steps) if max_steps > 0 else cfg.trainer.val_check_interval,
        check_val_every_n_epoch=None,
        limit_val_batches=cfg.trainer.limit_val_batches,
        log_every_n_steps=cfg.trainer.log_every_n_steps,
        gradient_clip_val=cfg.optim.grad_clip or None,
        enable_progress_bar=cfg.trainer.progress_bar,
        callbacks=callbacks,
        logger=loggers,
        default_root_dir=exp_dir,
    )
    last = exp_dir / "checkpoints" / "last.ckpt"
    ckpt_path = str(last) if cfg.resume and last.exists() else None
    if ckpt_path:
        print(f"Resuming from {ckpt_path}")
    started = time.time()
    with ignoring_dependency_warnings():  # Lightning's own notices (see metric/dependency_warnings.py)
        trainer.fit(system, ckpt_path=ckpt_path)
    # ModelCheckpoint saves last.ckpt after validations; make it the true end of training so
    # that a later resume (e.g. with more max_steps) continues from here (the full state).
    trainer.save_checkpoint(last, weights_only=False)
    out_path = exp_dir / MODEL_FILE
    if trainer.is_global_zero:
        info = {**run_info, "steps": int(trainer.global_step), "seconds": round(time.time() - started, 1),
                "parameters": model.num_parameters(), **step_cost.summary()}
        out_path = export_models(system, checkpoints, exp_dir, info)
        print(f"Exported {out_path} (selected) and {exp_dir / LAST_MODEL_FILE} (last): {info}")
    return out_path


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
