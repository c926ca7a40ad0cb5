"""Citations as models write them, found in an answer, each with the claim it supports.

The forms: `path:N`, `path:A-B` (or an en or em dash), `path:N,M` (two citations; ranges may be listed too),
`path#LN` and `path#LA-LB`, markdown links whose target is one of those (`[text](path#LA-LB)`, `[path:N](...)`),
any of them in backticks, and absolute paths (or `file://` URIs) inside the folder investigated, shown relative to
it. A URL (`https://host/...`) is not a citation, nor is `host:8000`.

The claim of a citation is its sentence (or list item). The code names it must hold are those marked in its part of
the sentence: the text from the previous citation in the sentence (or the sentence's start) up to it, or, when that
names no code, the text after it up to the next citation (or the sentence's end); claims.py reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import re2

from .claims import names_in

MAX_CITATIONS = 100
# Citations read from one answer, repeats included (a model may cite one line a thousand times): past this the
# answer's rest is not looked at. Each costs a claim's sentence (4,000 characters at most) and the lookups around it.
MAX_READ = 1000
MAX_LISTED = 20  # lines or ranges in one `path:N,M,...` list
MAX_CLAIM_CHARS = 600
_DASH = "[-\u2013\u2014]"
_PATH = r"(?:file://)?([A-Za-z0-9_./-]+)"
_LINES = rf"(\d{{1,9}}(?:{_DASH}\d{{1,9}})?(?:,\d{{1,9}}(?:{_DASH}\d{{1,9}})?){{0,{MAX_LISTED - 1}}})"
_ANCHOR = rf"#L(\d{{1,9}})(?:{_DASH}L?(\d{{1,9}}))?"
# RE2: linear time, whatever the answer holds.
_CITATION = re2.compile(rf"{_PATH}(?::{_LINES}|{_ANCHOR})")
_LINK = re2.compile(r"\[[^\]\n]{0,300}\]\(<?([^)\s>]{1,1000})>?\)")
_SENTENCE_END = re2.compile(r"\n|[.!?;](?:\s|$)")


@dataclass(frozen=True)
class Cited:
    """One citation: the file as the folder names it, the lines, the sentence it supports and the code names its
    part of that sentence marks."""

    path: str
    start: int
    end: int
    claim: str
    names: tuple[str, ...] = ()
    absolute: bool = False  # an absolute path outside the folder (kept as written)


@dataclass(frozen=True)
class _Found:
    path: str
    start: int
    end: int
    at: int  # where the citation begins and ends in the answer
    until: int
    absolute: bool


def citations(answer: str, roots: Sequence[str] = ()) -> list[Cited]:
    """Every distinct citation in `answer` with its claim, in order, at most MAX_CITATIONS. `roots` are absolute
    spellings of the folder investigated: a path inside one is made relative to it."""
    found = _found(answer, tuple(r.rstrip("/") for r in roots if r.startswith("/")))
    out: dict[tuple[str, int, int, str], Cited] = {}
    for index, item in enumerate(found):
        claim, names = _claim(answer, found, index)
        key = (item.path, item.start, item.end, claim)
        out.setdefault(key, Cited(item.path, item.start, item.end, claim, names, item.absolute))
        if len(out) == MAX_CITATIONS:
            break
    return list(out.values())


def _found(answer: str, roots: tuple[str, ...]) -> list[_Found]:
    """The citations in the answer in order, the first MAX_READ of them (one `path:N,M` list gives several)."""
    found: list[_Found] = []
    taken: list[tuple[int, int]] = []  # in the answer's order, as finditer gives them
    for link in _LINK.finditer(answer):
        # From the link's `](`: its text stays in the claim.
        inside = _parse(link.group(1), roots, link.start(1) - 2, link.end())
        if inside:  # the target is the citation; a `path:N` in the link's text says the same, or less
            found += inside
            taken.append((link.start(), link.end()))
            if len(found) >= MAX_READ:
                break
    bare: list[_Found] = []
    link = 0
    for match in _CITATION.finditer(answer, 0, taken[-1][1] if len(found) >= MAX_READ else len(answer)):
        while link < len(taken) and taken[link][1] <= match.start():  # links wholly before this match
            link += 1
        if link == len(taken) or match.start() < taken[link][0]:  # not inside the next link
            bare += _of(match, roots, match.start(), match.end())
            if len(bare) >= MAX_READ:
                break
    return sorted(found + bare, key=lambda f: f.at)[:MAX_READ]


def _parse(text: str, roots: tuple[str, ...], at: int, until: int) -> list[_Found]:
    match = _CITATION.search(text)
    return [] if match is None or match.end() != len(text) else _of(match, roots, at, until)


def _of(match: Any, roots: tuple[str, ...], at: int, until: int) -> list[_Found]:
    path = match.group(1)
    if "//" in path or ("." not in path and "/" not in path):
        return []  # "http://host:80/x", "localhost:8000" are not citations
    path, absolute = _relative(path, roots)
    if not path:
        return []
    if match.group(2) is not None:
        spans = [_span(part) for part in match.group(2).split(",")]
    else:
        first = int(match.group(3))
        spans = [(first, int(match.group(4)) if match.group(4) else first)]
    return [_Found(path, start, end, at, until, absolute) for start, end in spans]


def _span(part: str) -> tuple[int, int]:
    pieces = re2.split(_DASH, part)
    start = int(pieces[0])
    return start, int(pieces[1]) if len(pieces) > 1 else start


def _relative(path: str, roots: tuple[str, ...]) -> tuple[str, bool]:
    """(the path as the folder names it, whether it is an absolute path outside the folder)."""
    if not path.startswith("/"):
        return path.removeprefix("./"), False
    for root in sorted(roots, key=len, reverse=True):
        if path.startswith(f"{root}/"):
            return path[len(root) + 1 :], False
    return path, True


def _claim(answer: str, found: list[_Found], index: int) -> tuple[str, tuple[str, ...]]:
    """The sentence of citation `index`, and the names its part of the sentence marks (the module's docstring)."""
    item = found[index]
    start, end = _sentence(answer, item.at, item.until)
    # The nearest citations before and after it in the answer: those of its own `path:N,M` list share its place.
    before = next((f.until for f in reversed(found[:index]) if f.until <= item.at), start)
    after = next((f.at for f in found[index + 1 :] if f.at >= item.until), end)
    before_from, after_to = max(start, before), min(end, after)
    names = names_in(answer[before_from : item.at]) or names_in(answer[item.until : after_to])
    sentence = " ".join(answer[start:end].split())
    return sentence[:MAX_CLAIM_CHARS].lstrip("-*0123456789. "), tuple(names)


def _sentence(answer: str, at: int, until: int) -> tuple[int, int]:
    low = max(0, at - 2000)
    start = low
    for match in _SENTENCE_END.finditer(answer[low:at]):
        start = low + match.end()
    tail = _SENTENCE_END.search(answer[until : until + 2000])
    end = until + tail.start() if tail is not None else min(len(answer), until + 2000)
    return start, end
