"""fim, balance, cost estimates, self-hosted reasoning formats and prompts, against the fake upstreams."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from mcp.types import TextContent

from mcp_server.spending.pricing import estimate, is_peak
from mcp_server.upstream.completion import Usage
from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream, Reply

pytestmark = pytest.mark.anyio


def _texts(result: Any) -> list[str]:
    return [b.text for b in result.content if isinstance(b, TextContent)]


async def test_fim_completes_between_prefix_and_suffix_on_the_beta_endpoint(deepseek: FakeUpstream, mode: str) -> None:
    async with connect(make_settings(deepseek), mode) as client:
        result = await client.call_tool(
            "fim", {"prefix": "def fib(a):", "suffix": "    return fib(a-1) + fib(a-2)", "max_tokens": 64}
        )
    assert not result.is_error, _texts(result)
    assert _texts(result) == ["<fim:ef fib(a):|    return>"]
    request = deepseek.requests[-1]
    assert request.path == "/beta/completions"
    assert request.json["suffix"] == "    return fib(a-1) + fib(a-2)" and request.json["max_tokens"] == 64
    out = result.structured_content
    assert out is not None and out["completion"] == "<fim:ef fib(a):|    return>" and out["usage"]["total_tokens"] > 0


async def test_fim_refuses_max_tokens_out_of_range_before_calling_upstream(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("fim", {"prefix": "x", "max_tokens": 5000})
    assert result.is_error and "max_tokens" in _texts(result)[0] and "4096" in _texts(result)[0]
    assert deepseek.requests == []


async def test_fim_without_a_deepseek_key_says_which_variable_it_needs(atlas: FakeUpstream) -> None:
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("fim", {"prefix": "x"})
    assert result.is_error and "DEEPSEEK_API_KEY" in _texts(result)[0]


async def test_balance_reports_both_accounts_amounts_exactly_as_strings(
    deepseek: FakeUpstream, atlas: FakeUpstream, mode: str
) -> None:
    async with connect(make_settings(deepseek, atlas), mode) as client:
        result = await client.call_tool("balance", {})
    assert not result.is_error, _texts(result)
    accounts = {a["provider"]: a for a in result.structured_content["accounts"]}  # type: ignore[index]
    ds = accounts["deepseek"]
    assert ds["available"] is True
    assert [(b["currency"], b["total"]) for b in ds["balances"]] == [("CNY", "110.00"), ("USD", "0.50")]
    assert ds["balances"][0]["details"] == {"granted_balance": "10.00", "topped_up_balance": "100.00"}
    assert accounts["atlas"]["balances"][0]["total"] == "125.500000"
    assert "110.00 CNY" in _texts(result)[0]
    assert any(r.path == "/public/v1/balance" for r in atlas.requests)


async def test_a_402_on_balance_is_reported_for_that_account(deepseek: FakeUpstream, atlas: FakeUpstream) -> None:
    deepseek.script(Reply(status=402, error="Insufficient Balance"))
    async with connect(make_settings(deepseek, atlas)) as client:
        result = await client.call_tool("balance", {})
    accounts = {a["provider"]: a for a in result.structured_content["accounts"]}  # type: ignore[index]
    assert "top up" in accounts["deepseek"]["error"] and accounts["atlas"]["error"] is None


async def test_balance_with_only_a_failing_account_is_an_error(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(status=401, error="Authentication Fails"))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("balance", {})
    assert result.is_error and "DEEPSEEK_API_KEY" in _texts(result)[0]


def test_cost_matches_a_hand_computation_at_peak_and_off_peak() -> None:
    usage = Usage(
        prompt_tokens=1_000_000,
        completion_tokens=500_000,
        cache_hit_tokens=400_000,
        cache_miss_tokens=600_000,
        total_tokens=1_500_000,
    )
    tuesday_peak = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)
    # 0.4M x $0.006 + 0.6M x $0.30 + 0.5M x $1.20 = 0.0024 + 0.18 + 0.60
    peak = estimate("deepseek", "deepseek-flash", usage, tuesday_peak)
    assert peak is not None and peak.usd == pytest.approx(0.7824)
    sunday = datetime(2026, 11, 22, 7, 30, tzinfo=UTC)
    off_peak = estimate("deepseek", "deepseek-flash", usage, sunday)
    assert off_peak is not None and off_peak.usd == pytest.approx(0.3912) and "off-peak" in off_peak.basis


def test_v4_pro_is_priced_by_its_own_table_not_as_flash() -> None:
    usage = Usage(
        prompt_tokens=1_000_000,
        completion_tokens=500_000,
        cache_hit_tokens=400_000,
        cache_miss_tokens=600_000,
        total_tokens=1_500_000,
    )
    # Peak: 0.4M x $0.044 + 0.6M x $1.32 + 0.5M x $3.96 = 0.0176 + 0.792 + 1.98 (WIRE.md §13, pricing page)
    peak = estimate("deepseek", "deepseek-v4-pro", usage, datetime(2026, 11, 24, 7, 30, tzinfo=UTC))
    assert peak is not None and peak.usd == pytest.approx(2.7896)
    assert "cache hit 0.044, cache miss 1.32, output 3.96" in peak.basis
    # Off-peak: 0.4M x $0.022 + 0.6M x $0.66 + 0.5M x $1.98 = 0.0088 + 0.396 + 0.99
    off_peak = estimate("deepseek", "deepseek-v4-pro", usage, datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    assert off_peak is not None and off_peak.usd == pytest.approx(1.3948) and "off-peak" in off_peak.basis
    flash = estimate("deepseek", "deepseek-flash", usage, datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    assert flash is not None and off_peak.usd / flash.usd > 3.5  # what the old table got wrong


async def test_a_v4_pro_chat_reports_a_cost_from_its_own_prices(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "one two three", "model": "deepseek-v4-pro"})
    out = result.structured_content
    assert out is not None and out["model"] == "deepseek-v4-pro"
    usage = Usage(
        prompt_tokens=out["usage"]["prompt_tokens"],
        completion_tokens=out["usage"]["completion_tokens"],
        cache_hit_tokens=out["usage"]["cache_hit_tokens"],
        cache_miss_tokens=out["usage"]["cache_miss_tokens"],
    )
    peak = (usage.cache_hit_tokens * 0.044 + usage.cache_miss_tokens * 1.32 + usage.completion_tokens * 3.96) / 1e6
    assert out["cost"]["usd"] == pytest.approx(peak if " peak" in out["cost"]["basis"] else peak / 2)
    assert out["cost"]["basis"].startswith("deepseek-v4-pro ")


async def test_a_model_without_a_price_gets_usd_null_and_a_basis_saying_so(atlas: FakeUpstream) -> None:
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    cost = result.structured_content["cost"]  # type: ignore[index]
    assert cost == {
        "usd": None,
        "estimate": True,
        "basis": "no price known for atlas:deepseek-ai/deepseek-v4-flash (see pricing.py)",
    }


def test_peak_hours_are_weekday_mornings_utc() -> None:
    assert is_peak(datetime(2026, 11, 23, 1, 0, tzinfo=UTC)) and is_peak(datetime(2026, 11, 23, 9, 59, tzinfo=UTC))
    assert not is_peak(datetime(2026, 11, 23, 4, 0, tzinfo=UTC))
    assert not is_peak(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    assert not is_peak(datetime(2026, 11, 28, 7, 0, tzinfo=UTC))  # Saturday


def test_unknown_models_get_no_cost_rather_than_a_wrong_one() -> None:
    usage = Usage(prompt_tokens=10, completion_tokens=10, cache_miss_tokens=10, total_tokens=20)
    assert estimate("deepseek", "deepseek-v9-ultra", usage) is None
    assert estimate("atlas", "deepseek-ai/deepseek-v4-flash", usage) is None


@pytest.mark.parametrize("reasoning_field", ["reasoning_content", "reasoning", "think_tags"])
async def test_reason_on_a_self_hosted_server_separates_every_reasoning_format(
    deepseek: FakeUpstream, reasoning_field: str
) -> None:
    deepseek.script(Reply(reasoning="step one, step two", content="forty-two", reasoning_field=reasoning_field))
    env = {
        "DEEPSEEK_MCP_OPENAI_BASE_URL": deepseek.base_url,
        "DEEPSEEK_MCP_OPENAI_API_KEY": deepseek.api_key,
        "DEEPSEEK_MCP_OPENAI_MODEL": "deepseek-flash",
    }
    async with connect(make_settings(env=env)) as client:
        result = await client.call_tool("reason", {"prompt": "q"})
        models = await client.call_tool("list_models", {})
    assert not result.is_error, _texts(result)
    assert _texts(result) == ["step one, step two", "forty-two"]
    assert result.structured_content["provider"] == "openai"  # type: ignore[index]
    assert deepseek.chat_requests()[0].json["chat_template_kwargs"]["thinking"] is True
    assert {m["provider"] for m in models.structured_content["models"]} == {"openai"}  # type: ignore[index]


async def test_provider_prefix_picks_the_provider_when_two_serve_the_same_id(
    deepseek: FakeUpstream, atlas: FakeUpstream
) -> None:
    async with connect(make_settings(deepseek, atlas)) as client:
        result = await client.call_tool("chat", {"prompt": "hi", "model": "atlas:deepseek-ai/deepseek-v4-flash"})
    assert result.structured_content["provider"] == "atlas" and deepseek.chat_requests() == []  # type: ignore[index]


async def test_prompts_offer_a_second_opinion_and_document_to_markdown(deepseek: FakeUpstream, mode: str) -> None:
    async with connect(make_settings(deepseek), mode) as client:
        names = {p.name for p in (await client.list_prompts()).prompts}
        review = await client.get_prompt("second_opinion", {"diff": "-a\n+b", "focus": "security"})
    assert {"second_opinion", "document_to_markdown"} <= names
    text = review.messages[0].content.text  # type: ignore[union-attr]
    assert "`reason`" in text and "+b" in text and "security" in text
