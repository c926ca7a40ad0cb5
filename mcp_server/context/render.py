"""The text DeepSeek receives for a call's files: one block, files sorted by path, placed before the prompt.

Nothing in the block varies between two calls over the same files (no time, no absolute path, no question), so
the requests share a byte-identical prefix and DeepSeek's prompt cache serves it at the cache-hit price.
"""

from __future__ import annotations

import json

HEAD = (
    "The user's files follow, read from disk by deepseek-mcp; each is labelled with its path relative to the "
    "folder the files share.\n\n"
)
TAIL = "(End of files.)\n\n"


def file_block(path: str, text: str) -> str:
    """One file: its path (JSON-quoted, since a name may hold quotes or line breaks), then its text."""
    newline = "" if not text or text.endswith("\n") else "\n"
    return f"<file path={_quoted(path)}>\n{text}{newline}</file>\n\n"


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
