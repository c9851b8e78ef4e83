"""Scoring a corpus: :func:`score_folders`, the engine behind ``cdpam score``.

One run, in one process or in each process of ``torchrun``:

1. rank 0 lists the rows (:mod:`.corpus`), reads their durations from the file headers, plans
   length-sorted batches (:mod:`.batching`) and, with ``resume``, drops the batches the output
   file already holds; every process gets the same plan;
2. each process takes every ``world``-th pending batch; loader workers read, check and resample
   the audio (:mod:`.loading`) in the background. On a CPU each worker also runs the network on
   its batch (worker processes with one thread each use the cores better than one process's
   threads do, and decoding overlaps with computing); on a GPU the main process does;
3. after every batch the processes exchange their results; rank 0 appends them to the output
   file (:mod:`.output`) and updates the progress display (:mod:`.progress`);
4. at the end rank 0 rewrites the file in table order. Every process returns the whole table.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import torch

from ..atomic import atomic_write_bytes
from ..functional import Weights, resolve_network
from . import distributed
from .batching import plan_batches
from .corpus import Corpus, Source, collect_corpus, probe_seconds
from .loading import Collate, RowDataset, RowResult, score_batch
from .output import FORMATS, INCREMENTAL_FORMATS, ResultFile, ResumeError, format_from_suffix, render
from .progress import Progress, RunTotals

if TYPE_CHECKING:
    import pandas

# Padded audio per batch. On a CPU big batches bring nothing (the convolutions are already large
# at batch 1 and larger activations leave the caches): a few recordings amortise the per-call
# work and leave enough batches to keep every worker busy to the end. A GPU needs big batches
# (not measured here: no GPU on the development machine).
DEFAULT_BATCH_SECONDS = {"cpu": 4.0, "gpu": 60.0}
MAX_DEFAULT_WORKERS = 8  # each CPU worker holds a copy of the folded weights (~100 MB) and a batch's activations


@dataclass
class Shard:
    """This process's share of a run: ``batches`` of the ``of`` batches scored, as process ``rank`` of ``world``."""

    rank: int = 0
    world: int = 1
    batches: int = 0
    of: int = 0


class ScoreTable(list):
    """The result table: a list of records (dicts, one per reference) with the run's context.

    Attributes:
        names: each record's name, in record order: the relative path without extension (the
            estimate's file name when files are scored).
        systems: the estimate folders' names, one distance column each.
        columns: the record keys in order (``reference``, ``estimate``, ``distance``, ``error``
            for one system; ``estimate:NAME``, ``distance:NAME``, ``error:NAME`` for several).
        totals: pairs scored, failures, audio seconds and wall time of this run
            (:class:`~metric.scoring.progress.RunTotals`; a resumed run counts only what it scored).
        shard: the batches this process scored (:class:`Shard`; all of them without ``torchrun``).
    """

    def __init__(self, records, names: Sequence[str], systems: tuple[str, ...], columns: list[str], totals: RunTotals,
                 shard: Shard | None = None):
        super().__init__(records)
        self.names, self.systems, self.columns, self.totals = list(names), systems, columns, totals
        self.shard = shard or Shard()

    def _column(self, field: str, system: str) -> str:
        if system not in self.systems:
            raise KeyError(f"no system {system!r} in this table; its systems are {list(self.systems)}")
        return field if len(self.systems) == 1 else f"{field}:{system}"

    def distances(self, system: str) -> dict[str, float | None]:
        """``{name: distance}`` of one system (``None`` where the pair failed or is missing)."""
        column = self._column("distance", system)
        return {name: record[column] for name, record in zip(self.names, self)}

    def errors(self, system: str) -> dict[str, str]:
        """``{name: reason}`` of one system's pairs that have no distance."""
        column = self._column("error", system)
        return {name: record[column] for name, record in zip(self.names, self) if record[column] is not None}

    @property
    def failed(self) -> int:
        """Pairs that have an error instead of a distance (missing partners included)."""
        return sum(record[c] is not None for record in self for c in self.columns if c.startswith("error"))

    def to_dataframe(self):
        """The table as a ``pandas.DataFrame`` (systems and totals in ``.attrs``)."""
        try:
            import pandas
        except ImportError as error:
            raise ImportError("a DataFrame needs pandas: pip install pandas (or use the list of records)") from error
        frame = pandas.DataFrame(list(self), columns=self.columns, index=pandas.Index(self.names, name="name"))
        frame.attrs.update(systems=list(self.systems), totals=vars(self.totals).copy())
        return frame


