"""The CDPAM term of MelGAN+CDPAM (Manocha et al., ICASSP 2021, §4.3).

MelGAN+CDPAM keeps MelGAN's generator objective and adds
``w · CDPAM(real segment, generated segment)``. CDPAM costs about one CPU-second
per second of 22 kHz audio and pass, so it is scored on a random
``segment_seconds`` sub-segment of each item (``CDPAMLoss(segment_seconds=...)``).
"""

from __future__ import annotations

from torch import nn

from cdpam_plugins import CDPAMLoss

SAMPLE_RATE = 22050


def build_cdpam_loss(weight: float, segment_seconds: float | None, sample_rate: int = SAMPLE_RATE) -> nn.Module:
    """``loss(generated, real) -> scalar``: the weighted CDPAM distance, averaged over the batch."""
    return CDPAMLoss(sample_rate=sample_rate, weight=weight, segment_seconds=segment_seconds)
