"""A case's outcome: rows for the table, the raw figures, and a note on how they were measured."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    case: str
    subject: str
    floor: str
    diff: str
    ratio: str
    target: str
    met: bool | None  # None: a figure shown for context, with no target of its own


@dataclass
class Result:
    rows: list[Row]
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def signed_ms(seconds: float) -> str:
    return f"{seconds * 1000:+.1f} ms"
