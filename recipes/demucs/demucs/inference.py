"""Loading a trained DEMUCS of this recipe and enhancing one waveform with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .model import CausalDemucs


def load_model(path: str | Path) -> CausalDemucs:
    """A :class:`CausalDemucs` from an exported ``model.pt`` or a Lightning ``.ckpt`` of this recipe."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No model at {path}: train it first (run.sh stages 1-3) or pass the right path.")
    if path.suffix == ".ckpt":
        # This recipe's Lightning checkpoints hold only tensors and plain containers, so the
        # safe loader reads them; anything needing arbitrary unpickling is refused.
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ValueError(
                f"{path} cannot be loaded safely (weights_only=True): {str(error).splitlines()[0][:200]}. "
                f"Use the exported model.pt of this recipe instead."
            ) from error
        config = checkpoint.get("training_config", {}).get("model")
        if config is None:
            raise ValueError(f"{path} is not a checkpoint of this recipe (no training_config.model).")
        state = {k[len("model."):]: v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
        return CausalDemucs.from_serialized({"config": dict(config), "state_dict": state})
    package = torch.load(path, map_location="cpu", weights_only=True)
    if package.get("model_class") != "CausalDemucs":
        raise ValueError(f"{path} is not a model exported by this recipe (model_class={package.get('model_class')!r}).")
    return CausalDemucs.from_serialized(package)


def enhance_waveform(model: CausalDemucs, noisy: np.ndarray) -> np.ndarray:
    """Enhance one mono float waveform at ``model.config.sample_rate``; the result is clipped to [-1, 1]."""
    with torch.inference_mode():
        estimate = model(torch.from_numpy(np.ascontiguousarray(noisy, dtype=np.float32))[None])
    return np.clip(estimate[0, 0].numpy(), -1.0, 1.0).astype(np.float32)
