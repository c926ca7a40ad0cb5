"""The function or class around lines of code, found by indentation alone (no parser: it serves every language
whose blocks are indented, which is nearly all code as written).

A block's header is the nearest line above that is indented less than the lines in question (`def f(x):`,
`class A:`, `function f() {`, `impl A {`); the block runs down to the last line before the next one indented as
little as its header (a closing `}` or `end` at the header's indentation belongs to it). Decorators directly above a
header belong to it too. Lines at the top level have no block around them.

Every search is bounded (MAX_LOOK lines), so a pathological file costs no more than a few thousand line looks.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_LOOK = 2000  # lines looked at, up or down, for one header or one end
_CLOSING_MARKS = ("}", ")", "]")
_CLOSING_WORDS = frozenset({"end", "fi", "done", "esac"})


def indent(line: str) -> int | None:
    """The line's indentation in columns (a tab counts as 4), or None for a blank line."""
    stripped = line.lstrip(" \t")
    if not stripped.strip():
        return None
    lead = line[: len(line) - len(stripped)]
    return len(lead) + 3 * lead.count("\t")  # at C speed: a line may be indented by a megabyte of spaces


def headers(lines: Sequence[str], first: int, last: int | None = None) -> list[int]:
    """The 1-based numbers of the header lines of the blocks around lines `first`-`last`, innermost first."""
    level = _level(lines, first, last or first)
    found: list[int] = []
    number = first - 1
    stop = max(0, first - 1 - MAX_LOOK)
    while level is not None and level > 0 and number > stop:
        width = indent(lines[number - 1])
        if width is not None and width < level and not _continues(lines[number - 1]):
            found.append(number)
            level = width
        number -= 1
    return found


def _continues(line: str) -> bool:
    """Whether a line ends what a line above opened (`) -> int:` of a signature written over several lines, `} else
    {`): the header is further up, where that opened."""
    return line.lstrip().startswith(_CLOSING_MARKS)


def scope(lines: Sequence[str], first: int, last: int) -> tuple[int, int, int | None]:
    """(start, end, header) of the innermost block holding every line of `first`-`last` (decorators included in
    `start`); `header` is None, and the range itself returned, for lines at the top level."""
    around = headers(lines, first, last)
    if not around:
        return first, last, None
    header = around[0]
    start = header
    width = indent(lines[header - 1]) or 0
    while start > 1 and indent(lines[start - 2]) == width and lines[start - 2].lstrip().startswith("@"):
        start -= 1
    return start, _end(lines, last, width), header


def _level(lines: Sequence[str], first: int, last: int) -> int | None:
    """The least indentation of the non-blank lines `first`-`last`, or of the next non-blank line below."""
    widths = [indent(lines[n - 1]) for n in range(max(first, 1), min(last, len(lines)) + 1)]
    known = [w for w in widths if w is not None]
    if known:
        return min(known)
    # Blank lines belong to the block of the next line that is not blank.
    for number in range(last + 1, min(len(lines), last + MAX_LOOK) + 1):
        width = indent(lines[number - 1])
        if width is not None:
            return width
    return None


def _end(lines: Sequence[str], last: int, width: int) -> int:
    end = last
    for number in range(last + 1, min(len(lines), last + MAX_LOOK) + 1):
        line = lines[number - 1]
        here = indent(line)
        if here is None:
            continue
        if here <= width:
            return number if _closes(line) else end
        end = number
    return end


def _closes(line: str) -> bool:
    """Whether a line at a header's indentation closes its block (`}`, `end`) rather than starting the next."""
    text = line.strip()
    return text.startswith(_CLOSING_MARKS) or text.split(" ", 1)[0].rstrip(";") in _CLOSING_WORDS
