"""One behaviour for every tool, and routing by what providers serve (issue 10): through the in-memory client and
the installed script against the fake upstream."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.types import TextContent

from mcp_server.serving import progress
from tests.conftest import connect, make_settings, upstream_env
from tests.fake_upstream import FakeUpstream, Reply
from tests.samples import pdf, png

pytestmark = pytest.mark.anyio
SCRIPT = Path(sys.executable).with_name("deepseek-mcp")


def _texts(result: Any) -> list[str]:
    return [b.text for b in result.content if isinstance(b, TextContent)]


def _kinds(result: Any) -> list[str]:
    return [(b.meta or {}).get("deepseek-mcp/kind") for b in result.content]


# --- routing ----------------------------------------------------------------------------------------------------


async def test_ocr_with_a_deepseek_id_goes_to_deepseek_even_when_atlas_is_set(
    deepseek: FakeUpstream, atlas: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "scan.png").write_bytes(png())
    async with connect(make_settings(deepseek, atlas)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "scan.png"), "model": "deepseek-flash"})
    assert not result.is_error, _texts(result)
    assert result.structured_content["provider"] == "deepseek"  # type: ignore[index]
    assert len(deepseek.chat_requests()) == 1 and atlas.chat_requests() == []
    prompt = deepseek.chat_requests()[0].json["messages"][0]["content"][1]["text"]
    assert "<|grounding|>" not in prompt  # a vision model gets instructions, not DeepSeek-OCR's own prompt


async def test_a_namespaced_id_that_only_the_self_hosted_server_serves_goes_there_not_to_atlas(
    atlas: FakeUpstream,
) -> None:
    with FakeUpstream("deepseek", api_key="sk-self-hosted-0000", models=["deepseek-ai/DeepSeek-V3.1"]) as vllm:
        env = {"DEEPSEEK_MCP_OPENAI_BASE_URL": vllm.base_url, "DEEPSEEK_MCP_OPENAI_API_KEY": vllm.api_key}
        async with connect(make_settings(atlas=atlas, env=env)) as client:
            result = await client.call_tool("chat", {"prompt": "hi", "model": "deepseek-ai/DeepSeek-V3.1"})
            again = await client.call_tool("chat", {"prompt": "hi", "model": "deepseek-ai/deepseek-v4-flash"})
        served = vllm.chat_requests()
    assert not result.is_error and result.structured_content["provider"] == "openai", _texts(result)  # type: ignore[index]
    assert len(served) == 1 and served[0].json["model"] == "deepseek-ai/DeepSeek-V3.1"
    assert again.structured_content["provider"] == "atlas"  # type: ignore[index]
    assert [r.path for r in atlas.requests].count("/v1/models") == 1  # lists read once, then known


async def test_a_text_only_model_is_refused_for_ocr_before_anything_is_sent(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "scan.png").write_bytes(png())
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "scan.png"), "model": "deepseek-v4-pro"})
    assert result.is_error and "reads text only" in _texts(result)[0] and deepseek.requests == []


async def test_an_answer_that_mentions_the_think_tag_on_a_self_hosted_server_is_not_cut(
    deepseek: FakeUpstream,
) -> None:
    answer = "To end the block, the model writes </think> and then the answer."
    deepseek.script(Reply(content=answer, reasoning=""))  # a server that sends no reasoning of its own
    env = {
        "DEEPSEEK_MCP_OPENAI_BASE_URL": deepseek.base_url,
        "DEEPSEEK_MCP_OPENAI_API_KEY": deepseek.api_key,
        "DEEPSEEK_MCP_OPENAI_MODEL": "deepseek-flash",
    }
    async with connect(make_settings(env=env)) as client:
        result = await client.call_tool("chat", {"prompt": "how do think tags end?"})
    assert _texts(result) == [answer]


# --- progress ---------------------------------------------------------------------------------------------------


async def test_ocr_progress_only_grows_in_pages_and_beats_while_a_page_is_slow(
    atlas: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "HEARTBEAT", 0.1)
    (tmp_path / "doc.pdf").write_bytes(pdf(100, 100, 100))
    atlas.script(Reply(token_delay=0.15), Reply(token_delay=0.15), Reply(token_delay=0.15))
    events: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        events.append((value, total, message))

    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "doc.pdf")}, progress_callback=on_progress)
    assert not result.is_error, _texts(result)
    values = [value for value, _, _ in events]
    assert values == sorted(values) and len(set(values)) == len(values), values  # strictly growing
    assert {total for _, total, _ in events} == {3} and values[-1] == 3
    assert any("waiting for the model" in (m or "") for _, _, m in events)  # heartbeats between pages
    assert sum("done (" in (m or "") for _, _, m in events) == 3


# --- ocr results ------------------------------------------------------------------------------------------------


async def test_a_downscaled_image_is_noted_once_and_reports_its_original_size(
    atlas: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "big.png").write_bytes(png((6000, 1500)))
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "big.png")})
    assert not result.is_error
    out = result.structured_content
    assert out is not None and len(out["notices"]) == 1 and "downscaled from 6000x1500" in out["notices"][0]
    assert _texts(result)[1].count("downscaled") == 1
    page = out["pages"][0]
    assert (page["original_width"], page["original_height"]) == (6000, 1500) and page["width"] < 6000


async def test_a_pdf_page_reports_its_rendered_and_original_size(atlas: FakeUpstream, tmp_path: Path) -> None:
    (tmp_path / "doc.pdf").write_bytes(pdf(100))
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "doc.pdf")})
    page = result.structured_content["pages"][0]  # type: ignore[index]
    assert (page["width"], page["height"], page["original_width"], page["original_height"]) == (144, 200, 144, 200)


async def test_an_image_declaring_more_pixels_than_the_cap_is_refused_before_decoding(
    atlas: FakeUpstream, tmp_path: Path
) -> None:
    from PIL import Image

    path = tmp_path / "bomb.png"
    with Image.new("1", (13000, 13000)) as img:  # 1 bit a pixel: about 20 KB on disk, 507 MB as RGB
        img.save(path)
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("ocr", {"source": str(path)})
    text = _texts(result)[0]
    assert result.is_error and "13000x13000 pixels (169 megapixels)" in text and "50 megapixels" in text
    assert atlas.requests == []


# --- fim --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "notice"),
    [
        (Reply(content="x = 1", finish_reason="content_filter"), "content filter"),
        (Reply(content="x", finish_reason="insufficient_system_resource"), "ran out of capacity"),
        (Reply(content=""), "inserted nothing"),
    ],
)
async def test_fim_gets_the_same_notices_as_chat(deepseek: FakeUpstream, reply: Reply, notice: str) -> None:
    deepseek.script(reply)
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("fim", {"prefix": "def f():\n    "})
    assert _kinds(result) == ["completion", "notice"] and notice in _texts(result)[1]
    assert notice in result.structured_content["notices"][0]  # type: ignore[index]


async def test_a_completion_of_only_whitespace_is_an_answer_in_fim(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(content="\n"))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("fim", {"prefix": "x = 1"})
    assert _kinds(result) == ["completion"] and result.structured_content["notices"] == []  # type: ignore[index]


# --- conversations ----------------------------------------------------------------------------------------------


async def test_two_calls_on_one_conversation_take_turns_instead_of_interleaving(deepseek: FakeUpstream) -> None:
    async with connect(make_settings(deepseek)) as client:
        first = await client.call_tool("chat", {"prompt": "start"})
        convo = first.structured_content["conversation_id"]  # type: ignore[index]
        deepseek.script(Reply(content="slow answer", token_delay=0.1), Reply(content="quick answer"))
        results: dict[str, Any] = {}

        async def ask(prompt: str) -> None:
            results[prompt] = await client.call_tool("chat", {"prompt": prompt, "conversation_id": convo})

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask, "A")
            await anyio.sleep(0.05)
            tg.start_soon(ask, "B")
        final = await client.call_tool("chat", {"prompt": "recap", "conversation_id": convo})
    second, third = deepseek.chat_requests()[1:3]
    history = [m["content"] for m in third.json["messages"]]
    assert [m["content"] for m in second.json["messages"]] == ["start", "You said: start (turn 1)", "A"]
    assert history == ["start", "You said: start (turn 1)", "A", "slow answer", "B"]
    assert not final.is_error and len(deepseek.chat_requests()[3].json["messages"]) == 7


@pytest.mark.parametrize(
    ("finish_reason", "kept"), [("content_filter", False), ("insufficient_system_resource", False), ("length", True)]
)
async def test_a_cut_or_filtered_answer_is_kept_or_not_and_the_result_says_which(
    deepseek: FakeUpstream, finish_reason: str, kept: bool
) -> None:
    deepseek.script(Reply(content="part of it", finish_reason=finish_reason))
    async with connect(make_settings(deepseek)) as client:
        first = await client.call_tool("chat", {"prompt": "one"})
        convo = first.structured_content["conversation_id"]  # type: ignore[index]
        second = await client.call_tool("chat", {"prompt": "two", "conversation_id": convo})
    notices = " ".join(first.structured_content["notices"])  # type: ignore[index]
    if kept:
        sent = [m["content"] for m in deepseek.chat_requests()[1].json["messages"]]
        assert "kept in the conversation" in notices and sent == ["one", "part of it", "two"]
    else:
        assert "not added to the conversation" in notices and second.is_error  # nothing was recorded to continue
        assert "unknown or has expired" in _texts(second)[0]


async def test_a_history_past_the_context_budget_is_refused_before_sending_with_what_to_do(
    deepseek: FakeUpstream,
) -> None:
    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_MAX_CONTEXT_TOKENS": "2000"})
    async with connect(settings) as client:
        first = await client.call_tool("chat", {"prompt": "word " * 1200})
        convo = first.structured_content["conversation_id"]  # type: ignore[index]
        second = await client.call_tool("chat", {"prompt": "word " * 1200, "conversation_id": convo})
    text = _texts(second)[0]
    assert second.is_error and "DEEPSEEK_MCP_MAX_CONTEXT_TOKENS" in text and "omit conversation_id" in text
    assert len(deepseek.chat_requests()) == 1


async def test_a_providers_context_length_400_says_to_start_a_new_conversation(deepseek: FakeUpstream) -> None:
    message = "This model's maximum context length is 131072 tokens. However, you requested 150000 tokens."
    deepseek.script(Reply(status=400, error=message))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    text = _texts(result)[0]
    assert "start a new conversation" in text and "check the tool arguments" not in text


# --- call -------------------------------------------------------------------------------------------------------


def test_call_sends_a_prompt_that_looks_like_json_as_the_text_it_is(deepseek: FakeUpstream) -> None:
    done = subprocess.run(  # noqa: S603 - our own console script
        [str(SCRIPT), "call", "chat", "prompt=42", "max_tokens=100", "--json"],
        env={**os.environ, **upstream_env(deepseek)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sent = deepseek.chat_requests()[0].json
    assert sent["messages"][-1]["content"] == "42" and sent["max_tokens"] == 100


async def test_conversations_are_bounded_by_bytes_each_and_in_all(deepseek: FakeUpstream) -> None:
    from mcp_server.core.config import Limits

    limits = Limits(conversation_bytes=2000, conversations_total_bytes=3000)
    async with connect(make_settings(deepseek, limits=limits)) as client:
        first = await client.call_tool("chat", {"prompt": "a" * 400})  # a turn: 400 + the echoed 424 bytes
        convo = first.structured_content["conversation_id"]  # type: ignore[index]
        await client.call_tool("chat", {"prompt": "b" * 400, "conversation_id": convo})
        third = await client.call_tool("chat", {"prompt": "c" * 400, "conversation_id": convo})
        sent = [m["content"][:1] for m in deepseek.chat_requests()[2].json["messages"]]
        huge = await client.call_tool("chat", {"prompt": "d" * 2500})
        other = await client.call_tool("chat", {"prompt": "e" * 700})
        evicted = await client.call_tool("chat", {"prompt": "again", "conversation_id": convo})
    assert sent == ["a", "Y", "b", "Y", "c"]  # both earlier turns fit before the third was added
    assert "oldest 1 turn(s) were dropped" in " ".join(third.structured_content["notices"])  # type: ignore[index]
    huge_notice = " ".join(huge.structured_content["notices"])  # type: ignore[index]
    assert "not added to the conversation (the exchange is larger than the 2.0 KiB" in huge_notice
    assert not other.is_error and evicted.is_error  # the newer conversation pushed the older out of the 3000 bytes
