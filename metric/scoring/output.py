"""The result table: records, their CSV / JSONL / JSON / text forms, and the crash-safe output file.

A record is one row of the table: ``reference``, then ``estimate``, ``distance`` and
``error`` for one system, or ``estimate:NAME``, ``distance:NAME``, ``error:NAME`` for
each of several (one distance column per system). A missing distance or error is ``None``
(an empty cell in CSV).

:class:`ResultFile` writes CSV or JSONL incrementally: the header, then each finished batch's
records appended in one write and fsynced, so that a kill loses at most the batch in flight;
at the end the file is rewritten atomically (:func:`metric.atomic.atomic_write_bytes`) in the
table's order. With ``resume`` it reads what a killed run left, drops a torn last line, and
hands back the records already done.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from ..atomic import atomic_write_bytes

INCREMENTAL_FORMATS = ("csv", "jsonl")
FORMATS = ("text", "json", *INCREMENTAL_FORMATS)


class ResumeError(ValueError):
    """The output file cannot be continued by this run; the message says what differs."""


def format_from_suffix(path: str | Path | None) -> str:
    """``csv`` / ``jsonl`` / ``json`` from an output file's suffix, else ``text``."""
    suffix = Path(path).suffix.lower().lstrip(".") if path else ""
    return suffix if suffix in ("csv", "jsonl", "json") else "text"


def _csv_cell(value) -> str:
    if value is None:
        return ""
    return f"{value:.6f}" if isinstance(value, float) else str(value)


def _csv_lines(records: list[dict], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for record in records:
        writer.writerow([_csv_cell(record[c]) for c in columns])
    return buffer.getvalue()


def _csv_header(columns: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(columns)
    return buffer.getvalue()


def _parse_csv_record(cells: dict[str, str]) -> dict:
    record = {}
    for column, cell in cells.items():
        if column.startswith("distance"):
            record[column] = float(cell) if cell else None
        elif column.startswith("error"):
            record[column] = cell or None
        else:
            record[column] = cell
    return record


def encode_lines(records: list[dict], fmt: str, columns: list[str]) -> str:
    """Records as CSV rows (no header) or JSON lines."""
    if fmt == "csv":
        return _csv_lines(records, columns)
    return "".join(json.dumps({c: record[c] for c in columns}) + "\n" for record in records)


def render(records: list[dict], fmt: str, columns: list[str], systems: tuple[str, ...], extra: dict | None = None) -> str:
    """The whole table as one text: CSV, JSONL, JSON (with the summary) or readable lines."""
    if fmt == "csv":
        return _csv_header(columns) + _csv_lines(records, columns)
    if fmt == "jsonl":
        return encode_lines(records, fmt, columns)
    summary = table_summary(records, columns, systems)
    if fmt == "json":
        return json.dumps({"results": records, **summary, **(extra or {})}, indent=2) + "\n"
    lines = []
    suffixes = _suffixes(columns)
    for record in records:
        for suffix in suffixes:
            if record["distance" + suffix] is not None:
                lines.append(f"{record['distance' + suffix]:.6f}  {record['reference']}  {record['estimate' + suffix]}")
    means = summary["mean"] if isinstance(summary["mean"], dict) else {systems[0]: summary["mean"]}
    counts = summary["pairs"] if isinstance(summary["pairs"], dict) else {systems[0]: summary["pairs"]}
    for system in systems:
        label = "" if len(systems) == 1 else f" of {system}"
        lines.append(f"mean CDPAM distance{label} over {counts[system]} pair(s): {means[system]:.6f}")
    return "\n".join(lines) + "\n"


def _suffixes(columns: list[str]) -> list[str]:
    return [c[len("distance") :] for c in columns if c.startswith("distance")]


def table_summary(records: list[dict], columns: list[str], systems: tuple[str, ...]) -> dict:
    """Pairs scored, failures and mean distance, per system when there are several."""
    per_system = {}
    for system, suffix in zip(systems, _suffixes(columns)):
        scored = [r["distance" + suffix] for r in records if r["distance" + suffix] is not None]
        per_system[system] = {
            "pairs": len(scored),
            "failed": sum(r["error" + suffix] is not None for r in records),
            "mean": math.fsum(scored) / len(scored) if scored else math.nan,
        }
    if len(systems) == 1:
        return per_system[systems[0]]
    return {key: {system: values[key] for system, values in per_system.items()} for key in ("pairs", "failed", "mean")}


class ResultFile:
    """An output table written batch by batch (CSV or JSONL) and rewritten in order at the end."""

    def __init__(self, path: str | Path, fmt: str, columns: list[str]):
        if fmt not in INCREMENTAL_FORMATS:
            raise ValueError(f"incremental output is CSV or JSONL, not {fmt!r}")
        self.path, self.fmt, self.columns = Path(path), fmt, columns

    def read_done(self) -> list[dict]:
        """Records a previous run of the same table completed (a torn last line is ignored)."""
        if not self.path.exists():
            return []
        text = self.path.read_bytes().decode("utf-8", errors="replace")
        complete = text[: text.rfind("\n") + 1]  # a kill mid-append can leave a partial last line
        lines = complete.splitlines()
        if self.fmt == "csv":
            if not lines:
                return []
            header = next(csv.reader([lines[0]]))
            if header != self.columns:
                raise ResumeError(
                    f"{self.path} has the columns {header}, this run writes {self.columns}; resume with the same "
                    f"reference and estimate folders, or write to a new file"
                )
            return [_parse_csv_record(dict(zip(header, cells))) for cells in csv.reader(lines[1:]) if cells]
        records = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ResumeError(f"{self.path} line {number} is not JSON ({error}); write to a new file") from error
            if sorted(record) != sorted(self.columns):
                raise ResumeError(
                    f"{self.path} line {number} has the fields {sorted(record)}, this run writes {sorted(self.columns)}; "
                    f"resume with the same reference and estimate folders, or write to a new file"
                )
            records.append(record)
        return records

    def start(self, records: list[dict]) -> None:
        """Replace the file by the header and ``records`` (what a resumed run keeps), atomically."""
        header = _csv_header(self.columns) if self.fmt == "csv" else ""
        text = header + encode_lines(records, self.fmt, self.columns)
        atomic_write_bytes(self.path, lambda handle: handle.write(text.encode()))

    def append(self, records: list[dict]) -> None:
        """Add one batch's records in a single write, on disk before this returns."""
        if not records:
            return
        data = encode_lines(records, self.fmt, self.columns).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)

    def finish(self, records: list[dict]) -> None:
        """The final file: every record in table order, written atomically."""
        self.start(records)
