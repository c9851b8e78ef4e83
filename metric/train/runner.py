"""Compose a training config with Hydra and run one stage end to end.

``run(config)``: check the output folder (before anything heavy), build the stage's module and
data, train with Lightning (progress bar, TensorBoard + CSV logs, atomic ``last.ckpt`` every
N steps, resume), then on rank 0 export the network with :func:`metric.weights.save_network`
and, after stage (a), write its report beside an untrained network of the same shape and MSE
(:mod:`.evaluation`). Files in ``output_dir``:

* ``config.yaml``  the resolved config of the latest start (beside the checkpoint);
* ``run.json``     seed, versions, command line and the outcome of every start;
* ``last.ckpt``    Lightning checkpoint (atomic), ``progress.json`` its step and epoch;
* ``cdpam_<stage>.pt``  the exported network (``CDPAM(weights=...)`` loads it at any width);
* ``logs/tensorboard/version_N``, ``logs/csv/version_N/metrics.csv``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf

from metric.dependency_warnings import hide_lightning_tips, ignoring_dependency_warnings

from .checkpointing import LAST_CHECKPOINT, MB, OutputDirError, atomic_write_text, check_output_dir, required_free_bytes
from .data import STAGE_DATA, ConfigError

CONFIG_DIR = Path(__file__).resolve().parent / "conf"
CONFIG_NAME = "config"


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """The training config from ``metric/train/conf`` with Hydra ``overrides`` (``key=value``, ``group=option``)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3", job_name="cdpam_train"):
        return compose(config_name=CONFIG_NAME, overrides=list(overrides))


def _is_global_zero() -> bool:
    # Lightning's launchers set these before the worker processes import anything.
    for name in ("RANK", "SLURM_PROCID"):
        if name in os.environ:
            return int(os.environ[name]) == 0
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", 0))) == 0


def validate(cfg: DictConfig) -> None:
    stage, data = cfg.stage.name, cfg.data.name
    if stage not in STAGE_DATA:
        raise ConfigError(f"unknown stage {stage!r}; choose stage=contrastive, stage=jnd, stage=triplet or stage=distill")
    if data not in STAGE_DATA[stage]:
        raise ConfigError(f"stage={stage} cannot train on data={data}; use data=" + " or data=".join(STAGE_DATA[stage]))
    if int(cfg.optim.batch_size) < 2:
        raise ConfigError("optim.batch_size must be >= 2 (NT-Xent needs negatives; BatchNorm needs two items)")
    if cfg.data.sample_rate is None or int(cfg.data.sample_rate) <= 0:
        raise ConfigError("data.sample_rate must be a positive number of Hz")
    missing = OmegaConf.missing_keys(cfg)
    if missing:
        raise ConfigError("these settings have no value: " + ", ".join(sorted(missing)) + " (pass them as key=value)")


def resume_checkpoint(cfg: DictConfig, folder: Path) -> Path | None:
    """The checkpoint to continue from, or ``None`` for a fresh start (refusing to silently overwrite one)."""
    last = folder / LAST_CHECKPOINT
    wanted = cfg.ckpt_path
    if wanted not in (None, "", "last"):
        path = Path(str(wanted)).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ckpt_path={path} does not exist; pass ckpt_path=last or resume=true to continue from {last}")
        return path
    if cfg.resume or wanted == "last":
        if last.is_file():
            return last
        print(f"resume: no checkpoint at {last} yet; starting from the beginning", file=sys.stderr)
        return None
    if last.is_file() and not cfg.overwrite:
        raise OutputDirError(
            f"{folder} already holds a checkpoint ({last}). Continue it with resume=true, start over with overwrite=true, "
            "or choose another output_dir=..."
        )
    return None


def _network(cfg: DictConfig):
    from metric.model import network_from_config

    return network_from_config(cfg.model)


def _parameter_counts(cfg: DictConfig) -> tuple[int, int]:
    network = _network(cfg)
    total = sum(p.numel() for p in network.parameters())
    encoder = sum(p.numel() for p in network.encoder.parameters())
    if cfg.stage.name == "distill":  # the student's encoder only: loss-net and judgment are the teacher's, frozen
        return total, encoder
    trained = total if cfg.stage.name == "contrastive" or not cfg.stage.get("freeze_encoder", True) else total - encoder
    return total, trained


def _versions() -> dict[str, str]:
    import numpy
    import pytorch_lightning
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "pytorch_lightning": pytorch_lightning.__version__,
            "numpy": numpy.__version__, "platform": platform.platform()}


def _record(folder: Path, entry: dict[str, Any]) -> None:
    path = folder / "run.json"
    runs = json.loads(path.read_text()) if path.is_file() else {"starts": []}
    runs["starts"].append(entry)
    atomic_write_text(path, json.dumps(runs, indent=1, default=str) + "\n")


def _update_last(folder: Path, **fields) -> None:
    path = folder / "run.json"
    runs = json.loads(path.read_text())
    runs["starts"][-1].update(fields)
    atomic_write_text(path, json.dumps(runs, indent=1, default=str) + "\n")


