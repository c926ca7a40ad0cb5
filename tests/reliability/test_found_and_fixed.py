"""Bugs this suite found, each pinned by the smallest test that shows it.

1. Every streamed call opened a new upstream connection: the client stopped reading at `[DONE]`, before the body's
   last chunk, so the pool had to close the connection instead of keeping it (a TCP and TLS handshake per call).
2. An OCR refusal quoted the caller's path, page selection or URL scheme whole: a 64 KiB path came back as a 64 KiB
   error, into the assistant's context.
3. One byte over the 32 MiB source limit was reported as "is 32.0 MiB; the limit is 32.0 MiB" (pinned in
   test_limits.py, which reads a file at the limit and one a byte past it).
4. `system` had no length limit, so the 1,000,000-character prompt limit could be sidestepped.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from mcp_server.core.config import MAX_PROMPT_CHARS
from mcp_server.upstream import client as client_module
from mcp_server.upstream.client import UpstreamClient
from mcp_server.upstream.providers import Router
from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]

CHUNK = {"model": "m", "choices": [{"index": 0, "delta": {"content": "the whole answer"}, "finish_reason": "stop"}]}


async def test_streamed_calls_reuse_one_pooled_connection(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek)) as client:
        for n in range(3):
            result = await client.call_tool("chat", {"prompt": f"call {n}"})
            assert not result.is_error
        await client.call_tool("fim", {"prefix": "def f("})
    assert [r.connection for r in deepseek.requests] == [1, 1, 1, 1]


@asynccontextmanager
async def _raw_upstream(after_done: str) -> AsyncIterator[str]:
    """An upstream that sends one complete SSE answer and `[DONE]`, then cuts the body or leaves it open."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        events = [f"data: {json.dumps(CHUNK)}\n\n".encode(), b"data: [DONE]\n\n"]
        writer.write(head + b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events))
        await writer.drain()
        if after_done == "cut":
            writer.transport.abort()
        else:
            await reader.read()  # silent, body unfinished, until the client leaves
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


@pytest.mark.parametrize("after_done", ["cut", "left open"])
async def test_a_body_cut_or_left_open_after_done_still_gives_the_answer_promptly(
    after_done: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "_DRAIN_SECONDS", 0.2)
    async with _raw_upstream(after_done) as url:
        settings = make_settings(env={"DEEPSEEK_API_KEY": "k", "DEEPSEEK_BASE_URL": url, "DEEPSEEK_MCP_TIMEOUT": "5"})
        upstream = UpstreamClient(settings)
        provider = Router(settings).providers[0]
        started = time.monotonic()
        try:
            completion = await upstream.stream(provider, provider.url("chat/completions"), {"model": "m"})
        finally:
            await upstream.aclose()
    assert completion.content == "the whole answer" and completion.finish_reason == "stop"
    assert time.monotonic() - started < 1.0


async def test_ocr_refusals_quote_a_huge_argument_only_in_part(deepseek: FakeUpstream, tmp_path: Path) -> None:
    page = tmp_path / "page.pdf"
    page.write_bytes(b"%PDF-1.4\n")
    async with connect(make_settings(deepseek)) as client:
        results = [
            await client.call_tool("ocr", {"source": "missing-" + "p" * 70_000}),
            await client.call_tool("ocr", {"source": "z" * 70_000 + "://x"}),
            await client.call_tool("ocr", {"source": "https://example.com/a.png", "pages": "1," * 40_000 + "x"}),
        ]
    texts = [r.content[0].text for r in results if r.content[0].type == "text"]
    assert all(r.is_error for r in results) and len(texts) == 3
    assert all(len(text) < 600 and "…" in text for text in texts), [t[:200] for t in texts]
    assert not deepseek.requests


async def test_a_system_prompt_over_the_prompt_limit_is_refused_unsent(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "hi", "system": "s" * (MAX_PROMPT_CHARS + 1)})
    assert result.is_error and "system" in result.content[0].text and not deepseek.requests  # type: ignore[union-attr]
