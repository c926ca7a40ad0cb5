"""One memory budget for the whole server's image decodes, counted in pixels.

A decoded image costs about 4 bytes a pixel plus working copies (the 7071x7071 PNG at the decoding cap: ~250 MiB),
whatever its file's size. Each decode takes its pixels, read from the header before anything is decoded, out of the
budget and waits while the budget is spent: concurrent calls queue instead of adding up (eight of those PNGs at
once peaked at 2 GiB), and none fails for waiting. An image larger than the whole budget waits for it to be free
and then decodes alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio


class PixelBudget:
    """A weighted semaphore in pixels."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self.peak = 0  # the most pixels held at once, for tests and bench
        self._changed = anyio.Condition()

    @asynccontextmanager
    async def hold(self, pixels: int) -> AsyncIterator[None]:
        """Hold `pixels` of the budget (at most all of it) for the duration of the block."""
        need = max(0, min(pixels, self.capacity))
        async with self._changed:
            while self.in_use + need > self.capacity:
                await self._changed.wait()
            self.in_use += need
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):  # given back even by a cancelled call
                async with self._changed:
                    self.in_use -= need
                    self._changed.notify_all()
