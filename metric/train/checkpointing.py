"""Checkpoints that survive crashes, and an output folder checked before training starts.

* :class:`AtomicCheckpointIO` writes every Lightning checkpoint to a temporary file in the
  same folder, flushes it to disk and renames it over the old one (``os.replace`` is atomic
  on POSIX and Windows): a kill or a full disk mid-write leaves the previous checkpoint intact.
* :class:`PeriodicCheckpoint` saves ``last.ckpt`` every N optimiser steps, at the end of each
  epoch and at the end of training, plus a small ``progress.json`` (step, epoch).
* :func:`check_output_dir` fails early, with what to do, when the output folder cannot be
  created or written, or its filesystem has less free space than the checkpoints need.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from metric.atomic import atomic_write_bytes as _atomic_write_bytes
from metric.dependency_warnings import ignoring_dependency_warnings

with ignoring_dependency_warnings():  # Lightning imports torchmetrics, which may warn (see there)
    import pytorch_lightning as pl

LAST_CHECKPOINT = "last.ckpt"
PROGRESS_FILE = "progress.json"
MB = 1 << 20


class OutputDirError(RuntimeError):
    """The output folder cannot hold this run's checkpoints."""


def atomic_write_bytes(path: Path, write) -> None:
    """:func:`metric.atomic.atomic_write_bytes`, with a full disk reported as an :class:`OutputDirError`."""
    try:
        _atomic_write_bytes(path, write)
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OutputDirError(
                f"the disk holding {Path(path).parent} is full; {Path(path).name} was not updated (the previous "
                "version is intact). Free space, then resume with `resume=true`."
            ) from error
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda handle: handle.write(text.encode("utf-8")))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that never leaves a half-written checkpoint behind."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        atomic_write_bytes(Path(path), lambda handle: torch.save(checkpoint, handle))


class PeriodicCheckpoint(pl.Callback):
    """``<folder>/last.ckpt`` every ``every_n_steps`` steps, at each epoch end and at the end of training."""

    def __init__(self, folder: str | Path, every_n_steps: int):
        if every_n_steps < 1:
            raise ValueError(f"checkpoint.every_n_steps must be >= 1, got {every_n_steps}")
        self.folder = Path(folder)
        self.every_n_steps = int(every_n_steps)
        self._last_saved_step = -1

    @property
    def path(self) -> Path:
        return self.folder / LAST_CHECKPOINT

    def save(self, trainer: pl.Trainer) -> None:
        if trainer.sanity_checking or trainer.global_step == self._last_saved_step:
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # the full state: resuming needs the loops  # every rank calls it; rank 0 writes
        self._last_saved_step = trainer.global_step
        if trainer.is_global_zero:
            progress = {"global_step": trainer.global_step, "epoch": trainer.current_epoch,
                        "batch_in_epoch": trainer.fit_loop.epoch_loop.batch_progress.current.processed,
                        "checkpoint": str(self.path), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            atomic_write_text(self.folder / PROGRESS_FILE, json.dumps(progress, indent=1) + "\n")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step > 0 and trainer.global_step % self.every_n_steps == 0:
            self.save(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self.save(trainer)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        # Ctrl-C: keep the work done since the last periodic checkpoint (other errors may leave a step half done).
        if isinstance(exception, KeyboardInterrupt) and trainer.global_step > 0:
            try:
                self.save(trainer)
            except Exception:  # noqa: BLE001 - the interrupt is what the user must see
                pass


def checkpoint_bytes(parameter_count: int, trainable_count: int) -> int:
    """Bytes of one checkpoint: float32 weights + Adam's two moments of the trained ones + 1 MB of loop state."""
    return 4 * parameter_count + 8 * trainable_count + MB


def required_free_bytes(parameter_count: int, trainable_count: int) -> int:
    """Room for a new checkpoint beside the old one (temp file + rename), the export, and 64 MB of logs."""
    return 2 * checkpoint_bytes(parameter_count, trainable_count) + 4 * parameter_count + 64 * MB


def check_output_dir(folder: str | Path, need_bytes: int) -> Path:
    """Create ``folder`` and make sure a checkpoint can be written there; raise :class:`OutputDirError` if not."""
    folder = Path(folder).expanduser()
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.is_dir():
            raise OutputDirError(f"cannot use output_dir={folder}: {parent} is a file, not a folder. Choose another output_dir=...")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputDirError(f"cannot create output_dir={folder} ({error.strerror or error}). Choose a writable output_dir=...") from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputDirError(f"output_dir={folder} is not writable by this user. Fix its permissions or choose another output_dir=...")
    try:  # permissions can lie (read-only mounts, ACLs, quotas): write for real
        probe = folder / f".write-probe-{os.getpid()}"  # per process: DDP ranks check the same folder at once
        atomic_write_bytes(probe, lambda handle: handle.write(b"\0" * 4096))
        probe.unlink()
    except OSError as error:
        raise OutputDirError(f"cannot write into output_dir={folder} ({error.strerror or error}). Choose a writable output_dir=...") from error
    free = shutil.disk_usage(folder).free
    if free < need_bytes:
        raise OutputDirError(
            f"output_dir={folder} is on a filesystem with {free / MB:.0f} MB free; this run needs about "
            f"{need_bytes / MB:.0f} MB for its checkpoints, export and logs. Free space, choose another output_dir=..., "
            "or set checkpoint.min_free_mb=... if you know better."
        )
    return folder
