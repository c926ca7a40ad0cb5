"""chat, reason and list_models through an in-memory MCP client, in both protocol eras, against the fake upstream."""

from __future__ import annotations

import itertools
import time
from typing import Any

import anyio
import jsonschema
import pytest
from mcp.types import TextContent

from mcp_server.serving import progress
from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream, Reply

pytestmark = pytest.mark.anyio


def _texts(result: Any) -> list[str]:
    return [block.text for block in result.content if isinstance(block, TextContent)]


def _kinds(result: Any) -> list[str]:
    return [(block.meta or {}).get("deepseek-mcp/kind") for block in result.content]


async def test_every_tool_is_listed_with_an_output_schema_in_both_eras(deepseek: FakeUpstream, mode: str) -> None:
    async with connect(make_settings(deepseek), mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
    assert {"chat", "reason", "list_models", "fim", "balance"} <= set(tools)
    assert all(t.output_schema for t in tools.values())
    assert tools["reason"].input_schema["required"] == ["prompt"]
    assert "ctx" not in tools["chat"].input_schema["properties"]
    assert tools["chat"].annotations is not None and tools["chat"].annotations.read_only_hint is True


async def test_chat_streams_without_thinking_and_returns_one_answer_block(deepseek: FakeUpstream, mode: str) -> None:
    async with connect(make_settings(deepseek), mode) as client:
        result = await client.call_tool("chat", {"prompt": "hello there", "max_tokens": 100, "temperature": 0.2})
    assert not result.is_error, _texts(result)
    assert _texts(result) == ["You said: hello there (turn 1)"] and _kinds(result) == ["answer"]
    sent = deepseek.chat_requests()[0].json
    assert sent["thinking"] == {"type": "disabled"} and sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True} and "reasoning_effort" not in sent
    assert (sent["model"], sent["max_tokens"], sent["temperature"]) == ("deepseek-flash", 100, 0.2)
    out = result.structured_content
    assert out is not None
    assert out["answer"] == "You said: hello there (turn 1)"
    assert (out["provider"], out["finish_reason"]) == ("deepseek", "stop")
    usage = out["usage"]
    assert usage["prompt_tokens"] == usage["cache_hit_tokens"] + usage["cache_miss_tokens"] > 0
    assert usage["completion_tokens"] > 0 and usage["reasoning_tokens"] == 0
    assert out["cost"]["estimate"] is True and out["cost"]["usd"] > 0


async def test_reason_returns_the_trace_and_the_answer_as_separate_tagged_blocks(
    deepseek: FakeUpstream, mode: str
) -> None:
    async with connect(make_settings(deepseek), mode) as client:
        result = await client.call_tool("reason", {"prompt": "is 9.11 > 9.8?", "effort": "max"})
    assert not result.is_error, _texts(result)
    assert _kinds(result) == ["reasoning", "answer"]
    assert _texts(result) == ["Thinking about: is 9.11 > 9.8?", "You said: is 9.11 > 9.8? (turn 1)"]
    sent = deepseek.chat_requests()[0].json
    assert sent["thinking"] == {"type": "enabled"} and sent["reasoning_effort"] == "max"
    out = result.structured_content
    assert out is not None and out["reasoning"] == "Thinking about: is 9.11 > 9.8?"
    assert out["usage"]["reasoning_tokens"] > 0


async def test_reason_can_leave_the_trace_out(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("reason", {"prompt": "q", "include_reasoning": False})
    assert _kinds(result) == ["answer"] and result.structured_content["reasoning"] is None  # type: ignore[index]


async def test_a_conversation_id_continues_the_exchange_with_its_history(deepseek: FakeUpstream, mode: str) -> None:
    async with connect(make_settings(deepseek), mode) as client:
        first = await client.call_tool("chat", {"prompt": "my name is Ada", "system": "be brief"})
        convo = first.structured_content["conversation_id"]  # type: ignore[index]
        second = await client.call_tool("reason", {"prompt": "what is my name?", "conversation_id": convo})
        fresh = await client.call_tool("chat", {"prompt": "again"})
    assert _texts(second)[-1] == "You said: what is my name? (turn 2)"
    assert second.structured_content["conversation_id"] == convo  # type: ignore[index]
    assert fresh.structured_content["conversation_id"] != convo  # type: ignore[index]
    messages = deepseek.chat_requests()[1].json["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == "You said: my name is Ada (turn 1)"


async def test_an_unknown_conversation_id_is_a_clear_error_and_the_server_keeps_serving(
    deepseek: FakeUpstream,
) -> None:
    async with connect(make_settings(deepseek)) as client:
        bad = await client.call_tool("chat", {"prompt": "hi", "conversation_id": "nope"})
        good = await client.call_tool("chat", {"prompt": "hi"})
    assert bad.is_error and "Omit conversation_id" in _texts(bad)[0]
    assert not good.is_error and deepseek.chat_requests() and len(deepseek.chat_requests()) == 1


async def test_json_mode_asks_for_a_json_object_and_mentions_json_after_the_cached_prefix(
    deepseek: FakeUpstream,
) -> None:
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "list three colours", "system": "be brief", "json": True})
    sent = deepseek.chat_requests()[0].json
    assert sent["response_format"] == {"type": "json_object"}
    # The system prompt stays as given, so json mode does not change the prefix other calls share.
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "list three colours\n\nReply with a single JSON object."},
    ]
    assert not result.is_error and _texts(result)[0].startswith("{")


