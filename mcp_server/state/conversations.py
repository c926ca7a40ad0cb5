"""Server-side conversation history, so a coding assistant can continue an exchange by id.

Kept in the state store (mcp_server/state/: memory, a SQLite file, or Redis), so a conversation outlives the process
and is shared by every process and replica on the same store. Bounded four ways (count, turns, bytes per
conversation and in all, idle age), the system prompt counted in the bytes; each owner (the HTTP bearer token's
digest; empty over stdio) has its own quota of count and bytes besides the global bounds, and sees only its own
conversations; ids are random and unguessable. Calls on one conversation take turns, across processes and replicas
too: the second waits on the store's lock until the first has recorded its answer, so two answers never interleave.

The answer goes to the caller first; the exchange is saved after it (saving.py), with the turn held until the save
lands, so the next call on the conversation waits for it and reads the history with it. A clean shutdown waits for
the saves still pending; a crash loses at most the call in flight and the save of the answer just given. A save
that fails or is refused after the answer is logged and told to the next call on that conversation. A server keeps
what it saved in memory and uses it again while the store still holds that version: no JSON read back.

    async with conversations.turn(conversation_id, owner) as conversation:   # InputError: unknown or not yours
        messages = conversation.messages(system, user)
        ... the call ...
        recorded = await conversations.record(conversation, system, exchange, finish_reason)
    # here the answer goes out; the save follows (conversations.running(), opened by the lifespan)

What a turn holds, and the messages sent from it: history.py.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.lowlevel

from mcp_server.core.config import Limits
from mcp_server.core.errors import InputError
from mcp_server.core.quoting import format_size
from mcp_server.state.base import Claimed, Cost, Record, Store, StoreError, digest
from mcp_server.state.history import (
    BODY_FRAME,
    TURN_FRAME,
    Conversation,
    Message,
    Turn,
    json_bytes,
    utf8_bytes,
)
from mcp_server.state.saving import LATER_COSTS, Known, Lost, Saves

__all__ = ["Conversation", "ConversationStore", "Message", "Recorded", "Turn"]
# Answers that ended normally, or at max_tokens (kept, so "continue" can pick up where it stopped).
_KEPT = frozenset({"stop", "length"})
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorded:
    """What `record` did with an answer, for the result's notices."""

    kept: bool
    dropped_turns: int = 0
    reason: str | None = None  # why it was not kept, or what to know about how it was
    earlier: str | None = None  # why the previous turn, saved after its answer, was not kept

    def notice(self) -> str | None:
        before = (
            f"The previous turn of this conversation was not kept ({self.earlier}): this call continued without it. "
            if self.earlier
            else ""
        )
        if not self.kept:
            return (
                f"{before}This turn was not added to the conversation ({self.reason}); the next call continues from "
                "before it."
            )
        parts = [before.rstrip()] if before else []
        if self.reason:
            parts.append(self.reason)
        if self.dropped_turns:
            parts.append(
                f"the oldest {self.dropped_turns} turn(s) were dropped from the conversation to stay in bounds"
            )
        if not parts:
            return None
        text = "; ".join(parts)
        return f"{text[0].upper()}{text[1:]}."


NOT_KEPT = (
    "the conversations of all callers are at their bound and this one alone holds more than any other caller's: it "
    "is not kept rather than pushing out others' (start a new, shorter conversation)"
)