@dataclass
class Resources:
    """Where the work runs: loader workers, threads per computing process, and who runs the network."""

    workers: int
    threads: int
    network_in_workers: bool


def choose_resources(device: torch.device, workers: int | None, threads: int | None, local_world: int = 1) -> Resources:
    """Defaults that use this process's share of the cores (all of them without ``torchrun``).

    CPU: one worker per core, each reading its batch and running the network on one thread
    (on a busy machine a process's threads wait for one another at every operation: one
    thread per process measured several times faster there); ``workers=0`` runs everything
    in this process. GPU: up to 4 workers read and resample while this process runs the
    network. Threads never exceed ``torch.get_num_threads()`` (``OMP_NUM_THREADS``) unless asked.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    share = max(1, cores // max(1, local_world))
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be 0 or more, got {workers}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be 1 or more, got {threads}")
    if device.type != "cpu":
        return Resources(min(4, share) if workers is None else workers, threads or 1, False)
    if workers is None:
        workers = min(share, MAX_DEFAULT_WORKERS) if threads is None else max(1, share // threads)
    if threads is None:
        threads = max(1, min(torch.get_num_threads(), share // max(1, workers)))
    return Resources(workers, threads, workers > 0)


def _set_worker_threads(threads: int, _worker_id: int) -> None:
    torch.set_num_threads(threads)


def _loader(dataset: RowDataset, batches: list[list[int]], network, resources: Resources, pin_memory: bool):
    workers = resources.workers
    if workers == 0:
        context = None
    elif resources.threads == 1 and sys.platform.startswith("linux"):
        context = "fork"  # cheap, and the weights are shared; safe while workers keep to one thread
    else:
        context = "spawn"  # a forked child of a process that ran OpenMP threads may hang when it starts its own
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=Collate(network if resources.network_in_workers else None),
        num_workers=workers,
        worker_init_fn=partial(_set_worker_threads, resources.threads) if workers else None,
        multiprocessing_context=context,
        prefetch_factor=2 if workers else None,
        pin_memory=pin_memory,
        in_order=False,  # batches are written as they finish; the final file is put in order at the end
    )


def _record(corpus: Corpus, result: RowResult) -> dict:
    row = corpus.rows[result.index]
    record = {"reference": row.reference or ""}
    for field in ("estimate", "distance", "error"):
        for system, estimate in enumerate(row.estimates):
            value = {"estimate": estimate or "", "distance": result.distances.get(system), "error": result.errors.get(system)}
            record[field + corpus.column_suffix(system)] = value[field]
    return record


@dataclass
class Plan:
    """What this run computes (pending batches) and keeps (records done by an earlier run)."""

    pending: list[list[int]]
    done: dict[int, dict]
    total_pairs: int
    total_seconds: float


def _plan(corpus: Corpus, batch_seconds: float, output: ResultFile | None, resume: bool) -> Plan:
    rows = corpus.rows
    durations = [probe_seconds(row.reference or next((e for e in row.estimates if e), None)) for row in rows]
    present = [sum(e is not None for e in row.estimates) for row in rows]
    recordings = [1 + n if row.reference is not None and n else 0 for row, n in zip(rows, present)]
    batches = plan_batches(durations, recordings, batch_seconds)
    done: dict[int, dict] = {}
    if resume and output is not None:
        by_identity = {row.identity: i for i, row in enumerate(rows)}
        previous = {}
        for record in output.read_done():
            identity = (record["reference"], *(record[c] for c in corpus.columns if c.startswith("estimate")))
            if identity not in by_identity:
                raise ResumeError(
                    f"{output.path} holds a row for {identity[0] or identity[1:]} that this run does not score; resume "
                    f"with the same reference and estimate paths, or write to a new file"
                )
            previous[by_identity[identity]] = record
        # A batch counts as done only when all of its rows are: the rest is scored again with the
        # same companions, so the numbers match an uninterrupted run exactly.
        for batch in batches:
            if all(i in previous for i in batch):
                done.update((i, previous[i]) for i in batch)
    pending = [batch for batch in batches if not all(i in done for i in batch)]
    cells = [(i, s) for batch in pending for i in batch for s, e in enumerate(rows[i].estimates)
             if e is not None or rows[i].reference is not None]
    seconds = sum(durations[i] or 0.0 for i, s in cells if rows[i].reference and rows[i].estimates[s])
    if output is not None:
        output.start([done[i] for i in sorted(done)])
    return Plan(pending, done, len(cells), seconds)


@dataclass
class ScoringOptions:
    """How to score: the arguments of :func:`score_folders` that shape the computation.

    ``network_in_workers`` overrides where the network runs on a CPU (``None``: in the
    workers when there are any); ``benchmarks/score_throughput.py`` measures both.
    """

    weights: Weights = "official"
    channels: str = "mean"
    trim: bool = False
    device: str = "auto"
    workers: int | None = None
    threads: int | None = None
    batch_seconds: float | None = None
    network_in_workers: bool | None = None


def score_corpus(corpus: Corpus, options: ScoringOptions | None = None, *, output: str | Path | None = None,
                 output_format: str | None = None, resume: bool = False, progress: bool = True,
                 progress_interval: float = 30.0) -> ScoreTable:
    """Score ``corpus`` (:func:`score_folders` documents the arguments)."""
    options = options or ScoringOptions()
    fmt = output_format or format_from_suffix(output)
    if fmt not in FORMATS:
        raise ValueError(f"output_format must be one of {FORMATS}, got {fmt!r}")
    if resume and (output is None or fmt not in INCREMENTAL_FORMATS):
        raise ResumeError("resume continues a CSV or JSONL output file: give output= (-o) with format csv or jsonl")
    group, torch_device = distributed.join(options.device)
    try:
        resources = choose_resources(torch_device, options.workers, options.threads, group.local_world)
        batch_seconds = options.batch_seconds
        if batch_seconds is None:
            batch_seconds = DEFAULT_BATCH_SECONDS["cpu" if torch_device.type == "cpu" else "gpu"]
        if options.network_in_workers is not None and torch_device.type == "cpu" and resources.workers:
            resources.network_in_workers = options.network_in_workers
        network = resolve_network(options.weights, "cpu" if resources.network_in_workers else torch_device)
        result_file = ResultFile(output, fmt, corpus.columns) if output is not None and fmt in INCREMENTAL_FORMATS else None
        plan = None
        if group.is_writer:
            try:
                plan = _plan(corpus, batch_seconds, result_file, resume)
            except ResumeError as error:
                plan = error  # every process stops with it, rather than waiting for a plan
        plan = distributed.broadcast(plan, group)
        if isinstance(plan, ResumeError):
            raise plan
        records: list[dict | None] = [None] * len(corpus.rows)
        for index, record in plan.done.items():
            records[index] = record
        display = Progress(plan.total_pairs, plan.total_seconds, enabled=progress and group.is_writer,
                           interval=progress_interval)
        mine = plan.pending[group.rank :: group.world]
        dataset = RowDataset(corpus.rows, options.channels, options.trim)
        loader = _loader(dataset, mine, network, resources, pin_memory=torch_device.type == "cuda")
        saved_threads = torch.get_num_threads()
        if not resources.network_in_workers:
            torch.set_num_threads(resources.threads)
        try:
            batches = iter(loader)
            for step in range(math.ceil(len(plan.pending) / group.world)):
                item = next(batches) if step < len(mine) else None
                if item is None:
                    results = []  # this process has no batch left; it still joins the exchange
                elif resources.network_in_workers:
                    results = item  # scored in the worker
                else:
                    results = score_batch(network, item, torch_device)
                finished = [r for part in distributed.all_gather(results, group) for r in part]
                new = [_record(corpus, r) for r in finished]
                for result, record in zip(finished, new):
                    records[result.index] = record
                if result_file is not None and group.is_writer:
                    result_file.append(new)
                display.update(
                    sum(len(r.distances) for r in finished),
                    sum(len(r.errors) for r in finished),
                    sum(r.seconds.get(s, 0.0) for r in finished for s in r.distances),
                )
        finally:
            torch.set_num_threads(saved_threads)
            totals = display.close()
        shard = Shard(group.rank, group.world, len(mine), len(plan.pending))
        table = ScoreTable(records, [row.name for row in corpus.rows], corpus.systems, corpus.columns, totals, shard)
        if group.is_writer and output is not None:
            if result_file is not None:
                result_file.finish(list(table))
            else:
                text = render(list(table), fmt, corpus.columns, corpus.systems)
                atomic_write_bytes(output, lambda handle: handle.write(text.encode()))
        return table
    finally:
        distributed.leave(group)


def score_folders(
    reference_dir: Source,
    estimate_dirs: Source | Sequence[Source] | Mapping[str, Source],
    *,
    weights: Weights = "official",
    channels: str = "mean",
    trim: bool = False,
    device: str = "auto",
    workers: int | None = None,
    threads: int | None = None,
    batch_seconds: float | None = None,
    output: str | Path | None = None,
    output_format: str | None = None,
    resume: bool = False,
    progress: bool = True,
    as_dataframe: bool = False,
) -> ScoreTable | pandas.DataFrame:
    """CDPAM distances between a reference folder and one or more systems' folders, paired by file name.

    Files are paired by relative path without extension (``clean/a/b.wav`` with
    ``sysA/a/b.flac``); any sample rate, resampled as :func:`metric.cdpam_distance` does, each
    pair's distance equal to scoring it alone (within 1e-5). A reference file with estimate
    files scores each estimate against it. Unreadable, unpaired or invalid files give an
    ``error`` for that pair and do not stop the run.

    Args:
        reference_dir: the reference (clean) folder, or one reference file, or ``{name: file}``
            (e.g. a test manifest): then exactly those names are scored, whatever else the
            estimate folders hold.
        estimate_dirs: one folder or several (each a system: one distance column each, the
            reference embeddings computed once for all), or estimate files; or
            ``{system: folder or {name: file}}`` to name the systems.
        weights: ``"official"``, a checkpoint path or a :class:`~metric.model.CDPAMNetwork`.
        channels: multi-channel files: ``"mean"`` (downmix), ``"first"`` or ``"error"``.
        trim: score the common part when a reference and its estimate differ in length
            (otherwise that pair fails).
        device: ``"auto"`` (this process's GPU if any, else the CPU), ``"cpu"``, ``"cuda:1"``...
        workers: loader processes. On a CPU each also runs the network on its batches (default:
            one per core); ``0`` does everything in this process. On a GPU they read and
            resample (default: up to 4).
        threads: threads per process that runs the network (default: cores / workers, i.e. 1).
        batch_seconds: padded seconds of audio per batch (default: 4 on a CPU, 60 on a GPU). The
            batches depend only on the rows and this budget, so a resumed or ``torchrun`` run
            with the same options writes the same numbers as one uninterrupted process.
        output: write the table to this file as well; CSV and JSONL are written batch by batch
            (a kill loses at most the batches in flight) and put in table order at the end.
        output_format: ``"csv"``, ``"jsonl"``, ``"json"`` or ``"text"`` (default: from the suffix).
        resume: continue ``output`` (CSV or JSONL) from where a killed run stopped; the final
            file is the same as an uninterrupted run's.
        progress: a progress bar on a terminal, a line every 30 s otherwise (to stderr).
        as_dataframe: return a ``pandas.DataFrame`` instead of the list of records.

    Returns:
        A :class:`ScoreTable`: a list of records (dicts), one per name (``.names``), with the
        keys of ``.columns``, and ``.distances(system)`` as ``{name: distance}``; or a DataFrame
        indexed by name with ``as_dataframe=True``. Under ``torchrun``
        every process scores a share, returns the whole table, and rank 0 writes ``output``.

    Example::

        table = metric.score_folders("clean/", ["sysA/", "sysB/"], output="scores.csv")
        table[0]["distance:sysA"], table.totals.audio_seconds_per_second
    """
    if isinstance(estimate_dirs, (str, Path)):
        estimate_dirs = [estimate_dirs]
    elif not isinstance(estimate_dirs, Mapping):
        estimate_dirs = list(estimate_dirs)
    options = ScoringOptions(weights, channels, trim, device, workers, threads, batch_seconds)
    table = score_corpus(collect_corpus(reference_dir, estimate_dirs), options, output=output,
                         output_format=output_format, resume=resume, progress=progress)
    return table.to_dataframe() if as_dataframe else table
