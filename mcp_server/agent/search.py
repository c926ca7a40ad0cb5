"""grep's search of one file's text, in pieces small enough that the call's clock is looked at between them.

RE2 is linear in the text, but its cost per character grows with the pattern's program when its fast automaton gives
up: `(?s)a.{999}b.{999}c` (14,000 instructions) takes about 10 s per MiB of `a`s and `b`s, and one search cannot
be interrupted. So the text is searched in pieces of whole lines whose size times the program's is at most
PIECE_COST, and the job's clock (`Job.check_time`, which raises at the call's bound) is looked at between pieces.
A line longer than a piece is searched in windows that overlap by half: a match longer than half a window (2,048
characters at the least) inside such a line can be missed, and `^` and `$` also match at a window's edges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .workspace import lines_of

PIECE_COST = 1 << 28  # characters x program instructions searched between two looks at the clock (~0.1-0.3 s)
MIN_PIECE = 4096
MAX_PIECE = 1 << 20


def piece_for(regex: Any) -> int:
    """How many characters of text one search may take for this pattern."""
    return max(MIN_PIECE, min(MAX_PIECE, PIECE_COST // max(int(regex.programsize), 1)))


def matching_lines(regex: Any, gate: Any | None, text: str, check: Callable[[], None]) -> Iterator[tuple[int, str]]:
    """(number, line) of every line that `regex` matches; `gate` (the pattern in multi-line mode) first rules out
    pieces with no match at all; `check` is called between pieces and may raise to stop the search."""
    piece = piece_for(regex)
    start, number = 0, 1
    while start < len(text):
        check()
        end = _block_end(text, start, piece)
        block = text[start:end]
        if end - start > piece:  # one line longer than a piece
            line = lines_of(block)[0]
            if _windowed(regex, line, piece, check):
                yield number, line
        elif gate is None or gate.search(block) is not None:
            for offset, line in enumerate(lines_of(block)):
                if regex.search(line):
                    yield number + offset, line
        number += block.count("\n")
        start = end


def _block_end(text: str, start: int, piece: int) -> int:
    """The end of the whole lines from `start` that fit in a piece; a longer first line is a block of its own."""
    if len(text) - start <= piece:
        return len(text)
    cut = text.rfind("\n", start, start + piece)
    if cut >= 0:
        return cut + 1
    cut = text.find("\n", start + piece)
    return cut + 1 if cut >= 0 else len(text)


def _windowed(regex: Any, line: str, piece: int, check: Callable[[], None]) -> bool:
    step = piece // 2
    for at in range(0, max(len(line) - step, 1), step):
        if at:
            check()
        if regex.search(line[at : at + piece]):
            return True
    return False
