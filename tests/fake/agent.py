"""A scripted model for agent loops in the fake upstream: which functions it calls in which turn (parallel calls
too) and its final text, streamed the way DeepSeek streams tool calls, and DeepSeek's rules for tool calls enforced
on every chat request (WIRE.md §2, §14).

Rules (a 400 where DeepSeek answers 400; message wording of the pairing rules is OpenAI's, DeepSeek's UNVERIFIED):
- every assistant `tool_calls` message is followed by one `tool` message per `tool_call_id` before anything else;
- a `tool` message answers a call of the assistant message before it;
- function names are `[a-zA-Z0-9_-]{1,128}`; `strict` functions need the `/beta` base and every function strict;
- (in fake_upstream.py) thinking with `tools`: every assistant turn carries `reasoning_content`; `tool_choice`
  "required" or named is refused in thinking mode.

Streams (WIRE.md §4, §14): reasoning deltas, then the calls as deltas keyed by `index`, interleaved round-robin
when there are several (the first delta of a call has `id`, `type`, `function.name` and `arguments: ""`, later ones
only `index` and a piece of `arguments`), a `choices: []` chunk early on, and finish_reason "tool_calls".
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")
_PIECE = 3  # characters per streamed piece of arguments (DeepSeek's chunks are 1-3 characters)


class RuleError(Exception):
    """A request DeepSeek answers with 400; the message is the one it sends (or the closest known)."""


@dataclass
class Call:
    name: str
    arguments: dict[str, Any] | str  # a string is sent as it is (broken JSON, for tests)

    @property
    def text(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass
class Turn:
    """One model turn: the calls it makes (none: it answers with `content`)."""

    calls: list[Call] = field(default_factory=list)
    content: str = ""
    reasoning: str = "Let me look."
    finish_reason: str | None = None  # default: "tool_calls" with calls, else "stop"
    latency: float = 0.0  # seconds before this turn starts, on top of the script's


@dataclass
class Script:
    """The model: `turns` in order, one per request that offers tools; then, or whenever `tool_choice` is "none",
    it answers `final`. `repeat` replays the last turn for ever (a model that never stops)."""

    turns: list[Turn] = field(default_factory=list)
    final: str = "Done."
    repeat: bool = False
    latency: float = 0.0  # seconds before each answer starts (a model's own time to first token)
    empty_choices: bool = True  # send a `choices: []` chunk early in every stream, as DeepSeek does
    played: list[str] = field(default_factory=list)  # "calls" or "final", per request
    usages: list[dict[str, Any]] = field(default_factory=list)  # the usage each turn reported, for benchmarks
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Script:
        """From JSON (the `/_fake/agent` control route): turns of {calls: [{name, arguments}], content, ...}."""
        turns = [
            Turn(**{**turn, "calls": [Call(**call) for call in turn.get("calls", [])]}) for turn in raw.get("turns", [])
        ]
        return cls(turns, **{k: v for k, v in raw.items() if k in ("final", "repeat", "latency", "empty_choices")})

    def next(self, tool_choice: Any) -> Turn:
        with self._lock:
            if tool_choice == "none" or not self.turns:
                self.played.append("final")
                return Turn(content=self.final, reasoning="I have enough.", latency=self.latency)
            turn = self.turns[0] if self.repeat and len(self.turns) == 1 else self.turns.pop(0)
            self.played.append("calls" if turn.calls else "final")
            return Turn(turn.calls, turn.content, turn.reasoning, turn.finish_reason, turn.latency + self.latency)


def check(body: dict[str, Any], messages: list[dict[str, Any]], *, beta: bool) -> None:
    """The tool-call rules of DeepSeek's API for one chat request; raises RuleError."""
    _check_tools(body.get("tools"), beta=beta)
    pending: set[str] = set()
    answered: set[str] = set()
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                raise RuleError(
                    f"messages[{index}]: Messages with role 'tool' must be a response to a preceding message with "
                    "'tool_calls'"
                )
            pending.discard(call_id)
            answered.add(call_id)
            continue
        if pending:
            raise RuleError(_unanswered(pending))
        if role == "assistant" and message.get("tool_calls"):
            pending = set(_call_ids(index, message["tool_calls"]))
    if pending:
        raise RuleError(_unanswered(pending))


def _unanswered(ids: set[str]) -> str:
    return (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(sorted(ids))}"
    )


def _call_ids(index: int, calls: Any) -> list[str]:
    if not isinstance(calls, list):
        raise RuleError(f"messages[{index}].tool_calls: invalid type, expected a sequence")
    ids = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not (
            isinstance(function, dict) and isinstance(call.get("id"), str) and isinstance(function.get("name"), str)
        ):
            raise RuleError(f"messages[{index}].tool_calls: each call needs `id`, `type` and `function.name`")
        if not isinstance(function.get("arguments"), str):
            raise RuleError(f"messages[{index}].tool_calls: `function.arguments` must be a string")
        ids.append(call["id"])
    return ids


