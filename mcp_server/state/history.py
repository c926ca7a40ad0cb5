"""A conversation as kept: its system prompt and turns, the messages a request sends from them, and its stored JSON.

A turn is a list of messages stored as the JSON dicts the wire takes: a user message, then whatever the model
needed to answer it (assistant messages with `reasoning_content` and `tool_calls`, `tool` messages), then the
answer with its `reasoning_content`. DeepSeek requires the `reasoning_content` of earlier assistant turns when a
request carries tools (a chat turn followed by `investigate` included), so every answer keeps it; `messages` sends
it back only to a request that needs it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from mcp_server.core.config import STATE_ENV
from mcp_server.state.base import Claimed, Record, StoreError

Message = dict[str, Any]
BODY_FRAME = len('{"system":,"turns":[]}')
TURN_FRAME = len('{"size":,"messages":},') + 20  # the size's digits, 20 at most


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
    # Held for the call (turn): the store's claim, whether `record` left a turn to save, why it cannot be kept.
    claimed: Claimed | None = field(default=None, repr=False, compare=False)
    pending: bool = field(default=False, repr=False, compare=False)
    unkept: str | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> int:
        """Bytes held as stored: the kept system prompt and every turn as JSON (a control character is 6 bytes
        stored), with the JSON around them (`TURN_FRAME` bytes a turn at most)."""
        return BODY_FRAME + json_bytes(self.system) + sum(turn.size + TURN_FRAME for turn in self.turns)

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

    def copy(self) -> Conversation:
        """For one call: its own list of turns (the turns themselves are never changed once made)."""
        return replace(self, turns=list(self.turns), claimed=None, pending=False, unkept=None)

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


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", "replace"))


def json_bytes(value: str | None) -> int:
    return utf8_bytes(json.dumps(value, ensure_ascii=False))
