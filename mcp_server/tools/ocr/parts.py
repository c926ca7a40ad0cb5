"""A large `ocr` result in parts a host can take: the first pages inline, the rest as MCP resources.

Claude Code cuts a tool's output near 25K tokens by default, and a 1,000-page document reads to millions. So the
result carries pages inline up to INLINE_CHARS (about 20K tokens, markdown and boxes counted), and every further
run of pages up to PART_CHARS becomes one resource, `ocr://results/<id>/<part>` (JSON: `{"pages": [...]}`, each
page as in the structured result), linked from the result (`resource_link` blocks, and `parts` in the structured
result) and read with `resources/read`. Parts are kept in memory for their caller only (the HTTP token's digest;
over stdio the one user), for KEEP_SECONDS, within OWNER_BYTES per caller and TOTAL_BYTES for the server: the
oldest results go first, and a part that is gone says to call `ocr` again with `pages`.

Splitting runs in a worker thread with the rest of the answer's processing (pages are serialised one at a time, so
memory holds the parts' text, not a model object per box).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from mcp_server.serving.app import AppContext, ToolContext, app_of, owner_of
from mcp_server.tools.ocr.model import PageOut

INLINE_CHARS = 80_000  # about 20K tokens
PART_CHARS = 80_000
KEEP_SECONDS = 3600.0
OWNER_BYTES = 64 * 1024 * 1024
TOTAL_BYTES = 256 * 1024 * 1024
URI = "ocr://results/{result}/{part}"


@dataclass
class Split:
    """A result's pages: those inline, and the rest as parts of serialised JSON with their page ranges."""

    inline: list[PageOut] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    ranges: list[tuple[int, int]] = field(default_factory=list)  # first and last page of each part
    clipped: int | None = None  # a first page too long to go inline whole: its start inline, all of it in part 1


def split_pages(pages: Iterable[PageOut]) -> Split:
    """Pages in order into the inline ones and parts (runs in a worker thread)."""
    out = Split()
    inline_size = 0
    current: list[str] = []
    current_size = 0
    first = last = 0
    for index, page in enumerate(pages):
        number = page.page if page.page is not None else index + 1
        encoded = page.model_dump_json()
        if not out.parts and not current and inline_size + len(encoded) <= INLINE_CHARS:
            out.inline.append(page)
            inline_size += len(encoded)
            continue
        if not out.inline:  # the first page alone is over the inline bound
            out.inline.append(page.model_copy(update={"markdown": page.markdown[:INLINE_CHARS], "boxes": []}))
            out.clipped = number
        if current and current_size + len(encoded) > PART_CHARS:
            _close(out, current, first, last)
            current, current_size = [], 0
        if not current:
            first = number
        current.append(encoded)
        current_size += len(encoded)
        last = number
    if current:
        _close(out, current, first, last)
    return out


def _close(out: Split, pages: list[str], first: int, last: int) -> None:
    out.parts.append('{"pages":[' + ",".join(pages) + "]}")
    out.ranges.append((first, last))


@dataclass
class _Held:
    owner: str
    parts: list[str]
    size: int
    expires: float


class ResultStore:
    """Parts of large results, per caller, bounded in bytes and time."""

    def __init__(self, owner_bytes: int = OWNER_BYTES, total_bytes: int = TOTAL_BYTES) -> None:
        self.owner_bytes = owner_bytes
        self.total_bytes = total_bytes
        self._held: OrderedDict[str, _Held] = OrderedDict()

    def put(self, owner: str, parts: list[str]) -> tuple[str, int]:
        """Keep `parts` for `owner`; returns the result's id and how many parts were kept (the first ones that fit
        the caller's bytes)."""
        self._expire()
        kept: list[str] = []
        size = 0
        for part in parts:
            if size + len(part) > self.owner_bytes:
                break
            kept.append(part)
            size += len(part)
        self._make_room(owner, size)
        result = secrets.token_hex(12)
        self._held[result] = _Held(owner, kept, size, time.monotonic() + KEEP_SECONDS)
        return result, len(kept)

    def get(self, owner: str, result: str, part: int) -> str | None:
        self._expire()
        held = self._held.get(result)
        if held is None or held.owner != owner or not 1 <= part <= len(held.parts):
            return None
        return held.parts[part - 1]

    @property
    def size(self) -> int:
        return sum(held.size for held in self._held.values())

    def _make_room(self, owner: str, size: int) -> None:
        mine = [key for key, held in self._held.items() if held.owner == owner]
        while mine and sum(self._held[key].size for key in mine) + size > self.owner_bytes:
            del self._held[mine.pop(0)]
        while self._held and self.size + size > self.total_bytes:
            self._held.popitem(last=False)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [key for key, held in self._held.items() if held.expires <= now]:
            del self._held[key]


ANSWERS_AT_ONCE = 2  # OCR answers processed at once, across every call: each can take seconds and ~100s of MB


def answers_limiter(app: AppContext) -> anyio.CapacityLimiter:
    limiter = app.extras.get("ocr_answers")
    if not isinstance(limiter, anyio.CapacityLimiter):
        limiter = app.extras["ocr_answers"] = anyio.CapacityLimiter(ANSWERS_AT_ONCE)
    return limiter


def store_of(app: AppContext) -> ResultStore:
    store = app.extras.get("ocr_results")
    if not isinstance(store, ResultStore):
        store = app.extras["ocr_results"] = ResultStore()
    return store


def keep(ctx: ToolContext, split: Split, notices: list[str]) -> tuple[str | None, list[tuple[int, int]]]:
    """Store the parts for the caller; the URI template's `result` and the ranges of the parts kept. Parts past the
    caller's bytes are not kept, and a notice in `notices` says which pages to ask for again."""
    if not split.parts:
        return None, []
    result, kept = store_of(app_of(ctx)).put(owner_of(ctx), split.parts)
    if kept < len(split.parts):
        first, last = split.ranges[kept][0], split.ranges[-1][1]
        notices.append(
            f"pages {first}-{last} were not kept: a caller's results may hold {OWNER_BYTES // 2**20} MiB; "
            f'call ocr again with pages: "{first}-{last}" (or fewer) for them'
        )
    return result, split.ranges[:kept]


def register(server: MCPServer[AppContext]) -> None:
    """The resource template the parts are read through."""

    @server.resource(URI, name="ocr_part", mime_type="application/json", description="More pages of an ocr result.")
    async def ocr_part(result: str, part: str, ctx: ToolContext) -> str:
        found = None
        if part.isdigit() and len(part) < 6:
            found = store_of(app_of(ctx)).get(owner_of(ctx), result, int(part))
        if found is None:
            raise ResourceNotFoundError(
                f"ocr part {result[:40]}/{part[:10]} is not held: parts are kept for an hour, for the caller that "
                "made them, within a memory bound; call ocr again with `pages` for those pages"
            )
        return app_of(ctx).redact(found)  # a resource is no tool result: server.py does not redact it
