"""The lines the model was actually shown in one run, per file: what read_file delivered (after any truncation) and
the lines grep matched. A citation is trusted only for lines in here (evidence.py): any other line the model names,
it guessed.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

MAX_SPANS = 50_000  # spans kept for one run; past it the oldest are forgotten (their citations then fail safe)


@dataclass
class Seen:
    """Delivered line spans by file label, merged as they arrive. Function calls of one turn run in worker threads,
    so it is locked."""

    _spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, label: str, first: int, last: int) -> None:
        """Lines `first` to `last` of `label` reached the model."""
        if last < first:
            return
        with self._lock:
            spans = self._spans.setdefault(label, [])
            index = bisect.bisect_left(spans, (first, first))
            low, high = first, last
            # Merge with the neighbours it touches or overlaps (adjacent lines join).
            while index > 0 and spans[index - 1][1] >= low - 1:
                index -= 1
            end = index
            while end < len(spans) and spans[end][0] <= high + 1:
                low, high = min(low, spans[end][0]), max(high, spans[end][1])
                end += 1
            self._count += 1 - (end - index)
            spans[index:end] = [(low, high)]
            if self._count > MAX_SPANS:
                self._spans.clear()
                self._count = 0

    def missing(self, label: str, first: int, last: int) -> list[tuple[int, int]]:
        """The parts of lines `first`-`last` of `label` the model was never shown (empty: it saw them all)."""
        with self._lock:
            spans = list(self._spans.get(label, ()))
        gaps: list[tuple[int, int]] = []
        at = first
        for low, high in spans:
            if high < at:
                continue
            if low > last:
                break
            if low > at:
                gaps.append((at, low - 1))
            at = max(at, high + 1)
            if at > last:
                break
        if at <= last:
            gaps.append((at, last))
        return gaps
