"""The change as a unified diff with relative paths (git's format: `diff --git a/x b/x`), made and applied in-process.

`unified` writes the patch from each changed file's text before and after; `parse` reads such a patch back and
`apply` applies one file's part to a text the way `git apply` does without fuzz: every hunk's context and removed
lines must be found exactly, at the line the hunk names or shifted by whole lines, in order. No git runs, so nothing
a repository configures (filters, textconv, hooks) can: the "applies" check is this, against the user's current
files read through the policy.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

CONTEXT = 3
# Candidate pairs of equal lines difflib may compare in its first pass over the lines that differ (each line of the
# old side against every equal line of the new): past this, the changed middle is one hunk. difflib's time grows with
# that count, and with the square of a file's lines when they repeat (20,000 blank lines: 54 s).
MAX_MATCH_WORK = 1_000_000
NO_NEWLINE = "\\ No newline at end of file"
_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Change:
    """One file's change: its text before (None: added) and after (None: deleted)."""

    path: str
    before: str | None
    after: str | None
    executable: bool = False


@dataclass
class Hunk:
    old_start: int
    lines: list[str] = field(default_factory=list)  # each with its op (" ", "-", "+") first and its line ending

    def side(self, ops: str) -> list[str]:
        return [line[1:] for line in self.lines if line[0] in ops]


@dataclass
class FilePatch:
    path: str
    added: bool = False
    deleted: bool = False
    hunks: list[Hunk] = field(default_factory=list)


class Rejected(Exception):
    """A patch that does not apply; the message says which hunk and why."""


def lines_with_ends(text: str) -> list[str]:
    """Lines split at "\\n" only, each keeping it (the last may have none)."""
    lines = text.split("\n")
    out = [f"{line}\n" for line in lines[:-1]]
    return [*out, lines[-1]] if lines[-1] else out


def unified(changes: list[Change]) -> str:
    """The patch of every change, in path order."""
    return "".join(_file(change) for change in sorted(changes, key=lambda c: c.path))


