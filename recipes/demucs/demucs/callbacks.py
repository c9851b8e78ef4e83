"""Lightning callbacks of the DEMUCS recipe: the cost of a training step, and model snapshots at given steps."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable

from metric import atomic_torch_save, ignoring_dependency_warnings

with ignoring_dependency_warnings():  # Lightning imports torchmetrics, whose 0.11 warns on import
    import pytorch_lightning as pl


class StepCost(pl.Callback):
    """CPU and wall seconds of the training steps (forward, loss, backward, optimiser; no validation).

    CPU time is the process's (all its threads), so on a shared machine it measures the work
    rather than the neighbours. The totals are kept in Lightning checkpoints, so a resumed run
    reports the cost of all its steps.
    """

    def __init__(self):
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0
        self.steps = 0
        self._started: tuple[float, float] | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._started = (time.process_time(), time.perf_counter())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self._started is None:
            return
        cpu, wall = self._started
        self.cpu_seconds += time.process_time() - cpu
        self.wall_seconds += time.perf_counter() - wall
        self.steps += 1
        self._started = None

    def summary(self) -> dict[str, float]:
        steps = max(self.steps, 1)
        return {"timed_steps": self.steps, "cpu_seconds_per_step": round(self.cpu_seconds / steps, 4),
                "wall_seconds_per_step": round(self.wall_seconds / steps, 4)}

    def state_dict(self) -> dict:
        return {"cpu_seconds": self.cpu_seconds, "wall_seconds": self.wall_seconds, "steps": self.steps}

    def load_state_dict(self, state_dict: dict) -> None:
        self.cpu_seconds = float(state_dict["cpu_seconds"])
        self.wall_seconds = float(state_dict["wall_seconds"])
        self.steps = int(state_dict["steps"])


def snapshot_path(exp_dir: str | Path, step: int) -> Path:
    """Where :class:`ExportAtSteps` writes the model after ``step`` training steps."""
    return Path(exp_dir) / f"model_step{int(step)}.pt"


class ExportAtSteps(pl.Callback):
    """Writes ``model_step<N>.pt`` (an exported model, as ``model.pt``) after each of ``steps`` training steps.

    A fine-tuning variant can then start from the model after N − M steps and, with M steps of
    its own, have trained for as many steps as the runs it is compared with.
    """

    def __init__(self, exp_dir: str | Path, steps: Iterable[int], info: dict | None = None):
        self.exp_dir = Path(exp_dir)
        self.steps = sorted({int(step) for step in steps})
        self.info = dict(info or {})

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if step in self.steps and trainer.is_global_zero:
            package = {**pl_module.model.serialize(), "training": {**self.info, "steps": step, "checkpoint": f"step {step}"}}
            atomic_torch_save(package, snapshot_path(self.exp_dir, step))
