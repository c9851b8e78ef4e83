"""What to score: one reference folder (or file) against one or more systems' estimates.

A :class:`Corpus` is a list of :class:`Row` s in their output order. A row is one reference
recording and, for every system, the estimate of the same name (relative path, extension
ignored), or ``None`` where that system has no such file. Folders give one row per name found
in any of them, sorted by name; a reference *file* gives one row per estimate file, in the
order given (one system). Instead of a folder, a mapping ``{name: file}`` (a test manifest,
say) can stand for the reference or a system; a reference mapping lists exactly the rows, so
files the systems hold beyond it are not scored. Nothing is read here but folder listings and,
in :func:`probe_seconds`, file headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence, Union

from ..io import AUDIO_SUFFIXES

# A folder of audio files, or the files themselves by name (relative path without extension).
Source = Union[str, Path, Mapping[str, Union[str, Path]]]


class ScoringInputError(ValueError):
    """The paths given cannot be scored as asked (missing, or files mixed with folders)."""


@dataclass(frozen=True)
class Row:
    """One reference and its estimate in every system (``None`` where a file is missing)."""

    name: str
    reference: str | None
    estimates: tuple[str | None, ...]

    @property
    def identity(self) -> tuple[str, ...]:
        """The paths as written in the output: how a previous run's rows are recognised."""
        return (self.reference or "", *(estimate or "" for estimate in self.estimates))


@dataclass(frozen=True)
class Corpus:
    """Rows in output order, and the names of the systems (one column each)."""

    systems: tuple[str, ...]
    rows: tuple[Row, ...]

    def column_suffix(self, system: int) -> str:
        """Column names: ``distance`` etc. for one system, ``distance:NAME`` for each of several."""
        return "" if len(self.systems) == 1 else f":{self.systems[system]}"

    @property
    def columns(self) -> list[str]:
        return ["reference"] + [
            field + self.column_suffix(s) for field in ("estimate", "distance", "error") for s in range(len(self.systems))
        ]


def audio_files(folder: Path) -> dict[str, Path]:
    """Audio files under ``folder`` by relative path without extension."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
            files[str(path.relative_to(folder).with_suffix(""))] = path
    return files


def system_names(estimates: Sequence[Path]) -> tuple[str, ...]:
    """Folder names (``sysA``), or the paths as given where two folders share a name."""
    names = [path.name or path.resolve().name for path in estimates]
    if len(set(names)) == len(names) and "reference" not in names:
        return tuple(names)
    given = [str(path) for path in estimates]
    if len(set(given)) != len(given):
        raise ScoringInputError(f"the estimate folders {given} repeat one another; give each system once")
    return tuple(given)


def _named_files(source: Source) -> dict[str, Path]:
    """A folder's audio files, or a mapping's, by name."""
    if isinstance(source, Mapping):
        files = {str(name): Path(path) for name, path in source.items()}
        absent = [str(path) for path in files.values() if not path.is_file()]
        if absent:
            raise ScoringInputError(f"{len(absent)} file(s) of the mapping do not exist, e.g. {absent[0]}")
        return files
    return audio_files(Path(source))


def collect_corpus(reference: Source, estimates: Sequence[Source] | Mapping[str, Source]) -> Corpus:
    """Pair ``reference`` with ``estimates``: files with files, folders (or ``{name: file}`` mappings) with folders.

    ``estimates`` is a list (systems named after their folders) or a mapping ``{system: folder or
    {name: file}}``.
    """
    if isinstance(estimates, Mapping):
        given_names, estimates = tuple(str(name) for name in estimates), list(estimates.values())
    else:
        given_names, estimates = None, list(estimates)
    if not estimates:
        raise ScoringInputError("give at least one estimate file or folder after the reference")
    if given_names is None and any(isinstance(e, Mapping) for e in estimates):
        raise ScoringInputError("a system given as {name: file} needs a name: pass the systems as {system: source}")
    sources = [s if isinstance(s, Mapping) else Path(s) for s in (reference, *estimates)]
    for source in sources:
        if not isinstance(source, Mapping) and not source.exists():
            raise ScoringInputError(f"{source} does not exist")
    reference, estimates = sources[0], sources[1:]
    paths = [s for s in sources if not isinstance(s, Mapping)]
    if paths == sources and reference.is_file() and all(path.is_file() for path in estimates):
        rows = tuple(Row(path.name, str(reference), (str(path),)) for path in estimates)
        return Corpus(given_names or (estimates[0].parent.name or "estimate",), rows)
    if not all(path.is_dir() for path in paths):
        raise ScoringInputError("give a reference file and estimate files, or a reference folder and estimate folders "
                                "(or {name: file} mappings)")
    references = _named_files(reference)
    systems = [_named_files(source) for source in estimates]
    names = sorted(references) if isinstance(reference, Mapping) else sorted(set(references).union(*systems))
    rows = tuple(
        Row(
            name,
            str(references[name]) if name in references else None,
            tuple(str(files[name]) if name in files else None for files in systems),
        )
        for name in names
    )
    return Corpus(given_names or system_names(estimates), rows)


def probe_seconds(path: str | None) -> float | None:
    """Duration from the file header (soundfile), or ``None`` when it cannot be read that way."""
    if path is None:
        return None
    import soundfile as sf

    try:
        info = sf.info(path)
    except Exception:  # unreadable here; the loader reports why, or decodes it with ffmpeg
        return None
    return info.frames / info.samplerate if info.samplerate > 0 and info.frames > 0 else None
