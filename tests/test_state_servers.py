"""State shared by servers, on the tools' own path: in-memory SDK clients on servers that share one store, and the
console script serving HTTP as replicas on one real Redis.

Each server here is a whole server (its own store object, connections and locks), as another process or replica
would have; the stdio processes sharing one SQLite file are in test_state_processes.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from mcp_server.core.config import Limits, Settings
from mcp_server.spending import budgets
from mcp_server.upstream.providers import Router
from tests.conftest import connect, make_settings, upstream_env
from tests.fake_upstream import FakeUpstream, Reply
from tests.redis_server import RedisServer, redis_server
from tests.test_http_and_cli import ALICE, BOB, http_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis(shared_redis: RedisServer) -> RedisServer:
    """The module's Redis, emptied for each test."""
    import redis as redis_client

    client = redis_client.Redis.from_url(shared_redis.url)
    client.flushall()
    client.close()
    return shared_redis


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """DEEPSEEK_MCP_STATE for a store two servers share."""
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    server: RedisServer = request.getfixturevalue("redis")
    return server.url


async def _sent(fake: FakeUpstream, count: int) -> bool:
    """Whether `count` chat requests reached the fake within 10 s (waited for on a thread: the fake's own helper)."""
    return await anyio.to_thread.run_sync(fake.wait_for, lambda f: len(f.chat_requests()) >= count, 10.0)


def _text(result: CallToolResult) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


def _out(result: CallToolResult) -> dict[str, Any]:
    assert result.structured_content is not None, _text(result)
    return result.structured_content


@asynccontextmanager
async def _servers(count: int, settings: Settings) -> AsyncIterator[list[Client]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(connect(settings)) for _ in range(count)]


async def test_a_conversation_continues_on_another_server_and_after_a_restart(
    deepseek: FakeUpstream, store: str
) -> None:
    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_STATE": store})
    async with _servers(2, settings) as (one, two):
        first = await one.call_tool("chat", {"prompt": "remember 42", "system": "be brief"})
        convo = _out(first)["conversation_id"]
        second = await two.call_tool("chat", {"prompt": "what number?", "conversation_id": convo})
    async with connect(settings) as restarted:
        third = await restarted.call_tool("chat", {"prompt": "and now?", "conversation_id": convo})
    sent = [[m["content"] for m in r.json["messages"]] for r in deepseek.chat_requests()]
    assert not second.is_error and not third.is_error
    assert sent[1] == ["be brief", "remember 42", "You said: remember 42 (turn 1)", "what number?"]
    assert sent[2][:4] == sent[1] and sent[2][-2:] == ["You said: what number? (turn 2)", "and now?"]


async def test_two_calls_on_one_conversation_on_two_servers_take_turns(deepseek: FakeUpstream, store: str) -> None:
    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_STATE": store})
    async with _servers(2, settings) as (one, two):
        convo = _out(await one.call_tool("chat", {"prompt": "start"}))["conversation_id"]
        deepseek.script(Reply(content="slow answer", token_delay=0.2), Reply(content="quick answer"))

        async def ask(client: Client, prompt: str) -> None:
            await client.call_tool("chat", {"prompt": prompt, "conversation_id": convo})

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ask, one, "A")
                assert await _sent(deepseek, 2)  # A has been sent: B must now wait for its answer
                tg.start_soon(ask, two, "B")
    later = [m["content"] for m in deepseek.chat_requests()[2].json["messages"]]
    assert later == ["start", "You said: start (turn 1)", "A", "slow answer", "B"]


def _budget_for(calls: float, settings: Settings, prompt: str, max_tokens: int) -> float:
    route = Router(settings).route("chat")
    each = budgets.estimate(route, [{"role": "user", "content": prompt}], max_tokens, thinking=False)
    assert each is not None
    return calls * each


