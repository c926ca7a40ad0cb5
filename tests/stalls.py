"""How long other calls wait while one call runs: `list_models` called in a loop beside it, the longest gap between
two of its answers (the event loop held by the call's work shows as one long gap)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
from mcp import Client
from mcp.types import CallToolResult


async def longest_stall(
    client: Client, call: Callable[[], Awaitable[CallToolResult]], seconds: float = 120
) -> tuple[CallToolResult, float]:
    """`call`'s result, and the longest wait of a `list_models` call on `client` while it ran."""
    done: list[CallToolResult] = []
    stalls = [0.0]

    async def run() -> None:
        done.append(await call())

    async def tick() -> None:
        last = time.perf_counter()
        while not done:
            await client.call_tool("list_models", {})
            now = time.perf_counter()
            stalls.append(now - last)
            last = now

    with anyio.fail_after(seconds):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            tg.start_soon(tick)
    return done[0], max(stalls)
