"""What a long scoring run shows: a bar on a terminal, plain lines in a log, a summary at the end.

The bar counts audio seconds (batches go longest first, so pairs alone would make a poor
ETA) and shows pairs and audio hours; without a terminal a line is printed every
``interval`` seconds instead. The summary gives pairs, failures, audio seconds, wall time
and audio seconds scored per second of wall time.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass


@dataclass
class RunTotals:
    """How much a run scored and how long it took."""

    pairs: int = 0
    failed: int = 0
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def audio_seconds_per_second(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def summary(self) -> str:
        return (
            f"{self.pairs} pair(s) scored, {self.failed} failed, {self.audio_seconds:.1f} s of audio in "
            f"{self.wall_seconds:.1f} s ({self.audio_seconds_per_second:.2f} audio-s per s)"
        )


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Progress over ``total_pairs`` pairs (scored or failed) holding ``total_seconds`` of audio."""

    def __init__(self, total_pairs: int, total_seconds: float, *, enabled: bool = True, stream=None,
                 interval: float = 30.0, prefix: str = "cdpam score"):
        self.stream = stream if stream is not None else sys.stderr
        self.total_pairs, self.total_seconds = total_pairs, max(total_seconds, 1e-9)
        self.enabled, self.interval, self.prefix = enabled, interval, prefix
        self.totals = RunTotals()
        self.started = self.last_line = time.monotonic()
        self.bar = None
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(
                total=round(self.total_seconds, 3), file=self.stream, unit="audio-s", unit_scale=False,
                bar_format="{l_bar}{bar}| {postfix} [{elapsed}<{remaining}]", desc="scoring",
            )
            self._postfix()

    def _postfix(self) -> None:
        t = self.totals
        self.bar.set_postfix_str(
            f"{t.pairs + t.failed}/{self.total_pairs} pairs, {t.audio_seconds / 3600:.3f}/{self.total_seconds / 3600:.3f} h audio"
            + (f", {t.failed} failed" if t.failed else "")
        )

    def update(self, pairs: int, failed: int, audio_seconds: float) -> None:
        """Add ``pairs`` scored and ``failed`` failed pairs holding ``audio_seconds`` of scored audio."""
        t = self.totals
        t.pairs, t.failed, t.audio_seconds = t.pairs + pairs, t.failed + failed, t.audio_seconds + audio_seconds
        now = time.monotonic()
        t.wall_seconds = now - self.started
        if self.bar is not None:
            self.bar.update(round(audio_seconds, 3))
            self._postfix()
        elif self.enabled and now - self.last_line >= self.interval:
            self.last_line = now
            rate = t.audio_seconds_per_second
            eta = (self.total_seconds - t.audio_seconds) / rate if rate > 0 else float("nan")
            print(
                f"{self.prefix}: {t.pairs + t.failed}/{self.total_pairs} pairs, {t.audio_seconds / 3600:.3f}/"
                f"{self.total_seconds / 3600:.3f} h audio, {t.failed} failed, {rate:.2f} audio-s/s, "
                f"ETA {_clock(eta) if eta == eta else '?'}",
                file=self.stream, flush=True,
            )

    def close(self) -> RunTotals:
        self.totals.wall_seconds = time.monotonic() - self.started
        if self.bar is not None:
            self.bar.close()
        return self.totals
