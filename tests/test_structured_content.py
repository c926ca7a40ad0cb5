"""Claude Code, Codex and Copilot CLI show the model only `structuredContent` when a result has it, so every fact
a tool tells in its content blocks (the reasoning, notices, failures of one provider, cuts, the route) must be in
the structured result too. One test per tool, each reading `structured_content` for the fact it made happen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.types import TextContent

from tests.conftest import connect, make_settings
from tests.fake.agent import Call, Script, Turn
from tests.fake.review import Checker
from tests.fake_upstream import FakeUpstream, Reply
from tests.gitrepos import make_repo
from tests.samples import png

pytestmark = pytest.mark.anyio


def _notices_in_both(result: Any) -> dict[str, Any]:
    """The structured content, after checking that its notices are exactly what the notice block says, one a line."""
    out = result.structured_content
    assert out is not None and not result.is_error
    blocks = [
        b.text
        for b in result.content
        if isinstance(b, TextContent) and (b.meta or {}).get("deepseek-mcp/kind") == "notice"
    ]
    assert blocks == (["\n".join(out["notices"])] if out.get("notices") else []), (blocks, out.get("notices"))
    return dict(out)


def _seen(out: dict[str, Any]) -> str:
    """What Claude Code shows the model: JSON.stringify(structuredContent)."""
    return json.dumps(out, ensure_ascii=False)


async def test_chat_puts_a_cut_answer_and_its_notice_in_the_structured_result(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(content="half an answ", finish_reason="length"))
    async with connect(make_settings(deepseek)) as client:
        out = _notices_in_both(await client.call_tool("chat", {"prompt": "long question"}))
    assert out["answer"] == "half an answ" and out["finish_reason"] == "length"
    assert "raise max_tokens" in out["notices"][0] and out["conversation_id"] in _seen(out)


async def test_reason_puts_the_reasoning_in_the_structured_result(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(reasoning="first compare tenths", content="9.8", finish_reason="content_filter"))
    async with connect(make_settings(deepseek)) as client:
        out = _notices_in_both(await client.call_tool("reason", {"prompt": "9.11 or 9.8?"}))
    assert out["reasoning"] == "first compare tenths" and out["answer"] == "9.8"
    assert "content filter" in out["notices"][0] and out["usage"]["reasoning_tokens"] > 0


async def test_ocr_puts_the_route_resizes_and_cuts_in_the_structured_result(
    deepseek: FakeUpstream, atlas: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "wide.png").write_bytes(png((6000, 1500)))
    atlas.script(Reply(finish_reason="length"))
    async with connect(make_settings(deepseek, atlas)) as client:
        chat_route = _notices_in_both(
            await client.call_tool("ocr", {"source": str(tmp_path / "wide.png"), "mode": "describe"})
        )
        api_route = _notices_in_both(await client.call_tool("ocr", {"source": str(tmp_path / "wide.png")}))
    assert (chat_route["route"], chat_route["provider"]) == ("deepseek_ocr", "atlas")
    assert any("downscaled" in n for n in chat_route["notices"]) and any(
        "finish_reason=length" in n for n in chat_route["notices"]
    )
    assert (api_route["route"], api_route["model"]) == ("ocr_api", "rich_layout_recognition")
    assert api_route["pages"][0]["width"] == 6000 and api_route["cost"]["usd"] > 0  # sent as it is, not shrunk


async def test_fim_puts_an_empty_insertion_notice_in_the_structured_result(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(content=""))
    async with connect(make_settings(deepseek)) as client:
        out = _notices_in_both(await client.call_tool("fim", {"prefix": "x = 1\n"}))
    assert out["completion"] == "" and "inserted nothing" in out["notices"][0]


async def test_list_models_puts_a_failing_provider_and_each_models_vision_in_the_structured_result(
    deepseek: FakeUpstream, atlas: FakeUpstream
) -> None:
    atlas.script(Reply(status=503, path="/v1/models"), *[Reply(status=503, path="/v1/models")] * 3)
    async with connect(make_settings(deepseek, atlas)) as client:
        result = await client.call_tool("list_models", {})
    out = result.structured_content
    assert out is not None and not result.is_error
    assert out["errors"][0]["provider"] == "atlas" and "503" in out["errors"][0]["error"]
    vision = {m["id"]: m["vision"] for m in out["models"]}
    assert vision == {"deepseek-flash": True, "deepseek-v4-pro": False}
    text = result.content[0].text  # type: ignore[union-attr]
    assert "deepseek:deepseek-v4-pro  (text only)" in text and "reads images" in text


async def test_balance_puts_one_accounts_failure_next_to_the_others_amounts(
    deepseek: FakeUpstream, atlas: FakeUpstream
) -> None:
    atlas.script(Reply(status=402, path="/public/v1/balance"))
    async with connect(make_settings(deepseek, atlas)) as client:
        result = await client.call_tool("balance", {})
    accounts = {a["provider"]: a for a in result.structured_content["accounts"]}  # type: ignore[index]
    assert accounts["atlas"]["error"] and "top up" in accounts["atlas"]["error"]
    assert accounts["deepseek"]["balances"][0]["total"] == "110.00" and accounts["deepseek"]["error"] is None


async def test_web_search_and_web_fetch_put_their_notices_and_cuts_in_the_structured_result(
    deepseek: FakeUpstream,
) -> None:
    deepseek.script(Reply(results=[]), Reply(content="z" * 70_000, title="Long"))
    async with connect(make_settings(deepseek)) as client:
        empty = _notices_in_both(await client.call_tool("web_search", {"query": "nothing here"}))
        page = _notices_in_both(await client.call_tool("web_fetch", {"url": "https://example.com/"}))
    assert empty["results"] == [] and "no results" in empty["notices"][0]
    assert page["total_chars"] == 70_000 and "only the first 60,000" in page["notices"][0] and page["title"] == "Long"


async def test_investigate_puts_its_steps_evidence_and_notices_in_the_structured_result(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    deepseek.agent = Script([Turn([Call("read_file", {"path": "a.py"})])], final="x is set at a.py:1, not a.py:7.")
    async with connect(make_settings(deepseek)) as client:
        out = _notices_in_both(await client.call_tool("investigate", {"question": "x?", "paths": [str(tmp_path)]}))
    assert out["steps"] == [
        {"name": "read_file", "arguments": {"path": "a.py"}, "outcome": "lines 1-1 of 1", "bytes": 28}
    ]
    assert [(e["quote"], e["verified"]) for e in out["evidence"]] == [("x = 1", True), ("", False)]
    assert "a.py:7 (no such lines: a.py has 1 line)" in _seen(out)


async def test_review_puts_findings_refuted_dropped_and_its_notices_in_the_structured_result(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    good = {"path": "src/service.py", "line": 10, "severity": "high", "title": "Sign", "detail": "x - 3."}
    refuted = {**good, "line": 1, "severity": "low", "title": "Nit"}
    ghost = {**good, "path": "src/ghost.py", "title": "Ghost"}
    calls = [Call("report_finding", args) for args in (good, refuted, ghost)]
    deepseek.agent = Script([Turn(calls)], final="A sign flips.")
    deepseek.checker = Checker({"Nit": (False, "Taste.")})
    async with connect(make_settings(deepseek)) as client:
        out = _notices_in_both(await client.call_tool("review", {"path": str(repo)}))
    assert [f["quote"] for f in out["findings"]] == ["    return x - 3  # changed"]
    assert out["refuted"][0]["reason"] == "Taste." and out["dropped"][0]["title"] == "Ghost"
    assert out["summary"] == "A sign flips." and "the working tree" in out["base"]
    assert ".env" in _seen(out) and out["usage"]["total_tokens"] > 0
