"""Server-side conversation history, so a coding assistant can continue an exchange by id.

Kept in the state store (mcp_server/state/: memory, a SQLite file, or Redis), so a conversation outlives the process
and is shared by every process and replica on the same store. Bounded four ways (count, turns, bytes per
conversation and in all, idle age), the system prompt counted in the bytes; each owner (the HTTP bearer token's
digest; empty over stdio) has its own quota of count and bytes besides the global bounds, and sees only its own
conversations; ids are random and unguessable. Calls on one conversation take turns, across processes and replicas
too: the second waits on the store's lock until the first has recorded its answer, so two answers never interleave.

A turn is a list of messages stored as the JSON dicts the wire takes: a user message, then whatever the model
needed to answer it (assistant messages with `reasoning_content` and `tool_calls`, `tool` messages), then the
answer with its `reasoning_content`. DeepSeek requires the `reasoning_content` of earlier assistant turns when a
request carries tools (a chat turn followed by `investigate` included), so every answer keeps it; `messages` sends
it back only to a request that needs it.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from mcp_server.core.config import STATE_ENV, Limits
from mcp_server.core.errors import InputError
from mcp_server.core.quoting import format_size
from mcp_server.state import Record, Store, StoreError

Message = dict[str, Any]
# Answers that ended normally, or at max_tokens (kept, so "continue" can pick up where it stopped).
_KEPT = frozenset({"stop", "length"})
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_BODY_FRAME = len('{"system":,"turns":[]}')
_TURN_FRAME = len('{"size":,"messages":},') + 20  # the size's digits, 20 at most


@dataclass
class Turn:
    messages: list[Message]
    size: int  # UTF-8 bytes of the messages' JSON


@dataclass
class Conversation:
    id: str
    owner: str
    system: str | None = None
    turns: list[Turn] = field(default_factory=list)
    touched: float = 0.0

    @property
    def size(self) -> int:
        """Bytes held as stored: the kept system prompt and every turn as JSON (a control character is 6 bytes
        stored), with the JSON around them (`_TURN_FRAME` bytes a turn at most)."""
        return _BODY_FRAME + _json_bytes(self.system) + sum(turn.size + _TURN_FRAME for turn in self.turns)

    def messages(self, system: str | None, user: Message, *, reasoning: bool = False) -> list[Message]:
        """The request's messages: system prompt (the new one wins), the kept turns, then the new user message.
        With `reasoning` (a thinking request with tools), every earlier answer carries its reasoning_content (WIRE.md
        §2); without, answers go back as plain text, as a chat request takes them."""
        chosen = system if system is not None else self.system
        head: list[Message] = [{"role": "system", "content": chosen}] if chosen else []
        kept: list[Message] = []
        for turn in self.turns:
            *before, answer = turn.messages
            if reasoning:
                answer = {**answer, "reasoning_content": answer.get("reasoning_content") or ""}
            else:
                answer = {key: value for key, value in answer.items() if key != "reasoning_content"}
            kept += [*before, answer]
        return [*head, *kept, user]

    def body(self) -> str:
        turns = [{"size": turn.size, "messages": turn.messages} for turn in self.turns]
        return json.dumps({"system": self.system, "turns": turns}, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def of(cls, record: Record) -> Conversation:
        """The conversation a stored record holds; a record not in the shape `body` writes is the store's fault."""
        try:
            body = json.loads(record.body)
            system, turns = body["system"], [Turn(t["messages"], t["size"]) for t in body["turns"]]
            valid = isinstance(system, str | None) and all(
                isinstance(t.size, int)
                and isinstance(t.messages, list)
                and t.messages
                and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in t.messages)
                for t in turns
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            valid = False
        if not valid:
            raise StoreError(
                f"the conversation {record.id!r} in the state store is not in the shape this server writes (written "
                f"by another program or version, or damaged); start a new conversation, or point {STATE_ENV} at a "
                "store only deepseek-mcp writes"
            )
        return cls(record.id, record.owner, system, turns, record.touched)


@dataclass(frozen=True)
class Recorded:
    """What `record` did with an answer, for the result's notices."""

    kept: bool
    dropped_turns: int = 0
    reason: str | None = None  # why it was not kept, or what to know about how it was

    def notice(self) -> str | None:
        if not self.kept:
            return (
                f"This turn was not added to the conversation ({self.reason}); the next call continues from before it."
            )
        parts = []
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


