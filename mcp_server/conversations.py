"""Server-side conversation history, so a coding assistant can continue an exchange by id.

Bounded three ways (count, turns, idle age), ids are random and unguessable, and each conversation belongs to an
owner (the HTTP bearer token's digest; empty over stdio) so one user can never read another's history.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mcp_server.config import Limits
from mcp_server.errors import InputError

Message = dict[str, Any]


@dataclass
class Conversation:
    id: str
    owner: str
    system: str | None = None
    turns: list[tuple[Message, Message]] = field(default_factory=list)  # (user, assistant) pairs
    touched: float = 0.0

    def messages(self, system: str | None, user: Message) -> list[Message]:
        """The request's messages: system prompt (the new one wins), the kept turns, then the new user message."""
        chosen = system if system is not None else self.system
        head: list[Message] = [{"role": "system", "content": chosen}] if chosen else []
        return [*head, *(m for turn in self.turns for m in turn), user]


class ConversationStore:
    """Least-recently-used store of conversations; all bounds come from `Limits`."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._items: OrderedDict[str, Conversation] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

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

    def record(self, conversation: Conversation, system: str | None, user: Message, answer: str) -> None:
        """Append one finished exchange and keep the conversation, trimming the oldest turns past the limit."""
        if system is not None:
            conversation.system = system
        conversation.turns.append((user, {"role": "assistant", "content": answer}))
        del conversation.turns[: -self._limits.conversation_turns]
        conversation.touched = self._clock()
        self._items[conversation.id] = conversation
        self._items.move_to_end(conversation.id)
        while len(self._items) > self._limits.conversations:
            self._items.popitem(last=False)

    def _expire(self) -> None:
        deadline = self._clock() - self._limits.conversation_idle_seconds
        while self._items:
            oldest = next(iter(self._items.values()))
            if oldest.touched >= deadline:
                return
            self._items.popitem(last=False)
