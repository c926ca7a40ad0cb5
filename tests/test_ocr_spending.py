"""`ocr` under the spending limits (issue 24): estimated and held before anything is sent, like every other tool.
On the OCR API route the pages are known before the upload (a PDF's, an image's one; a Word or PowerPoint file is
held at the API's 1,000-page limit) and the hold is settled with the pages read; on the chat route each page image
is estimated at its prompt and output cap. DEEPSEEK_MCP_MAX_COST_PER_CALL applies, and concurrent calls cannot all
slip under the daily budget (10 calls on a 1,000-page PDF recorded $2.25 against a $0.01 day)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.types import TextContent

from mcp_server.spending import pricing
from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream
from tests.samples import blank_pdf, docx, png

pytestmark = pytest.mark.anyio


def _text(result: Any) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


async def _spent_today(client: Any) -> dict[str, Any]:
    shown = await client.call_tool("balance", {})
    return (shown.structured_content or {})["spent"]["today"]  # type: ignore[no-any-return]


async def test_an_ocr_api_call_over_the_per_call_limit_is_refused_before_its_upload(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "long.pdf").write_bytes(blank_pdf(72, 72, pages=100))
    env = {"DEEPSEEK_MCP_MAX_COST_PER_CALL": "0.01"}
    async with connect(make_settings(deepseek, env=env)) as client:
        with anyio.fail_after(60):
            refused = await client.call_tool("ocr", {"source": str(tmp_path / "long.pdf")})
            some = await client.call_tool("ocr", {"source": str(tmp_path / "long.pdf"), "pages": "1-40"})
    assert refused.is_error and "estimated at $0.0225" in _text(refused), _text(refused)
    assert "DEEPSEEK_MCP_MAX_COST_PER_CALL" in _text(refused)
    assert not some.is_error, _text(some)
    assert len(deepseek.tool_requests("ocr")) == 1  # only the 40 pages went up


async def test_concurrent_ocr_api_calls_cannot_all_slip_under_the_daily_budget(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "long.pdf").write_bytes(blank_pdf(72, 72, pages=100))  # $0.0225 each
    env = {"DEEPSEEK_MCP_DAILY_BUDGET": "0.05"}
    results: list[Any] = []
    async with connect(make_settings(deepseek, env=env)) as client:

        async def read() -> None:
            results.append(await client.call_tool("ocr", {"source": str(tmp_path / "long.pdf")}))

        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for _ in range(10):
                    tg.start_soon(read)
            today = await _spent_today(client)
    passed = [r for r in results if not r.is_error]
    assert len(passed) == 2 and len(deepseek.tool_requests("ocr")) == 2
    assert all("daily budget is spent" in _text(r) for r in results if r.is_error)
    assert today["usd"] == pytest.approx(2 * pricing.ocr_pages(100).usd) and today["usd"] <= 0.05, today


async def test_a_word_file_is_held_at_the_apis_page_limit_and_settled_with_the_pages_it_had(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "memo.docx").write_bytes(docx("One.", "Two."))
    held_at_limit = pricing.ocr_pages(1000).usd  # $0.225: the API counts a Word file's pages, not this server
    async with connect(make_settings(deepseek, env={"DEEPSEEK_MCP_MAX_COST_PER_CALL": "0.2"})) as client:
        with anyio.fail_after(60):
            refused = await client.call_tool("ocr", {"source": str(tmp_path / "memo.docx")})
    async with connect(make_settings(deepseek, env={"DEEPSEEK_MCP_DAILY_BUDGET": "1"})) as client:
        with anyio.fail_after(60):
            read = await client.call_tool("ocr", {"source": str(tmp_path / "memo.docx")})
            today = await _spent_today(client)
    assert refused.is_error and f"${held_at_limit:.4f}" in _text(refused), _text(refused)
    assert not read.is_error and today["usd"] == pytest.approx(pricing.ocr_pages(2).usd), today


async def test_ocr_on_the_chat_route_is_estimated_per_page_before_any_page_is_sent(
    atlas: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "three.pdf").write_bytes(blank_pdf(200, 200, pages=3))
    (tmp_path / "one.png").write_bytes(png())
    # Atlas prices no model here: estimated and recorded at the highest known rates, about $0.035 a page.
    env = {"DEEPSEEK_MCP_MAX_COST_PER_CALL": "0.05", "DEEPSEEK_MCP_DAILY_BUDGET": "1"}
    async with connect(make_settings(atlas=atlas, env=env)) as client:
        with anyio.fail_after(60):
            refused = await client.call_tool("ocr", {"source": str(tmp_path / "three.pdf")})
            asked = len(atlas.chat_requests())
            read = await client.call_tool("ocr", {"source": str(tmp_path / "one.png")})
            today = await _spent_today(client)
    assert refused.is_error and "DEEPSEEK_MCP_MAX_COST_PER_CALL" in _text(refused), _text(refused)
    assert asked == 0
    assert not read.is_error and today["calls"] == 1 and 0 < today["usd"] < 0.05, today
