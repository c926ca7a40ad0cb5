"""The in-process backend (DEEPSEEK_MCP_STATE=memory): what the server did before state outlived it."""

from __future__ import annotations

import secrets
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, timedelta

from mcp_server.state.base import HOLD_SECONDS, SPENDING_DAYS, Bounds, Claimed, Cost, Record, Spent, digest
from mcp_server.state.turn_locks import TurnLocks


class MemoryStore:
    """Conversations in least-recently-used order and spending in dicts; one event loop, so no step interleaves."""

    name = "memory"

    def __init__(self, bounds: Bounds) -> None:
        self._bounds = bounds
        self._items: OrderedDict[str, Record] = OrderedDict()
        self._owners: dict[str, OrderedDict[str, Record]] = defaultdict(OrderedDict)
        self._owner_bytes: dict[str, int] = defaultdict(int)
        self._bytes = 0
        self._turns = TurnLocks()
        self._digests: dict[str, str] = {}  # made on save, not on each claim: the floor the other stores are held to
        self._spent: dict[tuple[str, str, str], tuple[float, float, int]] = {}
        self._holds: dict[tuple[str, str], dict[str, tuple[float, float]]] = defaultdict(dict)
        self._day = ""  # the day of the last spending recorded

    async def load(self, conversation_id: str, now: float) -> Record | None:
        self._expire(now)
        return self._items.get(conversation_id)

    async def save(self, record: Record) -> bool:
        self._expire(record.touched)
        was = self._items.get(record.id)
        self._drop(record.id)
        self._put(record)
        if self._evict(record):
            return True
        self._drop(record.id)
        if was is not None:
            self._put(was)  # it fitted before, with more beside it
        return False

    def _put(self, record: Record) -> None:
        self._items[record.id] = record
        self._digests[record.id] = digest(record.body)
        self._owners[record.owner][record.id] = record
        self._owner_bytes[record.owner] += record.size
        self._bytes += record.size

    def _evict(self, kept: Record) -> bool:
        b, mine = self._bounds, self._owners[kept.owner]
        while len(mine) > b.owner_count or (self._owner_bytes[kept.owner] > b.owner_bytes and len(mine) > 1):
            self._drop(next(iter(mine)))
        while len(self._items) > b.count or (self._bytes > b.total_bytes and len(self._items) > 1):
            by_bytes = len(self._items) <= b.count
            largest = max(self._owners, key=lambda o: self._owner_bytes[o] if by_bytes else len(self._owners[o]))
            victims = [i for i in self._owners[largest] if i != kept.id]
            if not victims:
                return False  # the saver holds the most and only this: never push out the others'
            self._drop(victims[0])
        return True

    def _drop(self, conversation_id: str) -> None:
        record = self._items.pop(conversation_id, None)
        if record is None:
            return
        del self._digests[conversation_id]
        mine = self._owners[record.owner]
        del mine[conversation_id]
        self._owner_bytes[record.owner] -= record.size
        self._bytes -= record.size
        if not mine:
            del self._owners[record.owner], self._owner_bytes[record.owner]

    def _expire(self, now: float) -> None:
        deadline = now - self._bounds.idle_seconds
        while self._items:
            oldest = next(iter(self._items.values()))
            if oldest.touched >= deadline:
                return
            self._drop(oldest.id)

    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        return self._turns.lock(conversation_id)

    async def claim(self, conversation_id: str, owner: str, now: float, known: str | None) -> Claimed | None:
        while True:
            self._expire(now)
            record = self._items.get(conversation_id)
            if record is None and not self._turns.held(conversation_id):
                return None  # unknown, and no first save under way
            if record is not None and not secrets.compare_digest(record.owner, owner):
                return None
            if self._turns.try_take(conversation_id):
                break
            await self._turns.wait(conversation_id)
        record = self._items.get(conversation_id)
        if record is None:  # its first save was refused or failed
            self._turns.free(conversation_id)
            return None
        same = known is not None and self._digests.get(conversation_id) == known
        return Claimed(conversation_id, "", None if same else record)

    async def claim_new(self, conversation_id: str, owner: str) -> Claimed:
        await self._turns.take(conversation_id)
        return Claimed(conversation_id, "")

    async def unclaim(self, claimed: Claimed, record: Record | None, costs: Sequence[Cost] = ()) -> bool:
        try:
            for cost in costs:
                await self.spend(cost.owner, cost.day, cost.tool, cost.usd, cost.saved, None)
            return True if record is None else await self.save(record)
        finally:
            self._turns.free(claimed.id)

    async def keep_claims(self) -> None:
        return None

    async def hold(self, owner: str, day: str, hold_id: str, usd: float, limit: float, now: float) -> float | None:
        holds = self._holds[(owner, day)]
        for stale in [h for h, (_, expires) in holds.items() if expires < now]:
            del holds[stale]
        already = sum(v[0] for (o, d, _), v in self._spent.items() if (o, d) == (owner, day))
        already += sum(usd for usd, _ in holds.values())
        if already + usd > limit:
            if not holds:
                del self._holds[(owner, day)]
            return already
        holds[hold_id] = (usd, now + HOLD_SECONDS)
        return None

    async def spend(self, owner: str, day: str, tool: str, usd: float, saved: float, hold_id: str | None) -> None:
        if day != self._day:  # once a day: records older than SPENDING_DAYS go, as Redis's keys expire
            self._day = day
            oldest = (date.fromisoformat(day) - timedelta(days=SPENDING_DAYS)).isoformat()
            for key in [k for k in self._spent if k[1] < oldest]:
                del self._spent[key]
        was = self._spent.get((owner, day, tool), (0.0, 0.0, 0))
        self._spent[(owner, day, tool)] = (was[0] + usd, was[1] + saved, was[2] + 1)
        if hold_id is not None:
            await self.release(owner, day, hold_id)

    async def release(self, owner: str, day: str, hold_id: str) -> None:
        holds = self._holds.get((owner, day))
        if holds is not None:
            holds.pop(hold_id, None)
            if not holds:
                del self._holds[(owner, day)]

    async def spent(self, owner: str, days: list[str]) -> list[Spent]:
        wanted = set(days)
        return [
            Spent(day, tool, usd, saved, calls)
            for (o, day, tool), (usd, saved, calls) in self._spent.items()
            if o == owner and day in wanted
        ]

    async def stats(self) -> tuple[int, int]:
        return len(self._items), self._bytes

    async def aclose(self) -> None:
        return None
