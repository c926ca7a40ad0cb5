"""Compressed upstream bodies (issue 17): httpx2 inflates gzip and deflate in pieces of at most 1 MiB as they are
read, and every byte cap of the upstream client counts the inflated bytes, so a gzip bomb costs no more than the
cap it passes. A body that does not inflate is an upstream error naming the cause, not a crash."""

from __future__ import annotations

import gzip
import tracemalloc

import pytest
from mcp.types import TextContent

from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream, Reply

pytestmark = pytest.mark.anyio

ZEROS = 200 * 2**20  # inflated size of the bomb: far past every cap
BOMB = gzip.compress(b"0" * ZEROS, compresslevel=9)  # about 200 KB on the wire
GZIP = {"Content-Encoding": "gzip"}


def _text(result: object) -> str:
    return "\n".join(b.text for b in getattr(result, "content", []) if isinstance(b, TextContent))


@pytest.mark.parametrize(
    ("content_type", "says"),
    [
        ("application/json", "with a body over 16 MiB"),
        ("text/event-stream", "one line of the stream passed 16 MiB"),
    ],
)
async def test_a_gzip_bomb_stops_at_the_cap_on_inflated_bytes_without_inflating_it_whole(
    deepseek: FakeUpstream, content_type: str, says: str
) -> None:
    deepseek.script(Reply(body=BOMB, content_type=content_type, headers=GZIP))
    async with connect(make_settings(deepseek, max_retries=0)) as client:
        tracemalloc.start()
        try:
            result = await client.call_tool("chat", {"prompt": "hi"})
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        after = await client.call_tool("chat", {"prompt": "still serving?"})
    assert len(BOMB) < 2**20 and result.is_error and says in _text(result), _text(result)
    assert peak < 40 * 2**20, f"{peak / 2**20:.0f} MiB held for a bomb of {ZEROS // 2**20} MiB"
    assert not after.is_error


async def test_a_body_that_does_not_inflate_is_an_upstream_error_not_a_crash(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(body=b"\x1f\x8b\x08\x00 this is not gzip", content_type="application/json", headers=GZIP))
    async with connect(make_settings(deepseek, max_retries=0)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    assert result.is_error and "DeepSeek: the body does not decompress" in _text(result), _text(result)
    assert "inside deepseek-mcp" not in _text(result)
