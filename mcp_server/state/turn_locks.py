"""Locks on conversations within one process that any task may free: a call takes its conversation's turn, and the
save that follows its answer, run after the call has returned, frees it.

anyio's Lock belongs to the task that took it; a turn outlives that task's call by the time of its save, so here a
held key is an Event that the freeing task sets and every waiter watches, then tries again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio


class TurnLocks:
    """Per-key locks of one event loop; nothing here waits on a thread, so every step is atomic."""

    def __init__(self) -> None:
        self._held: dict[str, anyio.Event] = {}

    def held(self, key: str) -> bool:
        return key in self._held

    def try_take(self, key: str) -> bool:
        if key in self._held:
            return False
        self._held[key] = anyio.Event()
        return True

    async def wait(self, key: str) -> None:
        """Until `key` is free (it may be taken again before the caller tries)."""
        freed = self._held.get(key)
        if freed is not None:
            await freed.wait()

    async def take(self, key: str) -> None:
        while not self.try_take(key):
            await self.wait(key)

    def free(self, key: str) -> None:
        freed = self._held.pop(key, None)
        if freed is not None:
            freed.set()

    @asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        await self.take(key)
        try:
            yield
        finally:
            self.free(key)
