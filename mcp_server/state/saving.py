"""What happens to a conversation after a call's answer: its save runs in the background, the turn stays held until
it lands, a clean shutdown waits for it, and a save that fails is told to the conversation's next call.

    saves = Saves()
    async with saves.running(store.keep_claims):   # the lifespan: leaving it waits for every pending save
        await saves.start(save, claimed, ...)       # returns at once while running; without it, saves now

`Known` keeps the conversations this server last saved or read, with the version the store holds, so a call that
continues one does not read and parse its body back; `Lost` keeps, per conversation, why its last turn was not kept.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

import anyio
from anyio.abc import TaskGroup

from mcp_server.state.base import Cost

log = logging.getLogger(__name__)
# The costs, with no budget hold to replace, of the call that holds a conversation's turn in this task: recorded with
# its save after the answer, in the same step (spending/budgets.py appends; None outside a turn).
LATER_COSTS: ContextVar[list[Cost] | None] = ContextVar("later_costs", default=None)
DRAIN_SECONDS = 30.0  # the most a shutdown waits for the saves still pending (a store that hangs must not hold it)
# A save starts this long after its answer left the tool: the answer is still on its way out (the SDK writes it, over
# stdio through a worker thread), and a save begun at once competes with it for the GIL and the cores (measured with
# the default SQLite store: a chat call's own share 1.3 ms at once, 0.6 ms with the pause). The conversation stays
# held meanwhile, so a follow-up can wait for it by as much.
SAVE_AFTER = 0.002
KNOWN_COUNT = 16  # conversations kept parsed in memory (an assistant works in one or a few at a time)
KNOWN_BYTES = 16 * 2**20  # their size as stored, in all
LOST_COUNT = 256  # conversations whose last save failed, remembered until their owner's next call
T = TypeVar("T")


class Saves:
    """Saves run after the answer, each shielded from cancellation, on the task group of `running`."""

    def __init__(self) -> None:
        self._tg: TaskGroup | None = None
        self._pending = 0
        self._idle = anyio.Event()
        self._idle.set()

    @asynccontextmanager
    async def running(self, keep: Callable[[], Coroutine[Any, Any, None]]) -> AsyncIterator[None]:
        """Saves started inside run in the background; `keep` runs beside them (it keeps claims alive). Leaving
        waits for the pending saves (up to DRAIN_SECONDS), even when the server is being cancelled."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(keep)
            self._tg = tg
            try:
                yield
            finally:
                self._tg = None
                with anyio.CancelScope(shield=True), anyio.move_on_after(DRAIN_SECONDS):
                    if self._pending:
                        log.info("saving %d conversation turn(s) before exiting", self._pending)
                    await self.drain()
                tg.cancel_scope.cancel()

    async def start(self, save: Callable[..., Awaitable[None]], *args: Any) -> None:
        """`save(*args)` in the background while running (it returns at once), else now."""
        self._pending += 1
        if self._idle.is_set():
            self._idle = anyio.Event()
        if self._tg is not None:
            self._tg.start_soon(self._run, save, args)
        else:
            await self._run(save, args)

    async def drain(self) -> None:
        """Until no save is pending."""
        while self._pending:
            await self._idle.wait()

    async def _run(self, save: Callable[..., Awaitable[None]], args: tuple[Any, ...]) -> None:
        try:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(SAVE_AFTER)
                await save(*args)
        except Exception:  # a bug in one save must not end the server's task group, and with it the server
            log.exception("a conversation's save failed unexpectedly")
        finally:
            self._pending -= 1
            if not self._pending:
                self._idle.set()


class Known(Generic[T]):
    """Conversations by id with the digest of the body the store held when this server last saved or read them,
    least recently used first out, bounded in count and in stored bytes."""

    def __init__(self, count: int = KNOWN_COUNT, total_bytes: int = KNOWN_BYTES) -> None:
        self._items: OrderedDict[str, tuple[str, T, int]] = OrderedDict()
        self._count, self._total = count, total_bytes
        self._bytes = 0

    def get(self, conversation_id: str) -> tuple[str, T] | None:
        found = self._items.get(conversation_id)
        if found is None:
            return None
        self._items.move_to_end(conversation_id)
        return found[0], found[1]

    def put(self, conversation_id: str, version: str, item: T, size: int) -> None:
        self.drop(conversation_id)
        if size > self._total:
            return
        self._items[conversation_id] = (version, item, size)
        self._bytes += size
        while len(self._items) > self._count or self._bytes > self._total:
            self.drop(next(iter(self._items)))

    def drop(self, conversation_id: str) -> None:
        found = self._items.pop(conversation_id, None)
        if found is not None:
            self._bytes -= found[2]


class Lost:
    """Why a conversation's last turn was not kept (its save failed or was refused after the answer had gone out),
    for its owner's next call on it; the oldest forgotten past LOST_COUNT."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def add(self, conversation_id: str, owner: str, reason: str) -> None:
        self._items.pop(conversation_id, None)
        self._items[conversation_id] = (owner, reason)
        while len(self._items) > LOST_COUNT:
            self._items.popitem(last=False)

    def peek(self, conversation_id: str, owner: str) -> str | None:
        found = self._items.get(conversation_id)
        return found[1] if found is not None and found[0] == owner else None

    def pop(self, conversation_id: str, owner: str) -> str | None:
        reason = self.peek(conversation_id, owner)
        if reason is not None:
            del self._items[conversation_id]
        return reason
