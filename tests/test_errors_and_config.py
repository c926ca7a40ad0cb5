"""Error mapping, settings and conversation bookkeeping: each a pure function or a small object."""

from __future__ import annotations

import pytest

from mcp_server.core.config import Limits, Settings
from mcp_server.core.errors import ConfigError, InputError
from mcp_server.policy.redaction import redact
from mcp_server.state import Bounds
from mcp_server.state.conversations import ConversationStore
from mcp_server.state.memory import MemoryStore
from mcp_server.upstream.errors import (
    AuthenticationError,
    BadRequestError,
    InsufficientBalanceError,
    NotFoundError,
    Origin,
    RateLimitError,
    ServerError,
    error_from_response,
    parse_error_body,
)
from mcp_server.upstream.providers import Router

DEEPSEEK = Origin("deepseek", "DeepSeek", "DEEPSEEK_API_KEY", "https://api.deepseek.com", "https://top.up")
ATLAS = Origin("atlas", "Atlas Cloud", "ATLASCLOUD_API_KEY", "https://api.atlascloud.ai/v1")


def _envelope(message: str, type_: str = "invalid_request_error") -> bytes:
    return (
        f'{{"error":{{"message":"{message}","type":"{type_}","param":null,"code":"invalid_request_error"}}}}'.encode()
    )


def test_deepseek_401_names_the_variable_to_check_and_keeps_the_trace_id() -> None:
    err = error_from_response(
        DEEPSEEK, 401, {"x-ds-trace-id": "abc123"}, _envelope("Authentication Fails, Your api key: ****cd15 is invalid")
    )
    assert isinstance(err, AuthenticationError) and not err.retryable
    assert "DEEPSEEK_API_KEY" in str(err) and "request id abc123" in str(err) and "HTTP 401" in str(err)


def test_402_says_to_top_up_and_where() -> None:
    err = error_from_response(DEEPSEEK, 402, {}, _envelope("Insufficient Balance", "unknown_error"))
    assert isinstance(err, InsufficientBalanceError) and "top up at https://top.up" in str(err)


def test_429_explains_the_balance_bound_concurrency_limit_and_is_retryable() -> None:
    err = error_from_response(DEEPSEEK, 429, {"retry-after": "2"}, _envelope("Too many requests."))
    assert isinstance(err, RateLimitError) and err.retryable and err.retry_after == 2.0
    assert "concurrency limit" in str(err)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, _envelope("Model Not Exist")),
        (400, _envelope("The supported API model names are deepseek-v4-pro or deepseek-v4-flash, but you passed x")),
    ],
)
def test_an_unknown_or_retired_model_points_at_list_models(status: int, body: bytes) -> None:
    err = error_from_response(DEEPSEEK, status, {}, body, model="deepseek-chat")
    assert isinstance(err, BadRequestError) and "list_models" in str(err) and "'deepseek-chat'" in str(err)


def test_atlas_envelope_is_read_with_its_request_id() -> None:
    err = error_from_response(ATLAS, 404, {}, b'{"code":404,"msg":"model not found","request_id":"r-9","data":null}')
    assert isinstance(err, NotFoundError) and "model not found" in str(err) and "request id r-9" in str(err)
    assert "list_models" in str(err)


def test_a_body_that_is_not_json_is_quoted_briefly_whatever_its_content_type() -> None:
    err = error_from_response(DEEPSEEK, 502, {"content-type": "application/octet-stream"}, b"<html>" + b"x" * 999)
    assert isinstance(err, ServerError) and err.retryable
    assert "<html>" in str(err) and len(str(err)) < 600


def test_a_trace_id_at_the_end_of_a_message_is_lifted_out() -> None:
    err = error_from_response(DEEPSEEK, 500, {}, _envelope("boom [trace_id=783a70b2]"))
    assert "request id 783a70b2" in str(err) and "[trace_id" not in str(err)


def test_empty_and_odd_bodies_still_give_a_message() -> None:
    assert parse_error_body(b"").message == "(empty body)"
    assert parse_error_body(b'{"error": "plain"}').message == "plain"
    assert parse_error_body(b"[1, 2]").message == "[1, 2]"


