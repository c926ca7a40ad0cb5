"""Findings as the reviewer reports them, checked on arrival: the file exists after the change, the lines exist, and
whether they are lines the change touched. The function's name and parameters are a contract with the model.

A finding on a file or lines that do not exist is dropped (and the model is told, so it can correct itself); one
whose arguments are malformed is refused with what to fix. Quotes come from text read through the same policy as
`files`, never from a file withheld as a secret.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from mcp_server.core.quoting import clip
from mcp_server.review.hunks import excerpt, marks
from mcp_server.review.model import Change

Severity = Literal["high", "medium", "low"]
SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low")
MAX_FINDINGS = 50  # per review; past it the model is told to stop reporting
MAX_TITLE = 200
MAX_DETAIL = 4000
MAX_QUOTE_LINES = 40
MAX_QUOTE_CHARS = 4000

REPORT_FINDING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "From the repository's top folder, as in the diff."},
        "line": {"type": "integer", "description": "First line, in the file after the change."},
        "end_line": {"type": "integer"},
        "severity": {"type": "string", "enum": list(SEVERITIES)},
        "title": {"type": "string"},
        "detail": {"type": "string", "description": "What is wrong and why it matters."},
        "suggestion": {"type": "string"},
    },
    "required": ["path", "line", "severity", "title", "detail"],
}
REPORT_FINDING_DESCRIPTION = (
    "Report one problem, anchored to lines of the file after the change. Call once per problem."
)


class Unreadable(Exception):
    """A file outside the change that cannot be read for a quote; the message says why."""


Reader = Callable[[str], str]  # a file's text by its path from the top folder (blocking); raises Unreadable


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    end_line: int
    severity: Severity
    title: str
    detail: str
    suggestion: str
    quote: str
    in_change: bool
    context: str = ""  # its lines in the function or class around them, with the change's marks (hunks.py)


@dataclass(frozen=True)
class Dropped:
    path: str
    line: int
    end_line: int
    title: str
    reason: str


class Malformed(Exception):
    """Arguments the model must fix; the message says what."""


def parse(arguments: str) -> dict[str, Any]:
    """The arguments of a report_finding call, checked against the schema; Malformed says what to fix."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        raise Malformed("the arguments are not valid JSON; pass one object") from None
    if not isinstance(args, dict):
        raise Malformed("the arguments must be a JSON object")
    for name in ("path", "title", "detail"):
        if not isinstance(args.get(name), str) or not args[name].strip():
            raise Malformed(f"`{name}` is required, a non-empty string")
    for name in ("line", "end_line"):
        value = args.get(name)
        if (name == "line" or value is not None) and (isinstance(value, bool) or not isinstance(value, int)):
            raise Malformed(f"`{name}` must be a whole number (a line of the file after the change)")
    if args.get("severity") not in SEVERITIES:
        raise Malformed('`severity` must be "high", "medium" or "low"')
    if args.get("suggestion") is not None and not isinstance(args["suggestion"], str):
        raise Malformed("`suggestion` must be a string")
    return args


def anchor(args: dict[str, Any], change: Change, read: Reader) -> Finding | Dropped:
    """The finding anchored to real lines, or why it is dropped."""
    path = _path(str(args["path"]), change)
    line = int(args["line"])
    end = int(args.get("end_line") or line)
    title = clip(str(args["title"]).strip(), MAX_TITLE)
    text = _text(path, change, read)
    if isinstance(text, Dropped):
        return Dropped(path, line, end, title, text.reason)
    lines = text.splitlines()
    if line < 1 or end < line or end > len(lines):
        reason = f"lines {line}-{end} do not exist: {path} has {len(lines)} lines after the change"
        return Dropped(path, line, end, title, reason)
    changed = change.file(path)
    in_change = changed is not None and any(n in changed.added for n in range(line, end + 1))
    return Finding(
        path=path,
        line=line,
        end_line=end,
        severity=args["severity"],
        title=title,
        detail=clip(str(args["detail"]).strip(), MAX_DETAIL),
        suggestion=clip(str(args.get("suggestion") or "").strip(), MAX_DETAIL),
        quote=quote(lines, line, end),
        in_change=in_change,
        context=excerpt(lines, line, end, marks(changed.patch) if changed is not None and changed.patch else None),
    )


def quote(lines: list[str], line: int, end: int) -> str:
    shown = lines[line - 1 : min(end, line + MAX_QUOTE_LINES - 1)]
    text = "\n".join(shown)
    return text if len(text) <= MAX_QUOTE_CHARS else f"{text[:MAX_QUOTE_CHARS]}…"


def _path(path: str, change: Change) -> str:
    """The model's path as the repository names it: `./x`, and the diff's `a/x` and `b/x`, are `x`."""
    path = path.strip().removeprefix("./")
    if path[:2] in ("a/", "b/") and change.file(path) is None and change.file(path[2:]) is not None:
        return path[2:]
    return path


def _text(path: str, change: Change, read: Reader) -> str | Dropped:
    changed = change.file(path)
    if changed is not None:
        if changed.status == "deleted":
            return _gone(path, "the change deletes this file")
        text = change.texts.get(path)
        if text is None:
            why = changed.summary or "its text was withheld (see skipped)"
            return _gone(path, f"its text was not reviewed ({why})")
        return text
    try:
        return read(path)
    except Unreadable as e:
        return _gone(path, str(e))


def _gone(path: str, reason: str) -> Dropped:
    return Dropped(path, 0, 0, "", reason)


def order(findings: list[Finding]) -> list[Finding]:
    """High first, then by path and line."""
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), f.path, f.line, f.end_line))


def described(finding: Finding) -> str:
    """The finding as a checker reads it: what it says, and its lines in the code around them after the change."""
    lines = f"{finding.line}" if finding.line == finding.end_line else f"{finding.line}-{finding.end_line}"
    shown = finding.context or finding.quote
    parts = [
        f"Finding ({finding.severity}) at {finding.path}:{lines}: {finding.title}",
        f"Detail: {finding.detail}",
        f"The lines it points at, in the code around them:\n{shown}",
    ]
    if finding.suggestion:
        parts.append(f"Suggested fix: {finding.suggestion}")
    return "\n\n".join(parts)
