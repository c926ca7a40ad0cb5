"""A large OCR answer (issue 17, item 5): parsed, validated and serialised off the event loop, so other calls go on
meanwhile, and delivered in parts a host can take: the first pages inline (about 20K tokens), the rest as resources
the caller reads with resources/read."""

from __future__ import annotations

import base64
import itertools
import json
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, ResourceLink, TextContent, TextResourceContents

from mcp_server.tools.ocr.parts import INLINE_CHARS, ResultStore
from tests.conftest import connect, make_settings, upstream_env
from tests.fake.ocr_answers import big_ocr_answer
from tests.fake_upstream import FakeUpstream, Reply
from tests.samples import blank_pdf
from tests.test_http_and_cli import ALICE, BOB, http_server

pytestmark = pytest.mark.anyio
PAGES, BOXES = 1000, 400


async def test_a_thousand_page_answer_leaves_other_calls_running_and_comes_in_parts(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "long.pdf").write_bytes(blank_pdf(72, 72, pages=PAGES))
    body = big_ocr_answer(PAGES, BOXES)
    deepseek.script(Reply(path="/v1/tools/ocr", body=body, content_type="application/json"))
    ticks: list[float] = []
    done: list[CallToolResult] = []
    async with connect(make_settings(deepseek)) as client:

        async def read() -> None:
            done.append(await client.call_tool("ocr", {"source": str(tmp_path / "long.pdf")}))

        async def tick() -> None:
            while not done:
                await client.call_tool("list_models", {})
                ticks.append(time.monotonic())

        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                tg.start_soon(tick)
        answered = time.monotonic()
        result = done[0]
        assert not result.is_error, result.content
        out = result.structured_content
        assert out is not None
        parts = [tuple(r) for r in out["parts"]]
        first = await client.read_resource(out["parts_uri"].format(part=1))
        last = await client.read_resource(out["parts_uri"].format(part=len(parts)))
        with pytest.raises(Exception, match="not held"):
            await client.read_resource(
                out["parts_uri"].replace(out["parts_uri"].split("/")[3], "0" * 24).format(part=1)
            )
    (upload,) = deepseek.tool_requests("ocr")
    assert upload.finished is not None
    during = [t for t in ticks if upload.finished < t < answered]
    assert len(during) >= 5, f"{len(during)} other calls answered while the OCR answer was processed"
    text = "\n".join(b.text for b in result.content if isinstance(b, TextContent))
    assert len(text) <= 2 * INLINE_CHARS
    inline = [p["page"] for p in out["pages"]]
    assert inline == list(range(1, len(inline) + 1)) and parts[0][0] == inline[-1] + 1 and parts[-1][1] == PAGES
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(parts))
    links = [b for b in result.content if isinstance(b, ResourceLink)]
    assert links and str(links[0].uri) == out["parts_uri"].format(part=1)
    assert "resources/read" in text
    for contents, (start, end) in ((first, parts[0]), (last, parts[-1])):
        (item,) = contents.contents
        assert isinstance(item, TextResourceContents)
        pages = json.loads(item.text)["pages"]
        assert [p["page"] for p in pages] == list(range(start, end + 1))
        assert len(pages[0]["boxes"]) == BOXES


def test_parts_are_held_for_their_caller_only_and_within_the_byte_bound() -> None:
    store = ResultStore(owner_bytes=100, total_bytes=150)
    alice, kept = store.put("alice", ["a" * 40, "b" * 40, "c" * 40])
    assert kept == 2 and store.get("alice", alice, 2) == "b" * 40 and store.get("bob", alice, 1) is None
    second, _ = store.put("alice", ["d" * 60])
    assert store.get("alice", alice, 1) is None and store.get("alice", second, 1) == "d" * 60  # her oldest went
    bob, _ = store.put("bob", ["e" * 100])
    assert store.size <= 150 and store.get("bob", bob, 1) == "e" * 100


def test_a_first_page_too_long_to_show_whole_is_clipped_inline_and_whole_in_part_one() -> None:
    from mcp_server.tools.ocr.parts import split_pages
    from mcp_server.tools.ocr.results import page_out

    long = page_out(1, "word " * INLINE_CHARS, (100, 100), (100, 100), True, "stop")
    short = page_out(2, "the end", (100, 100), (100, 100), True, "stop")
    split = split_pages([long, short])
    assert split.clipped == 1 and len(split.inline) == 1 and len(split.inline[0].markdown) == INLINE_CHARS
    assert split.ranges == [(1, 1), (2, 2)] and len(json.loads(split.parts[0])["pages"][0]["markdown"]) > INLINE_CHARS


async def test_over_http_the_parts_are_read_by_the_token_that_made_them_and_by_no_other(
    deepseek: FakeUpstream,
) -> None:
    source = "data:application/pdf;base64," + base64.b64encode(blank_pdf(72, 72, pages=20)).decode()
    deepseek.script(Reply(path="/v1/tools/ocr", body=big_ocr_answer(20, 400), content_type="application/json"))
    env = {**upstream_env(deepseek), "DEEPSEEK_MCP_HTTP_TOKEN": f"{ALICE},{BOB}"}
    with http_server(env) as url:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {ALICE}"}) as alice_http,
            Client(streamable_http_client(url, http_client=alice_http)) as alice,
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {BOB}"}) as bob_http,
            Client(streamable_http_client(url, http_client=bob_http)) as bob,
        ):
            result = await alice.call_tool("ocr", {"source": source})
            assert not result.is_error, result.content
            out = result.structured_content
            assert out is not None and out["parts"]
            uri = out["parts_uri"].format(part=1)
            mine = await alice.read_resource(uri)
            with pytest.raises(Exception, match="not held"):
                await bob.read_resource(uri)
    (item,) = mine.contents
    assert isinstance(item, TextResourceContents) and json.loads(item.text)["pages"][0]["page"] == out["parts"][0][0]
