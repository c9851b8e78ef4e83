"""CDPAM perceptual audio distance: model, weights, input layer and functional API.

The public surface is :data:`__all__`; everything else in the package is an
implementation detail that may change.
"""

from ._version import __version__
from .atomic import atomic_torch_save, atomic_write_bytes
from .audio import MODEL_SAMPLE_RATE, AudioInputError
from .functional import cdpam_distance
from .io import read_audio
from .model import CDPAMNetwork
from .module import CDPAM
from .resample import resample as resample_waveform
from .stft_loss import MultiResolutionSTFTLoss
from .weights import WeightsError, load_network, save_network

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
            "stoi", "si_sdr", "toy", "prepare_enhancement_data", "read_enhancement_manifest"]

# Loaded on first use, so that `import metric` stays light.
_LAZY = {"composite": "metric.evaluate.composite", "pesq": "metric.evaluate.pesq_stoi", "stoi": "metric.evaluate.pesq_stoi",
         "si_sdr": "metric.evaluate.scorers", "toy": "metric.data.toy", "prepare_enhancement_data": "metric.data.enhancement",
         "read_enhancement_manifest": "metric.data.enhancement"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return module if name == "toy" else getattr(module, name)
    raise AttributeError(f"module 'metric' has no attribute {name!r}")
