"""CDPAM perceptual audio distance: model, weights, input layer and functional API."""

from .audio import MODEL_SAMPLE_RATE, AudioInputError
from .functional import cdpam_distance
from .module import CDPAM
from .weights import WeightsError

__all__ = ["CDPAM", "cdpam_distance", "AudioInputError", "WeightsError", "MODEL_SAMPLE_RATE"]
__version__ = "0.1.0"
