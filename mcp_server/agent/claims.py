"""What a claim names in code, and whether the cited lines hold those names.

A name is what a sentence marks as code: a backticked identifier (`has`, `attr.has`, `has()`, `has(cls)`,
`def has`, `Foo::bar`), or, outside backticks, `Class.method` (a capitalised first part) and `function()`. A file
name (`_make.py`) is not one. A name is found when its last part (`locate` of `Workspace.locate`) stands as a whole
word in the cited lines, within WINDOW lines of them, or on the header of a block around them (the `def` or `class`
a cited body line belongs to, context/scopes.py). WINDOW was measured on realistic answers about real code
(bench/citations.py, docs/benchmarks.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mcp_server.context.scopes import headers

WINDOW = 2  # lines either side of a citation where its names may stand (bench/citations.py)
MAX_NAMES = 8  # names checked for one claim
MAX_TEXT = 2000  # characters of a claim looked at
_BACKTICKED = re.compile(r"`([^`\n]{1,200})`")
_DOTTED = re.compile(r"(?<![\w./-])([A-Z][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?![\w/(])")
_CALLED = re.compile(r"(?<![\w./-])([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\(\)")
_DEFINED = re.compile(
    r"^(?:(?:async|pub|export|static)\s+)*(?:def|class|function|fn|func|struct|enum|trait|interface|type)\s+"
    r"([A-Za-z_]\w*)"
)
_NAME = re.compile(r"^@?([A-Za-z_]\w*(?:(?:\.|::)[A-Za-z_]\w*)*)(?:\(.*\))?$")
# A last part that makes a dotted word a file name, not code.
FILE_ENDINGS = frozenset((
    "py", "pyi", "js", "mjs", "cjs", "ts", "tsx", "jsx", "md", "rst", "txt", "toml", "json", "yaml", "yml", "cfg",
    "ini", "lock", "rs", "go", "c", "h", "cc", "cpp", "hpp", "java", "kt", "rb", "php", "sh", "bash", "zsh", "sql",
    "html", "css", "scss", "xml", "csv", "swift", "cs", "lua", "pl", "r", "ex", "exs", "erl", "hs", "ml", "scala",
    "dart", "vue", "svelte",
))  # fmt: skip


def names_in(text: str) -> list[str]:
    """The code names a claim's text marks, as written (`Workspace.locate`, `has`), in order, at most MAX_NAMES."""
    text = text[:MAX_TEXT]
    found: dict[str, None] = {}
    for match in _BACKTICKED.finditer(text):
        name = _backticked(match.group(1).strip())
        if name:
            found.setdefault(name, None)
    prose = _BACKTICKED.sub(" ", text)
    for pattern in (_DOTTED, _CALLED):
        for match in pattern.finditer(prose):
            if not _file_name(match.group(1)):
                found.setdefault(match.group(1), None)
    return list(found)[:MAX_NAMES]


def missing(
    names: Sequence[str], lines: Sequence[str], start: int, end: int, window: int = WINDOW, *, headers_too: bool = True
) -> list[str]:
    """The names that stand neither in lines `start`-`end` (1-based), within `window` lines of them, nor (with
    `headers_too`) on the header of a block around them."""
    if not names:
        return []
    low, high = max(1, start - window), min(len(lines), end + window)
    near = "\n".join(lines[low - 1 : high])
    if headers_too:
        near += "\n" + "\n".join(lines[number - 1] for number in headers(lines, start, end))
    return [name for name in names if _word(last_part(name)).search(near) is None]


def last_part(name: str) -> str:
    return re.split(r"\.|::", name)[-1]


def _backticked(code: str) -> str | None:
    defined = _DEFINED.match(code)
    if defined:
        return defined.group(1)
    named = _NAME.match(code)
    if named is None or "/" in code or _file_name(named.group(1)):
        return None
    return named.group(1)


def _file_name(name: str) -> bool:
    return "." in name and name.rsplit(".", 1)[1].lower() in FILE_ENDINGS


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")
