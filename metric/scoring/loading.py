"""Reading, checking and batching the recordings of a corpus, and scoring one batch.

:class:`RowDataset` turns a :class:`~metric.scoring.corpus.Row` into model input: every file
is read (:func:`metric.io.read_audio`), downmixed by the channel policy, checked and
converted by the one input contract (:func:`metric.audio.to_model_input`: the same
resampler and scaling as :func:`metric.cdpam_distance`), so a recording is ready for the
network when it leaves a loader worker. A row's reference is prepared once, whatever the
number of systems, and once per distinct length when ``trim`` cuts it to different estimates.

:class:`Collate` pads a batch's recordings into one ``[N, 1, T]`` tensor with lengths and,
given a network, scores it right there (:func:`score_batch`), so that on a CPU the loader
workers are also the compute processes; on a GPU the main process scores the batches the
workers prepared. Failures are recorded per pair with their reason; they never stop a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..audio import AudioInputError, PreparedBatch, to_model_input
from ..functional import distance_between_embeddings, embedding_from_prepared
from ..io import AudioFileError, read_audio
from .corpus import Row

MISSING_ESTIMATE = "no file of that name in the estimate folder"
MISSING_REFERENCE = "no file of that name in the reference folder"


@dataclass
class LoadedRow:
    """A row's recordings as model input and the pairs among them."""

    index: int
    recordings: list[torch.Tensor] = field(default_factory=list)  # [T] at 22,050 Hz, int16 range
    pairs: list[tuple[int, int, int]] = field(default_factory=list)  # (system, reference recording, estimate recording)
    errors: dict[int, str] = field(default_factory=dict)  # system -> why it has no distance
    seconds: dict[int, float] = field(default_factory=dict)  # system -> seconds of audio in the pair


@dataclass
class RowResult:
    """What a row produced: a distance or an error per system, and the audio seconds scored."""

    index: int
    distances: dict[int, float]
    errors: dict[int, str]
    seconds: dict[int, float]


@dataclass
class Batch:
    """Rows whose recordings are padded into one ``[N, 1, T]`` waveform (``None`` when there are none)."""

    rows: list[LoadedRow]
    waveform: torch.Tensor | None
    lengths: torch.Tensor | None


def to_mono(samples: np.ndarray, channels: str, path: Path) -> np.ndarray:
    """``[C, T]`` samples of ``path`` → ``[T]`` by the channel policy (``mean``, ``first`` or ``error``)."""
    if samples.shape[0] == 1:
        return samples[0]
    if channels == "mean":
        return samples.mean(axis=0)
    if channels == "first":
        return samples[0]
    raise AudioInputError(f"{path} has {samples.shape[0]} channels; pass --channels mean or --channels first")


def _model_input(audio: np.ndarray, rate: int, name: str) -> torch.Tensor:
    return to_model_input(torch.from_numpy(np.ascontiguousarray(audio)), rate, name=name).waveform[0, 0]


def _failure(error: Exception) -> str:
    if isinstance(error, (AudioFileError, AudioInputError)):
        return str(error)
    return f"unexpected {type(error).__name__}: {error}"  # one odd file must not end a corpus run


def load_row(row: Row, index: int, channels: str = "mean", trim: bool = False) -> LoadedRow:
    """Read and prepare ``row``: its reference once, each system's estimate, or why not."""
    loaded = LoadedRow(index)
    present = [s for s, estimate in enumerate(row.estimates) if estimate is not None]
    if row.reference is None:
        loaded.errors.update((s, MISSING_REFERENCE) for s in present)
        return loaded
    loaded.errors.update((s, MISSING_ESTIMATE) for s, estimate in enumerate(row.estimates) if estimate is None)
    if not present:
        return loaded
    try:
        samples, rate = read_audio(row.reference)
        reference = to_mono(samples, channels, Path(row.reference))
    except Exception as error:
        loaded.errors.update((s, _failure(error)) for s in present)
        return loaded
    reference_by_length: dict[int, int] = {}  # samples -> recording index
    for s in present:
        path = Path(row.estimates[s])
        try:
            samples, estimate_rate = read_audio(path)
            if estimate_rate != rate:
                raise AudioInputError(f"sample rates differ ({rate} vs {estimate_rate} Hz); resample one of the files")
            estimate = to_mono(samples, channels, path)
            common = min(len(reference), len(estimate))
            if len(reference) != len(estimate) and not trim:
                raise AudioInputError(
                    f"lengths differ ({len(reference)} vs {len(estimate)} samples); pass --trim to score the common part"
                )
            if common not in reference_by_length:
                prepared = _model_input(reference[:common], rate, "reference")
                reference_by_length[common] = len(loaded.recordings)
                loaded.recordings.append(prepared)
            prepared = _model_input(estimate[:common], rate, "estimate")
            loaded.recordings.append(prepared)
            loaded.pairs.append((s, reference_by_length[common], len(loaded.recordings) - 1))
            loaded.seconds[s] = common / rate
        except Exception as error:
            loaded.errors[s] = _failure(error)
    return loaded


class RowDataset(torch.utils.data.Dataset):
    """Row ``i`` of a corpus, read and prepared (in a loader worker when there are workers)."""

    def __init__(self, rows: tuple[Row, ...], channels: str = "mean", trim: bool = False):
        self.rows, self.channels, self.trim = rows, channels, trim

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> LoadedRow:
        return load_row(self.rows[index], index, self.channels, self.trim)


def pad_batch(rows: list[LoadedRow]) -> Batch:
    """All recordings of ``rows`` zero-padded into one ``[N, 1, T]`` tensor, lengths when they differ."""
    recordings = [r for row in rows for r in row.recordings]
    if not recordings:
        return Batch(rows, None, None)
    lengths = torch.tensor([len(r) for r in recordings], dtype=torch.int64)
    waveform = torch.zeros(len(recordings), 1, int(lengths.max()))
    for i, recording in enumerate(recordings):
        waveform[i, 0, : len(recording)] = recording
    return Batch(rows, waveform, None if bool((lengths == lengths[0]).all()) else lengths)


def score_batch(network, batch: Batch, device: torch.device | str = "cpu") -> list[RowResult]:
    """Distances of every pair in ``batch``: one encoder call for all its recordings, one loss-net call."""
    results = [RowResult(row.index, {}, dict(row.errors), dict(row.seconds)) for row in batch.rows]
    if batch.waveform is None:
        return results
    references, estimates, cells = [], [], []
    offset = 0
    for result, row in zip(results, batch.rows):
        for system, reference, estimate in row.pairs:
            references.append(offset + reference)
            estimates.append(offset + estimate)
            cells.append((result, system))
        offset += len(row.recordings)
    try:
        lengths = None if batch.lengths is None else batch.lengths.to(device)
        embeddings = embedding_from_prepared(network, PreparedBatch(batch.waveform.to(device), lengths))
        with torch.inference_mode():
            distances = distance_between_embeddings(network, embeddings[references], embeddings[estimates]).cpu().tolist()
        for (result, system), distance in zip(cells, distances):
            result.distances[system] = distance
    except Exception as error:  # e.g. out of memory: this batch's pairs fail, the run goes on
        for result, system in cells:
            result.errors[system] = _failure(error)
            result.seconds.pop(system, None)
    return results


class Collate:
    """The loader's ``collate_fn``: pad the batch, and score it too when given a network (CPU workers)."""

    def __init__(self, network=None):
        self.network = network

    def __call__(self, rows: list[LoadedRow]) -> Batch | list[RowResult]:
        batch = pad_batch(rows)
        return batch if self.network is None else score_batch(self.network, batch)
