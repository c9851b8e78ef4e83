"""Locating, verifying, converting and loading CDPAM weights.

The official weights ship inside the PyPI package ``cdpam==0.0.6`` as an old
pickle (``CDPAM_trained/scratchJNDdefault_best_model.pth``). Unpickling runs
arbitrary code, so that file is unpickled exactly once, only after its size
and sha256 match the known release, and is converted to a plain state dict of
tensors in a user cache. Every later load — official or own-trained — goes
through ``torch.load(weights_only=True)``.

The ``cdpam`` package itself is never imported: its module code needs a CUDA
device by default and crashes on current numpy. Only its files are used.

Networks of any encoder width load the same way: :func:`load_network` reads the
architecture from the tensors' shapes (:func:`architecture_of`) and builds that
:class:`~metric.model.CDPAMNetwork`; :func:`save_network` writes one;
:func:`load_parts` copies parts of a checkpoint into a network (training's start).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Iterable

import torch

from .atomic import atomic_torch_save
from .model import KERNEL_SIZE, CDPAMNetwork

OFFICIAL_PACKAGE = "cdpam"
OFFICIAL_RELATIVE_PATH = Path("CDPAM_trained") / "scratchJNDdefault_best_model.pth"
OFFICIAL_SIZE = 106_120_042
OFFICIAL_SHA256 = "453c8b6edee1a94f0120236156436ff28fe4d8d884485e4a67695c8e8570bdfe"
CONVERTED_NAME = f"cdpam-official-{OFFICIAL_SHA256[:12]}.pt"
CHECKPOINT_FORMAT = "cdpam-plugins/network"
CHECKPOINT_VERSION = 1

# Official checkpoint key prefix -> ours. The official model names its parts
# base_encoder / model_dist / model_classif.
_OFFICIAL_PREFIXES = (
    ("base_encoder.encoder.", "encoder.convs."),
    ("base_encoder.ebatch.", "encoder.norms."),
    ("model_dist.chan_w.", "lossnet.channel_weights."),
    ("model_classif.MLP.", "judgment.layers."),
)

NETWORK_PARTS = ("encoder", "lossnet", "judgment")

# CDPAM-lite: a student distilled from the official network (docs/lite.md), shipped inside this
# package and checked like the official file before it is read. An approximation of CDPAM: on
# held-out audio its distances have Spearman 0.96 (95 % CI 0.95..0.97) with the exact ones and it agrees
# with 93 % of the exact model's triplet preferences (docs/results/lite_agreement.md).
LITE_PATH = Path(__file__).resolve().parent / "assets" / "weights" / "cdpam_lite.pt"
LITE_SHA256 = "421650481add6ce9fcdf651179cd492a8c1997bdfa2131acb4e214d582085e6b"
NAMED_WEIGHTS = ("official", "lite")

_FIX_INSTALL = "install it with `pip install cdpam==0.0.6` (it brings the official weights file)"


class WeightsError(RuntimeError):
    """A weights file is missing, corrupt, or does not fit the CDPAM network."""


def cache_dir() -> Path:
    """Where converted weights live: ``$CDPAM_CACHE_DIR``, else ``$XDG_CACHE_HOME/cdpam-plugins``,
    else ``~/.cache/cdpam-plugins``."""
    explicit = os.environ.get("CDPAM_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "cdpam-plugins"


def official_checkpoint_path() -> Path:
    """Path of the official checkpoint inside the installed ``cdpam`` package (not imported)."""
    spec = importlib.util.find_spec(OFFICIAL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"The official CDPAM weights were not found: the `cdpam` package is not installed; {_FIX_INSTALL}.")
    path = Path(list(spec.submodule_search_locations)[0]) / OFFICIAL_RELATIVE_PATH
    if not path.is_file():
        raise WeightsError(f"The `cdpam` package is installed but {path} is missing; reinstall it: `pip install --force-reinstall cdpam==0.0.6`.")
    return path


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_official_file(path: Path) -> None:
    """Raise :class:`WeightsError` unless ``path`` is byte-identical to the official release."""
    size = path.stat().st_size
    if size != OFFICIAL_SIZE:
        raise WeightsError(
            f"{path} has {size} bytes, the official CDPAM weights have {OFFICIAL_SIZE}: the file is truncated or "
            f"altered. Reinstall it: `pip install --force-reinstall cdpam==0.0.6`."
        )
    digest = sha256_of(path)
    if digest != OFFICIAL_SHA256:
        raise WeightsError(
            f"{path} has sha256 {digest}, expected {OFFICIAL_SHA256}: the file is corrupt or altered and will not be "
            f"unpickled. Reinstall it: `pip install --force-reinstall cdpam==0.0.6`."
        )


def _rename_official(state: dict) -> dict[str, torch.Tensor]:
    renamed = {}
    for key, value in state.items():
        new = key
        if key.startswith("model_dist.convs."):
            # model_dist.convs.{i}.0.{weight,bias}: a Linear inside a Sequential
            index, _, param = key[len("model_dist.convs.") :].split(".")
            new = f"lossnet.layers.{index}.{param}"
        else:
            for old_prefix, new_prefix in _OFFICIAL_PREFIXES:
                if key.startswith(old_prefix):
                    new = new_prefix + key[len(old_prefix) :]
                    break
        renamed[new] = value.detach().clone().contiguous()
    return renamed


def read_official_pickle(source: Path | None = None, **load_options) -> dict:
    """The raw official checkpoint dict, unpickled only after its size and sha256 match the release."""
    source = Path(source) if source is not None else official_checkpoint_path()
    verify_official_file(source)
    load_options.setdefault("map_location", "cpu")
    # The one place that unpickles: guarded by the sha256 check just above.
    return torch.load(source, weights_only=False, **load_options)


def convert_official(source: Path | None = None, destination: Path | None = None) -> Path:
    """Verify the official pickle and write it as a ``weights_only``-loadable checkpoint."""
    source = Path(source) if source is not None else official_checkpoint_path()
    destination = Path(destination) if destination is not None else cache_dir() / CONVERTED_NAME
    state = _rename_official(read_official_pickle(source)["state"])
    atomic_torch_save(make_checkpoint(state, source="official cdpam==0.0.6 " + OFFICIAL_SHA256), destination)
    return destination


def make_checkpoint(state_dict: dict[str, torch.Tensor], **metadata: str) -> dict:
    """The project's checkpoint layout: tensors plus string metadata, safe for ``weights_only``."""
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "metadata": {k: str(v) for k, v in metadata.items()},
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
    }