async def test_twenty_calls_at_once_on_two_servers_against_a_budget_for_ten_let_at_most_ten_through(
    deepseek: FakeUpstream, store: str
) -> None:
    prompt, max_tokens = "count to four hundred", 100
    probe = make_settings(deepseek)
    budget = _budget_for(10.5, probe, prompt, max_tokens)
    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_STATE": store, "DEEPSEEK_MCP_DAILY_BUDGET": repr(budget)})
    # Each answer costs more than its estimate (400 tokens against max_tokens 100), so a call that ends early
    # leaves less room, never more: the count below cannot depend on timing.
    deepseek.script(*[Reply(content="word " * 400, token_delay=0.001) for _ in range(20)])
    results: list[CallToolResult] = []
    async with _servers(2, settings) as servers:

        async def ask(n: int) -> None:
            results.append(await servers[n % 2].call_tool("chat", {"prompt": prompt, "max_tokens": max_tokens}))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for n in range(20):
                    tg.start_soon(ask, n)
        spent = _out(await servers[0].call_tool("balance", {}))["spent"]
    refused = [_text(r) for r in results if r.is_error]
    assert 1 <= 20 - len(refused) <= 10 and len(deepseek.chat_requests()) == 20 - len(refused)
    assert all("DEEPSEEK_MCP_DAILY_BUDGET" in text and "00:00 UTC" in text for text in refused)
    assert spent["today"]["calls"] == 20 - len(refused) and spent["today"]["by_tool"]["chat"]["usd"] > 0


async def test_a_call_whose_estimate_passes_the_per_call_limit_is_refused_before_sending(
    deepseek: FakeUpstream,
) -> None:
    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_MAX_COST_PER_CALL": "0.001"})
    async with connect(settings) as client:
        big = await client.call_tool("chat", {"prompt": "hi", "max_tokens": 100_000})
        small = await client.call_tool("chat", {"prompt": "hi", "max_tokens": 100})
    assert big.is_error and "DEEPSEEK_MCP_MAX_COST_PER_CALL" in _text(big) and "max_tokens" in _text(big)
    assert not small.is_error and len(deepseek.chat_requests()) == 1


async def test_balance_shows_spending_today_by_tool_and_what_the_prefix_cache_saved(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek, env={"DEEPSEEK_MCP_DAILY_BUDGET": "5"})) as client:
        system = "You are a careful reviewer. " * 200  # a long shared prefix: the fake's cache serves it again
        first = await client.call_tool("chat", {"prompt": "one", "system": system})
        await client.call_tool("chat", {"prompt": "two", "system": system})
        await client.call_tool("reason", {"prompt": "three"})
        shown = await client.call_tool("balance", {})
    spent = _out(shown)["spent"]
    today = spent["today"]
    chat_cost = _out(first)["cost"]["usd"]
    assert today["calls"] == 3 and set(today["by_tool"]) == {"chat", "reason"}
    assert today["by_tool"]["chat"]["calls"] == 2 and today["by_tool"]["chat"]["usd"] >= chat_cost > 0
    assert today["cache_saved_usd"] > 0 and spent["month"]["usd"] == pytest.approx(today["usd"])
    assert "the prefix cache saved $" in _text(shown) and "daily budget $5" in _text(shown)


async def test_the_system_prompt_is_counted_in_the_conversation_bounds(deepseek: FakeUpstream) -> None:
    # 20 conversations with a 10,000-character system prompt each hold 200 KB; the bound is 64 KiB.
    limits = Limits(conversations_total_bytes=64 * 1024)
    async with connect(make_settings(deepseek, limits=limits)) as client:
        ids = []
        for n in range(20):
            result = await client.call_tool("chat", {"prompt": f"q{n}", "system": "s" * 10_000})
            ids.append(_out(result)["conversation_id"])
        oldest = await client.call_tool("chat", {"prompt": "again", "conversation_id": ids[0]})
        newest = await client.call_tool("chat", {"prompt": "again", "conversation_id": ids[-1]})
    assert oldest.is_error and "unknown or has expired" in _text(oldest)
    assert not newest.is_error and deepseek.chat_requests()[-1].json["messages"][0]["content"] == "s" * 10_000


