"""Checkpoints: atomic writes, resumable training state, exported generators.

Two kinds of files, both loadable with ``torch.load(weights_only=True)``:

* training state (``checkpoints/last.pt``): step, generator, discriminator,
  both optimisers, RNG states and the run's configuration — enough to resume;
* exported generator (``generator.pt``): the generator's weights, its
  configuration and the mel front end it expects — all that vocoding needs.

Writes go to a temporary file in the same directory followed by ``os.replace``,
so an interrupted run never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

from pathlib import Path

import torch

from metric import atomic_torch_save as atomic_save

from .generator import Generator, GeneratorConfig
from .mel import MelConfig

GENERATOR_FORMAT = "melgan-generator-v1"
TRAINING_FORMAT = "melgan-training-v1"


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside a DistributedDataParallel wrapper."""
    return getattr(module, "module", module)


def generator_payload(generator: Generator, mel_config: MelConfig, step: int) -> dict:
    generator = unwrap(generator)
    return {
        "format": GENERATOR_FORMAT,
        "step": int(step),
        "generator_config": generator.config.to_dict(),
        "mel_config": mel_config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in generator.state_dict().items()},
    }


def export_generator(path: str | Path, generator: Generator, mel_config: MelConfig, step: int) -> Path:
    return atomic_save(generator_payload(generator, mel_config, step), path)


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}: pass a generator.pt or checkpoints/last.pt of a MelGAN run.")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_generator(path: str | Path) -> tuple[Generator, MelConfig, int]:
    """A generator (eval mode), its mel front end and its training step, from either kind of file."""
    payload = load_checkpoint(path)
    if payload.get("format") == TRAINING_FORMAT:
        payload = payload["generator"]
    if payload.get("format") != GENERATOR_FORMAT:
        raise ValueError(
            f"{path} is not a MelGAN checkpoint of this recipe (format {payload.get('format')!r}); "
            "pass exp/<data>/<variant>/generator.pt or checkpoints/last.pt."
        )
    # Generators saved before the residual shortcut was configurable had identity shortcuts.
    generator = Generator(GeneratorConfig(**{"residual_shortcut": "identity", **payload["generator_config"]}))
    generator.load_state_dict(payload["state_dict"])
    generator.eval()
    return generator, MelConfig(**payload["mel_config"]), int(payload["step"])
