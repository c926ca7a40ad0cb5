"""The text DeepSeek receives for a call's files: one block, files sorted by path, placed before the prompt.

Nothing in the block varies between two calls over the same files (no time, no absolute path, no question), so
the requests share a byte-identical prefix and DeepSeek's prompt cache serves it at the cache-hit price.

A file's text cannot fake a boundary: one that holds a file tag or the end line (`</file>`, `<file path=...>`,
`(End of files.)`) is fenced, its tags carrying a fence made from a hash of the text and absent from it, so the
block still depends on nothing but the files.
"""

from __future__ import annotations

import hashlib
import json
import re

HEAD = (
    "The user's files follow, read from disk by deepseek-mcp; each is labelled with its path relative to the "
    "folder the files share.\n\n"
)
TAIL = "(End of files.)\n\n"


_BOUNDARY = re.compile(r"<\s*/?\s*file\b|\(end of files\.\)", re.IGNORECASE)


def file_block(path: str, text: str) -> str:
    """One file: its path (JSON-quoted, since a name may hold quotes or line breaks), then its text."""
    newline = "" if not text or text.endswith("\n") else "\n"
    if "file" not in text.lower() or _BOUNDARY.search(text) is None:  # `in` first: the regex costs 5x more
        return f"<file path={_quoted(path)}>\n{text}{newline}</file>\n\n"
    fence = _fence(text)
    return f'<file path={_quoted(path)} fence="{fence}">\n{text}{newline}</file fence="{fence}">\n\n'


def _fence(text: str) -> str:
    """A fence for a file's tags: the same for the same text, and not in it (a text cannot hold its own hash)."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    size = 16
    while digest[:size] in text and size < len(digest):
        size += 8
    return digest[:size]


def _quoted(path: str) -> str:
    # json.dumps costs more than the rest of a small file's block; most paths need no escape at all.
    if path.isprintable() and '"' not in path and "\\" not in path:
        return f'"{path}"'
    return json.dumps(path, ensure_ascii=False)


def render(blocks: list[str]) -> str:
    """The whole block before the prompt, from `file_block`s already in path order."""
    return "".join((HEAD, *blocks, TAIL))


def with_files(block: str, prompt: str) -> str:
    """The user message of a call with files: the files first, then the prompt."""
    return f"{block}{prompt}" if block else prompt
