"""The one place where notices that dependencies print are filtered.

A default run of ``cdpam``, the recipes or the test suite should print nothing the user has to
wonder about. Causes inside this project are fixed where they are (e.g. ``weights_only=`` passed
to Lightning's checkpoint writer). What is left here is what a dependency emits and this project
cannot fix; each entry says who emits it, why it cannot be fixed here and when it can go. Errors
are never filtered, and no filter outlives the code it wraps (nothing here touches the global
warning filters of the program that imports cdpam-plugins).

* :func:`ignoring_dependency_warnings` — a context manager around the imports and calls of this
  project that make a dependency warn.
* :func:`hide_lightning_tips` — Lightning's advertising tips ("💡 Tip: ... try installing
  litlogger / litmodels"), logged at INFO level by every ``Trainer``; the rest of Lightning's
  log stays.
* :func:`pytest_filters` — the same entries as pytest ``filterwarnings`` lines (used by
  ``tests/conftest.py``), so the test suite hides exactly these and no more.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class DependencyWarning:
    category: type[Warning]
    message: str  # regular expression matched against the start of the message
    module: str  # regular expression matched against the start of the warning's module
    why: str


KNOWN_WARNINGS: tuple[DependencyWarning, ...] = (
    DependencyWarning(
        UserWarning, r"pkg_resources is deprecated as an API", r"torchmetrics\.utilities\.imports",
        "torchmetrics 0.11 imports pkg_resources when it is imported; 0.11 is the newest torchmetrics that "
        "Asteroid 0.7 allows, so the development environment keeps it (torchmetrics >= 1.0 does not warn). "
        "Drop when an Asteroid release allows torchmetrics 1.x.",
    ),
    DependencyWarning(
        FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated", r"pytorch_lightning\.utilities\._pytree",
        "Lightning 2.6 still builds torch's LeafSpec, which torch 2.13 deprecates; raised on every Trainer.fit. "
        "Drop when the pinned Lightning no longer does (constraints.txt).",
    ),
    DependencyWarning(
        UserWarning, r"The '\w+_dataloader' does not have many workers", r"(pytorch_)?lightning",
        "Lightning advises DataLoader workers whenever num_workers is below the core count; the training "
        "stages and the recipes load in the main process by default on purpose (the data is small and "
        "in memory, and worker processes change the order of random draws). Not a fault to fix.",
    ),
    DependencyWarning(
        UserWarning, r"Checkpoint directory .+ exists and is not empty", r"(pytorch_)?lightning\.callbacks\.model_checkpoint",
        "Lightning's ModelCheckpoint notes a non-empty checkpoint folder at setup; the DEMUCS recipe resumes "
        "(resume: true) from last.ckpt in that very folder, so every resume raises it by design. Not a fault to fix.",
    ),
)

LIGHTNING_TIP_PREFIX = "💡 Tip:"
# rank_zero_info() logs through whichever of these its package set up last
LIGHTNING_RANK_ZERO_LOGGERS = (
    "pytorch_lightning.utilities.rank_zero",
    "lightning_fabric.utilities.rank_zero",
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
)


@contextmanager
def ignoring_dependency_warnings():
    """Hide the :data:`KNOWN_WARNINGS` raised inside the ``with`` block; any other warning shows."""
    with warnings.catch_warnings():
        for known in KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=known.message, category=known.category, module=known.module)
        yield


class _LightningTipFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(LIGHTNING_TIP_PREFIX)


_TIP_FILTER = _LightningTipFilter()


def hide_lightning_tips() -> None:
    """Drop Lightning's "💡 Tip:" advertisements from its log (idempotent; other messages stay)."""
    for name in LIGHTNING_RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if _TIP_FILTER not in logger.filters:
            logger.addFilter(_TIP_FILTER)


def pytest_filters() -> list[str]:
    """:data:`KNOWN_WARNINGS` as pytest ``filterwarnings`` lines (``action:message:category:module``)."""
    lines = []
    for known in KNOWN_WARNINGS:
        category = f"{known.category.__module__}.{known.category.__qualname__}".removeprefix("builtins.")
        lines.append(f"ignore:{known.message}:{category}:{known.module}")
    return lines
