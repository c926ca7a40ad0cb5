"""Server-side conversation history, so a coding assistant can continue an exchange by id.

Bounded four ways (count, turns, bytes per conversation and in all, idle age), ids are random and unguessable, and
each conversation belongs to an owner (the HTTP bearer token's digest; empty over stdio) so one user can never read
another's history. Calls on one conversation take turns: the second waits until the first has recorded its answer,
so two answers never interleave in the history.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio

from mcp_server.config import Limits
from mcp_server.errors import InputError
from mcp_server.quoting import format_size
from mcp_server.tokens import texts_of

Message = dict[str, Any]
# Answers that ended normally, or at max_tokens (kept, so "continue" can pick up where it stopped).
_KEPT = frozenset({"stop", "length"})


@dataclass
class Turn:
    user: Message
    assistant: Message
    size: int  # UTF-8 bytes of the text in all its messages and its reasoning
    reasoning: str = ""  # the answer's reasoning_content: sent back when a later call offers tools (WIRE.md §2)
    trail: tuple[Message, ...] = ()  # between the two: function calls and their results (`investigate`)


@dataclass
class Conversation:
    id: str
    owner: str
    system: str | None = None
    turns: list[Turn] = field(default_factory=list)
    size: int = 0  # bytes of every turn
    touched: float = 0.0
    lock: anyio.Lock = field(default_factory=anyio.Lock, repr=False)

    def messages(self, system: str | None, user: Message, *, reasoning: bool = False) -> list[Message]:
        """The request's messages: system prompt (the new one wins), the kept turns, then the new user message.
        With `reasoning` (a thinking request with tools), every earlier answer carries its reasoning_content."""
        chosen = system if system is not None else self.system
        head: list[Message] = [{"role": "system", "content": chosen}] if chosen else []
        kept: list[Message] = []
        for turn in self.turns:
            answer = {**turn.assistant, "reasoning_content": turn.reasoning} if reasoning else turn.assistant
            kept += [turn.user, *turn.trail, answer]
        return [*head, *kept, user]


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
    """Least-recently-used store of conversations; all bounds come from `Limits`."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """Bytes held by every conversation together."""
        return self._size

    def open(self, conversation_id: str | None, owner: str) -> Conversation:
        """The conversation to continue, or a fresh one when `conversation_id` is None."""
        self._expire()
        if conversation_id is None:
            return Conversation(id=secrets.token_urlsafe(18), owner=owner, touched=self._clock())
        found = self._items.get(conversation_id)
        if found is None or not secrets.compare_digest(found.owner, owner):
            shown = repr(conversation_id) if len(conversation_id) <= 64 else "given"
            raise InputError(
                f"conversation_id {shown} is unknown or has expired (conversations are kept "
                f"{self._limits.conversation_idle_seconds / 60:g} minutes after their last use, "
                f"{self._limits.conversations} at most). Omit conversation_id to start a new conversation."
            )
        return found

    @asynccontextmanager
    async def turn(self, conversation_id: str | None, owner: str) -> AsyncIterator[Conversation]:
        """The conversation, held for one call: another call on it waits until this one has recorded its turn."""
        conversation = self.open(conversation_id, owner)
        async with conversation.lock:
            # It may have expired or been evicted while this call waited; it is still this call's to continue.
            yield conversation

    def record(
        self,
        conversation: Conversation,
        system: str | None,
        user: Message,
        answer: str,
        finish_reason: str | None,
        *,
        reasoning: str = "",
        trail: tuple[Message, ...] = (),
    ) -> Recorded:
        """Keep one exchange if the answer is whole (or cut only by max_tokens), trimming the oldest turns past the
        bounds; returns what was done, so the result can say it."""
        if not answer.strip() or (finish_reason is not None and finish_reason not in _KEPT):
            return Recorded(False, reason=f"finish_reason={finish_reason}" if finish_reason else "empty answer")
        size = sum(_size(m) for m in (user, *trail)) + len(f"{answer}{reasoning}".encode("utf-8", "replace"))
        turn = Turn(user, {"role": "assistant", "content": answer}, size, reasoning, trail)
        if turn.size > self._limits.conversation_bytes:
            limit = format_size(self._limits.conversation_bytes)
            return Recorded(False, reason=f"the exchange is larger than the {limit} a conversation holds")
        if system is not None:
            conversation.system = system
        self._forget(conversation)
        conversation.turns.append(turn)
        conversation.size += turn.size
        dropped = 0
        while (
            len(conversation.turns) > self._limits.conversation_turns
            or conversation.size > self._limits.conversation_bytes
        ):
            conversation.size -= conversation.turns.pop(0).size
            dropped += 1
        conversation.touched = self._clock()
        self._keep(conversation)
        cut = (
            "the cut answer was kept in the conversation: pass its conversation_id to ask for the rest"
            if (finish_reason == "length")
            else None
        )
        return Recorded(True, dropped, cut)

    def _keep(self, conversation: Conversation) -> None:
        self._items[conversation.id] = conversation
        self._size += conversation.size
        while len(self._items) > self._limits.conversations or (
            self._size > self._limits.conversations_total_bytes and len(self._items) > 1
        ):
            _, oldest = self._items.popitem(last=False)
            self._size -= oldest.size

    def _forget(self, conversation: Conversation) -> None:
        if self._items.pop(conversation.id, None) is not None:
            self._size -= conversation.size

    def _expire(self) -> None:
        deadline = self._clock() - self._limits.conversation_idle_seconds
        while self._items:
            oldest = next(iter(self._items.values()))
            if oldest.touched >= deadline:
                return
            self._items.popitem(last=False)
            self._size -= oldest.size


def _size(message: Message) -> int:
    calls = message.get("tool_calls")
    extra = [str(message.get("reasoning_content") or ""), json.dumps(calls) if calls else ""]
    return sum(len(text.encode("utf-8", "replace")) for text in (*texts_of(message.get("content")), *extra))
