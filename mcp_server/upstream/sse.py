"""Server-sent events, parsed line by line so that comments (DeepSeek's `: keep-alive`) are seen too.

httpx2 ships an SSE decoder, but it drops comments silently, and a keep-alive is the one sign of life a queued
thinking call gives: the progress reporter needs to see it.

`SSEParser` is fed the body's chunks as they arrive and returns the events each completes: one synchronous pass, no
generator per line (a fast stream is thousands of chunks, and async generators cost microseconds a step). Lines
are split on bytes, linear in the body however the chunks fall, and bounded: a line or an event longer than
`max_line`, or a body longer than `max_body`, raises `TooLarge` before it is held in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE = 16 * 1024 * 1024  # one event's data; a real chunk is a few hundred bytes
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
    """A line, an event or the whole body passed its bound; the message says which."""


class SSEParser:
    """Chunks in, completed events and comments out, as the SSE spec dispatches them (a blank line ends an event;
    lines end with LF, CRLF or CR). SSE is UTF-8 by definition, and no UTF-8 character contains a line-break byte,
    so splitting before decoding is safe."""

    def __init__(self, *, max_line: int = MAX_LINE, max_body: int = MAX_BODY) -> None:
        self._max_line = max_line
        self._max_body = max_body
        self._buffer = bytearray()
        self._total = 0
        self._data: list[str] = []
        self._size = 0
        self._event = ""

    def feed(self, chunk: bytes) -> list[Event | Comment]:
        """The events that `chunk` completes."""
        self._total += len(chunk)
        if self._total > self._max_body:
            raise TooLarge(f"the stream passed {self._max_body // 2**20} MiB")
        buffer = self._buffer
        # What is left of the buffer holds no line break (a trailing CR at most), so only the new chunk is searched.
        scanned = max(len(buffer) - 1, 0)
        buffer += chunk
        if buffer.find(b"\r", scanned) < 0:  # the common case, LF only: one split at C speed
            if buffer.find(b"\n", scanned) < 0:
                lines: list[bytes] | list[bytearray] = []
            else:
                *lines, rest = buffer.split(b"\n")
                self._buffer = bytearray(rest)
        else:
            lines, used = _split_mixed(buffer, scanned)
            del buffer[:used]
        if len(self._buffer) > self._max_line:
            raise TooLarge(f"one line of the stream passed {self._max_line // 2**20} MiB")
        out: list[Event | Comment] = []
        for line in lines:
            self._line(line.decode("utf-8", errors="replace"), out)
        return out

    def finish(self) -> list[Event | Comment]:
        """At the end of the body: a last line without its line break, and an event cut before its blank line
        (a stream cut short still delivers what it completed)."""
        out: list[Event | Comment] = []
        if self._buffer:
            self._line(self._buffer.rstrip(b"\r").decode("utf-8", errors="replace"), out)
            self._buffer = bytearray()
        if self._data:
            out.append(Event("\n".join(self._data), self._event or "message"))
            self._data, self._size, self._event = [], 0, ""
        return out

    def _line(self, line: str, out: list[Event | Comment]) -> None:
        if not line:
            if self._data:
                out.append(Event("\n".join(self._data), self._event or "message"))
            self._data, self._size, self._event = [], 0, ""
            return
        if line[0] == ":":
            out.append(Comment(line[1:].strip()))
            return
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._size += len(value) + 1
            if self._size > self._max_line:
                raise TooLarge(f"one event of the stream passed {self._max_line // 2**20} MiB")
            self._data.append(value)
        elif name == "event":
            self._event = value
        # `id`, `retry` and unknown field names are ignored, as the spec says.


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