async def test_redis_killed_mid_call_gives_the_answer_and_the_next_call_says_the_turn_was_not_kept(
    deepseek: FakeUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with redis_server(tmp_path) as server:
        settings = make_settings(deepseek, env={"DEEPSEEK_MCP_STATE": server.url})
        async with connect(settings) as client:
            convo = _out(await client.call_tool("chat", {"prompt": "start"}))["conversation_id"]
            deepseek.script(Reply(content="answer while redis dies", token_delay=0.2))
            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    results: list[CallToolResult] = []

                    async def ask() -> None:
                        results.append(await client.call_tool("chat", {"prompt": "go", "conversation_id": convo}))

                    tg.start_soon(ask)
                    assert await _sent(deepseek, 2)
                    server.kill()
                again = await client.call_tool("chat", {"prompt": "more", "conversation_id": convo})
                fresh = await client.call_tool("chat", {"prompt": "a new question"})
                fim = await client.call_tool("fim", {"prefix": "def f():"})
    mid = results[0]
    assert not mid.is_error and _out(mid)["answer"] == "answer while redis dies"
    # The turn is saved after its answer has gone out: the next call on the conversation says it was not kept, and
    # so does the log.
    assert again.is_error and "DEEPSEEK_MCP_STATE" in _text(again) and "last turn was not kept" in _text(again)
    assert any("was not kept after its answer" in r.getMessage() for r in caplog.records)
    assert not fresh.is_error and "DEEPSEEK_MCP_STATE" in " ".join(_out(fresh)["notices"])
    assert not fim.is_error


async def test_redis_down_at_start_refuses_budgeted_calls_naming_the_variable(deepseek: FakeUpstream) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        down = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    env = {"DEEPSEEK_MCP_STATE": down, "DEEPSEEK_MCP_DAILY_BUDGET": "5"}
    async with connect(make_settings(deepseek, env=env)) as client:
        with anyio.fail_after(20):
            chat = await client.call_tool("chat", {"prompt": "hi"})
            models = await client.call_tool("list_models", {})
    assert chat.is_error and "DEEPSEEK_MCP_STATE" in _text(chat) and down in _text(chat)
    assert not models.is_error and deepseek.chat_requests() == []


# --- replicas over HTTP ---------------------------------------------------------------------------------------


@asynccontextmanager
async def _client(url: str, token: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


async def test_two_http_replicas_on_one_redis_share_conversations_and_spending_per_token(
    deepseek: FakeUpstream, redis: RedisServer
) -> None:
    env = {**upstream_env(deepseek), "DEEPSEEK_MCP_HTTP_TOKEN": f"{ALICE},{BOB}", "DEEPSEEK_MCP_STATE": redis.url}
    with http_server(env) as one_url, http_server(env) as two_url:
        async with _client(one_url, ALICE) as alice_one, _client(two_url, ALICE) as alice_two:
            first = await alice_one.call_tool("chat", {"prompt": "secret plan"})
            convo = _out(first)["conversation_id"]
            again = await alice_two.call_tool("chat", {"prompt": "and then?", "conversation_id": convo})
            alice_spent = _out(await alice_two.call_tool("balance", {}))["spent"]
        async with _client(two_url, BOB) as bob:
            stolen = await bob.call_tool("chat", {"prompt": "what was it?", "conversation_id": convo})
            bob_spent = _out(await bob.call_tool("balance", {}))["spent"]
    assert not again.is_error and _text(again).endswith("(turn 2)")
    assert stolen.is_error and "unknown or has expired" in _text(stolen)
    assert alice_spent["today"]["calls"] == 2 and alice_spent["today"]["usd"] > 0
    assert bob_spent["today"]["calls"] == 0 and bob_spent["today"]["usd"] == 0  # stolen was refused before sending
    assert alice_spent["store"] == "redis"  # over HTTP a caller learns the kind of store, not its host


async def test_one_token_creating_many_conversations_cannot_push_out_another_tokens(
    deepseek: FakeUpstream, redis: RedisServer
) -> None:
    env = {**upstream_env(deepseek), "DEEPSEEK_MCP_HTTP_TOKEN": f"{ALICE},{BOB}", "DEEPSEEK_MCP_STATE": redis.url}
    with http_server(env) as url:
        async with _client(url, ALICE) as alice, _client(url, BOB) as bob:
            convo = _out(await alice.call_tool("chat", {"prompt": "keep me"}))["conversation_id"]

            async def flood(start: int) -> None:
                for n in range(start, 210, 10):  # past the 200 conversations the server keeps in all
                    await bob.call_tool("chat", {"prompt": f"flood {n}"})

            with anyio.fail_after(120):
                async with anyio.create_task_group() as tg:
                    for start in range(10):
                        tg.start_soon(flood, start)
            kept = await alice.call_tool("chat", {"prompt": "still there?", "conversation_id": convo})
    assert not kept.is_error, _text(kept)
    assert deepseek.chat_requests()[-1].json["messages"][1]["content"] == "You said: keep me (turn 1)"


async def test_every_paid_tool_records_its_cost_and_a_spent_day_refuses_each_of_them(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    from tests.samples import png

    (tmp_path / "shot.png").write_bytes(png((200, 100)))
    # $0.0018: the search and the fetch ($0.00075 each), a short fim and one OCR page ($0.000225, held before its
    # upload like every estimate) fit it; after them no search, page or long fim does.
    async with connect(make_settings(deepseek, env={"DEEPSEEK_MCP_DAILY_BUDGET": "0.0018"})) as client:
        await client.call_tool("fim", {"prefix": "def f():", "max_tokens": 50})
        await client.call_tool("web_search", {"query": "mcp"})
        await client.call_tool("web_fetch", {"url": "https://example.com/"})
        await client.call_tool("ocr", {"source": str(tmp_path / "shot.png")})
        spent = _out(await client.call_tool("balance", {}))["spent"]["today"]
        refused = {
            name: await client.call_tool(name, arguments)
            for name, arguments in (
                ("web_search", {"query": "mcp"}),
                ("ocr", {"source": str(tmp_path / "shot.png")}),
                ("fim", {"prefix": "x = ", "max_tokens": 4096}),
            )
        }
    assert set(spent["by_tool"]) == {"fim", "web_search", "web_fetch", "ocr"}
    assert spent["by_tool"]["web_fetch"]["usd"] == pytest.approx(0.00075)
    assert all(r.is_error and "DEEPSEEK_MCP_DAILY_BUDGET" in _text(r) for r in refused.values())
    assert len(deepseek.tool_requests("ocr")) == 1 and len(deepseek.tool_requests("search")) == 1


async def test_two_calls_on_one_conversation_on_two_http_replicas_never_interleave(
    deepseek: FakeUpstream, redis: RedisServer
) -> None:
    env = {**upstream_env(deepseek), "DEEPSEEK_MCP_HTTP_TOKEN": ALICE, "DEEPSEEK_MCP_STATE": redis.url}
    with http_server(env) as one_url, http_server(env) as two_url:
        async with _client(one_url, ALICE) as one, _client(two_url, ALICE) as two:
            convo = _out(await one.call_tool("chat", {"prompt": "start"}))["conversation_id"]
            deepseek.script(Reply(content="slow answer", token_delay=0.2), Reply(content="quick answer"))
            results: dict[str, CallToolResult] = {}

            async def ask(client: Client, prompt: str) -> None:
                results[prompt] = await client.call_tool("chat", {"prompt": prompt, "conversation_id": convo})

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(ask, one, "A")
                    assert await _sent(deepseek, 2)  # A is with the model: B, on the other replica, must wait
                    tg.start_soon(ask, two, "B")
    later = [m["content"] for m in deepseek.chat_requests()[2].json["messages"]]
    assert later == ["start", "You said: start (turn 1)", "A", "slow answer", "B"]
    assert not results["A"].is_error and _out(results["B"])["answer"] == "quick answer"
