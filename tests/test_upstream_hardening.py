"""Failures at the upstream boundary, each classified once and bounded: in-stream errors, streams that end oddly,
malformed bodies, Retry-After past the cap, timeouts, and inputs too large to hold (issue 10)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx2
import pytest
from mcp.types import TextContent

from mcp_server.upstream.sse import Comment, Event, SSEParser, TooLarge
from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream, Reply

pytestmark = pytest.mark.anyio


def _text(result: Any) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


async def test_an_in_stream_402_from_atlas_is_not_retried_and_says_to_top_up_with_the_console_link(
    atlas: FakeUpstream,
) -> None:
    atlas.script(Reply(stream_error_after_chunks=0, stream_error_code=402, stream_error_message="insufficient balance"))
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    text = _text(result)
    assert result.is_error and len(atlas.chat_requests()) == 1, text
    assert "as HTTP 402" in text and "top up at https://www.atlascloud.ai/console" in text
    assert "try again" not in text


async def test_an_in_stream_insufficient_balance_from_deepseek_is_classified_by_its_message(
    deepseek: FakeUpstream,
) -> None:
    deepseek.script(
        Reply(stream_error_after_chunks=0, stream_error_code=402, stream_error_message="Insufficient Balance")
    )
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    assert result.is_error and "top up at https://platform.deepseek.com/top_up" in _text(result)
    assert len(deepseek.chat_requests()) == 1


async def test_an_in_stream_rate_limit_before_any_answer_is_retried_like_a_429(atlas: FakeUpstream) -> None:
    atlas.script(Reply(stream_error_after_chunks=0, stream_error_code=429, stream_error_message="slow down"))
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    assert not result.is_error and len(atlas.chat_requests()) == 2


async def test_a_stream_that_ends_with_done_but_no_finish_reason_keeps_its_answer(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(content="all of it", finish_reason=None))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    assert not result.is_error and result.structured_content["answer"] == "all of it"  # type: ignore[index]
    assert result.structured_content["finish_reason"] is None  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"choices": {"0": "x"}}, "`choices` is an object, not a list"),
        ({"choices": ["text"]}, "`a choice` is a string, not an object"),
        ({"choices": [{"message": "hi"}]}, "`message` is a string, not an object"),
        ({"choices": [{"message": {"content": 42}}]}, "`content` is a number, not a string"),
        ({"choices": []}, "`choices` is empty"),
        ({"choices": [{"message": {"content": "x"}}], "usage": [1]}, "`usage` is a list, not an object"),
    ],
)
async def test_a_malformed_body_is_a_clear_error_naming_the_provider_and_the_server_keeps_serving(
    deepseek: FakeUpstream, body: dict[str, Any], detail: str
) -> None:
    deepseek.script(Reply(body=json.dumps(body).encode()))
    async with connect(make_settings(deepseek)) as client:
        bad = await client.call_tool("chat", {"prompt": "hi"})
        good = await client.call_tool("chat", {"prompt": "again"})
    text = _text(bad)
    assert bad.is_error and text.startswith("Error executing tool chat: DeepSeek: ") and detail in text, text
    assert "malformed completion" in text and "Error executing tool chat: Error" not in text
    assert not good.is_error and len(deepseek.chat_requests()) == 2  # not retried: the answer is broken, not busy


async def test_a_malformed_stream_chunk_is_named_too(deepseek: FakeUpstream) -> None:
    events = [{"choices": [{"index": 0, "delta": "not an object"}]}]
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    deepseek.script(Reply(body=body, content_type="text/event-stream"))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    assert result.is_error and "`delta` is a string, not an object" in _text(result)


async def test_retry_after_past_the_cap_fails_at_once_and_says_when_to_try_again(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(status=429, error="Too many requests.", headers={"Retry-After": "120"}))
    started = time.monotonic()
    async with connect(make_settings(deepseek, retry_after_cap=2.0)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    text = _text(result)
    assert result.is_error and len(deepseek.chat_requests()) == 1 and time.monotonic() - started < 2.0
    assert "asked to wait 120 s" in text and "try again after " in text and " UTC" in text


async def test_retry_after_as_an_http_date_is_honoured(deepseek: FakeUpstream) -> None:
    moment = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 600))
    deepseek.script(Reply(status=503, error="busy", headers={"Retry-After": moment}))
    async with connect(make_settings(deepseek, retry_after_cap=2.0)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    assert result.is_error and re.search(r"asked to wait (59\d|600) s", _text(result))
    assert len(deepseek.chat_requests()) == 1


async def test_a_silent_models_endpoint_times_out_without_talking_about_thinking_calls(
    deepseek: FakeUpstream,
) -> None:
    deepseek.script(Reply(path="/models", stall_before_headers=3.0))
    async with connect(make_settings(deepseek, timeout=0.3, max_retries=0)) as client:
        result = await client.call_tool("list_models", {})
    text = _text(result)
    assert result.is_error and "no answer to GET /models within 0.3 s" in text
    assert "thinking" not in text and "DEEPSEEK_MCP_TIMEOUT" not in text


async def test_a_pool_timeout_is_not_called_a_failure_to_connect() -> None:
    from mcp_server.core.config import Settings
    from mcp_server.upstream.client import UpstreamClient
    from mcp_server.upstream.errors import APIConnectionError
    from mcp_server.upstream.providers import Router

    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.PoolTimeout("no connection free", request=request)

    settings = Settings.from_env({"DEEPSEEK_API_KEY": "sk-x"})
    provider = Router(settings).providers[0]
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(refuse)) as http:
        client = UpstreamClient(settings, http)
        with pytest.raises(APIConnectionError) as caught:
            await client.stream(provider, provider.url("chat/completions"), {"model": "m"})
    assert "upstream connections stayed busy" in str(caught.value) and "could not connect" not in str(caught.value)


async def test_an_sse_line_over_its_cap_ends_the_call_with_a_clear_error(deepseek: FakeUpstream) -> None:
    body = b"data: " + b"x" * (17 * 1024 * 1024) + b"\n\n"
    deepseek.script(Reply(body=body, content_type="text/event-stream"))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
        after = await client.call_tool("chat", {"prompt": "still there?"})
    assert result.is_error and "one line of the stream passed 16 MiB" in _text(result)
    assert not after.is_error


def _events_of(body: bytes, chunk: int, **caps: int) -> list[Event | Comment]:
    parser = SSEParser(**caps)
    return [item for start in range(0, len(body), chunk) for item in parser.feed(body[start : start + chunk])]


def test_a_long_line_is_split_in_time_linear_in_its_length() -> None:
    # Measured as a ratio in one run: an 8x longer line must not take 64x as long (quadratic took 10 s at 16 MiB).
    def timed(size: int) -> float:
        started = time.perf_counter()
        events = _events_of(b"data: " + b"x" * size + b"\n\n", 4096, max_line=2**26)
        assert len(events) == 1 and len(events[0].data) == size  # type: ignore[union-attr]
        return time.perf_counter() - started

    small = min(timed(2**20) for _ in range(3))
    large = min(timed(2**23) for _ in range(3))
    assert large / small < 24, (small, large)


def test_the_parser_bounds_a_line_an_event_and_the_whole_body() -> None:
    with pytest.raises(TooLarge, match="one line"):
        _events_of(b"y" * 5000, 100, max_line=4096)
    with pytest.raises(TooLarge, match="one event"):
        _events_of(b"data: 0123456789\n" * 500, 64, max_line=4096)
    with pytest.raises(TooLarge, match="the stream passed"):
        _events_of(b"data: z\n" * 1000, 64, max_body=4096)


def test_the_parser_splits_lf_only_bodies_at_any_chunking() -> None:
    body = b"".join(b"data: %d\n\n" % n for n in range(200))
    for chunk in (1, 3, 7, 100, 4096):
        assert _events_of(body, chunk) == [Event(str(n)) for n in range(200)]