class ConversationStore:
    """Conversations on a state store; all bounds come from `Limits` (the store enforces count, bytes and age)."""

    def __init__(self, limits: Limits, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._limits = limits
        self.store = store
        self._clock = clock
        self._saves = Saves()
        self._known: Known[Conversation] = Known()
        self._lost = Lost()
        self._saving: dict[str, anyio.Event] = {}  # conversations whose save is pending, set when it lands

    def running(self) -> AbstractAsyncContextManager[None]:
        """Held by the lifespan: saves run after the answers inside it, and leaving it waits for them."""
        return self._saves.running(self.store.keep_claims)

    async def drain(self) -> None:
        """Until every save started so far has landed (or failed)."""
        await self._saves.drain()

    async def open(self, conversation_id: str | None, owner: str) -> Conversation:
        """The conversation to continue, or a fresh one when `conversation_id` is None (read without its lock)."""
        if conversation_id is None:
            return Conversation(id=secrets.token_urlsafe(18), owner=owner, touched=self._clock())
        found = await self.store.load(conversation_id, self._clock()) if _ID.fullmatch(conversation_id) else None
        if found is None or not secrets.compare_digest(found.owner, owner):
            raise self._unknown(conversation_id, owner)
        return Conversation.of(found)

    def _unknown(self, conversation_id: str, owner: str) -> InputError:
        shown = repr(conversation_id) if len(conversation_id) <= 64 else "given"
        lost = self._lost.pop(conversation_id, owner)
        why = f" Its last turn could not be kept: {lost}." if lost else ""
        return InputError(
            f"conversation_id {shown} is unknown or has expired (conversations are kept "
            f"{self._limits.conversation_idle_seconds / 60:g} minutes after their last use, "
            f"{self._limits.conversations} at most). Omit conversation_id to start a new conversation.{why}"
        )

    @asynccontextmanager
    async def turn(self, conversation_id: str | None, owner: str) -> AsyncIterator[Conversation]:
        """The conversation, held for one call: another call on it (in any process on the same store) waits until
        this one's turn is saved, and then reads the history with that turn in it. The owner is checked before
        waiting, so another caller naming an id in use is refused at once (waiting would tell it the id exists)."""
        conversation = await self._take(conversation_id, owner)
        costs: list[Cost] = []
        later = LATER_COSTS.set(costs)
        try:
            yield conversation
        finally:
            LATER_COSTS.reset(later)
            claimed, conversation.claimed = conversation.claimed, None
            if claimed is not None:
                done = anyio.Event()
                self._saving[conversation.id] = done
                saved = conversation if conversation.pending else None
                await self._saves.start(self._finish, claimed, saved, done, costs)
            elif costs:  # no turn to save (the store failed when the call took it): the costs alone, now
                await self._saves.start(self._record_costs, costs)

    async def _take(self, conversation_id: str | None, owner: str) -> Conversation:
        if conversation_id is None:
            return await self._take_new(owner)
        if not _ID.fullmatch(conversation_id):
            raise self._unknown(conversation_id, owner)
        return await self._take_known(conversation_id, owner)

    async def _take_new(self, owner: str) -> Conversation:
        conversation = Conversation(id=secrets.token_urlsafe(18), owner=owner, touched=self._clock())
        try:
            conversation.claimed = await self.store.claim_new(conversation.id, owner)
        except StoreError as exc:  # the call goes on; its turn cannot be kept, and its result says so
            conversation.unkept = str(exc)
            # A deadline that passed while the store kept a worker thread waiting lands here, not later.
            await anyio.lowlevel.checkpoint()
        return conversation

    async def _take_known(self, conversation_id: str, owner: str) -> Conversation:
        # The saves this process has pending land first: this conversation's last turn (even with the store down, in
        # order), and any other whose save may evict it, as when saves came before the answers. Milliseconds at most,
        # and whatever the id: waiting says nothing about it.
        for done in list(self._saving.values()):
            await done.wait()
        known = self._known.get(conversation_id)
        try:
            claimed = await self.store.claim(conversation_id, owner, self._clock(), known[0] if known else None)
        except StoreError as exc:
            lost = self._lost.peek(conversation_id, owner)
            if lost:
                raise StoreError(f"{exc} (and this conversation's last turn was not kept: {lost})") from exc
            raise
        if claimed is None:
            raise self._unknown(conversation_id, owner)
        try:
            if claimed.record is None and known is not None:
                read = known[1]  # the store holds what this server saved or read last: no JSON read back
            else:  # (a backend returns no record only for the digest it was given)
                stored = claimed.record or Record(conversation_id, owner, 0, 0.0, "")
                read = Conversation.of(stored)
                self._known.put(conversation_id, digest(stored.body), read, stored.size)
        except StoreError:
            with anyio.CancelScope(shield=True):
                await self.store.unclaim(claimed, None)
            raise
        conversation = read.copy()
        conversation.claimed = claimed
        return conversation

    async def _finish(
        self, claimed: Claimed, conversation: Conversation | None, done: anyio.Event, costs: list[Cost]
    ) -> None:
        """After the answer: record the call's costs, save the turn `record` left (if any) and free the
        conversation, in one step of the store."""
        try:
            await self._save(claimed, conversation, costs)
        finally:
            done.set()
            if self._saving.get(claimed.id) is done:
                del self._saving[claimed.id]

    async def _save(self, claimed: Claimed, conversation: Conversation | None, costs: list[Cost]) -> None:
        record = None
        if conversation is not None:
            body = conversation.body()
            record = Record(conversation.id, conversation.owner, utf8_bytes(body), conversation.touched, body)
        try:
            kept = await self.store.unclaim(claimed, record, costs)
        except StoreError as exc:
            if costs:
                log.warning("could not record the cost of %d request(s) after the answer: %s", len(costs), exc)
            if conversation is None:
                log.warning("could not free a conversation (its lock expires by itself): %s", exc)
            else:
                self._lose(conversation, str(exc))
            return
        if conversation is not None and record is not None:
            if kept:
                self._known.put(conversation.id, digest(record.body), conversation, record.size)
            else:
                self._lose(conversation, NOT_KEPT)

    async def _record_costs(self, costs: list[Cost]) -> None:
        for cost in costs:
            try:
                await self.store.spend(cost.owner, cost.day, cost.tool, cost.usd, cost.saved, None)
            except StoreError as exc:
                log.warning("could not record a call's cost of $%.6f: %s", cost.usd, exc)

    def _lose(self, conversation: Conversation, reason: str) -> None:
        self._known.drop(conversation.id)
        self._lost.add(conversation.id, conversation.owner, reason)
        log.warning(
            "the last turn of conversation %s... was not kept after its answer (the next call on it says so): %s",
            conversation.id[:6],
            reason,
        )

    async def record(
        self, conversation: Conversation, system: str | None, exchange: list[Message], finish_reason: str | None
    ) -> Recorded:
        """Keep one exchange (the user message first, the answer last) if the answer is whole (or cut only by
        max_tokens), trimming the oldest turns past the bounds; returns what was done, so the result can say it.
        Within a turn the save follows the answer (`turn`); a conversation from `open` is saved now."""
        earlier = self._lost.pop(conversation.id, conversation.owner)
        answer = exchange[-1]
        whole = str(answer.get("content") or "").strip() or answer.get("tool_calls")
        if not whole or (finish_reason is not None and finish_reason not in _KEPT):
            why = f"finish_reason={finish_reason}" if finish_reason else "empty answer"
            return Recorded(False, reason=why, earlier=earlier)
        if conversation.unkept is not None:
            return Recorded(False, reason=conversation.unkept, earlier=earlier)
        turn = Turn(exchange, utf8_bytes(json.dumps(exchange, ensure_ascii=False, separators=(",", ":"))))
        kept_system = system if system is not None else conversation.system
        if BODY_FRAME + turn.size + TURN_FRAME + json_bytes(kept_system) > self._limits.conversation_bytes:
            limit = format_size(self._limits.conversation_bytes)
            what = "the exchange with the system prompt" if kept_system else "the exchange"
            return Recorded(False, reason=f"{what} is larger than the {limit} a conversation holds", earlier=earlier)
        dropped = self._append(conversation, kept_system, turn)
        cut = (
            "the cut answer was kept in the conversation: pass its conversation_id to ask for the rest"
            if (finish_reason == "length")
            else None
        )
        if conversation.claimed is not None:
            conversation.pending = True
            return Recorded(True, dropped, cut, earlier)
        body = conversation.body()
        try:
            kept = await self.store.save(
                Record(conversation.id, conversation.owner, utf8_bytes(body), conversation.touched, body)
            )
        except StoreError as exc:
            return Recorded(False, reason=str(exc), earlier=earlier)
        return Recorded(True, dropped, cut, earlier) if kept else Recorded(False, reason=NOT_KEPT, earlier=earlier)

    def _append(self, conversation: Conversation, system: str | None, turn: Turn) -> int:
        """Add `turn`, dropping the oldest past the bounds; returns how many were dropped."""
        conversation.system = system
        conversation.turns.append(turn)
        dropped = 0
        while len(conversation.turns) > self._limits.conversation_turns or (
            conversation.size > self._limits.conversation_bytes
        ):
            conversation.turns.pop(0)
            dropped += 1
        conversation.touched = self._clock()
        return dropped