def test_settings_read_keys_and_urls_once_and_treat_blank_keys_as_unset() -> None:
    settings = Settings.from_env(
        {
            "DEEPSEEK_API_KEY": " sk-a ",
            "ATLASCLOUD_API_KEY": "",
            "DEEPSEEK_MCP_TIMEOUT": "12.5",
            "DEEPSEEK_MCP_LOG_LEVEL": "debug",
        }
    )
    assert [p.name for p in settings.providers] == ["deepseek"]
    assert settings.providers[0].base_url == "https://api.deepseek.com"
    assert settings.timeout == 12.5 and settings.log_level == "DEBUG" and settings.secrets == ("sk-a",)
    assert "sk-a" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DEEPSEEK_MCP_TIMEOUT": "soon"}, "DEEPSEEK_MCP_TIMEOUT"),
        ({"DEEPSEEK_MCP_TIMEOUT": "0"}, "DEEPSEEK_MCP_TIMEOUT"),
        ({"DEEPSEEK_MCP_MAX_RETRIES": "-1"}, "DEEPSEEK_MCP_MAX_RETRIES"),
        ({"DEEPSEEK_MCP_LOG_LEVEL": "loud"}, "DEEPSEEK_MCP_LOG_LEVEL"),
        ({"DEEPSEEK_API_KEY": "k", "DEEPSEEK_BASE_URL": "api.deepseek.com"}, "DEEPSEEK_BASE_URL"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_named(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        Settings.from_env(env)


def test_no_key_at_all_names_both_variables() -> None:
    with pytest.raises(ConfigError, match=r"DEEPSEEK_API_KEY.*ATLASCLOUD_API_KEY"):
        Router(Settings.from_env({})).route("chat")


def test_routing_prefers_deepseek_uses_atlas_for_namespaced_ids_and_ocr_and_honours_prefixes() -> None:
    router = Router(Settings.from_env({"DEEPSEEK_API_KEY": "a", "ATLASCLOUD_API_KEY": "b"}))
    assert (router.route("chat").provider.name, router.route("chat").model) == ("deepseek", "deepseek-flash")
    assert router.route("chat", "deepseek-ai/deepseek-v4-pro").provider.name == "atlas"
    assert router.route("ocr").model == "deepseek-ai/deepseek-ocr"
    assert router.route("chat", "atlas:deepseek-v4-pro").provider.name == "atlas"
    assert router.route("reason", "some-new-model-2027").model == "some-new-model-2027"
    with pytest.raises(ConfigError, match="DEEPSEEK_MCP_OPENAI_BASE_URL"):
        router.route("chat", "openai:llama")


def test_only_atlas_configured_routes_chat_to_atlas_defaults() -> None:
    router = Router(Settings.from_env({"ATLASCLOUD_API_KEY": "b"}))
    assert router.route("reason").model == "deepseek-ai/deepseek-v4-flash"
    with pytest.raises(ConfigError, match="DEEPSEEK_API_KEY"):
        router.route("fim")


def test_redact_replaces_every_occurrence() -> None:
    assert redact("key sk-1 and sk-1 again", ("sk-1",)) == "key [redacted] and [redacted] again"


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _exchange(question: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


@pytest.mark.anyio
async def test_conversations_continue_trim_turns_expire_and_stay_private_to_their_owner() -> None:
    clock = _Clock()
    limits = Limits(conversations=2, conversation_turns=2, conversation_idle_seconds=60)
    store = ConversationStore(limits, MemoryStore(Bounds.of(limits)), clock)
    convo = await store.open(None, owner="alice")
    for n in range(3):
        await store.record(convo, "sys" if n == 0 else None, _exchange(f"q{n}", f"a{n}"), "stop")
    again = await store.open(convo.id, owner="alice")
    messages = again.messages(None, {"role": "user", "content": "q3"})
    assert [m["content"] for m in messages] == ["sys", "q1", "a1", "q2", "a2", "q3"]
    with pytest.raises(InputError, match="unknown or has expired"):
        await store.open(convo.id, owner="mallory")
    clock.now = 61
    with pytest.raises(InputError, match="Omit conversation_id"):
        await store.open(convo.id, owner="alice")


@pytest.mark.anyio
async def test_conversation_store_keeps_only_the_most_recent_and_ids_are_unguessable() -> None:
    limits = Limits(conversations=2)
    backend = MemoryStore(Bounds.of(limits))
    store = ConversationStore(limits, backend)
    ids = []
    for n in range(3):
        convo = await store.open(None, owner="")
        await store.record(convo, None, _exchange(str(n), "a"), "stop")
        ids.append(convo.id)
    assert (await backend.stats())[0] == 2 and len(set(ids)) == 3 and all(len(i) >= 24 for i in ids)
    with pytest.raises(InputError):
        await store.open(ids[0], owner="")
