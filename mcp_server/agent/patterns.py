"""The two kinds of pattern the model writes: a glob for `glob` and `grep`'s file filter, and `grep`'s regular
expression. Both run on RE2 (google-re2): matching is linear in the text, so no pattern can hang the server, and
syntax RE2 does not have (lookaround, backreferences) is refused with a message the model can act on."""

from __future__ import annotations

from typing import Any

import re2

MAX_PATTERN_CHARS = 512
# RE2's instructions for one pattern: past its fast automaton a search costs about this many steps per character
# (agent/search.py searches in pieces sized by it); `(?s)a.{999}b.{999}c` has 14,000.
MAX_PROGRAM = 30_000
_MAX_MEM = 8 << 20  # bytes RE2 may spend on one compiled pattern; a bigger one is refused, not built


class BadPattern(Exception):
    """A pattern that cannot be used; the message says why, for the model."""


def compile_regex(pattern: str) -> Any:
    """`grep`'s pattern, compiled with RE2."""
    _check_length(pattern, "pattern")
    try:
        regex = re2.compile(pattern, _options())
    except re2.error as e:
        detail = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise BadPattern(
            f"the pattern is not valid RE2 syntax ({detail[:200]}); RE2 has no lookaround and no backreferences, "
            "and repeats go up to {1000}: rewrite it, or search for a plain word"
        ) from None
    if regex.programsize > MAX_PROGRAM:
        raise BadPattern(
            f"the pattern compiles to {regex.programsize:,} instructions, more than {MAX_PROGRAM:,}: it would search "
            "slowly; use smaller counted repeats ({n}) or fewer of them"
        )
    return regex


def compile_glob(pattern: str) -> Any:
    """A glob as a full-match RE2 pattern on "/"-separated relative paths: `*` and `?` stay within a name, `**`
    crosses folders, `[abc]` and `[!abc]` are classes. A glob without "/" matches a file name at any depth."""
    _check_length(pattern, "glob")
    if not pattern.strip():
        raise BadPattern("the glob is empty; pass one such as `**/*.py` or `src/*.ts`")
    body = _translate(pattern.strip().removeprefix("./"))
    prefix = "" if "/" in pattern else "(?:.*/)?"
    return re2.compile(f"{prefix}{body}", _options())


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            piece, i = _one(pattern, i)
            out.append(piece)
    return "".join(out)


def _one(pattern: str, i: int) -> tuple[str, int]:
    char = pattern[i]
    if char == "*":
        return "[^/]*", i + 1
    if char == "?":
        return "[^/]", i + 1
    end = pattern.find("]", i + 2) if char == "[" else -1
    if end > 0:
        inside = pattern[i + 1 : end]
        negated = inside[:1] in ("!", "^")
        chars = "".join(c if c == "-" else re2.escape(c) for c in inside[1 if negated else 0 :])
        return f"[{'^/' if negated else ''}{chars}]", end + 1
    return re2.escape(char), i + 1


def _check_length(pattern: str, what: str) -> None:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise BadPattern(f"the {what} is {len(pattern):,} characters long; at most {MAX_PATTERN_CHARS}")


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    options.max_mem = _MAX_MEM
    return options
