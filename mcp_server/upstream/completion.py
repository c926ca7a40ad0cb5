"""Builds one completion out of streamed chunks (chat deltas or FIM text), whichever provider sent them.

Reasoning arrives as `reasoning_content` (DeepSeek, Atlas), as `reasoning` (vLLM, SGLang), or inline as
`<think>...</think>` at the start of the content (Ollama, LM Studio, raw chat templates); all three end up in
`reasoning`, apart from the answer.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, field
from typing import Any, Literal

Phase = Literal["queued", "reasoning", "answering"]

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"


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


@dataclass
class Completion:
    """What one upstream call produced."""

    content: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    request_id: str | None = None


class Accumulator:
    """Feeds on chunks; knows the phase and how many pieces of answer have arrived (the progress count)."""

    def __init__(self, *, split_think_tags: bool = False) -> None:
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._think = _ThinkSplitter() if split_think_tags else None
        self._native_reasoning = False
        self.finish_reason: str | None = None
        self.usage_raw: dict[str, Any] | None = None
        self.model: str | None = None
        self.pieces = 0
        self.phase: Phase = "queued"

    def feed(self, chunk: dict[str, Any]) -> None:
        """Take one parsed chunk (`chat.completion.chunk` or `text_completion`)."""
        if isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        if isinstance(chunk.get("usage"), dict):
            self.usage_raw = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._choice(choice)

    def feed_full(self, body: dict[str, Any]) -> None:
        """Take a non-streamed response (a gateway that ignored `stream: true`)."""
        choices = body.get("choices") or [{}]
        first = choices[0] if isinstance(choices[0], dict) else {}
        message = first.get("message") or {}
        self.feed({**body, "choices": [{"delta": message, "text": first.get("text"), **_finish(first)}]})

    def _choice(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            self._native_reasoning = True
            self._add_reasoning(reasoning)
        content = delta.get("content")
        if not isinstance(content, str) or not content:
            content = choice.get("text")  # FIM / legacy completions
        if isinstance(content, str) and content:
            self._add_content(content)
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])

    def _add_reasoning(self, text: str) -> None:
        self._reasoning.append(text)
        self.pieces += 1
        self.phase = "reasoning"

    def _add_content(self, text: str) -> None:
        if self._think is not None and not self._native_reasoning:
            reasoning, text = self._think.feed(text)
            if reasoning:
                self._add_reasoning(reasoning)
        if text:
            self._content.append(text)
            self.pieces += 1
            self.phase = "answering"

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    def result(self) -> Completion:
        if self._think is not None:
            pending_reasoning, pending_content = self._think.flush()
            self._reasoning.append(pending_reasoning)
            self._content.append(pending_content)
        reasoning, content = "".join(self._reasoning), "".join(self._content)
        if self._think is not None and not reasoning and _THINK_CLOSE in content:
            # Templates that open `<think>` in the prompt leave only the closing tag in the output.
            reasoning, _, content = content.partition(_THINK_CLOSE)
            content = content.lstrip("\n")
        return Completion(
            content=content,
            reasoning=reasoning.strip(),
            finish_reason=self.finish_reason,
            usage=Usage.from_wire(self.usage_raw),
            model=self.model,
        )


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
            if len(stripped) < len(_THINK_OPEN) and _THINK_OPEN.startswith(stripped):
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


def _finish(choice: dict[str, Any]) -> dict[str, Any]:
    return {"finish_reason": choice.get("finish_reason")}


def _detail(raw: dict[str, Any], section: str, name: str) -> Any:
    details = raw.get(section)
    return details.get(name) if isinstance(details, dict) else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
