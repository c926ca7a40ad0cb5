"""Reading git's diff output: the `--raw -z` listing, the patch split per file, and hunks holding secrets withheld."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mcp_server.policy.scan import Scanner
from mcp_server.review.model import Entry

# Every diff the review runs: no order file, colour, external diff or textconv; submodules by their commit only.
OPTIONS = ("-O/dev/null", "--no-color", "--no-ext-diff", "--no-textconv", "--ignore-submodules=dirty", "-M")
_HUNK = re.compile(r"@@ -[0-9]+(?:,[0-9]+)? \+([0-9]+)(?:,[0-9]+)? @@")
STATUS = {
    "A": "added",
    "M": "modified",
    "D": "deleted",
    "R": "renamed",
    "C": "copied",
    "T": "type changed",
    "U": "unmerged",
    "?": "added (not yet tracked)",
}


def entries(raw: bytes) -> list[Entry]:
    """The records of `git diff --raw -z`: ":old new oldid newid STATUS\\0path\\0[path2\\0]"."""
    fields = raw.decode("utf-8", "surrogateescape").split("\0")
    found: list[Entry] = []
    index = 0
    while index < len(fields) and fields[index].startswith(":"):
        old_mode, new_mode, old_id, new_id, status = fields[index][1:].split(" ")[:5]
        kind = status[:1]
        if kind in "RC":
            old_path, path = fields[index + 1], fields[index + 2]
            index += 3
            found.append(Entry(kind, path, old_path, old_mode, new_mode, old_id, new_id))
        else:
            found.append(Entry(kind, fields[index + 1], None, old_mode, new_mode, old_id, new_id))
            index += 2
    return found


def sections(patch: str) -> list[str]:
    """The patch cut into one piece per file, in git's order (the order of the raw listing)."""
    pieces = re.split(r"(?m)^(?=diff --git )", patch)
    return [piece for piece in pieces if piece.startswith("diff --git ")]


def binary(section: str) -> bool:
    """Binary by git's word, or by the bytes as read.decode judges a file's: a NUL, or what is not UTF-8 (decoded
    with U+FFFD in its place). A `.gitattributes` marking a UTF-16 file as text makes git print it, NULs and all."""
    if "\x00" in section or "\ufffd" in section:
        return True
    return any(line.startswith(("Binary files ", "GIT binary patch")) for line in section.splitlines()[:8])


def hunks(section: str) -> tuple[str, list[str]]:
    """A file's section as (its header lines, its hunks)."""
    parts = re.split(r"(?m)^(?=@@ )", section)
    return parts[0], parts[1:]


def withhold(section: str, scanner: Scanner) -> tuple[str, list[str]]:
    """The section with every hunk that holds a key replaced by one line; and what each withheld hunk held."""
    header, parts = hunks(section)
    kept: list[str] = [header]
    held: list[str] = []
    for hunk in parts:
        kind = scanner.finding(hunk)
        if kind is None:
            kept.append(hunk)
            continue
        held.append(kind)
        first = hunk.partition("\n")[0]
        kept.append(f"{first}\n[this hunk is withheld: it holds {kind}]\n")
    return "".join(kept), held


def added_lines(section: str) -> frozenset[int]:
    """Line numbers, after the change, of the lines the diff adds (and of the line where lines were removed)."""
    numbers: set[int] = set()
    for hunk in hunks(section)[1]:
        line = _start(hunk)
        for text in _body(hunk):
            if text.startswith("+"):
                numbers.add(line)
                line += 1
            elif text.startswith("-"):
                numbers.add(max(line, 1))
            elif not text.startswith("\\"):
                line += 1
    return frozenset(numbers)


def _start(hunk: str) -> int:
    match = _HUNK.match(hunk)
    return int(match.group(1)) if match else 1


def _body(hunk: str) -> Iterator[str]:
    lines = hunk.split("\n")
    yield from (line for line in lines[1:] if line)
