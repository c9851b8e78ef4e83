"""Which rows are scored together: batches of similar length, a budget of seconds each.

Every recording of a batch is zero-padded to the batch's longest and encoded in one call
with ``lengths``, so each scores exactly as alone; sorting by length keeps the padding,
which is computed and thrown away, small. The budget counts padded seconds: rows ×
recordings per row × the longest duration.

The plan depends only on the rows, their durations and the budget: never on the number of
processes or on what a previous run finished. A batch is therefore always computed with the
same companions, which is what makes a resumed or a distributed run write the same numbers
as one uninterrupted process.
"""

from __future__ import annotations

from typing import Sequence


def plan_batches(durations: Sequence[float | None], recordings: Sequence[int], batch_seconds: float) -> list[list[int]]:
    """Batches of row indices, longest rows first.

    Args:
        durations: seconds of each row (``None`` when unknown: such a row gets a batch of its own).
        recordings: recordings each row encodes (its reference and the estimates present); rows
            with none (nothing to compute, only failures to record) share the first batch.
        batch_seconds: padded seconds of audio per batch; a row longer than that still gets a batch.
    """
    if batch_seconds <= 0:
        raise ValueError(f"batch_seconds must be positive, got {batch_seconds}")
    idle = [i for i, n in enumerate(recordings) if n == 0]
    known = [i for i, n in enumerate(recordings) if n > 0 and durations[i] is not None]
    unknown = [[i] for i, n in enumerate(recordings) if n > 0 and durations[i] is None]
    known.sort(key=lambda i: (-durations[i], i))
    batches: list[list[int]] = [idle] if idle else []
    current: list[int] = []
    count = 0
    for i in known:
        # Sorted longest first: the batch's first row sets its padded length.
        longest = durations[current[0]] if current else durations[i]
        if current and (count + recordings[i]) * longest > batch_seconds:
            batches.append(current)
            current, count = [], 0
        current.append(i)
        count += recordings[i]
    if current:
        batches.append(current)
    return batches + unknown
