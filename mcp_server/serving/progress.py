"""MCP progress for long calls: prompt on a change of phase, throttled while tokens flow, and a heartbeat while the
upstream is silent or only sends keep-alives, so hosts' idle timers do not kill long thinking calls.

One reporter serves every tool, in one unit per call, and the value only ever grows (the spec requires it):
- a streamed answer (chat, reason, fim) has no known total, so `progress` is the seconds elapsed;
- a call made of parts (the pages of an OCR, the steps of an investigation) reports parts done out of `total`; a
  heartbeat between two parts adds a thousandth, never reaching the next whole part. A call whose parts are known
  only as it runs sets `total` to what actually ran when it ends (`finish`).
The message says the phase, the tokens so far or the parts done, and the seconds elapsed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio

from mcp_server.upstream.completion import Phase

log = logging.getLogger(__name__)
Send = Callable[[float, float | None, str | None], Awaitable[None]]
Log = Callable[[str], Awaitable[None]]

MIN_INTERVAL = 0.5  # at most two notifications a second while tokens stream
HEARTBEAT = 5.0  # at least one every five seconds, whatever the upstream does
_NUDGE = 0.001  # how far a heartbeat moves a count of parts


class Heartbeats:
    """One task for the whole server that beats for every call in progress, instead of a task group per call
    (starting and stopping one cost about half a millisecond a call). It sleeps while no call is running."""

    def __init__(self) -> None:
        self._live: set[ProgressReporter] = set()
        self._woken = anyio.Event()

    def add(self, reporter: ProgressReporter) -> None:
        self._live.add(reporter)
        self._woken.set()

    def discard(self, reporter: ProgressReporter) -> None:
        self._live.discard(reporter)

    async def run(self) -> None:
        """Beat until cancelled (the server's lifespan runs this in its task group)."""
        while True:
            if not self._live:
                self._woken = anyio.Event()
                await self._woken.wait()
            poll = min(HEARTBEAT / 5, 1.0)
            await anyio.sleep(poll)
            due = [r for r in self._live if r.due(HEARTBEAT - poll)]
            if due:
                # All at once, within one poll: a client that does not read must not hold up the others' beats.
                with anyio.move_on_after(poll):
                    async with anyio.create_task_group() as tg:
                        for reporter in due:
                            tg.start_soon(reporter.beat, HEARTBEAT - poll)


class ProgressReporter:
    """Turns stream events and finished parts into progress notifications for one tool call."""

    def __init__(
        self, send: Send, heartbeats: Heartbeats, label: str = "", log: Log | None = None, total: int | None = None
    ) -> None:
        self._send = send
        self._log = log
        self._label = label
        self._total = total
        self._heartbeats = heartbeats
        self._start = time.monotonic()
        self._last_sent = self._start
        self._last_progress = -1.0
        self._phase: Phase = "queued"
        self._pieces = 0
        self._done = 0

    async def __call__(self, phase: Phase, pieces: int) -> None:
        """Stream observer: record the state; notify if the phase changed or enough time has passed."""
        changed = phase != self._phase or self._last_progress < 0
        self._phase, self._pieces = phase, pieces
        if changed or time.monotonic() - self._last_sent >= MIN_INTERVAL:
            await self._notify()

    async def advance(self, done: int, what: str) -> None:
        """`done` parts of `total` are finished; `what` names the one that just was."""
        self._done = max(self._done, done)
        await self._notify(f"{what} done ({self._done}/{self._total})")

    async def step(self, done: int, text: str, total: int | None = None) -> None:
        """Part `done` of `total` is finished; `text` is the whole message ("step 3: grep 'x' — 2 matches"). A new
        `total` replaces the old one when more (or fewer) parts turn out to be needed."""
        if total is not None:
            self._total = total
        self._done = max(self._done, done)
        await self._notify(text)

    async def finish(self, done: int, text: str) -> None:
        """The call is done after `done` parts: the total becomes what actually ran, said in one last message."""
        self._total = self._done = max(self._done, done)
        await self._notify(text)

    async def notice(self, text: str) -> None:
        """Something the user should hear about mid-call (a retry): a progress message, and a log message to
        clients that asked for them with logging/setLevel."""
        await self._notify(text)
        if self._log is not None:
            await self._log(text)

    async def _notify(self, message: str | None = None) -> None:
        now = time.monotonic()
        progress = self._value(now)
        grows = progress > self._last_progress
        self._last_sent = now
        if not grows:
            return  # nothing can be said that grows: stay quiet rather than break the spec
        self._last_progress = progress
        text = message or self._message(now)
        await self._send(progress, self._total, f"{self._label}: {text}" if self._label else text)

    def _value(self, now: float) -> float:
        if self._total is None:
            return round(max(now - self._start, self._last_progress + _NUDGE), 3)
        ceiling = self._done + 1 - _NUDGE if self._done < self._total else float(self._total)
        return round(min(max(float(self._done), self._last_progress + _NUDGE), ceiling), 3)

    def _message(self, now: float) -> str:
        elapsed = f"{now - self._start:.0f} s"
        if self._total is not None:
            return f"{self._done}/{self._total} done, waiting for the model ({elapsed})"
        if self._phase == "queued":
            return f"waiting for the model ({elapsed})"
        return f"{self._phase}, {self._pieces} tokens ({elapsed})"

    def due(self, after: float) -> bool:
        return time.monotonic() - self._last_sent >= after

    async def beat(self, due: float = HEARTBEAT) -> None:
        """A notification if none went out for `due` seconds; a client that fails to take it costs nothing."""
        if self.due(due):
            try:
                await self._notify()
            except Exception:
                log.debug("a heartbeat could not be sent", exc_info=True)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ProgressReporter]:
        """The server's heartbeat beats for this call for the duration of the block."""
        self._heartbeats.add(self)
        try:
            yield self
        finally:
            self._heartbeats.discard(self)
