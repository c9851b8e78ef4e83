"""Metrics scored on the same pairs through one interface.

A :class:`Scorer` turns ``(reference, degraded, sample_rate)`` into a number and knows
whether higher means better. Protocols consume *distances* (larger = more different):
``Scorer.distance`` negates "higher is better" scores (PESQ, STOI, SI-SDR, CSIG, ...),
so every protocol treats every metric the same way.

Available names (:func:`build_scorer`):

==========  ==============================================================  =========
name        what                                                            better
==========  ==============================================================  =========
cdpam       CDPAM with the official weights (:func:`metric.cdpam_distance`)  lower
mse         mean squared error of the waveforms                             lower
sisdr       scale-invariant SDR in dB (Le Roux et al., ICASSP 2019)         higher
lsd         log-spectral distance in dB (32 ms Hann frames, 8 ms hop)       lower
mrstft      multi-resolution STFT distance (:mod:`metric.stft_loss`:        lower
            spectral convergence + log-magnitude L1 at FFT 512/1024/2048)
pesq        PESQ MOS-LQO (:func:`.pesq_stoi.pesq`; wide-band at 16 kHz,     higher
            narrow-band at 8 kHz, other rates resampled to 16 kHz)
stoi        STOI (:func:`.pesq_stoi.stoi`)                                  higher
csig/cbak/  Hu & Loizou composite measures (:mod:`.composite`; 16 kHz,      higher
covl        other rates resampled as for PESQ)
==========  ==============================================================  =========

A checkpoint trained with this project is scored as ``checkpoint:PATH`` (or
``--weights PATH`` on the command line). :func:`build_scorers` adds two *baselines* by
default, so that every report shows what a trivial metric reaches on the same pairs:
``mse``, and for each CDPAM network width an untrained network of that width
(``untrained[LxB]``: L layers, base width B, seeded initialisation, its own random
loss-net as distance). DPAM's weights are not distributable
offline, so only CDPAM's official weights (from the ``cdpam`` PyPI package) are
available as a learned baseline.
"""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path
from typing import Callable, Hashable, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from .pesq_stoi import pesq, stoi, to_pesq_rate

Pair = tuple[Hashable, Hashable]