async def test_bad_arguments_are_tool_errors_naming_the_field(deepseek: FakeUpstream, mode: str) -> None:
    async with connect(make_settings(deepseek), mode) as client:
        results = [
            await client.call_tool("chat", {"prompt": ""}),
            await client.call_tool("chat", {"prompt": "x", "max_tokens": 0}),
            await client.call_tool("chat", {"prompt": "x", "temperature": 5}),
            await client.call_tool("reason", {"prompt": "x", "effort": "extreme"}),
            await client.call_tool("chat", {}),
        ]
    assert all(r.is_error for r in results)
    for result, field in zip(results, ["prompt", "max_tokens", "temperature", "effort", "prompt"], strict=True):
        assert field in _texts(result)[0]
    assert deepseek.chat_requests() == []


async def test_without_any_key_tools_name_the_variables_to_set_and_the_server_keeps_serving(mode: str) -> None:
    async with connect(make_settings(), mode) as client:
        tools = await client.list_tools()
        result = await client.call_tool("chat", {"prompt": "hi"})
        models = await client.call_tool("list_models", {})
    assert tools.tools
    assert result.is_error and "DEEPSEEK_API_KEY" in _texts(result)[0] and "ATLASCLOUD_API_KEY" in _texts(result)[0]
    assert models.is_error and "DEEPSEEK_API_KEY" in _texts(models)[0]


async def test_progress_reports_each_phase_while_the_answer_streams(deepseek: FakeUpstream, mode: str) -> None:
    deepseek.script(Reply(reasoning="one two three four", content="five six seven", token_delay=0.05))
    events: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        events.append((value, message))

    async with connect(make_settings(deepseek), mode) as client:
        result = await client.call_tool("reason", {"prompt": "q"}, progress_callback=on_progress)
    assert not result.is_error
    messages = [m or "" for _, m in events]
    assert any("waiting" in m for m in messages)
    assert any("reasoning" in m for m in messages) and any("answering" in m for m in messages)
    values = [v for v, _ in events]
    assert values == sorted(values) and len(set(values)) == len(values)  # strictly increasing, as the spec asks
    assert len(events) < 20  # throttled, not one per token


async def test_progress_keeps_coming_while_the_upstream_only_sends_keep_alives(
    deepseek: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "HEARTBEAT", 0.2)
    deepseek.script(Reply(keepalives=6, keepalive_interval=0.25, content="done"))
    stamps: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        stamps.append(time.monotonic())

    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "q"}, progress_callback=on_progress)
    assert not result.is_error
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) >= 5 and max(gaps) < 0.6


async def test_cancelling_a_call_drops_the_upstream_connection_within_a_second(
    deepseek: FakeUpstream, mode: str
) -> None:
    deepseek.script(Reply(content=" ".join(["word"] * 200), token_delay=0.05))
    async with connect(make_settings(deepseek), mode) as client:
        with anyio.move_on_after(0.5):
            await client.call_tool("chat", {"prompt": "long"})
        cancelled_at = time.monotonic()
        assert await anyio.to_thread.run_sync(
            lambda: deepseek.wait_for(lambda f: bool(f.requests) and f.requests[0].client_disconnected, 3.0)
        )
    recorded = deepseek.requests[0]
    assert recorded.disconnected_at is not None and recorded.disconnected_at - cancelled_at < 1.0


