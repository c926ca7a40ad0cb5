"""A changed file as the reviewer and each check see it: the changed hunks with the function or class around each
(context/scopes.py), bounded, numbered as the file after the change, `+` for lines the change adds and `-` for
lines it removes. Nothing else of the file is sent: the models read more through the read-only functions.

    --- src/service.py (modified; 32 lines after the change)
     7   def step_3(x: int) -> int:
         -    return x + 3
     8   +    return x - 3  # changed
     ⋮

A file with a withheld hunk, or whose text was not read (deleted, over the budget), keeps its plain diff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mcp_server.context.scopes import scope
from mcp_server.review.diff import hunks
from mcp_server.review.model import ChangedFile

ABOVE = 30  # lines of a hunk's scope shown above it (its header always)
BELOW = 15  # and below it
MAX_CITED = 40  # lines of a finding shown in a check's excerpt
GAP = "⋮"
_WITHHELD = "[this hunk is withheld"


@dataclass
class Marks:
    """A file's diff against its text after the change: lines added, and lines removed before each line."""

    added: set[int] = field(default_factory=set)
    removed: dict[int, list[str]] = field(default_factory=dict)  # shown just above that line of the new text
    # Each hunk's lines in the new text, and the lines it changes (where lines were removed, for a removal).
    spans: list[tuple[int, int, int, int]] = field(default_factory=list)


def marks(patch: str) -> Marks | None:
    """The patch read against the new text; None when a hunk was withheld (the plain diff is then sent)."""
    out = Marks()
    for hunk in hunks(patch)[1]:
        head, _, body = hunk.partition("\n")
        if _WITHHELD in body:
            return None
        line = _start(head)
        first = line
        changed: list[int] = []
        for text in body.split("\n"):
            if text.startswith("+"):
                out.added.add(line)
                changed.append(line)
                line += 1
            elif text.startswith("-"):
                out.removed.setdefault(line, []).append(text[1:])
                changed.append(line)
            elif text.startswith(" "):
                line += 1
        last = max(first, line - 1)
        changed = changed or [first]
        out.spans.append((first, last, min(min(changed), last), min(max(changed), last)))
    return out


def section(file: ChangedFile, text: str | None) -> str:
    """One changed file for the review's block: its hunks in their scope, or its plain diff."""
    found = marks(file.patch) if text is not None and file.patch else None
    lines = (text or "").split("\n")
    if lines[-1] == "":
        lines.pop()
    if found is None or not lines:
        return file.patch if file.patch.endswith("\n") or not file.patch else f"{file.patch}\n"
    regions = [_widened(_region(lines, low, high), first, last) for first, last, low, high in found.spans]
    rename = f", from {file.old_path}" if file.old_path else ""
    head = f"--- {file.path} ({file.status}{rename}; {len(lines)} lines after the change)\n"
    return head + render(lines, regions, found)


def excerpt(lines: Sequence[str], first: int, last: int, diff: Marks | None) -> str:
    """Lines `first`-`last` in their scope for a check, with the change's marks when the file is changed."""
    last = min(last, first + MAX_CITED - 1, len(lines))
    return render(lines, [_region(lines, first, last)], diff or Marks())


def render(lines: Sequence[str], regions: list[tuple[int, int, int | None]], diff: Marks) -> str:
    """The regions (start, end, header) merged and numbered, a gap mark between them."""
    width = len(str(len(lines)))
    out: list[str] = []
    shown = 0
    for start, end, header in _merged(regions):
        if header is not None and header < start and header > shown:
            out.append(_row(width, header, " ", lines[header - 1]))
            out.append(GAP)
        elif out:
            out.append(GAP)
        for number in range(start, end + 1):
            out += [_row(width, None, "-", text) for text in diff.removed.get(number, ())]
            out.append(_row(width, number, "+" if number in diff.added else " ", lines[number - 1]))
        out += [_row(width, None, "-", text) for text in diff.removed.get(end + 1, ()) if end == len(lines)]
        shown = end
    if out and shown < len(lines):
        out.append(GAP)
    return "".join(f"{row}\n" for row in out)


def _region(lines: Sequence[str], first: int, last: int) -> tuple[int, int, int | None]:
    """The scope of lines `first`-`last`, cut to ABOVE lines above and BELOW below them (the header kept apart)."""
    first, last = max(1, min(first, len(lines))), max(1, min(last, len(lines)))
    start, end, header = scope(lines, first, last)
    return max(start, first - ABOVE), min(end, last + BELOW), header


def _widened(region: tuple[int, int, int | None], first: int, last: int) -> tuple[int, int, int | None]:
    """A region that holds at least the hunk's own lines (its context lines too)."""
    return min(region[0], first), max(region[1], last), region[2]


def _merged(regions: list[tuple[int, int, int | None]]) -> list[tuple[int, int, int | None]]:
    merged: list[tuple[int, int, int | None]] = []
    for start, end, header in sorted(regions):
        if merged and start <= merged[-1][1] + 1:
            low, high, first_header = merged[-1]
            merged[-1] = (low, max(high, end), first_header)
        else:
            merged.append((start, end, header))
    return merged


def _row(width: int, number: int | None, mark: str, text: str) -> str:
    return f"{'' if number is None else number:>{width}} {mark} {text}"


def _start(head: str) -> int:
    # "@@ -a,b +c,d @@": the first line of the hunk in the new text (0 for a file that is now empty).
    try:
        return max(1, int(head.split("+", 1)[1].split(",", 1)[0].split(" ", 1)[0]))
    except (IndexError, ValueError):
        return 1
