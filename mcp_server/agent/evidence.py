"""The citations in a final answer, checked: a citation is `verified` only when its lines exist, the model was
shown them in this run (seen.py), and the code its claim names stands there (claims.py).

Each check's outcome is said in `check`:
- "holds": all three hold; "holds; names no code" when the claim names nothing to look for (the first two held);
- "no such lines" (the file is shorter, or the range is backwards), "unreadable: ..." (no such file, a secret,
  outside the folder: the workspace's own refusal, so a file it could not read yields no quote);
- "not read in this run": some cited line was in no read_file or grep result the model received;
- "names missing: has, fields": the claim names code the cited lines (and WINDOW lines around, and the headers of
  the blocks around them) do not hold.
`audit` (audit.py) may then mark a claim that passed as refuted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from mcp_server.core.quoting import clip

from .citations import Cited, citations
from .claims import missing
from .workspace import Refused, Workspace, lines_of

MAX_QUOTE_LINES = 40
MAX_QUOTE_CHARS = 4000
HOLDS = "holds"
NO_NAMES = "holds; names no code"
NOT_READ = "not read in this run"
NO_LINES = "no such lines"


@dataclass(frozen=True)
class Citation:
    path: str
    start_line: int
    end_line: int
    quote: str  # the lines on disk, capped; empty when they do not exist
    verified: bool
    check: str  # which check failed, or "holds"
    claim: str = ""  # the sentence of the answer it supports
    detail: str = ""  # for the notice: why it failed, in a few words

    @property
    def lines(self) -> str:
        return f"{self.start_line}" if self.start_line == self.end_line else f"{self.start_line}-{self.end_line}"

    def refuted(self, reason: str) -> Citation:
        return replace(self, verified=False, check=f"refuted by the audit: {reason}", detail="refuted by the audit")


def verify(workspace: Workspace, answer: str, roots: Sequence[str] = ()) -> list[Citation]:
    """Every citation in `answer`, checked (blocking: it reads the cited files through the workspace's policy)."""
    texts: dict[str, list[str] | str] = {}
    out = []
    for cited in citations(answer, (str(workspace.root), *roots)):
        if cited.path not in texts:
            texts[cited.path] = _lines(workspace, cited)
        out.append(check(workspace, cited, texts[cited.path]))
    return out


def check(workspace: Workspace, cited: Cited, lines: list[str] | str) -> Citation:
    """One citation against its file's lines (or the reason the file cannot be read) and what the model saw."""
    base = Citation(cited.path, cited.start, cited.end, "", False, "", cited.claim)
    if isinstance(lines, str):
        reason = clip(lines.split(" (paths are relative")[0], 200)  # the hint to the model says nothing here
        return replace(base, check=f"unreadable: {reason}", detail=reason)
    if not 1 <= cited.start <= cited.end <= len(lines):
        count = f"{len(lines)} line{'' if len(lines) == 1 else 's'}"
        return replace(base, check=NO_LINES, detail=f"{cited.path} has {count}")
    base = replace(base, quote=_quote(lines[cited.start - 1 : cited.end]))
    gaps = workspace.seen.missing(cited.path, cited.start, cited.end)
    if gaps:
        unseen = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in gaps[:3])
        return replace(base, check=NOT_READ, detail=f"lines {unseen} were never shown to the model")
    names = cited.names
    absent = missing(names, lines, cited.start, cited.end)
    if absent:
        listed = ", ".join(absent)
        return replace(base, check=f"names missing: {listed}", detail=f"{listed} not in or near those lines")
    return replace(base, verified=True, check=HOLDS if names else NO_NAMES)


def _lines(workspace: Workspace, cited: Cited) -> list[str] | str:
    if cited.absolute:
        return "an absolute path outside the folder investigated"
    try:
        return lines_of(workspace.text(workspace.file(cited.path)))
    except Refused as e:
        return str(e)


def _quote(lines: list[str]) -> str:
    text = "\n".join(lines[:MAX_QUOTE_LINES])
    cut = len(lines) > MAX_QUOTE_LINES or len(text) > MAX_QUOTE_CHARS
    return f"{text[:MAX_QUOTE_CHARS]}\n…" if cut else text
