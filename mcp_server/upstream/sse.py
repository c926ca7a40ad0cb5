"""Server-sent events, parsed line by line so that comments (DeepSeek's `: keep-alive`) are seen too.

httpx2 ships an SSE decoder, but it drops comments silently, and a keep-alive is the one sign of life a queued
thinking call gives: the progress reporter needs to see it.

Lines are split on bytes in one pass over a buffer (linear in the body, however the chunks fall), and bounded: a line
longer than `max_line` or a body longer than `max_body` ends the stream with `TooLarge`, before it is held in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

MAX_LINE = 16 * 1024 * 1024  # one event's data line; a real chunk is a few hundred bytes
MAX_BODY = 512 * 1024 * 1024  # a whole stream: 393K tokens of answer in DeepSeek's chunk format is about 120 MB


@dataclass(frozen=True)
class Event:
    """One dispatched event: its `data` lines joined by newlines."""

    data: str
    event: str = "message"


@dataclass(frozen=True)
class Comment:
    """A comment line (`: keep-alive`): no data, but proof the connection is alive."""

    text: str


class TooLarge(Exception):
    """A line or the whole body passed its bound; the message says which."""


async def iter_lines(
    chunks: AsyncIterable[bytes], *, max_line: int = MAX_LINE, max_body: int = MAX_BODY
) -> AsyncIterator[str]:
    """The body's lines (ended by LF, CRLF or CR, as SSE allows), decoded as UTF-8.

    Split on bytes: httpx2's aiter_lines stacks a text decoder and a line decoder on the body, two more steps for
    each of the thousands of chunks of a fast stream. SSE is UTF-8 by definition, and no UTF-8 character contains a
    line break byte, so splitting before decoding is safe.
    """
    buffer = bytearray()
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > max_body:
            raise TooLarge(f"the stream passed {max_body // 2**20} MiB")
        # What is left of the buffer holds no line break (a trailing CR at most), so only the new chunk is searched.
        scanned = max(len(buffer) - 1, 0)
        buffer += chunk
        if buffer.find(b"\r", scanned) < 0:  # the common case, LF only: one split at C speed
            if buffer.find(b"\n", scanned) >= 0:
                *complete, rest = buffer.split(b"\n")
                buffer = bytearray(rest)
            else:
                complete = []
        else:
            complete, used = _split_mixed(buffer, scanned)
            del buffer[:used]
        for line in complete:
            yield line.decode("utf-8", errors="replace")
        if len(buffer) > max_line:
            raise TooLarge(f"one line of the stream passed {max_line // 2**20} MiB")
    if buffer:
        yield buffer.rstrip(b"\r").decode("utf-8", errors="replace")


def _split_mixed(buffer: bytearray, scanned: int) -> tuple[list[bytearray], int]:
    """Complete lines of a buffer with CRs in it, and how many bytes they used.

    The next LF and CR are each found once per occurrence (-1: none left), so a buffer of many LF lines and one CR
    is not rescanned to its end at every line.
    """
    lines: list[bytearray] = []
    start = 0
    lf, cr = buffer.find(b"\n", scanned), buffer.find(b"\r", scanned)
    while lf >= 0 or cr >= 0:
        end = lf if cr < 0 or 0 <= lf < cr else cr
        if end == cr and end == len(buffer) - 1:
            break  # a CR at the very end may be half of a CRLF still arriving
        lines.append(buffer[start:end])
        start = end + (2 if end == cr and end + 1 == lf else 1)
        if 0 <= lf < start:
            lf = buffer.find(b"\n", start)
        if 0 <= cr < start:
            cr = buffer.find(b"\r", start)
    return lines, start


async def iter_sse(lines: AsyncIterable[str], *, max_event: int = MAX_LINE) -> AsyncIterator[Event | Comment]:
    """Yield events and comments from decoded lines, as the SSE spec dispatches them (a blank line ends an event)."""
    data: list[str] = []
    size = 0
    event = ""
    async for line in lines:
        if not line:
            if data:
                yield Event("\n".join(data), event or "message")
            data, size, event = [], 0, ""
            continue
        if line.startswith(":"):
            yield Comment(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            size += len(value) + 1
            if size > max_event:
                raise TooLarge(f"one event of the stream passed {max_event // 2**20} MiB")
            data.append(value)
        elif name == "event":
            event = value
        # `id`, `retry` and unknown field names are ignored, as the spec says.
    if data:
        # A stream cut without its final blank line still delivers what it completed.
        yield Event("\n".join(data), event or "message")