class Scorer:
    """A full-reference metric: ``score(reference, degraded, sample_rate) -> float``.

    Subclasses may override :meth:`distances` to score many pairs at once (CDPAM
    embeds each distinct recording only once).
    """

    def __init__(self, name: str, function: Callable[[np.ndarray, np.ndarray, int], float], higher_is_better: bool):
        self.name = name
        self.function = function
        self.higher_is_better = higher_is_better

    def __repr__(self) -> str:
        return f"Scorer({self.name!r}, higher_is_better={self.higher_is_better})"

    def score(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        """The metric's own value (NaN if the metric cannot score this pair, e.g. PESQ on silence)."""
        try:
            return float(self.function(np.asarray(reference, np.float64), np.asarray(degraded, np.float64), sample_rate))
        except Exception as error:  # noqa: BLE001 - one unscorable pair must not end a long evaluation
            if isinstance(error, (TypeError, KeyboardInterrupt)):
                raise
            warnings.warn(f"{self.name}: could not score a pair ({type(error).__name__}: {error}); using NaN")
            return float("nan")

    def distance(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        """Larger = more different: the score, negated when higher is better."""
        value = self.score(reference, degraded, sample_rate)
        return -value if self.higher_is_better else value

    def distances(
        self, clips: Mapping[Hashable, np.ndarray], pairs: Sequence[Pair], sample_rate: int, progress: bool = True
    ) -> np.ndarray:
        """Distances of ``(reference_key, degraded_key)`` pairs of ``clips``."""
        iterator = tqdm(pairs, desc=self.name, unit="pair", leave=False, disable=not progress)
        return np.array([self.distance(clips[r], clips[d], sample_rate) for r, d in iterator], dtype=np.float64)


# ---------------------------------------------------------------- signal baselines


def mse(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
    """Mean squared error of the waveforms."""
    return float(np.mean((reference - degraded) ** 2))


def si_sdr(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
    """Scale-invariant SDR in dB (Le Roux, Wisdom, Erdogan, Hershey, ICASSP 2019), zero-mean signals."""
    # Products summed explicitly: np.dot on long vectors goes through (possibly contended) BLAS threads.
    reference = reference - reference.mean()
    degraded = degraded - degraded.mean()
    eps = np.finfo(np.float64).eps
    target = (np.sum(degraded * reference) / (np.sum(reference * reference) + eps)) * reference
    residual = degraded - target
    return float(10 * np.log10((np.sum(target * target) + eps) / (np.sum(residual * residual) + eps)))


def _magnitude(x: np.ndarray, n_fft: int, hop: int, window_length: int) -> np.ndarray:
    """``[frames, bins]`` STFT magnitude with a centred Hann window of ``window_length``."""
    window = np.zeros(n_fft)
    start = (n_fft - window_length) // 2
    window[start : start + window_length] = np.hanning(window_length)
    padded = np.pad(x, (n_fft // 2, n_fft // 2), mode="reflect" if len(x) > n_fft // 2 else "constant")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop] * window
    return np.abs(np.fft.rfft(frames, axis=1))


def log_spectral_distance(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
    """Mean over frames of the RMS (over frequency) difference of the log power spectra, in dB."""
    length = int(round(0.032 * sample_rate))
    n_fft = int(2 ** np.ceil(np.log2(length)))
    hop = int(round(0.008 * sample_rate))
    floor = 1e-10
    ref_db = 10 * np.log10(_magnitude(reference, n_fft, hop, length) ** 2 + floor)
    deg_db = 10 * np.log10(_magnitude(degraded, n_fft, hop, length) ** 2 + floor)
    return float(np.mean(np.sqrt(np.mean((ref_db - deg_db) ** 2, axis=1))))


MRSTFT_MAGNITUDE_FLOOR = 1e-7


def multi_resolution_stft_distance(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
    """Spectral convergence + log-magnitude distance of :class:`metric.stft_loss.MultiResolutionSTFTLoss`.

    Yamamoto, Song, Kim, ICASSP 2020 (the loss DEMUCS trains with); the resolutions scale with
    the sample rate from their 16 kHz values; magnitudes are floored at 1e-7.
    """
    import torch

    from metric.stft_loss import DEFAULT_RESOLUTIONS, MultiResolutionSTFTLoss

    scale = sample_rate / 16000
    resolutions = [tuple(max(2, int(round(v * scale))) for v in resolution) for resolution in DEFAULT_RESOLUTIONS]
    loss = MultiResolutionSTFTLoss(resolutions, magnitude_floor=MRSTFT_MAGNITUDE_FLOOR)
    with torch.no_grad():
        convergence, log_magnitude = loss(torch.from_numpy(np.asarray(degraded, np.float64)),
                                          torch.from_numpy(np.asarray(reference, np.float64)))
    return float(convergence + log_magnitude)


def _composite_measure(key: str) -> Callable[[np.ndarray, np.ndarray, int], float]:
    def measure(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        from .composite import composite

        if sample_rate not in (8000, 16000):
            reference, _ = to_pesq_rate(reference, sample_rate)
            degraded, sample_rate = to_pesq_rate(degraded, sample_rate)
        return float(composite(reference, degraded, sample_rate)[key])

    measure.__name__ = key
    return measure


# ---------------------------------------------------------------- CDPAM


class CDPAMScorer(Scorer):
    """CDPAM distance from the official weights, a checkpoint of this project or a :class:`metric.CDPAMNetwork`.

    Pairs are scored from cached acoustic embeddings: each distinct recording runs
    through the encoder once, however many pairs it is part of (an all-pairs
    retrieval test costs N encoder passes, not N^2).
    """

    def __init__(self, weights: str | Path | object = "official", name: str | None = None, batch_size: int = 4):
        from metric.model import CDPAMNetwork
        from metric.weights import NAMED_WEIGHTS

        super().__init__(name or "cdpam", self._pair_distance, higher_is_better=False)
        self.weights = weights if isinstance(weights, CDPAMNetwork) or str(weights) in NAMED_WEIGHTS else Path(weights)
        self.batch_size = batch_size
        self._embeddings: dict[tuple, object] = {}
        self._metrics: dict[int, object] = {}
        self.metric(22050)  # loads the weights now: a bad path fails here, with a clear error

    def metric(self, sample_rate: int):
        """The :class:`metric.CDPAM` for audio at ``sample_rate`` (one per rate; the network is shared)."""
        if sample_rate not in self._metrics:
            from metric.module import CDPAM

            self._metrics[sample_rate] = CDPAM(sample_rate, weights=self.weights)
        return self._metrics[sample_rate]

    def _pair_distance(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        import torch

        with torch.no_grad():
            return float(self.metric(sample_rate)(reference.astype(np.float32), degraded.astype(np.float32))[0])

    @staticmethod
    def cache_key(key: Hashable, waveform: np.ndarray, sample_rate: int) -> tuple:
        # The audio's checksum is part of the key: two test sets may reuse a name for other audio.
        audio = np.ascontiguousarray(waveform, dtype=np.float32)
        return (key, sample_rate, len(audio), zlib.crc32(audio.tobytes()))

    def embed(self, clips: Mapping[Hashable, np.ndarray], keys: Sequence[Hashable], sample_rate: int, progress: bool = True) -> dict:
        """Acoustic embeddings of ``keys`` (cached; same-length clips are batched together)."""
        import torch

        metric = self.metric(sample_rate)
        cache_keys = {key: self.cache_key(key, clips[key], sample_rate) for key in dict.fromkeys(keys)}
        missing = [key for key, cache_key in cache_keys.items() if cache_key not in self._embeddings]
        by_length: dict[int, list[Hashable]] = {}
        for key in missing:
            by_length.setdefault(len(clips[key]), []).append(key)
        bar = tqdm(total=len(missing), desc=f"{self.name} embeddings", unit="clip", leave=False, disable=not progress)
        for group in by_length.values():
            for start in range(0, len(group), self.batch_size):
                batch_keys = group[start : start + self.batch_size]
                batch = torch.from_numpy(np.stack([np.asarray(clips[k], np.float32) for k in batch_keys]))
                for key, row in zip(batch_keys, metric.embed(batch)):
                    self._embeddings[cache_keys[key]] = row
                bar.update(len(batch_keys))
        bar.close()
        return {key: self._embeddings[cache_key] for key, cache_key in cache_keys.items()}

    def distances(
        self, clips: Mapping[Hashable, np.ndarray], pairs: Sequence[Pair], sample_rate: int, progress: bool = True
    ) -> np.ndarray:
        import torch

        if not pairs:
            return np.zeros(0)
        metric = self.metric(sample_rate)
        embeddings = self.embed(clips, [key for pair in pairs for key in pair], sample_rate, progress)
        result = []
        with torch.no_grad():
            for start in range(0, len(pairs), 4096):
                chunk = pairs[start : start + 4096]
                ref = torch.stack([embeddings[r] for r, _ in chunk])
                deg = torch.stack([embeddings[d] for _, d in chunk])
                result.append(metric.distance_from_embeddings(ref, deg).double().numpy())
        return np.concatenate(result)

    def clear_cache(self) -> None:
        self._embeddings.clear()

    @property
    def architecture(self) -> dict[str, int]:
        """``encoder_layers`` and ``encoder_base_channels`` of the network scored."""
        return self.metric(22050).network.architecture


def untrained_network(architecture: dict[str, int], seed: int = 0):
    """A :class:`metric.CDPAMNetwork` of ``architecture`` at its seeded random initialisation (eval mode)."""
    import torch

    from metric.model import CDPAMNetwork

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CDPAMNetwork(**architecture).eval()


def untrained_scorer(architecture: dict[str, int], seed: int = 0) -> CDPAMScorer:
    """The baseline row of a CDPAM network: the same architecture, untrained (``untrained[LxB]``)."""
    name = f"untrained[{architecture['encoder_layers']}x{architecture['encoder_base_channels']}]"
    return CDPAMScorer(untrained_network(architecture, seed), name=name)


# ---------------------------------------------------------------- registry

_SIGNAL_METRICS: dict[str, tuple[Callable[[np.ndarray, np.ndarray, int], float], bool]] = {
    "mse": (mse, False),
    "sisdr": (si_sdr, True),
    "lsd": (log_spectral_distance, False),
    "mrstft": (multi_resolution_stft_distance, False),
    "pesq": (pesq, True),
    "stoi": (stoi, True),
    "csig": (_composite_measure("csig"), True),
    "cbak": (_composite_measure("cbak"), True),
    "covl": (_composite_measure("covl"), True),
}
METRIC_NAMES: tuple[str, ...] = ("cdpam", "cdpam_lite", *_SIGNAL_METRICS)
FAST_METRICS: tuple[str, ...] = ("mse", "sisdr", "lsd", "mrstft")
DEFAULT_METRICS: tuple[str, ...] = ("cdpam", "mse", "sisdr", "lsd", "mrstft", "pesq", "stoi")


def build_scorer(name: str) -> Scorer:
    """A scorer by name: one of :data:`METRIC_NAMES` (``cdpam_lite``: the distilled approximation), or ``checkpoint:PATH``."""
    name = name.strip()
    if name == "cdpam":
        return CDPAMScorer("official", name="cdpam")
    if name in ("cdpam_lite", "checkpoint:lite"):
        return CDPAMScorer("lite", name="cdpam_lite")
    if name.startswith("checkpoint:"):
        path = Path(name.split(":", 1)[1]).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist; pass the .pt file written by `cdpam train`")
        return CDPAMScorer(path, name=f"cdpam[{path.stem}]")
    if name in _SIGNAL_METRICS:
        function, higher_is_better = _SIGNAL_METRICS[name]
        return Scorer(name, function, higher_is_better)
    raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRIC_NAMES)} or checkpoint:PATH")


def build_scorers(names: Sequence[str], weights: Sequence[str | Path] = (), baselines: bool = True) -> list[Scorer]:
    """Scorers for ``names`` plus one ``cdpam[...]`` scorer per checkpoint in ``weights``.

    With ``baselines`` (default), ``mse`` is added if absent and, after the CDPAM scorers, one
    untrained network per distinct architecture among them (:func:`untrained_scorer`).
    """
    scorers = [build_scorer(name) for name in names if name]
    scorers += [build_scorer(f"checkpoint:{path}") for path in weights]
    if baselines:
        if not any(s.name == "mse" for s in scorers):
            scorers.append(build_scorer("mse"))
        architectures = [s.architecture for s in scorers if isinstance(s, CDPAMScorer)]
        for architecture in [dict(t) for t in dict.fromkeys(tuple(sorted(a.items())) for a in architectures)]:
            scorers.append(untrained_scorer(architecture))
    seen = set()
    for scorer in scorers:
        if scorer.name in seen:
            raise ValueError(f"metric {scorer.name!r} requested twice")
        seen.add(scorer.name)
    return scorers
