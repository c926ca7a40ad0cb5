"""Token counts estimated without a tokenizer (nothing is downloaded at run time).

DeepSeek's own guide gives about 0.3 tokens per English character and 0.6 per Chinese one. The estimate counts
0.3 per character plus 0.15 per extra UTF-8 byte, so ASCII costs 0.3 and a three-byte CJK character 0.6, in one
pass at C speed (`str.encode`) whatever the text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

PER_CHAR = 0.3
PER_EXTRA_BYTE = 0.15
PER_MESSAGE = 4  # role markers and separators of the chat template


def estimate(text: str) -> int:
    """About how many tokens `text` is."""
    return estimate_size(*size_of(text))


def size_of(text: str) -> tuple[int, int]:
    """`text`'s characters and UTF-8 bytes: what `estimate` counts. Both add up over the parts of a text, so the
    estimate of a text assembled from parts follows from theirs, without assembling it."""
    if text.isascii():
        return len(text), len(text)
    return len(text), len(text.encode("utf-8", "surrogatepass"))


def estimate_size(chars: int, utf8: int) -> int:
    """About how many tokens a text of `chars` characters in `utf8` bytes is."""
    return math.ceil(chars * PER_CHAR + (utf8 - chars) * PER_EXTRA_BYTE)


def estimate_messages(messages: Iterable[dict[str, Any]]) -> int:
    """About how many prompt tokens a list of chat messages is: their text parts, and the reasoning and function
    calls an assistant turn carries back (the provider bills them as prompt too)."""
    total = 0
    for message in messages:
        total += PER_MESSAGE + sum(estimate(text) for text in texts_of(message.get("content")))
        reasoning = message.get("reasoning_content")
        if isinstance(reasoning, str):
            total += estimate(reasoning)
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                total += sum(
                    estimate(v) for v in (function.get("name"), function.get("arguments")) if isinstance(v, str)
                )
    return total


def texts_of(content: Any) -> list[str]:
    """The text in a message's content: a string, or the `text` of each part."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return []