def run(cfg: DictConfig, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Train one stage as configured; returns a summary (rank 0: with export path and evaluation)."""
    validate(cfg)
    folder = Path(str(cfg.output_dir)).expanduser()
    total, trained = _parameter_counts(cfg)
    need = int(float(cfg.checkpoint.min_free_mb) * MB) if cfg.checkpoint.min_free_mb is not None else required_free_bytes(total, trained)
    check_output_dir(folder, need)
    ckpt_path = resume_checkpoint(cfg, folder)

    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    from .checkpointing import AtomicCheckpointIO, PeriodicCheckpoint
    from .data import build_datasets, distill_datasets, make_loader
    from .modules import STAGES

    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    config = OmegaConf.to_container(cfg, resolve=True)
    module = STAGES[cfg.stage.name](config)
    collate = {}
    if cfg.stage.name == "distill":
        from metric.train.teacher_cache import collate_groups

        train_set, val_set = distill_datasets(config["data"], config["stage"])
        collate = {"collate_fn": collate_groups}
    else:
        train_set, val_set = build_datasets(cfg.stage.name, config["data"], pair_kinds=cfg.stage.get("pair_kinds", "both"))
    batch = int(cfg.optim.batch_size)
    workers = int(cfg.data.get("num_workers", 0))
    train_loader = make_loader(train_set, batch, shuffle=True, seed=int(cfg.seed), num_workers=workers, **collate)
    val_loader = make_loader(val_set, batch, shuffle=False, seed=int(cfg.seed), num_workers=workers, **collate)

    rank_zero = _is_global_zero()
    if rank_zero:
        atomic_write_text(folder / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        _record(folder, {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seed": int(cfg.seed), "stage": cfg.stage.name,
                         "data": cfg.data.name, "resumed_from": str(ckpt_path) if ckpt_path else None,
                         "overrides": list(overrides), "argv": sys.argv, "versions": _versions(),
                         "parameters": total, "trained_parameters": trained})
        if cfg.stage.name == "distill":
            from metric.train.teacher_cache import summarise

            _update_last(folder, teacher_cache={"train": summarise(train_set.manifest), "valid": summarise(val_set.manifest)})

    checkpoints = PeriodicCheckpoint(folder, int(cfg.checkpoint.every_n_steps))
    trainer_args = OmegaConf.to_container(cfg.trainer, resolve=True)
    hide_lightning_tips()
    with ignoring_dependency_warnings():
        trainer = pl.Trainer(
            **trainer_args,
            default_root_dir=str(folder),
            logger=[TensorBoardLogger(str(folder / "logs"), name="tensorboard"), CSVLogger(str(folder / "logs"), name="csv")],
            callbacks=[checkpoints],
            plugins=[AtomicCheckpointIO()],
            enable_checkpointing=False,
            use_distributed_sampler=False,  # EpochSampler shards by rank itself and can resume mid-epoch
        )
        train_loader.progress = lambda: trainer.fit_loop.epoch_loop.batch_progress.current.processed
        started = time.time()
        try:
            trainer.fit(module, train_loader, val_loader, ckpt_path=str(ckpt_path) if ckpt_path else None)
        except SystemExit:  # Lightning exits after Ctrl-C, once PeriodicCheckpoint has saved the step reached
            if trainer.interrupted and rank_zero:
                print(f"interrupted at step {trainer.global_step}; continue with the same command plus resume=true", file=sys.stderr)
            raise
    summary: dict[str, Any] = {"stage": cfg.stage.name, "global_step": int(trainer.global_step),
                               "epochs": int(trainer.current_epoch), "seconds": round(time.time() - started, 1),
                               "checkpoint": str(checkpoints.path), "output_dir": str(folder)}
    if trainer.interrupted:
        summary["interrupted"] = True
        print(f"training interrupted at step {trainer.global_step}; continue with resume=true output_dir={folder}", file=sys.stderr)
    if not trainer.is_global_zero or trainer.interrupted:
        return summary
    if cfg.export.enabled:
        from metric.weights import save_network

        network = module.export_network()
        path = save_network(network, str(cfg.export.path), stage=cfg.stage.name, data=cfg.data.name, seed=str(cfg.seed),
                            global_step=str(trainer.global_step))
        summary["export"] = str(path)
    if cfg.evaluation.enabled:
        from .evaluation import report_table, stage_a_report

        ev = cfg.evaluation
        summary["evaluation"] = stage_a_report(module.export_network(), corpus=ev.corpus, monotonicity_clips=int(ev.monotonicity_clips),
                                               group_files=int(ev.group_files), seconds=float(ev.seconds),
                                               held_out_pairs=int(ev.held_out_pairs), seed=int(ev.seed), untrained_seed=int(cfg.seed))
        print(report_table(summary["evaluation"]), file=sys.stderr)
    _update_last(folder, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), summary=summary)
    return summary
