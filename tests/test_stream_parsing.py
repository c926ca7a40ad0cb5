"""SSE framing and chunk accumulation: the pieces the upstream client is built from."""

from __future__ import annotations

import json

import pytest

from mcp_server.upstream.completion import Accumulator, ThinkTags, Usage
from mcp_server.upstream.sse import Comment, Event, SSEParser

pytestmark = pytest.mark.anyio


async def _collect(*lines: str) -> list[Event | Comment]:
    parser = SSEParser()
    return parser.feed("\n".join(lines).encode() + b"\n") + parser.finish()


async def test_keep_alive_comments_are_reported_and_events_dispatch_on_blank_lines() -> None:
    items = await _collect(": keep-alive", "", 'data: {"a": 1}', "", "data: [DONE]", "")
    assert items == [Comment("keep-alive"), Event('{"a": 1}'), Event("[DONE]")]


async def test_multi_line_data_is_joined_and_unknown_fields_are_ignored() -> None:
    items = await _collect("id: 7", "retry: 10", "event: message", "data: one", "data:two", "weird", "")
    assert items == [Event("one\ntwo")]


async def test_an_event_cut_without_its_blank_line_is_still_delivered() -> None:
    assert await _collect("data: last") == [Event("last")]


def _chunk(delta: dict[str, object], finish: str | None = None, usage: dict[str, object] | None = None) -> dict:
    return {
        "model": "deepseek-flash",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        "usage": usage,
    }


def test_reasoning_and_content_deltas_are_kept_apart_with_usage_from_the_final_chunk() -> None:
    acc = Accumulator()
    acc.feed(_chunk({"role": "assistant", "content": None, "reasoning_content": ""}))
    assert acc.phase == "queued"
    acc.feed(_chunk({"content": None, "reasoning_content": "Compare "}))
    acc.feed(_chunk({"content": None, "reasoning_content": "tenths."}))
    assert acc.phase == "reasoning"
    acc.feed(_chunk({"content": "9.8 ", "reasoning_content": None}))
    acc.feed(_chunk({"content": "is greater.", "reasoning_content": None}))
    usage = {
        "prompt_tokens": 16,
        "completion_tokens": 42,
        "total_tokens": 58,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 30},
        "prompt_cache_hit_tokens": 0,
        "prompt_cache_miss_tokens": 16,
    }
    acc.feed(_chunk({"content": ""}, "stop", usage))
    result = acc.result()
    assert (result.reasoning, result.content, result.finish_reason) == ("Compare tenths.", "9.8 is greater.", "stop")
    assert result.usage == Usage(16, 42, 30, 0, 16, 58)
    assert acc.pieces == 4 and acc.phase == "answering"


def test_an_openai_style_usage_chunk_with_no_choices_is_read() -> None:
    acc = Accumulator()
    acc.feed(_chunk({"content": "hi"}, "stop"))
    acc.feed(
        {
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 3}},
        }
    )
    assert acc.result().usage == Usage(5, 1, 0, 3, 2, 6)


def test_a_non_streamed_body_is_accepted_too() -> None:
    acc = Accumulator()
    acc.feed_full(
        json.loads(
            '{"model": "m", "choices": [{"index": 0, "message": {"role": "assistant", '
            '"content": "ok", "reasoning_content": "why"}, "finish_reason": "stop"}]}'
        )
    )
    result = acc.result()
    assert (result.reasoning, result.content, result.finish_reason, result.model) == ("why", "ok", "stop", "m")


def test_fim_text_chunks_are_content() -> None:
    acc = Accumulator()
    for piece in ["\n    if a", " < 2:"]:
        acc.feed({"choices": [{"index": 0, "text": piece, "finish_reason": None}]})
    acc.feed({"choices": [{"index": 0, "text": "", "finish_reason": "length"}]})
    assert acc.result().content == "\n    if a < 2:" and acc.finished


@pytest.mark.parametrize(
    "pieces",
    [
        ["<think>plan it</think>\n\nThe answer."],
        ["<th", "ink>plan", " it</th", "ink>", "\n\nThe ", "answer."],
        ["  <think>", "plan it", "</think>The answer."],
    ],
)
def test_inline_think_tags_become_reasoning_across_chunk_boundaries(pieces: list[str]) -> None:
    acc = Accumulator(think_tags="leading")
    for piece in pieces:
        acc.feed(_chunk({"content": piece}))
    acc.feed(_chunk({"content": ""}, "stop"))
    result = acc.result()
    assert (result.reasoning, result.content) == ("plan it", "The answer.")


def test_a_lone_closing_think_tag_splits_reasoning_from_the_answer_when_thinking_was_asked() -> None:
    acc = Accumulator(think_tags="inline")
    for piece in ["plan it", "</think>", "\nThe answer."]:
        acc.feed(_chunk({"content": piece}))
    acc.feed(_chunk({"content": ""}, "stop"))
    assert (acc.result().reasoning, acc.result().content) == ("plan it", "The answer.")


@pytest.mark.parametrize("think_tags", ["leading", "inline"])
def test_an_answer_that_mentions_the_closing_tag_is_kept_whole(think_tags: ThinkTags) -> None:
    text = "Close the block with </think> and the parser ends the reasoning there."
    acc = Accumulator(think_tags="leading")
    acc.feed(_chunk({"content": text}, "stop"))
    assert acc.result().content == text and acc.result().reasoning == ""
    acc = Accumulator(think_tags=think_tags)
    acc.feed(_chunk({"content": "Use <think>x</think> as in: " + text}, "stop"))
    assert acc.result().content.startswith("Use <think>x</think>") and acc.result().reasoning == ""


def test_content_that_merely_mentions_think_tags_is_left_alone_without_splitting() -> None:
    acc = Accumulator(think_tags="off")
    acc.feed(_chunk({"content": "<think>x</think> is a tag"}, "stop"))
    assert acc.result().content == "<think>x</think> is a tag" and acc.result().reasoning == ""


def test_native_reasoning_field_wins_over_inline_tags() -> None:
    acc = Accumulator(think_tags="inline")
    acc.feed(_chunk({"reasoning": "native"}))
    acc.feed(_chunk({"content": "<think>not reasoning</think> text"}, "stop"))
    result = acc.result()
    assert result.reasoning == "native" and result.content == "<think>not reasoning</think> text"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
def test_events_parse_the_same_whatever_the_chunking_and_line_endings(size: int) -> None:
    body = ': keep-alive\r\n\r\ndata: {"t": "日本語"}\n\ndata: cr only\r\rdata: [DONE]\n'.encode()
    parser = SSEParser()
    events = [item for start in range(0, len(body), size) for item in parser.feed(body[start : start + size])]
    events += parser.finish()
    assert events == [Comment("keep-alive"), Event('{"t": "日本語"}'), Event("cr only"), Event("[DONE]")]
