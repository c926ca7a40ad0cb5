"""MCP progress for long upstream calls: prompt on a change of phase, throttled while tokens flow, and a heartbeat
while the upstream is silent or only sends keep-alives, so hosts' idle timers do not kill long thinking calls.

`progress` is the seconds elapsed (it must grow with every notification, and a thinking call has no known total);
the message says the phase and how many pieces of text have arrived.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio

from mcp_server.upstream.completion import Phase

Send = Callable[[float, float | None, str | None], Awaitable[None]]
Log = Callable[[str], Awaitable[None]]

MIN_INTERVAL = 0.5  # at most two notifications a second while tokens stream
HEARTBEAT = 5.0  # at least one every five seconds, whatever the upstream does


class ProgressReporter:
    """Turns stream events into progress notifications for one tool call."""

    def __init__(self, send: Send, label: str = "", log: Log | None = None) -> None:
        self._send = send
        self._log = log
        self._label = label
        self._start = time.monotonic()
        self._last_sent = self._start
        self._last_progress = -1.0
        self._phase: Phase = "queued"
        self._pieces = 0

    async def __call__(self, phase: Phase, pieces: int) -> None:
        """Stream observer: record the state; notify if the phase changed or enough time has passed."""
        changed = phase != self._phase or self._last_progress < 0
        self._phase, self._pieces = phase, pieces
        if changed or time.monotonic() - self._last_sent >= MIN_INTERVAL:
            await self._notify()

    async def notice(self, text: str) -> None:
        """Something the user should hear about mid-call (a retry): a progress message, and a log message to
        clients that asked for them with logging/setLevel."""
        await self._notify(f"{self._label}: {text}" if self._label else text)
        if self._log is not None:
            await self._log(text)

    async def _notify(self, message: str | None = None) -> None:
        now = time.monotonic()
        progress = round(max(now - self._start, self._last_progress + 0.001), 3)
        self._last_sent, self._last_progress = now, progress
        await self._send(progress, None, message or self._message(now))

    def _message(self, now: float) -> str:
        elapsed = f"{now - self._start:.0f} s"
        prefix = f"{self._label}: " if self._label else ""
        if self._phase == "queued":
            return f"{prefix}waiting for the model ({elapsed})"
        return f"{prefix}{self._phase}, {self._pieces} tokens ({elapsed})"

    async def _heartbeat(self) -> None:
        while True:
            await anyio.sleep(max(self._last_sent + HEARTBEAT - time.monotonic(), 0.05))
            if time.monotonic() - self._last_sent >= HEARTBEAT:
                await self._notify()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ProgressReporter]:
        """Keep the heartbeat going for the duration of the block; exceptions pass through unwrapped."""
        error: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._heartbeat)
            try:
                yield self
            except Exception as exc:  # re-raised below, outside the task group, so it is not wrapped in a group
                error = exc
            finally:
                tg.cancel_scope.cancel()
        if error is not None:
            raise error