async def test_a_429_is_retried_and_the_retry_succeeds(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(status=429, error="Too many requests.", headers={"Retry-After": "0"}))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    assert not result.is_error and len(deepseek.chat_requests()) == 2


@pytest.mark.parametrize(
    ("status", "message", "hint"),
    [(401, "Authentication Fails", "DEEPSEEK_API_KEY"), (402, "Insufficient Balance", "top up")],
)
async def test_401_and_402_are_actionable_and_never_retried(
    deepseek: FakeUpstream, status: int, message: str, hint: str
) -> None:
    deepseek.script(Reply(status=status, error=message))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("reason", {"prompt": "hi"})
    assert result.is_error and hint in _texts(result)[0] and f"HTTP {status}" in _texts(result)[0]
    assert len(deepseek.chat_requests()) == 1


async def test_a_stall_ends_with_a_clear_timeout_error(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(content="a b c", stall_after_chunks=1, stall_seconds=5.0))
    started = time.monotonic()
    async with connect(make_settings(deepseek, timeout=0.5)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    elapsed = time.monotonic() - started
    assert result.is_error and "DEEPSEEK_MCP_TIMEOUT" in _texts(result)[0] and "0.5 s" in _texts(result)[0]
    assert 0.5 <= elapsed < 3.0 and len(deepseek.chat_requests()) == 1


async def test_keep_alives_longer_than_the_timeout_do_not_time_out(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(keepalives=5, keepalive_interval=0.2, content="patient"))
    async with connect(make_settings(deepseek, timeout=0.5)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    assert not result.is_error and _texts(result) == ["patient"]


async def test_a_stream_cut_before_any_answer_is_retried_but_one_cut_midway_is_reported(
    deepseek: FakeUpstream,
) -> None:
    deepseek.script(Reply(drop_before_headers=True), Reply(content="a b c d", drop_after_chunks=3))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    assert result.is_error
    assert "connection broke" in _texts(result)[0] or "ended before" in _texts(result)[0]
    assert len(deepseek.chat_requests()) == 2


async def test_an_error_event_inside_the_stream_becomes_a_tool_error(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(content="a b c d", stream_error_after_chunks=2, stream_error_message="engine overheated"))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    assert result.is_error and "engine overheated" in _texts(result)[0]


async def test_an_answer_cut_at_max_tokens_comes_back_with_a_notice(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(content="partial answer", finish_reason="length"))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    assert not result.is_error and _kinds(result) == ["answer", "notice"]
    assert "max_tokens" in _texts(result)[1] and result.structured_content["finish_reason"] == "length"  # type: ignore[index]


async def test_an_unknown_model_points_at_list_models(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "hi", "model": "deepseek-chat"})
    assert result.is_error and "list_models" in _texts(result)[0] and "deepseek-chat" in _texts(result)[0]


async def test_list_models_merges_both_providers_live_and_drops_models_not_ready(
    deepseek: FakeUpstream, atlas: FakeUpstream, mode: str
) -> None:
    async with connect(make_settings(deepseek, atlas), mode) as client:
        result = await client.call_tool("list_models", {})
    assert not result.is_error, _texts(result)
    models = result.structured_content["models"]  # type: ignore[index]
    ids = [(m["provider"], m["id"]) for m in models]
    assert ("deepseek", "deepseek-flash") in ids and ("atlas", "deepseek-ai/deepseek-ocr") in ids
    assert ids.index(("deepseek", "deepseek-flash")) < ids.index(("atlas", "deepseek-ai/deepseek-ocr"))
    assert not any("legacy" in model_id for _, model_id in ids)
    flash = next(m for m in models if m["id"] == "deepseek-flash")
    assert flash["default_for"] == ["chat", "fim", "reason"]  # ocr goes to Atlas's DeepSeek-OCR when both are set
    ocr = next(m for m in models if m["id"] == "deepseek-ai/deepseek-ocr")
    assert ocr["default_for"] == ["ocr"] and "image" in (ocr["input_modalities"] or [])
    atlas_listing = [r for r in atlas.requests if r.path.endswith("/models")]
    assert atlas_listing and "authorization" not in atlas_listing[0].headers


async def test_list_models_reports_a_failing_provider_and_still_lists_the_other(
    deepseek: FakeUpstream, atlas: FakeUpstream
) -> None:
    deepseek.script(Reply(status=401, error="Authentication Fails"))
    async with connect(make_settings(deepseek, atlas)) as client:
        result = await client.call_tool("list_models", {})
    out = result.structured_content
    assert not result.is_error and out is not None
    assert out["errors"][0]["provider"] == "deepseek" and "DEEPSEEK_API_KEY" in out["errors"][0]["error"]
    assert {m["provider"] for m in out["models"]} == {"atlas"}


async def test_a_namespaced_model_goes_to_atlas_cloud_with_its_own_envelope_on_errors(
    deepseek: FakeUpstream, atlas: FakeUpstream
) -> None:
    async with connect(make_settings(deepseek, atlas)) as client:
        ok = await client.call_tool("chat", {"prompt": "hi", "model": "deepseek-ai/deepseek-v4-pro"})
        missing = await client.call_tool("chat", {"prompt": "hi", "model": "deepseek-ai/nope"})
    assert not ok.is_error and ok.structured_content["provider"] == "atlas"  # type: ignore[index]
    assert missing.is_error and "Atlas Cloud" in _texts(missing)[0] and "list_models" in _texts(missing)[0]
    assert deepseek.chat_requests() == []


async def test_the_tool_list_stays_within_10_kib_with_every_parameter_described_in_a_few_words() -> None:
    # Every byte of tools/list is spent in the assistant's context on every turn: 10 KiB for every tool (issue 26),
    # delegate included (issue 27, which keeps to 1,300 B); the tools before it keep to 8,900 B so that it fits
    # (docs/benchmarks.md).
    async with connect(make_settings()) as client:
        listing = await client.list_tools()
    wire = len(listing.model_dump_json(by_alias=True, exclude_none=True).encode())
    sizes = {t.name: len(t.model_dump_json(by_alias=True, exclude_none=True).encode()) for t in listing.tools}
    assert wire <= 10 * 1024 and sizes["delegate"] <= 1300
    assert wire - sizes["delegate"] <= 8900
    for tool in listing.tools:
        for name, prop in tool.input_schema["properties"].items():
            assert 0 < len(prop.get("description", "")) <= 60, f"{tool.name}.{name}: {prop.get('description')!r}"
            assert "title" not in prop
    reason = next(t for t in listing.tools if t.name == "reason")
    assert reason.output_schema is not None and "reasoning" in reason.output_schema["required"]


async def test_output_schemas_type_every_plain_field_and_the_results_conform(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek)) as client:
        listing = await client.list_tools()
        result = await client.call_tool("reason", {"prompt": "hi", "effort": "low"})
    schemas = {t.name: t.output_schema for t in listing.tools}
    typed = schemas["reason"]["properties"]  # type: ignore[index]
    assert typed["answer"] == {"type": "string"} and typed["finish_reason"] == {"type": ["string", "null"]}
    assert "usage" not in typed and set(typed) <= set(schemas["reason"]["required"])  # type: ignore[index]
    assert schemas["web_fetch"]["properties"]["total_chars"] == {"type": "integer"}  # type: ignore[index]
    jsonschema.validate(result.structured_content, schemas["reason"])  # type: ignore[arg-type]


