"""The citations in a final answer, checked on disk: `path:LINE` and `path:START-END` become evidence the assistant
can trust without reading the files again.

Each citation is looked up through the investigation's own workspace, so a file it could not read (a secret, one
outside the folder, a gitignored one) yields no quote: it is evidence that points nowhere (`verified` false).
"""

from __future__ import annotations

from dataclasses import dataclass

import re2

from .workspace import Refused, Workspace, lines_of

MAX_CITATIONS = 100
MAX_QUOTE_LINES = 40
MAX_QUOTE_CHARS = 4000
# A path (letters, digits, `_ . - /`, at least one `.` or `/`), a colon, a line number or a range. RE2: linear.
_CITATION = re2.compile(r"([A-Za-z0-9_./-]+):(\d{1,9})(?:-(\d{1,9}))?")


@dataclass(frozen=True)
class Citation:
    path: str
    start_line: int
    end_line: int
    quote: str
    verified: bool
    reason: str = ""  # why it is not verified


def citations(answer: str) -> list[tuple[str, int, int]]:
    """(path, start, end) of every distinct citation in `answer`, in order, at most MAX_CITATIONS."""
    seen: dict[tuple[str, int, int], None] = {}
    for match in _CITATION.finditer(answer):
        path = match.group(1).removeprefix("./")
        if not path or ("." not in path and "/" not in path) or "//" in path:
            continue  # "localhost:8000", "http://host:80" are not citations
        start = int(match.group(2))
        end = int(match.group(3)) if match.group(3) else start
        seen.setdefault((path, start, end), None)
        if len(seen) == MAX_CITATIONS:
            break
    return list(seen)


def verify(workspace: Workspace, answer: str) -> list[Citation]:
    """Every citation in `answer`, with the text of its lines when the file and the lines exist (blocking)."""
    texts: dict[str, list[str] | str] = {}
    out = []
    for path, start, end in citations(answer):
        if path not in texts:
            texts[path] = _lines(workspace, path)
        lines = texts[path]
        if isinstance(lines, str):
            out.append(Citation(path, start, end, "", False, lines))
        elif not 1 <= start <= end <= len(lines):
            out.append(Citation(path, start, end, "", False, f"{path} has {len(lines)} lines"))
        else:
            out.append(Citation(path, start, end, _quote(lines[start - 1 : end]), True))
    return out


def _lines(workspace: Workspace, path: str) -> list[str] | str:
    try:
        return lines_of(workspace.text(workspace.file(path)))
    except Refused as e:
        return str(e)


def _quote(lines: list[str]) -> str:
    text = "\n".join(lines[:MAX_QUOTE_LINES])
    cut = len(lines) > MAX_QUOTE_LINES or len(text) > MAX_QUOTE_CHARS
    return f"{text[:MAX_QUOTE_CHARS]}\n…" if cut else text
