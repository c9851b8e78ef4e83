"""Scoring whole corpora: many pairs, several systems, all cores, GPUs and ``torchrun`` processes.

:func:`score_folders` is the public entry point (also ``cdpam score``); the modules, in the
order a run uses them: :mod:`.corpus` (what to score), :mod:`.batching` (which rows go
together), :mod:`.loading` (reading, checking, padding and scoring a batch),
:mod:`.distributed` (processes under ``torchrun``), :mod:`.output` (the table and its file),
:mod:`.progress` (what the user sees), :mod:`.statistics` (per-system summary, histogram),
:mod:`.engine` (the run).
"""

from .engine import ScoreTable, score_folders

__all__ = ["score_folders", "ScoreTable"]
