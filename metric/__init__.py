"""CDPAM perceptual audio distance: model, weights, input layer and functional API.

The public surface is :data:`__all__`; everything else in the package is an
implementation detail that may change.

Every public name is imported on first use (PEP 562), so that ``import metric`` and the
``cdpam`` command's argument parsing stay light: torch loads when a name that needs it is
first touched, not before.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._version import __version__

__all__ = [
    "cdpam_distance",
    "CDPAM",
    "CDPAMNetwork",
    "load_network",
    "save_network",
    "AudioInputError",
    "WeightsError",
    "MODEL_SAMPLE_RATE",
]
# What the recipes use beside the metric: audio files, resampling, losses, standard measures, corpora.
__all__ += ["read_audio", "resample_waveform", "MultiResolutionSTFTLoss", "atomic_torch_save", "atomic_write_bytes",
            "composite", "pesq",
            "stoi", "si_sdr", "toy", "prepare_enhancement_data", "read_enhancement_manifest",
            "prepare_toy_test_set"]
# Quiet runs: the notices of dependencies that cannot be fixed here, filtered in one place.
__all__ += ["ignoring_dependency_warnings", "hide_lightning_tips"]
__all__ += ["score_folders"]  # whole corpora: many pairs, several systems, all cores, torchrun

# public name -> (module, attribute); the attribute None means the module itself
_LAZY = {
    "cdpam_distance": ("metric.functional", "cdpam_distance"),
    "CDPAM": ("metric.module", "CDPAM"),
    "CDPAMNetwork": ("metric.model", "CDPAMNetwork"),
    "load_network": ("metric.weights", "load_network"),
    "save_network": ("metric.weights", "save_network"),
    "WeightsError": ("metric.weights", "WeightsError"),
    "AudioInputError": ("metric.audio", "AudioInputError"),
    "MODEL_SAMPLE_RATE": ("metric.audio", "MODEL_SAMPLE_RATE"),
    "read_audio": ("metric.io", "read_audio"),
    "resample_waveform": ("metric.resample", "resample"),
    "MultiResolutionSTFTLoss": ("metric.stft_loss", "MultiResolutionSTFTLoss"),
    "atomic_torch_save": ("metric.atomic", "atomic_torch_save"),
    "atomic_write_bytes": ("metric.atomic", "atomic_write_bytes"),
    "composite": ("metric.evaluate.composite", "composite"),
    "pesq": ("metric.evaluate.pesq_stoi", "pesq"),
    "stoi": ("metric.evaluate.pesq_stoi", "stoi"),
    "si_sdr": ("metric.evaluate.scorers", "si_sdr"),
    "toy": ("metric.data.toy", None),
    "prepare_enhancement_data": ("metric.data.enhancement", "prepare_enhancement_data"),
    "read_enhancement_manifest": ("metric.data.enhancement", "read_enhancement_manifest"),
    "prepare_toy_test_set": ("metric.data.noisy_sets", "prepare_toy_test_set"),
    "ignoring_dependency_warnings": ("metric.dependency_warnings", "ignoring_dependency_warnings"),
    "hide_lightning_tips": ("metric.dependency_warnings", "hide_lightning_tips"),
    "score_folders": ("metric.scoring", "score_folders"),
}

if _TYPE_CHECKING:  # the same names for type checkers and IDEs
    from .atomic import atomic_torch_save, atomic_write_bytes
    from .audio import MODEL_SAMPLE_RATE, AudioInputError
    from .data import toy
    from .data.enhancement import prepare_enhancement_data, read_enhancement_manifest
    from .data.noisy_sets import prepare_toy_test_set
    from .dependency_warnings import hide_lightning_tips, ignoring_dependency_warnings
    from .evaluate.composite import composite
    from .evaluate.pesq_stoi import pesq, stoi
    from .evaluate.scorers import si_sdr
    from .functional import cdpam_distance
    from .io import read_audio
    from .model import CDPAMNetwork
    from .module import CDPAM
    from .resample import resample as resample_waveform
    from .stft_loss import MultiResolutionSTFTLoss
    from .weights import WeightsError, load_network, save_network


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'metric' has no attribute {name!r}")
    import importlib

    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
