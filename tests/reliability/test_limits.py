"""Limits, at their documented defaults and one past them, over stdio.

Largest prompt (1,000,000 characters), largest OCR source (32 MiB), pages per call (50, three in flight),
conversations kept (200, 50 turns each), concurrent upstream requests (64). At the limit the call goes through; one
past it, the call is refused with the limit named and nothing is sent upstream.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_server import media
from mcp_server.core.config import MAX_PROMPT_CHARS, Limits
from tests.conftest import ATLAS_KEY, DEEPSEEK_KEY
from tests.fake_upstream import OCR_MODEL, FakeUpstream, Reply
from tests.reliability.conftest import StdioServer, peak_in_flight, server_env, stdio_server, text_of
from tests.samples import pdf, png

pytestmark = pytest.mark.reliability

MIB = 2**20


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream("deepseek", DEEPSEEK_KEY) as deepseek, FakeUpstream("atlas", ATLAS_KEY) as atlas:
        yield deepseek, atlas


@pytest.fixture(scope="module")
def server(upstreams: tuple[FakeUpstream, FakeUpstream], workdir: Path) -> Iterator[StdioServer]:
    with stdio_server(server_env(*upstreams), workdir) as live:  # every limit at its default
        yield live


@pytest.fixture(autouse=True)
def fresh(upstreams: tuple[FakeUpstream, FakeUpstream], server: StdioServer) -> Iterator[None]:
    for fake in upstreams:
        fake.reset()
    yield
    server.assert_nothing_leaked()


def test_the_defaults_are_the_documented_figures() -> None:
    limits, sources = Limits(), media.Limits()
    assert MAX_PROMPT_CHARS == 1_000_000 and sources.max_source_bytes == 32 * MIB and sources.max_pages == 50
    assert (limits.conversations, limits.conversation_turns, limits.max_concurrent_upstream) == (200, 50, 64)
    assert (limits.ocr_concurrency, limits.render_workers) == (8, min(os.cpu_count() or 1, 8))


@pytest.mark.parametrize(
    ("tool", "field", "extra"),
    [
        ("chat", "prompt", {}),
        ("chat", "system", {"prompt": "hi"}),
        ("fim", "prefix", {}),
        ("fim", "suffix", {"prefix": "a"}),
    ],
)
def test_a_prompt_of_a_million_characters_is_sent_and_one_more_is_refused_unsent(
    tool: str, field: str, extra: dict[str, Any], upstreams: tuple[FakeUpstream, FakeUpstream], server: StdioServer
) -> None:
    deepseek, _ = upstreams
    deepseek.script(Reply(content="read it all"))
    at_limit = server.call(tool, {**extra, field: "x" * MAX_PROMPT_CHARS})
    assert not at_limit.is_error and text_of(at_limit) == "read it all", text_of(at_limit)[:300]
    sent = deepseek.requests[0].body
    assert sent.count(b"x" * 1000) >= MAX_PROMPT_CHARS // 1000
    over = server.call(tool, {**extra, field: "x" * (MAX_PROMPT_CHARS + 1)})
    assert over.is_error and f"at most {MAX_PROMPT_CHARS} characters" in text_of(over), text_of(over)[:300]
    assert len(text_of(over)) < 2_000 and len(deepseek.requests) == 1


def test_a_32_mib_source_is_read_and_one_byte_more_is_refused_unsent(
    upstreams: tuple[FakeUpstream, FakeUpstream], server: StdioServer, workdir: Path
) -> None:
    _, atlas = upstreams
    image = png((200, 100))
    limit = media.Limits().max_source_bytes
    at_limit, over = workdir / "at-limit.png", workdir / "over-limit.png"
    at_limit.write_bytes(image + b"\0" * (limit - len(image)))  # PNG readers stop at IEND; the rest is padding
    over.write_bytes(image + b"\0" * (limit + 1 - len(image)))
    # DeepSeek-OCR through chat, named: with a DeepSeek key the OCR API would take up to 100 MiB (test_ocr_api.py).
    read = server.call("ocr", {"source": str(at_limit), "mode": "text", "model": OCR_MODEL})
    assert not read.is_error and "Page of image 200x100" in text_of(read), text_of(read)
    assert len(atlas.chat_requests()) == 1
    refused = server.call("ocr", {"source": str(over), "model": OCR_MODEL})
    assert refused.is_error and "is 33,554,433 bytes; the limit is 33,554,432 bytes (32.0 MiB)" in text_of(refused)
    assert len(atlas.chat_requests()) == 1


def test_fifty_pages_go_eight_at_a_time_and_fifty_one_are_refused_unsent(
    upstreams: tuple[FakeUpstream, FakeUpstream], server: StdioServer, workdir: Path
) -> None:
    _, atlas = upstreams
    document = workdir / "fifty-one.pdf"
    document.write_bytes(pdf(*([30] * 51)))
    # Each page is held long enough for the renderers to have the next eight ready, even on a loaded machine.
    atlas.script(*[Reply(content="page text", stall_before_headers=0.3, path="/chat/completions")] * 50)
    for pages in (None, "1-51"):
        named = {"source": str(document), "model": OCR_MODEL, **({"pages": pages} if pages else {})}
        refused = server.call("ocr", named)
        assert refused.is_error and "50" in text_of(refused), text_of(refused)
    assert not atlas.requests
    read = server.call("ocr", {"source": str(document), "pages": "2-51", "mode": "text", "model": OCR_MODEL})
    assert not read.is_error, text_of(read)
    assert text_of(read).count("<!-- page ") == 50 and "<!-- page 51 -->\npage text" in text_of(read)
    assert len(atlas.chat_requests()) == 50 and peak_in_flight(atlas) == Limits().ocr_concurrency


def test_two_hundred_conversations_are_kept_and_the_oldest_goes_first(server: StdioServer) -> None:
    ids = [server.call("chat", {"prompt": f"open {n}"}).structured_content["conversation_id"] for n in range(201)]  # type: ignore[index]
    oldest = server.call("chat", {"prompt": "back", "conversation_id": ids[0]})
    second = server.call("chat", {"prompt": "back", "conversation_id": ids[1]})
    assert oldest.is_error and "is unknown or has expired" in text_of(oldest) and "200 at most" in text_of(oldest)
    assert not second.is_error and text_of(second) == "You said: back (turn 2)"


def test_a_conversation_keeps_its_last_fifty_turns(
    upstreams: tuple[FakeUpstream, FakeUpstream], server: StdioServer
) -> None:
    deepseek, _ = upstreams
    first = server.call("chat", {"prompt": "turn 1"})
    conversation = first.structured_content["conversation_id"]  # type: ignore[index]
    for n in range(2, 53):
        server.call("chat", {"prompt": f"turn {n}", "conversation_id": conversation})
    messages = deepseek.chat_requests()[-1].json["messages"]  # type: ignore[index]
    assert len(messages) == 2 * 50 + 1
    assert messages[0]["content"] == "turn 2" and messages[-1]["content"] == "turn 52"


async def _burst(server: StdioServer, calls: int) -> list[bool]:
    outcomes: list[bool] = []

    async def one(n: int) -> None:
        result = await server.acall("chat", {"prompt": f"burst {n}"}, within=30.0)
        outcomes.append(not result.is_error)

    async with anyio.create_task_group() as tg:
        for n in range(calls):
            tg.start_soon(one, n)
    return outcomes


def test_no_more_than_sixty_four_requests_go_upstream_at_once_and_the_rest_wait(
    upstreams: tuple[FakeUpstream, FakeUpstream], server: StdioServer
) -> None:
    deepseek, _ = upstreams
    deepseek.script(*[Reply(stall_before_headers=1.0)] * 70)
    started = time.monotonic()
    outcomes = server.run(_burst, server, 70)
    elapsed = time.monotonic() - started
    assert outcomes == [True] * 70
    assert peak_in_flight(deepseek) == 64 and len(deepseek.chat_requests()) == 70
    assert 2.0 <= elapsed < 5.0  # the last six waited for a slot, then stalled their own second


def test_deepseek_mcp_max_concurrency_lowers_the_ceiling(
    upstreams: tuple[FakeUpstream, FakeUpstream], tmp_path: Path
) -> None:
    deepseek, _ = upstreams
    deepseek.script(*[Reply(stall_before_headers=0.3)] * 12)
    with stdio_server(server_env(*upstreams, DEEPSEEK_MCP_MAX_CONCURRENCY="4"), tmp_path) as narrow:
        outcomes = narrow.run(_burst, narrow, 12)
    assert outcomes == [True] * 12 and peak_in_flight(deepseek) == 4