def save_network(network: CDPAMNetwork, path: str | Path, **metadata: str) -> Path:
    """Write a network of any width so that ``CDPAM(weights=path)`` loads it (atomic write).

    The architecture is recorded in the metadata for people reading the file; loading reads
    it from the tensors' shapes, so official and own checkpoints load the same way.
    """
    path = Path(path)
    metadata = {**{k: str(v) for k, v in network.architecture.items()}, **metadata}
    atomic_torch_save(make_checkpoint(network.state_dict(), **metadata), path)
    return path


def official_weights_path() -> Path:
    """The converted official checkpoint, converting it on first use."""
    converted = cache_dir() / CONVERTED_NAME
    if not converted.is_file():
        try:
            convert_official(destination=converted)
        except PermissionError as error:
            raise WeightsError(
                f"Cannot write the converted weights to {converted.parent} ({error}); set CDPAM_CACHE_DIR to a "
                f"writable folder."
            ) from error
    return converted


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Safely read a network state dict from a project checkpoint or a bare state dict."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"No weights file at {path}; pass weights='official', weights='lite' or the path of a checkpoint.")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated zip, random bytes, or a pickle needing code
        raise WeightsError(
            f"{path} is not a loadable weights file ({type(error).__name__}: {str(error).splitlines()[0][:200]}). "
            f"Only tensor checkpoints load (weights_only=True); if it is the official pickle, use weights='official'."
        ) from error
    if isinstance(loaded, dict) and loaded.get("format") == CHECKPOINT_FORMAT:
        state = loaded["state_dict"]
    elif isinstance(loaded, dict) and "state_dict" in loaded and isinstance(loaded["state_dict"], dict):
        state = loaded["state_dict"]  # e.g. a Lightning checkpoint of a network wrapper
    else:
        state = loaded
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} holds no state dict of tensors.")
    return state


def network_state(state: dict[str, torch.Tensor], source: str | Path = "the checkpoint") -> dict[str, torch.Tensor]:
    """The :class:`CDPAMNetwork` keys of a state dict (``encoder.*``, ``lossnet.*``, ``judgment.*``).

    A common prefix (``network.`` of a wrapper, a Lightning module's attribute names) is removed;
    other keys (a projection head, optimiser state) are left out.
    """
    anchor = "encoder.convs.0.weight"
    for key in state:
        if key.endswith(anchor):
            prefix = key[: -len(anchor)]
            return {
                key[len(prefix) :]: value
                for key, value in state.items()
                if key.startswith(prefix) and key[len(prefix) :].split(".")[0] in NETWORK_PARTS
            }
    raise WeightsError(
        f"{source} holds no CDPAM network (no key ending in {anchor!r}); pass weights='official' or a file written "
        f"by `cdpam train` / metric.weights.save_network."
    )