class ConversationStore:
    """Conversations on a state store; all bounds come from `Limits` (the store enforces count, bytes and age)."""

    def __init__(self, limits: Limits, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._limits = limits
        self.store = store
        self._clock = clock

    async def open(self, conversation_id: str | None, owner: str) -> Conversation:
        """The conversation to continue, or a fresh one when `conversation_id` is None."""
        if conversation_id is None:
            return Conversation(id=secrets.token_urlsafe(18), owner=owner, touched=self._clock())
        found = await self.store.load(conversation_id, self._clock()) if _ID.fullmatch(conversation_id) else None
        if found is None or not secrets.compare_digest(found.owner, owner):
            shown = repr(conversation_id) if len(conversation_id) <= 64 else "given"
            raise InputError(
                f"conversation_id {shown} is unknown or has expired (conversations are kept "
                f"{self._limits.conversation_idle_seconds / 60:g} minutes after their last use, "
                f"{self._limits.conversations} at most). Omit conversation_id to start a new conversation."
            )
        return Conversation.of(found)

    @asynccontextmanager
    async def turn(self, conversation_id: str | None, owner: str) -> AsyncIterator[Conversation]:
        """The conversation, held for one call: another call on it (in any process on the same store) waits until
        this one has recorded its turn, and then reads the history with that turn in it."""
        if conversation_id is None or not _ID.fullmatch(conversation_id):
            yield await self.open(conversation_id, owner)  # a new id is nobody else's yet; a malformed one fails
            return
        # The owner is checked before waiting on the lock, so another caller naming an id in use is refused at
        # once (waiting would tell it the id exists); read again under the lock, where the history is settled.
        await self.open(conversation_id, owner)
        async with self.store.lock(conversation_id):
            yield await self.open(conversation_id, owner)

    async def record(
        self, conversation: Conversation, system: str | None, exchange: list[Message], finish_reason: str | None
    ) -> Recorded:
        """Keep one exchange (the user message first, the answer last) if the answer is whole (or cut only by
        max_tokens), trimming the oldest turns past the bounds; returns what was done, so the result can say it."""
        answer = exchange[-1]
        whole = str(answer.get("content") or "").strip() or answer.get("tool_calls")
        if not whole or (finish_reason is not None and finish_reason not in _KEPT):
            return Recorded(False, reason=f"finish_reason={finish_reason}" if finish_reason else "empty answer")
        turn = Turn(exchange, _bytes(json.dumps(exchange, ensure_ascii=False, separators=(",", ":"))))
        kept_system = system if system is not None else conversation.system
        if _BODY_FRAME + turn.size + _TURN_FRAME + _json_bytes(kept_system) > self._limits.conversation_bytes:
            limit = format_size(self._limits.conversation_bytes)
            what = "the exchange with the system prompt" if kept_system else "the exchange"
            return Recorded(False, reason=f"{what} is larger than the {limit} a conversation holds")
        conversation.system = kept_system
        conversation.turns.append(turn)
        dropped = 0
        while len(conversation.turns) > self._limits.conversation_turns or (
            conversation.size > self._limits.conversation_bytes
        ):
            conversation.turns.pop(0)
            dropped += 1
        conversation.touched = self._clock()
        body = conversation.body()
        record = Record(conversation.id, conversation.owner, _bytes(body), conversation.touched, body)
        try:
            kept = await self.store.save(record)
        except StoreError as exc:
            return Recorded(False, reason=str(exc))
        if not kept:
            return Recorded(
                False,
                reason="the conversations of all callers are at their bound and this one alone holds more than any "
                "other caller's: it is not kept rather than pushing out others' (start a new, shorter conversation)",
            )
        cut = (
            "the cut answer was kept in the conversation: pass its conversation_id to ask for the rest"
            if (finish_reason == "length")
            else None
        )
        return Recorded(True, dropped, cut)


def _bytes(text: str) -> int:
    return len(text.encode("utf-8", "replace"))


def _json_bytes(value: str | None) -> int:
    return _bytes(json.dumps(value, ensure_ascii=False))
