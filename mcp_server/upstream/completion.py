"""Builds one completion out of streamed chunks (chat deltas or FIM text), whichever provider sent them.

Reasoning arrives as `reasoning_content` (DeepSeek, Atlas), as `reasoning` (vLLM, SGLang), or inline as
`<think>...</think>` at the start of the content (Ollama, LM Studio, raw chat templates); all three end up in
`reasoning`, apart from the answer. Inline tags are looked for only where the provider may send them (`ThinkTags`).

Tool calls arrive as deltas keyed by `index`, several calls interleaved (WIRE.md §14): the first delta of a call
carries its `id` and `function.name`, later ones only pieces of `function.arguments`; they are assembled by index.

Chunks are checked as they are read: a field of the wrong type is `Malformed` (the client names the provider),
and an answer past `max_chars` is `AnswerTooLarge`, so a looping or hostile upstream cannot grow memory unbounded.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, field
from typing import Any, Literal

Phase = Literal["queued", "reasoning", "answering"]
# off: content is all answer. leading: a `<think>` block at the very start is reasoning. inline: also a bare
# `</think>` with no opening tag, which templates that open the block in the prompt leave in thinking output.
ThinkTags = Literal["off", "leading", "inline"]
MAX_ANSWER_CHARS = 64 * 1024 * 1024  # reasoning and answer together; 393K tokens of text is about 1.6M characters
MAX_TOOL_CALLS = 64  # in one turn; a model that asks for more is cut off here (the loop refuses past its steps)

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"
# A model looping on newlines before any text: past this, the answer does not start with <think> (and the buffer,
# stripped at every chunk, stays small).
_MAX_LEADING_SPACE = 1024


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cache_hit_tokens: int = 0
    cache_miss_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        """Usage of several calls (an OCR of several pages) as one."""
        return Usage(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @classmethod
    def from_wire(cls, raw: dict[str, Any] | None) -> Usage:
        """DeepSeek's usage object; OpenAI's `*_details` fields stand in where DeepSeek's own are absent."""
        if not raw:
            return cls()
        prompt = _int(raw.get("prompt_tokens"))
        completion = _int(raw.get("completion_tokens"))
        hit = _int(raw.get("prompt_cache_hit_tokens", _detail(raw, "prompt_tokens_details", "cached_tokens")))
        miss = _int(raw.get("prompt_cache_miss_tokens", max(prompt - hit, 0)))
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            reasoning_tokens=_int(_detail(raw, "completion_tokens_details", "reasoning_tokens")),
            cache_hit_tokens=hit,
            cache_miss_tokens=miss,
            total_tokens=_int(raw.get("total_tokens", prompt + completion)),
        )


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for; `arguments` is its JSON text as written (parsed by the caller)."""

    id: str
    name: str
    arguments: str


@dataclass
class Completion:
    """What one upstream call produced."""

    content: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    request_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


class Malformed(Exception):
    """A chunk or body that is not a completion; the message says which field is wrong."""


class AnswerTooLarge(Exception):
    """The answer passed MAX_ANSWER_CHARS."""


class Accumulator:
    """Feeds on chunks; knows the phase and how many pieces of answer have arrived (the progress count)."""

    def __init__(self, *, think_tags: ThinkTags = "off", max_chars: int = MAX_ANSWER_CHARS) -> None:
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._think = _ThinkSplitter() if think_tags != "off" else None
        self._closing_only = think_tags == "inline"
        self._native_reasoning = False
        self._calls: dict[int, _CallParts] = {}
        self._chars = 0
        self._max_chars = max_chars
        self.finish_reason: str | None = None
        self.done = False  # `data: [DONE]` arrived: the stream is complete even without a finish_reason
        self.usage_raw: dict[str, Any] | None = None
        self.model: str | None = None
        self.pieces = 0
        self.phase: Phase = "queued"

    def feed(self, chunk: dict[str, Any]) -> None:
        """Take one parsed chunk (`chat.completion.chunk` or `text_completion`)."""
        if isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        usage = chunk.get("usage")
        if usage is not None:
            self.usage_raw = _typed(usage, dict, "usage")
        choices = chunk.get("choices")
        for choice in _typed(choices, list, "choices") if choices is not None else ():
            choice = _typed(choice, dict, "a choice")
            if choice.get("index", 0) == 0:
                self._choice(choice)

    def feed_full(self, body: dict[str, Any]) -> None:
        """Take a non-streamed response (a gateway that ignored `stream: true`)."""
        choices = _typed(body.get("choices"), list, "choices")
        if not choices:
            raise Malformed("`choices` is empty")
        first = _typed(choices[0], dict, "a choice")
        message = _typed(first.get("message") or {}, dict, "message")
        calls = message.get("tool_calls")
        if isinstance(calls, list):  # whole calls have no `index`: their position is one
            message = {
                **message,
                "tool_calls": [{"index": i, **_typed(c, dict, "a tool call")} for i, c in enumerate(calls)],
            }
        self.feed({**body, "choices": [{"delta": message, "text": first.get("text"), **_finish(first)}]})

    def _choice(self, choice: dict[str, Any]) -> None:
        delta = _typed(choice.get("delta") or {}, dict, "delta")
        reasoning = _text(delta, "reasoning_content") or _text(delta, "reasoning")
        if reasoning:
            self._native_reasoning = True
            self._add_reasoning(reasoning)
        content = _text(delta, "content") or _text(choice, "text")  # `text`: FIM / legacy completions
        if content:
            self._add_content(content)
        calls = delta.get("tool_calls")
        for call in _typed(calls, list, "tool_calls") if calls is not None else ():
            self._add_call(_typed(call, dict, "a tool call"))
        finish = choice.get("finish_reason")
        if finish is not None:
            self.finish_reason = _typed(finish, str, "finish_reason") or None

    def _grow(self, text: str) -> None:
        self._chars += len(text)
        if self._chars > self._max_chars:
            raise AnswerTooLarge(f"the answer passed {self._max_chars:,} characters")

    def _add_reasoning(self, text: str) -> None:
        self._grow(text)
        self._reasoning.append(text)
        self.pieces += 1
        self.phase = "reasoning"

    def _add_content(self, text: str) -> None:
        self._grow(text)
        if self._think is not None and not self._native_reasoning:
            reasoning, text = self._think.feed(text)
            if reasoning:
                self._add_reasoning(reasoning)
        if text:
            self._content.append(text)
            self.pieces += 1
            self.phase = "answering"

    def _add_call(self, delta: dict[str, Any]) -> None:
        index = delta.get("index", 0)
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise Malformed(f"a tool call's `index` is {_kind(index)}, not a number")
        parts = self._calls.get(index)
        if parts is None:
            if len(self._calls) >= MAX_TOOL_CALLS:
                raise AnswerTooLarge(f"the model asked for more than {MAX_TOOL_CALLS} function calls in one turn")
            parts = self._calls[index] = _CallParts()
        function = _typed(delta.get("function") or {}, dict, "function")
        parts.id = parts.id or _text(delta, "id")
        parts.name = parts.name or _text(function, "name")
        piece = _text(function, "arguments")
        if piece:
            self._grow(piece)
            parts.arguments.append(piece)
        self.pieces += 1

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None or self.done

    def result(self) -> Completion:
        if self._think is not None:
            pending_reasoning, pending_content = self._think.flush()
            self._reasoning.append(pending_reasoning)
            self._content.append(pending_content)
        reasoning, content = "".join(self._reasoning), "".join(self._content)
        if self._closing_only and not reasoning and _THINK_CLOSE in content and _THINK_OPEN not in content:
            # Templates that open `<think>` in the prompt leave only the closing tag in thinking output.
            reasoning, _, content = content.partition(_THINK_CLOSE)
            content = content.lstrip("\n")
        return Completion(
            content=content,
            reasoning=reasoning.strip(),
            finish_reason=self.finish_reason,
            usage=Usage.from_wire(self.usage_raw),
            model=self.model,
            tool_calls=tuple(
                ToolCall(parts.id or f"call_{index}", parts.name, "".join(parts.arguments))
                for index, parts in sorted(self._calls.items())
            ),
        )


@dataclass
class _CallParts:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)  # pieces of 1-3 characters: joined once, at the end


class _ThinkSplitter:
    """Splits a leading `<think>...</think>` off streamed content, across chunk boundaries."""

    def __init__(self) -> None:
        self.state: Literal["start", "inside", "after"] = "start"
        self.buffer = ""
        self.lstrip = False

    def feed(self, text: str) -> tuple[str, str]:
        """Returns (reasoning, content) for this piece of content."""
        if self.state == "after":
            if self.lstrip:  # the newlines that follow `</think>` separate, they are not the answer
                text = text.lstrip("\n")
                self.lstrip = not text
            return "", text
        self.buffer += text
        if self.state == "start":
            stripped = self.buffer.lstrip()
            undecided = len(stripped) < len(_THINK_OPEN) and _THINK_OPEN.startswith(stripped)
            if undecided and len(self.buffer) <= _MAX_LEADING_SPACE:
                return "", ""  # could still become "<think>"
            if not stripped.startswith(_THINK_OPEN):
                self.state, out, self.buffer = "after", self.buffer, ""
                return "", out
            self.state, self.buffer = "inside", stripped[len(_THINK_OPEN) :]
        end = self.buffer.find(_THINK_CLOSE)
        if end < 0:
            keep = _partial_suffix(self.buffer, _THINK_CLOSE)
            out, self.buffer = self.buffer[: len(self.buffer) - keep], self.buffer[len(self.buffer) - keep :]
            return out, ""
        reasoning, rest = self.buffer[:end], self.buffer[end + len(_THINK_CLOSE) :]
        self.state, self.buffer, self.lstrip = "after", "", True
        return reasoning, self.feed(rest)[1]

    def flush(self) -> tuple[str, str]:
        """At the end of the stream: an unclosed `<think>` is all reasoning; an undecided prefix is content."""
        buffer, self.buffer = self.buffer, ""
        if self.state == "inside":
            return buffer, ""
        return "", buffer


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `marker`."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


def _typed(value: Any, kind: type, name: str) -> Any:
    if not isinstance(value, kind):
        raise Malformed(f"`{name}` is {_kind(value)}, not {_kind(kind())}")
    return value


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    return "" if value is None else str(_typed(value, str, name))


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _finish(choice: dict[str, Any]) -> dict[str, Any]:
    return {"finish_reason": choice.get("finish_reason")}


def _detail(raw: dict[str, Any], section: str, name: str) -> Any:
    details = raw.get(section)
    return details.get(name) if isinstance(details, dict) else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
