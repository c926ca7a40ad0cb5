"""State: what keeping conversations and spending in SQLite or Redis adds to a chat call, against memory, and how
big the store grows after 10,000 calls with the default bounds.

Measured on the state work a chat call does before its answer goes out (tools/chat.py `_complete`), with the
server's own objects and nothing else in the way: take the conversation's turn (claim it: owner, lock and read),
hold the call's estimate against a daily budget, settle the cost, record the exchange and leave the turn. Its save
follows the answer (state/saving.py): it runs between calls, timed apart, as the lifespan runs it. A whole chat
call through the fake upstream takes 30-50 ms on this machine with the fake in a thread of the same process, and
its noise is larger than what is measured here.
Conversations of 10 turns (one new call, nine that continue it) with a typical prompt and answer; rounds alternate
the backends, so machine noise hits all three. Redis is Debian's `redis-server`, started here on a loopback port.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from results import Result, Row

from mcp_server.core.config import Settings
from mcp_server.serving.app import owner_from_headers
from mcp_server.spending.budgets import Spending
from mcp_server.state import Store, open_store
from mcp_server.state.conversations import ConversationStore

TURNS = 10  # calls per conversation
PROMPT = "Review this function for off-by-one errors. " * 40  # ~1.8 KB, a typical prompt
ANSWER = "The loop stops one short: range(len(xs) - 1) skips the last item. " * 20  # ~1.4 KB
GOAL_MS = 1.0
ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def _backends(folder: Path) -> AsyncIterator[dict[str, str]]:
    specs = {"memory": "memory", "sqlite": str(folder / "state.db")}
    if shutil.which("redis-server") is None:
        yield specs
        return
    sys.path.insert(0, str(ROOT))
    from tests.redis_server import redis_server

    with redis_server(folder) as server:
        yield {**specs, "redis": server.url}


class _Server:
    """One server's state objects, as AppContext.open makes them."""

    def __init__(self, spec: str, budget: float | None) -> None:
        self.settings = Settings(state=spec, daily_budget=budget)
        self.store: Store = open_store(self.settings)
        self.conversations = ConversationStore(self.settings.limits, self.store)
        self.spending = Spending(self.store, self.settings)
        self.owner = owner_from_headers({"authorization": "Bearer bench-token-0123456789"})
        self.convo: str | None = None
        self.estimate = 0.0005

    async def call(self, n: int) -> tuple[float, float]:
        """One chat call's state work before its answer, then its save after it; seconds each."""
        start = time.perf_counter()
        continued = self.convo if n % TURNS else None
        async with self.conversations.turn(continued, self.owner) as conversation:
            user = {"role": "user", "content": f"{PROMPT} ({n})"}
            conversation.messages(None, user)
            async with self.spending.hold(self.owner, "chat", 0.0005) as hold:
                await hold.settle(0.0004, 0.0001)
            answer = {"role": "assistant", "content": ANSWER}
            recorded = await self.conversations.record(conversation, None, [user, answer], "stop")
        answered = time.perf_counter()
        await self.conversations.drain()
        assert recorded.kept, recorded.reason
        self.convo = conversation.id
        return answered - start, time.perf_counter() - answered


def _on_disk(folder: Path) -> int:
    """The SQLite file with its WAL and shared-memory index."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith("state.db"))


async def _size(name: str, spec: str, server: _Server, folder: Path) -> str:
    count, held = await server.store.stats()
    shown = f"{count} conversations, {held / 2**20:.1f} MiB of history"
    if name == "redis":
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(spec)
        memory = await client.info("memory")
        await client.aclose()
        return f"{shown}; used_memory {memory['used_memory'] / 2**20:.1f} MiB"
    if name == "sqlite":
        return f"{shown}; {_on_disk(folder) / 2**20:.1f} MiB on disk"
    return shown


async def _timed(
    specs: dict[str, str], budget: float | None, rounds: int, per_round: int, rows: list[Row], raw: dict[str, Any]
) -> None:
    servers = {name: _Server(spec, budget) for name, spec in specs.items()}
    times: dict[str, list[float]] = {name: [] for name in specs}
    saves: dict[str, list[float]] = {name: [] for name in specs}
    try:
        async with AsyncExitStack() as running:
            for server in servers.values():
                await running.enter_async_context(server.conversations.running())
                for n in range(TURNS):  # warm-up: imports, connections, the file's first pages
                    await server.call(n)
            for round_ in range(rounds):
                order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
                for name in order:
                    for n in range(per_round):
                        before, after = await servers[name].call(n)
                        times[name].append(before)
                        saves[name].append(after)
    finally:
        for server in servers.values():
            await server.store.aclose()
    base = statistics.median(times["memory"])
    label = "with a daily budget" if budget else "no budget (default)"
    for name in specs:
        if name != "memory":
            median = statistics.median(times[name])
            extra = (median - base) * 1000
            rows.append(
                Row(
                    f"state: a chat call's state work, {name}, {label}",
                    f"{median * 1000:.2f} ms",
                    f"{base * 1000:.2f} ms",
                    f"{extra:+.2f} ms",
                    f"{median / base:.1f}x",
                    f"< +{GOAL_MS:g} ms",
                    extra < GOAL_MS,
                )
            )
    shown = ", ".join(f"{name} {statistics.median(saves[name]) * 1000:.2f} ms" for name in specs)
    rows.append(Row(f"state: the save after the answer, {label}", shown, "", "", "", "off the path; 2 ms pause", None))
    raw[f"per_call_seconds {label}"] = times
    raw[f"save_seconds {label}"] = saves


async def run(quick: bool) -> Result:
    rounds, per_round, total = (4, 100, 2000) if quick else (10, 200, 10_000)
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with _backends(folder) as specs:
            for budget in (None, 1_000_000.0):
                await _timed(specs, budget, rounds, per_round, rows, raw)
            servers = {name: _Server(spec, None) for name, spec in specs.items()}
            try:
                for name, server in servers.items():
                    async with server.conversations.running():
                        for n in range(total):
                            await server.call(n)
                    size = await _size(name, specs[name], server, folder)
                    rows.append(Row(f"state: {name} after {total:,} calls", size, "-", "-", "-", "-", None))
                    raw[f"{name}_size"] = size
            finally:
                for server in servers.values():
                    await server.store.aclose()
    if "redis" not in specs:
        rows.append(Row("state: redis", "redis-server not installed", "-", "-", "-", "-", None))
    notes = [
        f"state: {rounds} rounds of {per_round} calls' state work per backend, alternating the order (the turn "
        "claimed, the budget hold when a budget is set, the cost recorded, the exchange recorded and the turn left; "
        f"its save, after the answer, timed apart), conversations of {TURNS} turns "
        f"with a {len(PROMPT):,}-character prompt and a {len(ANSWER):,}-character answer; median per call against "
        "the same work with state in memory (the floor column). Sizes after all the calls, with the default "
        "bounds (200 conversations, 256 MiB): the SQLite file with its WAL, Redis's used_memory (the whole server, "
        "about 1 MiB of it its own)."
    ]
    return Result(rows, raw, notes)
