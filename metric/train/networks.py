"""Networks of the training stages: CDPAM at any encoder width, initial weights, export.

The metric's network (:class:`metric.model.CDPAMNetwork`) has the released width (base
64 channels, 26 M parameters). Training here may use a narrower encoder
(``model.encoder_base_channels``) to fit a CPU; such a network has the same structure
and state-dict keys, only smaller tensors. ``CDPAM(weights=path)`` and the plugins load
networks of the released width; narrower exports load with :func:`load_trained_network`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from metric.model import ENCODER_BASE_CHANNELS, ENCODER_LAYERS, CDPAMNetwork, Encoder, JudgmentHead, LossNet
from metric.weights import WeightsError, official_weights_path, read_state_dict, save_network

NETWORK_PARTS = ("encoder", "lossnet", "judgment")


class SizedCDPAMNetwork(CDPAMNetwork):
    """:class:`CDPAMNetwork` with a chosen encoder depth and width (the loss-net input follows it)."""

    def __init__(self, encoder_layers: int = ENCODER_LAYERS, encoder_base_channels: int = ENCODER_BASE_CHANNELS):
        nn.Module.__init__(self)  # CDPAMNetwork.__init__ would build a full-width encoder first
        if encoder_layers < 4 or encoder_layers % 4:
            raise ValueError(f"encoder_layers must be a positive multiple of 4 (channels double every 4th layer), got {encoder_layers}")
        if encoder_base_channels < 1:
            raise ValueError(f"encoder_base_channels must be >= 1, got {encoder_base_channels}")
        self.encoder = Encoder(encoder_layers, encoder_base_channels)
        self.lossnet = LossNet(input_dim=self.encoder.embedding_dim // 2)
        self.judgment = JudgmentHead()

    @property
    def is_release_size(self) -> bool:
        return len(self.encoder.convs) == ENCODER_LAYERS and self.encoder.convs[0].out_channels == ENCODER_BASE_CHANNELS


def build_network(encoder_layers: int = ENCODER_LAYERS, encoder_base_channels: int = ENCODER_BASE_CHANNELS) -> SizedCDPAMNetwork:
    return SizedCDPAMNetwork(int(encoder_layers), int(encoder_base_channels))


def _strip_to_network(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Network keys (``encoder.*``, ``lossnet.*``, ``judgment.*``), tolerating a common prefix such as ``network.``."""
    for key in state:
        if key.endswith("encoder.convs.0.weight"):
            prefix = key[: -len("encoder.convs.0.weight")]
            return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix) and k[len(prefix):].split(".")[0] in NETWORK_PARTS}
    raise WeightsError("the file holds no CDPAM encoder (no key ending in 'encoder.convs.0.weight')")


def architecture_of(state: dict[str, torch.Tensor]) -> tuple[int, int]:
    """``(encoder_layers, encoder_base_channels)`` read from a network state dict."""
    state = _strip_to_network(state)
    layers = len({k.split(".")[2] for k in state if k.startswith("encoder.convs.")})
    return layers, int(state["encoder.convs.0.weight"].shape[0])


def read_network_state(source: str | Path) -> dict[str, torch.Tensor]:
    """Network state dict from ``"official"``, a ``save_network`` export, or a Lightning checkpoint of this package.

    Every file is read with ``weights_only=True`` (:func:`metric.weights.read_state_dict`).
    """
    path = official_weights_path() if str(source) == "official" else Path(source).expanduser()
    return _strip_to_network(read_state_dict(path))


def load_parts(network: nn.Module, source: str | Path, parts: Iterable[str]) -> list[str]:
    """Copy ``parts`` (of ``encoder``, ``lossnet``, ``judgment``) from ``source`` into ``network``; return the parts loaded."""
    parts = list(parts)
    unknown = [p for p in parts if p not in NETWORK_PARTS]
    if unknown:
        raise ValueError(f"unknown network parts {unknown}; choose from {', '.join(NETWORK_PARTS)}")
    state = read_network_state(source)
    wanted = architecture_of({k: v for k, v in network.state_dict().items()})
    found = architecture_of(state)
    if "encoder" in parts and wanted != found:
        raise WeightsError(
            f"{source} holds an encoder with {found[0]} layers and base width {found[1]}, but this run builds "
            f"{wanted[0]} layers of base width {wanted[1]}: set model.encoder_layers={found[0]} "
            f"model.encoder_base_channels={found[1]} (model=full for the official weights), or start from another checkpoint."
        )
    for part in parts:
        module = getattr(network, part)
        sub = {k[len(part) + 1:]: v for k, v in state.items() if k.startswith(part + ".")}
        if not sub:
            raise WeightsError(f"{source} holds no '{part}' weights; drop it from stage.init_parts")
        try:
            module.load_state_dict(sub, strict=True)
        except RuntimeError as error:
            raise WeightsError(f"the '{part}' weights of {source} do not fit this network: {str(error).splitlines()[0]}") from error
    return parts


def load_trained_network(path: str | Path) -> SizedCDPAMNetwork:
    """A frozen eval-mode network from an export of any encoder width (``"official"`` works too)."""
    state = read_network_state(path)
    network = build_network(*architecture_of(state))
    network.load_state_dict(state, strict=True)
    network.eval()
    network.requires_grad_(False)
    return network


def export_network(network: CDPAMNetwork, path: str | Path, **metadata) -> Path:
    """Write ``network`` with :func:`metric.weights.save_network` (atomic), adding its architecture to the metadata."""
    layers, base = architecture_of(network.state_dict())
    return save_network(network, path, encoder_layers=str(layers), encoder_base_channels=str(base), **metadata)