def _check_tools(tools: Any, *, beta: bool) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise RuleError("Failed to deserialize the JSON body into the target type: tools: expected a sequence")
    strict = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type") != "function":
            raise RuleError("Failed to deserialize the JSON body into the target type: tools: expected functions")
        name = function.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise RuleError(f"Invalid function name {str(name)[:140]!r}: must match [a-zA-Z0-9_-]{{1,128}}")
        strict.append(function.get("strict") is True)
    if any(strict) and not beta:
        raise RuleError(
            "strict mode for function calling is only supported with base_url https://api.deepseek.com/beta"
        )
    if any(strict) and not all(strict):
        raise RuleError("In strict mode, all functions must set strict: true")


def chunks(
    base: dict[str, Any],
    turn: Turn,
    *,
    thinking: bool,
    usage: dict[str, Any],
    pieces: Callable[[str], list[str]],
    empty_choices: bool,
) -> list[dict[str, Any]]:
    """The data events of one scripted turn, streamed as DeepSeek does."""

    def chunk(delta: dict[str, Any], finish: str | None = None, last: bool = False) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice], "usage": usage if last else None}

    events = [chunk({"role": "assistant", "content": None, **({"reasoning_content": ""} if thinking else {})})]
    if empty_choices:
        events.append({**base, "choices": [], "usage": None})
    if thinking:
        events += [chunk({"content": None, "reasoning_content": piece}) for piece in pieces(turn.reasoning)]
    events += [chunk({"content": piece, "reasoning_content": None}) for piece in pieces(turn.content)]
    events += [chunk({"tool_calls": [delta]}) for delta in _call_deltas(turn.calls)]
    finish = turn.finish_reason or ("tool_calls" if turn.calls else "stop")
    events.append(chunk({"content": "", "reasoning_content": None}, finish, last=True))
    return events


def _call_deltas(calls: list[Call]) -> list[dict[str, Any]]:
    """Round-robin over the calls: each call's header first, then its arguments a few characters at a time."""
    queues = []
    for index, call in enumerate(calls):
        header = {"index": index, "id": f"call_{index:02d}_{uuid.uuid4().hex[:24]}"}
        header |= {"type": "function", "function": {"name": call.name, "arguments": ""}}
        text = call.text
        rest = [{"index": index, "function": {"arguments": text[i : i + _PIECE]}} for i in range(0, len(text), _PIECE)]
        queues.append([header, *rest])
    out = []
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop(0))
    return out


def prompt_pieces(message: dict[str, Any], pieces: Callable[[str], list[str]]) -> list[str]:
    """The prompt tokens of one message in a request with tools: its reasoning, its text, its calls."""
    content = message.get("content")
    text = (
        content
        if isinstance(content, str)
        else " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict))
    )
    calls = message.get("tool_calls") or []
    written = [f"{c['function']['name']} {c['function']['arguments']}" for c in calls if isinstance(c, dict)]
    return [piece for part in (str(message.get("reasoning_content") or ""), text, *written) for piece in pieces(part)]


def message(turn: Turn, *, thinking: bool) -> dict[str, Any]:
    """The assistant message of one scripted turn, as a client sends it back."""
    out: dict[str, Any] = {"role": "assistant", "content": turn.content}
    if thinking:
        out["reasoning_content"] = turn.reasoning
    if turn.calls:
        out["tool_calls"] = [
            {"id": f"call_{i:02d}", "type": "function", "function": {"name": c.name, "arguments": c.text}}
            for i, c in enumerate(turn.calls)
        ]
    return out


def body(base: dict[str, Any], turn: Turn, *, thinking: bool, usage: dict[str, Any]) -> dict[str, Any]:
    """A non-streamed answer of one scripted turn."""
    message_ = message(turn, thinking=thinking)
    finish = turn.finish_reason or ("tool_calls" if turn.calls else "stop")
    choice = {"index": 0, "message": message_, "logprobs": None, "finish_reason": finish}
    return {**base, "object": "chat.completion", "choices": [choice], "usage": usage}


# delegate's functions (mcp_server/delegate/edits.py, session.py), as a scripted model calls them.
def edit(path: str, old_text: str, new_text: str) -> Call:
    """edit_file: replace the one occurrence of `old_text`."""
    return Call("edit_file", {"path": path, "old_text": old_text, "new_text": new_text})


def create(path: str, text: str) -> Call:
    """edit_file with an empty old_text: a new file."""
    return Call("edit_file", {"path": path, "old_text": "", "new_text": text})


def delete(path: str) -> Call:
    return Call("delete_file", {"path": path})


def run_check() -> Call:
    return Call("run_check", {})
