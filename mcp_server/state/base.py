"""The storage interface every backend implements, and the rule they share for evicting conversations.

A backend keeps two things. Conversations: opaque JSON bodies with an owner, a size and the time of their last use,
bounded in count and bytes in all and per owner, and forgotten after an idle age. Spending: USD per owner, day and
tool, and holds (estimates of the calls in flight) checked against a limit in the same atomic step that adds them.
Each backend does this with its own tools (a lock-free dict, a SQLite transaction, a Redis script and key TTLs).

Eviction, when a bound is passed: an owner over its own quota loses its own least recently used conversation; past
the global bound, the owner holding the most (conversations, or bytes) loses its oldest. So one token can push out
only its own conversations once it holds more than any other, never everyone else's; when the one holding the most
is the saver and the conversation saved is all it holds, the save is refused instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from mcp_server.core.config import Limits
from mcp_server.core.errors import DeepSeekMCPError

HOLD_SECONDS = 3600.0  # a hold left by a crashed call stops counting against the budget after this
SPENDING_DAYS = 40  # spending records are kept this long, for `balance` (a month and its last days)


class StoreError(DeepSeekMCPError):
    """The state store failed; the message names the variable (DEEPSEEK_MCP_STATE) and what to do."""


@dataclass(frozen=True)
class Bounds:
    """The conversation bounds a backend enforces when it saves."""

    count: int
    total_bytes: int
    owner_count: int
    owner_bytes: int
    idle_seconds: float

    @classmethod
    def of(cls, limits: Limits) -> Bounds:
        return cls(
            limits.conversations,
            limits.conversations_total_bytes,
            limits.owner_conversations,
            limits.owner_conversations_bytes,
            limits.conversation_idle_seconds,
        )


@dataclass(frozen=True)
class Record:
    """One conversation as stored: `body` is its JSON (system prompt and turns), `size` its bytes."""

    id: str
    owner: str
    size: int
    touched: float  # wall-clock seconds: replicas and processes compare them
    body: str


def digest(body: str) -> str:
    """A conversation's version: the SHA-1 of its stored body (Redis's scripts compute it too). A server keeps what it
    saved or read in memory and, while the store holds a body of that digest, uses it without reading it back."""
    return hashlib.sha1(body.encode("utf-8", "replace"), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Claimed:
    """A conversation held for one call until `Store.unclaim`: its `record` as stored, or None when the store holds
    the body whose digest the caller knew (or the conversation is new); `token` proves the hold to the backend."""

    id: str
    token: str
    record: Record | None = None


@dataclass(frozen=True)
class Cost:
    """One request's cost to record, with no budget hold to replace (`Store.spend` with `hold_id` None)."""

    owner: str
    day: str
    tool: str
    usd: float
    saved: float


@dataclass(frozen=True)
class Spent:
    """One owner's spending on one day with one tool."""

    day: str  # YYYY-MM-DD, UTC
    tool: str
    usd: float
    saved: float  # what the prefix cache saved, USD
    calls: int


class Store(Protocol):
    """What conversations and spending need from a backend."""

    @property
    def name(self) -> str:
        """Which store, for `doctor` and errors: "memory", the file's path, or the URL without its password."""
        ...

    async def load(self, conversation_id: str, now: float) -> Record | None:
        """The conversation, or None when it is unknown or idle past the bound."""
        ...

    async def save(self, record: Record) -> bool:
        """Store `record`, dropping idle conversations and evicting others past the bounds (never `record`); False
        (and the store as it was) when only other owners' conversations could make room: its owner holds the most
        and has nothing else to drop."""
        ...

    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        """Held for one call on a conversation, across processes and replicas; freed if the holder dies."""
        ...

    async def claim(self, conversation_id: str, owner: str, now: float, known: str | None) -> Claimed | None:
        """Check the owner, take the conversation's lock and read it, in one step where the backend can. None at
        once when it is unknown, idle past the bound or another owner's: never after waiting, which would tell
        another caller that the id is in use. Waits while another call holds it, or saves it: a conversation whose
        first save is still under way is in use, not unknown. The body is read only if its digest is not `known`."""
        ...

    async def claim_new(self, conversation_id: str, owner: str) -> Claimed:
        """Hold a new conversation's id until its first save, so that a call naming it meanwhile waits for it."""
        ...

    async def unclaim(self, claimed: Claimed, record: Record | None, costs: Sequence[Cost] = ()) -> bool:
        """Record `costs`, save `record` (if any, as `save` does) and free the conversation, in one step where the
        backend can (one SQLite transaction, one Redis round trip); returns what `save` returns. The costs are
        recorded even when the save is refused, and the conversation freed even when anything fails."""
        ...

    async def keep_claims(self) -> None:
        """Run while the server serves: keeps the claims of calls in progress from expiring (Redis renews their
        locks); returns at once where nothing expires."""
        ...

    async def hold(self, owner: str, day: str, hold_id: str, usd: float, limit: float, now: float) -> float | None:
        """Add a hold of `usd` unless spending and holds would pass `limit`: None when held, else what is spent and
        held already."""
        ...

    async def spend(self, owner: str, day: str, tool: str, usd: float, saved: float, hold_id: str | None) -> None:
        """Record one call's cost and drop its hold, in one step."""
        ...

    async def release(self, owner: str, day: str, hold_id: str) -> None:
        """Drop a hold without spending (the call failed before anything was billed)."""
        ...

    async def spent(self, owner: str, days: list[str]) -> list[Spent]:
        """What `owner` spent on `days`, per day and tool."""
        ...

    async def stats(self) -> tuple[int, int]:
        """Conversations held and their bytes (also a check that the store answers)."""
        ...

    async def aclose(self) -> None: ...
