"""A rendering worker that dies in the middle of a page (issue 24): the page needed more than the worker's memory,
or the worker was killed, so its pipe closes before the answer is whole. That page alone is lost, with a notice
naming it and why; the document's other pages are read. A worker that dies while starting fails with a message, not
as "a bug inside deepseek-mcp"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.types import TextContent

from mcp_server.media.renderer import Renderer
from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream
from tests.samples import heavy_pdf, pdf

pytestmark = pytest.mark.anyio

WORKER_MEMORY = 300 * 2**20  # a page of a million rectangles needs about 400 MB to render


def _text(result: Any) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


async def test_a_page_that_kills_its_worker_is_lost_alone_and_the_other_pages_are_read(
    atlas: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(Renderer.__init__.__kwdefaults__, "memory_limit", WORKER_MEMORY)
    (tmp_path / "plans.pdf").write_bytes(heavy_pdf(3, only=frozenset({2})))
    async with connect(make_settings(atlas=atlas)) as client:
        with anyio.fail_after(120):
            result = await client.call_tool("ocr", {"source": str(tmp_path / "plans.pdf")})
            again = await client.call_tool("ocr", {"source": str(tmp_path / "plans.pdf"), "pages": "3"})
    assert not result.is_error, _text(result)
    assert [p["page"] for p in result.structured_content["pages"]] == [1, 3]  # type: ignore[index]
    notice = next(n for n in result.structured_content["notices"] if "page 2 of" in n)  # type: ignore[index]
    assert "the renderer stopped on it" in notice and "more than 300 MiB" in notice, notice
    assert "the other pages were read" in notice and notice in _text(result)
    assert len(atlas.chat_requests()) == 3  # pages 1 and 3, then page 3 again on a fresh worker
    assert not again.is_error, _text(again)


async def test_a_worker_that_dies_while_starting_fails_the_call_with_a_message_not_as_a_bug(
    atlas: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(Renderer.__init__.__kwdefaults__, "memory_limit", 8 * 2**20)  # Python cannot start in 8 MiB
    (tmp_path / "one.pdf").write_bytes(pdf(100))
    async with connect(make_settings(atlas=atlas)) as client:
        with anyio.fail_after(60):
            result = await client.call_tool("ocr", {"source": str(tmp_path / "one.pdf")})
    assert result.is_error and "a rendering worker did not start" in _text(result), _text(result)
    assert "bug" not in _text(result)
