"""Log-magnitude spectrograms of one file as processed by several models, on one colour scale per panel."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np

from .measures import SAMPLE_RATE


def spectrogram_png(signals: Mapping[str, np.ndarray], path: str | Path, title: str, columns: int = 1) -> Path:
    """One panel per signal (named by its key), ``columns`` panels side by side; 80 dB range below each panel's peak."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import stft

    rows = math.ceil(len(signals) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.5 * columns if columns > 1 else 9, 2.0 * rows),
                             sharex=True, sharey=True, squeeze=False)
    for axis, (name, signal) in zip(axes.flat, signals.items()):
        freqs, times, spec = stft(signal, SAMPLE_RATE, nperseg=512, noverlap=384)
        level = 20 * np.log10(np.abs(spec) + 1e-8)
        axis.pcolormesh(times, freqs / 1000, level, vmin=level.max() - 80, vmax=level.max(), shading="auto", cmap="magma")
        axis.set_title(name, fontsize=9, loc="left")
    for axis in axes.flat[len(signals):]:
        axis.set_visible(False)
    for axis in axes[:, 0]:
        axis.set_ylabel("kHz")
    for axis in axes[-1, :]:
        axis.set_xlabel("time (s)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
