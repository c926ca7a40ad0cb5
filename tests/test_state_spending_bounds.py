"""Spending bounds found after the state review: parallel review checks and the memory store's old records."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_server.core.config import Limits, Settings
from mcp_server.spending.budgets import OUTPUT_ESTIMATE, THINKING_OUTPUT_ESTIMATE
from mcp_server.spending.pricing import estimate as price_of
from mcp_server.spending.tokens import estimate_messages
from mcp_server.state import Bounds, Record, StoreError
from mcp_server.state.memory import MemoryStore
from mcp_server.state.sqlite import SqliteStore
from mcp_server.upstream.completion import Usage
from tests.conftest import connect, make_settings
from tests.fake.agent import Call, Script, Turn
from tests.fake.review import Checker, offers_verdict
from tests.fake_upstream import FakeUpstream, Reply
from tests.gitrepos import make_repo

pytestmark = pytest.mark.anyio

FIRST = {"path": "src/service.py", "line": 10, "severity": "high", "title": "step_3 subtracts", "detail": "Flipped."}
SECOND = {"path": "src/service.py", "line": 1, "severity": "low", "title": "Name is vague", "detail": "Rename it."}


def _check_estimate(request: dict[str, Any]) -> float:
    """What the server estimates for one check request, as spending.estimate does."""
    thinking = (request.get("thinking") or {}).get("type") == "enabled"
    prompt = estimate_messages(request["messages"])
    output = THINKING_OUTPUT_ESTIMATE if thinking else OUTPUT_ESTIMATE
    cost = price_of(
        "deepseek", request["model"], Usage(prompt_tokens=prompt, cache_miss_tokens=prompt, completion_tokens=output)
    )
    assert cost is not None
    return cost.usd


def _checks(deepseek: FakeUpstream) -> list[dict[str, Any]]:
    return [r.json for r in deepseek.chat_requests() if r.json and offers_verdict(r.json.get("tools", []))]


async def _review(deepseek: FakeUpstream, repo: Path, env: dict[str, str]) -> dict[str, Any]:
    deepseek.agent = Script(turns=[Turn(calls=[Call("report_finding", FIRST), Call("report_finding", SECOND)])])
    deepseek.checker = Checker()
    async with connect(make_settings(deepseek, env=env)) as client:
        with anyio.fail_after(30):
            result = await client.call_tool("review", {"path": str(repo)})
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def test_review_checks_sent_together_cannot_pass_the_per_call_limit_on_the_same_spent_figure(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    await _review(deepseek, repo, {})
    checks = _checks(deepseek)
    assert len(checks) == 2
    each = max(_check_estimate(c) for c in checks)
    # Room for one check (the reviewer's turns cost little next to a check's estimate), not for two at once.
    limit = 1.5 * each
    deepseek.reset()
    await _review(deepseek, repo, {"DEEPSEEK_MCP_MAX_COST_PER_CALL": repr(limit)})
    sent = _checks(deepseek)
    assert len(sent) == 1, f"{len(sent)} checks of ~${each:.4f} each were sent under a per-call limit of ${limit:.4f}"


async def test_the_memory_store_forgets_spending_older_than_its_forty_days() -> None:
    store = MemoryStore(Bounds.of(Limits()))
    await store.spend("o", "2026-01-01", "chat", 1.0, 0.0, None)
    await store.spend("o", "2026-02-09", "chat", 1.0, 0.0, None)
    await store.spend("o", "2026-02-11", "chat", 1.0, 0.0, None)
    kept = await store.spent("o", ["2026-01-01", "2026-02-09", "2026-02-11"])
    assert sorted(s.day for s in kept) == ["2026-02-09", "2026-02-11"]


async def test_the_memory_store_keeps_no_empty_hold_table_for_a_refused_or_released_hold() -> None:
    store = MemoryStore(Bounds.of(Limits()))
    assert await store.hold("o", "2026-02-11", "h1", 5.0, 1.0, 0.0) == 0.0
    assert await store.hold("o", "2026-02-11", "h2", 0.5, 1.0, 0.0) is None
    await store.release("o", "2026-02-11", "h2")
    assert not store._holds


async def test_a_sqlite_row_whose_size_is_not_a_number_is_a_store_error_naming_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, Bounds.of(Limits()))
    try:
        await store.save(Record("c", "o", 2, 1.0, "{}"))
        db = sqlite3.connect(path)
        db.execute("UPDATE conversations SET size = 'many' WHERE id = 'c'")
        db.commit()
        db.close()
        with pytest.raises(StoreError, match="DEEPSEEK_MCP_STATE"):
            await store.load("c", 2.0)
    finally:
        await store.aclose()


async def test_a_request_the_provider_refuses_frees_its_hold_and_a_stream_dropped_mid_answer_counts(
    deepseek: FakeUpstream,
) -> None:
    env = {"DEEPSEEK_MCP_DAILY_BUDGET": "5", "DEEPSEEK_MCP_MAX_RETRIES": "0"}
    async with connect(make_settings(deepseek, env=env)) as client:
        deepseek.script(Reply(status=400, error="bad request", error_type="invalid_request_error"))
        with anyio.fail_after(30):
            refused = await client.call_tool("chat", {"prompt": "hello"})
        assert refused.is_error
        shown = await client.call_tool("balance", {})
        assert (shown.structured_content or {})["spent"]["today"]["calls"] == 0
        deepseek.script(Reply(content="word " * 50, drop_after_chunks=3))
        with anyio.fail_after(30):
            broken = await client.call_tool("chat", {"prompt": "hello"})
        assert broken.is_error
        shown = await client.call_tool("balance", {})
    today = (shown.structured_content or {})["spent"]["today"]
    assert today["calls"] == 1 and today["usd"] > 0, today


def test_a_redis_password_of_eight_characters_or_more_is_among_the_secrets_redacted_from_output() -> None:
    settings = Settings.from_env({"DEEPSEEK_MCP_STATE": "redis://:Long%2FSecret99@127.0.0.1:6379/0"})
    assert "Long/Secret99" in settings.secrets and "Long%2FSecret99" in settings.secrets
    short = Settings.from_env({"DEEPSEEK_MCP_STATE": "redis://:redis@127.0.0.1:6379/0"})
    assert "redis" not in short.secrets