def _file(change: Change) -> str:
    path = change.path
    mode = "100755" if change.executable else "100644"
    head = [f"diff --git a/{path} b/{path}\n"]
    if change.before is None:
        head.append(f"new file mode {mode}\n")
    elif change.after is None:
        head.append(f"deleted file mode {mode}\n")
    head.append("--- /dev/null\n" if change.before is None else f"--- a/{path}\n")
    head.append("+++ /dev/null\n" if change.after is None else f"+++ b/{path}\n")
    before = lines_with_ends(change.before or "")
    after = lines_with_ends(change.after or "")
    body: list[str] = []
    for group in _matcher(before, after).get_grouped_opcodes(CONTEXT):
        first, last = group[0], group[-1]
        old = _range(first[1], last[2] - first[1])
        new = _range(first[3], last[4] - first[3])
        body.append(f"@@ -{old} +{new} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                body += [_line(" ", line) for line in before[i1:i2]]
                continue
            body += [_line("-", line) for line in before[i1:i2]]
            body += [_line("+", line) for line in after[j1:j2]]
    return "".join(head + body) if body or change.before is None or change.after is None else ""


def _matcher(before: list[str], after: list[str]) -> difflib.SequenceMatcher[str]:
    """difflib's exact diff of the lines between those both sides share at the start and the end; where that would
    take too long, those lines replaced whole (a valid patch, only not the smallest)."""
    head = 0
    while head < min(len(before), len(after)) and before[head] == after[head]:
        head += 1
    tail = 0
    while tail < min(len(before), len(after)) - head and before[-1 - tail] == after[-1 - tail]:
        tail += 1
    old, new = before[head : len(before) - tail], after[head : len(after) - tail]
    counts: dict[str, int] = {}
    for line in new:
        counts[line] = counts.get(line, 0) + 1
    if sum(counts.get(line, 0) for line in old) <= MAX_MATCH_WORK:
        inner = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    else:
        inner = [("replace", 0, len(old), 0, len(new))]
    codes = [("equal", 0, head, 0, head)]
    codes += [(tag, i1 + head, i2 + head, j1 + head, j2 + head) for tag, i1, i2, j1, j2 in inner]
    codes.append(("equal", len(before) - tail, len(before), len(after) - tail, len(after)))
    merged: list[tuple[str, int, int, int, int]] = []
    for code in codes:
        if code[1] == code[2] and code[3] == code[4]:
            continue
        if merged and code[0] == "equal" and merged[-1][0] == "equal":
            code = ("equal", merged[-1][1], code[2], merged[-1][3], code[4])
            merged.pop()
        merged.append(code)
    return _Coded(merged or [("equal", 0, 0, 0, 0)])


class _Coded(difflib.SequenceMatcher[str]):
    """A matcher whose opcodes are given (get_grouped_opcodes groups them into hunks)."""

    def __init__(self, codes: list[tuple[str, int, int, int, int]]) -> None:
        super().__init__(None, [], [], autojunk=False)
        self._codes = codes

    def get_opcodes(self) -> list[tuple[str, int, int, int, int]]:  # type: ignore[override]
        return self._codes


def _range(start: int, length: int) -> str:
    # As diff writes it: a one-line range is its line alone; an empty one names the line before it.
    if length == 1:
        return f"{start + 1}"
    return f"{start + 1 if length else start},{length}"


def _line(op: str, line: str) -> str:
    return f"{op}{line}" if line.endswith("\n") else f"{op}{line}\n{NO_NEWLINE}\n"


def parse(patch: str) -> list[FilePatch]:
    """The files of a patch in this format (git's, as `unified` writes it); ValueError when it is not one."""
    files: list[FilePatch] = []
    hunk: Hunk | None = None
    for line in lines_with_ends(patch):
        if line.startswith("diff --git "):
            files.append(FilePatch(_path(line)))
            hunk = None
        elif not files:
            raise ValueError("a patch starts with `diff --git`")
        elif line.startswith(("new file mode", "deleted file mode")):
            files[-1].added |= line.startswith("new")
            files[-1].deleted |= line.startswith("deleted")
        elif line.startswith(("--- ", "+++ ")) and hunk is None:
            continue
        elif line.startswith("@@"):
            match = _HUNK.match(line)
            if match is None:
                raise ValueError(f"a hunk header that does not parse: {line[:80]!r}")
            hunk = Hunk(int(match.group(1)))
            files[-1].hunks.append(hunk)
        elif line.rstrip("\n") == NO_NEWLINE and hunk is not None and hunk.lines:
            hunk.lines[-1] = hunk.lines[-1].removesuffix("\n")
        elif hunk is not None and line[:1] in (" ", "-", "+"):
            hunk.lines.append(line)
        else:
            raise ValueError(f"a line that is no part of a patch: {line[:80]!r}")
    return files


def _path(line: str) -> str:
    rest = line.removeprefix("diff --git ").rstrip("\n")
    half = rest[: len(rest) // 2].removeprefix("a/")  # "a/P b/P": both halves name the same path
    return half.rstrip(" ")


def reverse(part: FilePatch) -> FilePatch:
    """The patch that undoes `part` (its hunks are found by their lines, so where they start matters little)."""
    flip = {"+": "-", "-": "+", " ": " "}
    hunks = [Hunk(h.old_start, [flip[line[0]] + line[1:] for line in h.lines]) for h in part.hunks]
    return FilePatch(part.path, part.deleted, part.added, hunks)


def apply(part: FilePatch, current: str | None) -> str | None:
    """`current` (None: no such file) with `part` applied; Rejected when it does not apply."""
    if part.added:
        if current is not None:
            raise Rejected(f"{part.path} already exists")
        return "".join(line for hunk in part.hunks for line in hunk.side("+"))
    if current is None:
        raise Rejected(f"{part.path} does not exist")
    if part.deleted:
        if "".join(line for hunk in part.hunks for line in hunk.side("-")) != current:
            raise Rejected(f"{part.path} is not as the patch deletes it (it changed)")
        return None
    lines = lines_with_ends(current)
    out: list[str] = []
    done = offset = 0
    for number, hunk in enumerate(part.hunks, start=1):
        before, after = hunk.side(" -"), hunk.side(" +")
        at = _find(lines, before, max(hunk.old_start - 1 + offset, 0) if before else hunk.old_start + offset, done)
        if at is None:
            raise Rejected(f"{part.path}: hunk {number} (at line {hunk.old_start}) does not match the file's lines")
        out += lines[done:at] + after
        offset = at - (hunk.old_start - 1 if before else hunk.old_start)
        done = at + len(before)
    return "".join(out + lines[done:])


def _find(lines: list[str], wanted: list[str], near: int, start: int) -> int | None:
    """Where `wanted` begins in `lines` at or after `start`, the nearest to `near` first (git's shifted hunks)."""
    size = len(wanted)
    last = len(lines) - size
    for distance in range(max(near - start, last - near, 0) + 1):
        for at in (near - distance, near + distance) if distance else (near,):
            if start <= at <= last and lines[at : at + size] == wanted:
                return at
    return None
