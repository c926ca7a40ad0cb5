"""Server-sent events, parsed line by line so that comments (DeepSeek's `: keep-alive`) are seen too.

httpx2 ships an SSE decoder, but it drops comments silently, and a keep-alive is the one sign of life a queued
thinking call gives: the progress reporter needs to see it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """One dispatched event: its `data` lines joined by newlines."""

    data: str
    event: str = "message"


@dataclass(frozen=True)
class Comment:
    """A comment line (`: keep-alive`): no data, but proof the connection is alive."""

    text: str


async def iter_sse(lines: AsyncIterable[str]) -> AsyncIterator[Event | Comment]:
    """Yield events and comments from decoded lines, as the SSE spec dispatches them (a blank line ends an event)."""
    data: list[str] = []
    event = ""
    async for line in lines:
        if not line:
            if data:
                yield Event("\n".join(data), event or "message")
            data, event = [], ""
            continue
        if line.startswith(":"):
            yield Comment(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        # `id`, `retry` and unknown field names are ignored, as the spec says.
    if data:
        # A stream cut without its final blank line still delivers what it completed.
        yield Event("\n".join(data), event or "message")