def architecture_of(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """``CDPAMNetwork`` constructor arguments read from a network state dict's shapes.

    ``{"encoder_layers": 16, "encoder_base_channels": 64}`` for the official weights.
    """
    state = network_state(state)
    convs = len({int(key.split(".")[2]) for key in state if key.startswith("encoder.convs.")})
    head = convs % 4 == 1  # layers come in fours; a pointwise head is one more
    architecture = {"encoder_layers": convs - int(head), "encoder_base_channels": int(state["encoder.convs.0.weight"].shape[0])}
    if head:
        architecture["encoder_head_channels"] = int(state[f"encoder.convs.{convs - 1}.weight"].shape[0])
    if "encoder.front_stride_value" in state:
        architecture["encoder_front_stride"] = int(state["encoder.front_stride_value"])
    front_kernel = int(state["encoder.convs.0.weight"].shape[-1])
    if front_kernel != KERNEL_SIZE:
        architecture["encoder_front_kernel"] = front_kernel
    return architecture


def full_architecture(architecture: dict[str, int]) -> dict[str, int | None]:
    """Every ``CDPAMNetwork`` constructor argument of ``architecture``, the released defaults filled in."""
    return {"encoder_layers": architecture["encoder_layers"], "encoder_base_channels": architecture["encoder_base_channels"],
            "encoder_head_channels": architecture.get("encoder_head_channels"),
            "encoder_front_stride": architecture.get("encoder_front_stride", 1),
            "encoder_front_kernel": architecture.get("encoder_front_kernel", KERNEL_SIZE)}


def lite_weights_path() -> Path:
    """The packaged CDPAM-lite checkpoint, after its sha256 matches the one this version shipped."""
    if not LITE_PATH.is_file():
        raise WeightsError(f"The CDPAM-lite weights are missing from the installed package ({LITE_PATH}); reinstall "
                           f"cdpam-plugins, or pass weights='official'.")
    digest = sha256_of(LITE_PATH)
    if digest != LITE_SHA256:
        raise WeightsError(f"{LITE_PATH} has sha256 {digest}, expected {LITE_SHA256}: the file is corrupt or altered; "
                           f"reinstall cdpam-plugins.")
    return LITE_PATH


def read_network_state(weights: str | Path = "official") -> dict[str, torch.Tensor]:
    """The network state dict of ``'official'``, ``'lite'``, an export of any width, or a Lightning checkpoint.

    Every file is read with ``weights_only=True``; a damaged converted cache of the official
    weights is rebuilt from the verified official file rather than trusted.
    """
    if str(weights) == "lite":
        return network_state(read_state_dict(lite_weights_path()), LITE_PATH)
    official = str(weights) == "official"
    path = official_weights_path() if official else Path(weights).expanduser()
    try:
        return network_state(read_state_dict(path), path)
    except WeightsError:
        if not official:
            raise
        path.unlink(missing_ok=True)
        return network_state(read_state_dict(official_weights_path()), path)


def load_network(weights: str | Path = "official") -> CDPAMNetwork:
    """A frozen, eval-mode :class:`CDPAMNetwork` from ``'official'``, ``'lite'`` or a checkpoint path of any width."""
    # The first load may happen inside torch.inference_mode() (scoring); weights made there
    # could never join a later loss computation, so they are always normal tensors.
    with torch.inference_mode(False):
        state = read_network_state(weights)
        network = _network_for(state, weights)
        missing = sorted({name for name in NETWORK_PARTS if not any(k.startswith(name + ".") for k in state)})
        if missing:
            raise WeightsError(
                f"{weights} holds no {' or '.join(missing)} weights, so it is not a complete CDPAM network; pass the "
                f"network exported by `cdpam train` (cdpam_<stage>.pt), not a training checkpoint of one part."
            )
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise WeightsError(f"{weights} does not fit the CDPAM network: {str(error).splitlines()[0]}") from error
    network.eval()
    network.requires_grad_(False)
    return network


def _network_for(state: dict[str, torch.Tensor], source: str | Path) -> CDPAMNetwork:
    architecture = architecture_of(state)
    try:
        return CDPAMNetwork(**architecture)
    except ValueError as error:
        raise WeightsError(f"{source} holds an encoder this project cannot build ({architecture}): {error}") from error


def load_parts(network: CDPAMNetwork, weights: str | Path, parts: Iterable[str]) -> list[str]:
    """Copy ``parts`` (of ``encoder``, ``lossnet``, ``judgment``) from ``weights`` into ``network``.

    Training starts a stage from another stage's export or the official weights this way; the
    encoder's architecture must match (the error says which ``model.*`` settings do).
    """
    parts = list(parts)
    unknown = [part for part in parts if part not in NETWORK_PARTS]
    if unknown:
        raise ValueError(f"unknown network parts {unknown}; choose from {', '.join(NETWORK_PARTS)}")
    state = read_network_state(weights)
    wanted, found = network.architecture, architecture_of(state)
    if "encoder" in parts and wanted != found:
        settings = " ".join(f"model.{key}={'null' if value is None else value}" for key, value in full_architecture(found).items())
        raise WeightsError(
            f"{weights} holds an encoder of architecture {found}, but this run builds {wanted}: set {settings} "
            f"(model=full for the official weights), or start from another checkpoint."
        )
    for part in parts:
        sub = {key[len(part) + 1 :]: value for key, value in state.items() if key.startswith(part + ".")}
        if not sub:
            raise WeightsError(f"{weights} holds no '{part}' weights; drop it from stage.init_parts")
        try:
            getattr(network, part).load_state_dict(sub, strict=True)
        except RuntimeError as error:
            raise WeightsError(
                f"the '{part}' weights of {weights} do not fit this network: {str(error).splitlines()[0]}"
            ) from error
    return parts
