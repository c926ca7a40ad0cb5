"""web_search and web_fetch against the fake's Search and Fetch APIs: what was sent, what came back, and every
refusal made before sending (nothing reaches the fake)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp.types import TextContent

from mcp_server.tools.web import MAX_PAGE_CHARS
from tests.conftest import connect, make_settings, upstream_env
from tests.fake_upstream import FakeUpstream, Reply
from tests.test_stdio import server_params

pytestmark = pytest.mark.anyio


def _texts(result: Any) -> list[str]:
    return [b.text for b in result.content if isinstance(b, TextContent)]


def _sent(fake: FakeUpstream, name: str) -> list[Any]:
    return [json.loads(r.body) for r in fake.tool_requests(name)]


async def test_a_search_sends_the_query_as_written_and_returns_results_structured_and_numbered(
    deepseek: FakeUpstream, mode: str
) -> None:
    query = 'ocr "layout boxes" site:example.com -site:spam.example lang:en after:2026-01-01 before:2026-12-01'
    async with connect(make_settings(deepseek), mode) as client:
        result = await client.call_tool("web_search", {"query": query, "count": 3, "need_content": True})
    assert not result.is_error, _texts(result)
    assert _sent(deepseek, "search") == [{"query": query, "count": 3, "need_content": True}]
    out = result.structured_content
    assert out is not None and len(out["results"]) == 3
    first = out["results"][0]
    assert first["title"] == f"Result 1 for {query}" and first["url"].startswith("https://example.com/")
    assert first["summary"].startswith("Summary 1") and first["snippet"].startswith("Snippet 1")
    assert (first["site"], first["date"], first["rerank_score"], first["authority"]) == (
        "Example 1",
        "2026-10-20T08:00:00+00:00",
        2.8,
        3,
    )
    assert first["content"].startswith("# Result 1")
    assert out["cost"] == {
        "usd": pytest.approx(0.00075),
        "estimate": True,
        "basis": "DeepSeek Search API, $0.75 per 1,000 successful calls (prices of 2026-11-15)",
    }
    text = _texts(result)[0]
    assert text.startswith("1. Summary 1") and "\n\n2. Summary 2" in text and "\n\n3. Summary 3" in text
    assert text.index("Summary 1") < text.index(f"Result 1 for {query}") < text.index(first["url"])


async def test_a_search_by_default_asks_ten_results_without_page_text(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("web_search", {"query": "deepseek ocr"})
    assert _sent(deepseek, "search") == [{"query": "deepseek ocr", "count": 10}]
    assert [r["content"] for r in result.structured_content["results"]] == [None] * 10  # type: ignore[index]


async def test_no_results_cost_nothing_and_say_so(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(results=[]))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("web_search", {"query": "zzqx nothing"})
    out = result.structured_content
    assert out is not None and out["results"] == [] and out["cost"]["usd"] == 0
    assert "not billed" in out["cost"]["basis"] and "no results" in out["notices"][0]
    assert _texts(result) == ["No results.", out["notices"][0]]


async def test_long_page_text_in_search_results_is_cut_and_the_cut_is_said(deepseek: FakeUpstream) -> None:
    row = {"title": "t", "url": "https://example.com/", "snippet": "s", "summary": "m", "content": "y" * 100_000}
    deepseek.script(Reply(results=[row, row]))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("web_search", {"query": "big", "need_content": True})
    out = result.structured_content
    assert out is not None and [len(r["content"]) for r in out["results"]] == [30_000, 30_000]
    assert "2 results' page text was cut to 30,000 characters" in out["notices"][0]


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"query": ""}, "empty or only whitespace"),
        ({"query": " \t\n "}, "empty or only whitespace"),
        ({"query": "x" * 129}, "128"),
        ({"query": "ocr", "count": 0}, "count"),
        ({"query": "ocr", "count": 51}, "count"),
        ({"query": "ocr", "need_content": "lots"}, "need_content"),
        ({}, "query"),
    ],
)
async def test_a_bad_search_is_refused_before_sending(
    deepseek: FakeUpstream, arguments: dict[str, Any], says: str
) -> None:
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("web_search", arguments)
        fine = await client.call_tool("web_search", {"query": "中" * 128, "count": 50})
    assert result.is_error and says in _texts(result)[0], _texts(result)
    assert not fine.is_error and len(deepseek.tool_requests("search")) == 1


async def test_search_errors_from_deepseek_are_clear_and_429_is_retried(deepseek: FakeUpstream) -> None:
    deepseek.script(
        Reply(status=400, error="`query` must be 1 to 128 characters and not only whitespace"),
        Reply(status=429, headers={"Retry-After": "0"}),
        Reply(),  # the retry's answer
        Reply(status=401),
    )
    async with connect(make_settings(deepseek)) as client:
        refused = await client.call_tool("web_search", {"query": "a"})
        retried = await client.call_tool("web_search", {"query": "b"})
        key = await client.call_tool("web_search", {"query": "c"})
    assert refused.is_error and "refused the request (`query` must be 1 to 128" in _texts(refused)[0]
    assert not retried.is_error
    assert key.is_error and "DEEPSEEK_API_KEY" in _texts(key)[0]
    assert len(deepseek.tool_requests("search")) == 4


async def test_a_fetch_returns_the_page_as_markdown_fetched_by_deepseek(deepseek: FakeUpstream, mode: str) -> None:
    async with connect(make_settings(deepseek), mode) as client:
        result = await client.call_tool("web_fetch", {"url": "https://example.com/docs/page?x=1#top"})
    assert not result.is_error, _texts(result)
    assert _sent(deepseek, "fetch") == [{"url": "https://example.com/docs/page?x=1#top"}]
    out = result.structured_content
    assert out is not None and out["title"] == "Page at example.com"
    assert out["markdown"] == "# Page at example.com\n\nThe body of https://example.com/docs/page?x=1#top, as Markdown."
    assert out["total_chars"] == len(out["markdown"]) and out["notices"] == []
    assert out["cost"]["usd"] == pytest.approx(0.00075) and "Fetch API" in out["cost"]["basis"]
    assert _texts(result) == [out["markdown"]]  # the page already opens with its title


async def test_a_page_without_a_heading_gets_its_title_in_the_text(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(title="Plain page", content="Just words."))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("web_fetch", {"url": "http://example.org/"})
    assert _texts(result) == ["# Plain page\n\nJust words."]


async def test_a_long_page_is_cut_in_the_result_with_a_notice(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(content="w" * 200_000))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("web_fetch", {"url": "https://example.com/long"})
    out = result.structured_content
    assert out is not None and len(out["markdown"]) == MAX_PAGE_CHARS and out["total_chars"] == 200_000
    assert out["notices"] == [
        "the page has 200,000 characters; only the first 60,000 are returned (the rest was cut here, not by DeepSeek)"
    ]
    assert _texts(result)[-1] == out["notices"][0]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("file:///etc/passwd", "file: URLs cannot be fetched"),
        ("ftp://example.com/a.txt", "ftp: URLs cannot be fetched"),
        ("javascript:alert(1)", "javascript: URLs cannot be fetched"),
        ("data:text/html,<b>hi</b>", "data: URLs cannot be fetched"),
        ("example.com/page", "without a scheme"),
        ("https://", "no host"),
        ("https://exa mple.com/", "spaces"),
        ("https://user:secret@example.com/", "user name or password"),
        ("https://[::1/", "not valid"),
        ("https://example.com/" + "x" * 8192, "8192"),
        ("", "without a scheme"),
    ],
)
async def test_a_url_that_is_not_http_is_refused_before_sending(deepseek: FakeUpstream, url: str, says: str) -> None:
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("web_fetch", {"url": url})
        longest = await client.call_tool("web_fetch", {"url": "https://example.com/" + "x" * (8192 - 20)})
    assert result.is_error and says in _texts(result)[0], _texts(result)
    assert "secret" not in _texts(result)[0]
    assert not longest.is_error and len(deepseek.tool_requests("fetch")) == 1


async def test_a_page_deepseek_cannot_get_is_explained_as_the_page_not_the_base_url(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(status=404, error="failed to fetch URL"))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("web_fetch", {"url": "https://example.com/gone"})
    assert result.is_error and "could not get that page (failed to fetch URL)" in _texts(result)[0]
    assert "base URL" not in _texts(result)[0]


@pytest.mark.parametrize("tool", ["web_search", "web_fetch"])
async def test_without_a_deepseek_key_both_say_to_set_it(atlas: FakeUpstream, tool: str) -> None:
    arguments = {"query": "x"} if tool == "web_search" else {"url": "https://example.com/"}
    async with connect(make_settings(atlas=atlas)) as client:
        with_atlas = await client.call_tool(tool, arguments)
    async with connect(make_settings()) as client:
        with_nothing = await client.call_tool(tool, arguments)
    for result in (with_atlas, with_nothing):
        assert result.is_error and "set DEEPSEEK_API_KEY" in _texts(result)[0]
    assert atlas.requests == []


async def test_both_are_read_only_and_open_world_with_output_schemas(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    for name, fields in [("web_search", ["results", "cost", "notices"]), ("web_fetch", ["url", "title", "markdown"])]:
        tool = tools[name]
        assert tool.annotations is not None and tool.annotations.read_only_hint and tool.annotations.open_world_hint
        assert tool.output_schema is not None and set(fields) <= set(tool.output_schema["required"])
    assert "site:" in (tools["web_search"].description or "") and "lang:" in (tools["web_search"].description or "")


async def test_search_and_fetch_over_the_installed_stdio_server(deepseek: FakeUpstream, tmp_path: Path) -> None:
    with (tmp_path / "stderr.txt").open("w") as err:
        async with Client(stdio_client(server_params(upstream_env(deepseek)), errlog=err)) as client:
            found = await client.call_tool("web_search", {"query": "mcp servers", "count": 2})
            page = await client.call_tool("web_fetch", {"url": "https://example.com/a"})
            refused = await client.call_tool("web_fetch", {"url": "file:///etc/hosts"})
    assert not found.is_error and len(found.structured_content["results"]) == 2  # type: ignore[index]
    assert not page.is_error and page.structured_content["title"] == "Page at example.com"  # type: ignore[index]
    assert refused.is_error and len(deepseek.requests) == 2