async def test_huge_ids_are_not_echoed_back_in_errors(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek)) as client:
        convo = await client.call_tool("chat", {"prompt": "x", "conversation_id": "c" * 100_000})
        model = await client.call_tool("chat", {"prompt": "x", "model": "m" * 100_000})
    assert convo.is_error and len(_texts(convo)[0]) < 500
    assert model.is_error and len(_texts(model)[0]) < 1000


async def test_a_gateway_that_ignores_stream_and_sends_one_json_body_still_works(deepseek: FakeUpstream) -> None:
    body = (
        b'\n\n{"id":"x","object":"chat.completion","model":"deepseek-flash","choices":[{"index":0,"message":'
        b'{"role":"assistant","content":"whole","reasoning_content":"why"},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}'
    )
    error_body = Reply(body=b'{"error": {"message": "quota gone"}}')
    deepseek.script(Reply(body=body), Reply(body=b"[1, 2]"), *[error_body] * 4)
    async with connect(make_settings(deepseek)) as client:
        whole = await client.call_tool("reason", {"prompt": "q"})
        odd = await client.call_tool("chat", {"prompt": "q"})
        error = await client.call_tool("chat", {"prompt": "q"})
    assert _texts(whole) == ["why", "whole"] and whole.structured_content["usage"]["total_tokens"] == 5  # type: ignore[index]
    assert odd.is_error and "not a completion" in _texts(odd)[0]
    assert error.is_error and "quota gone" in _texts(error)[0] and "gave up after 4 attempts" in _texts(error)[0]
