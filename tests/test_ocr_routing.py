"""Which route `ocr` takes with each combination of keys: DeepSeek's OCR API first, then DeepSeek-OCR through chat
(Atlas Cloud, or a self-hosted server that serves it), then a vision model; an explicit `model` wins, and a URL,
which the OCR API cannot take, goes through chat with a notice saying why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.types import TextContent

from tests.conftest import connect, make_settings
from tests.fake_upstream import OCR_MODEL, FakeUpstream
from tests.samples import png

pytestmark = pytest.mark.anyio

SELF_HOSTED_KEY = "sk-selfhosted-OCR-55aa66bb"


@pytest.fixture
def selfhosted() -> Iterator[FakeUpstream]:
    """A self-hosted OpenAI-compatible server: an Atlas-flavoured fake serves DeepSeek-OCR on /v1/chat/completions."""
    with FakeUpstream("atlas", api_key=SELF_HOSTED_KEY) as fake:
        yield fake


def _env(fake: FakeUpstream, model: str) -> dict[str, str]:
    return {
        "DEEPSEEK_MCP_OPENAI_BASE_URL": fake.base_url,
        "DEEPSEEK_MCP_OPENAI_API_KEY": fake.api_key,
        "DEEPSEEK_MCP_OPENAI_MODEL": model,
    }


def _texts(result: Any) -> list[str]:
    return [b.text for b in result.content if isinstance(b, TextContent)]


# keys -> (route, provider, model) for mode markdown, then for mode figure (which the OCR API has no purpose for)
CASES = {
    "deepseek": (("ocr_api", "deepseek", "rich_layout_recognition"), ("vision", "deepseek", "deepseek-flash")),
    "atlas": (("deepseek_ocr", "atlas", OCR_MODEL), ("deepseek_ocr", "atlas", OCR_MODEL)),
    "deepseek+atlas": (("ocr_api", "deepseek", "rich_layout_recognition"), ("deepseek_ocr", "atlas", OCR_MODEL)),
    "selfhosted": (("deepseek_ocr", "openai", OCR_MODEL), ("deepseek_ocr", "openai", OCR_MODEL)),
    "selfhosted+deepseek": (
        ("ocr_api", "deepseek", "rich_layout_recognition"),
        ("deepseek_ocr", "openai", OCR_MODEL),
    ),
    "selfhosted+atlas": (("deepseek_ocr", "atlas", OCR_MODEL), ("deepseek_ocr", "atlas", OCR_MODEL)),
}


@pytest.mark.parametrize("keys", list(CASES))
async def test_the_route_follows_the_keys_set(
    keys: str, deepseek: FakeUpstream, atlas: FakeUpstream, selfhosted: FakeUpstream, tmp_path: Path
) -> None:
    parts = keys.split("+")
    settings = make_settings(
        deepseek if "deepseek" in parts else None,
        atlas if "atlas" in parts else None,
        env=_env(selfhosted, OCR_MODEL) if "selfhosted" in parts else None,
    )
    (tmp_path / "scan.png").write_bytes(png((200, 100)))
    async with connect(settings) as client:
        markdown = await client.call_tool("ocr", {"source": str(tmp_path / "scan.png")})
        figure = await client.call_tool("ocr", {"source": str(tmp_path / "scan.png"), "mode": "figure"})
    for result, expected in zip((markdown, figure), CASES[keys], strict=True):
        assert not result.is_error, _texts(result)
        out = result.structured_content
        assert out is not None and (out["route"], out["provider"], out["model"]) == expected, (keys, out)
    fakes = {"deepseek": deepseek, "atlas": atlas, "openai": selfhosted}
    routed = [r.structured_content["provider"] for r in (markdown, figure)]  # type: ignore[index]
    for name, fake in fakes.items():
        assert bool(fake.tool_requests("ocr") or fake.chat_requests()) == (name in routed), (keys, name)


async def test_a_self_hosted_vision_model_alone_is_the_vision_route(tmp_path: Path) -> None:
    (tmp_path / "scan.png").write_bytes(png())
    with FakeUpstream("deepseek", api_key=SELF_HOSTED_KEY) as vision:  # serves deepseek-flash, which reads images
        async with connect(make_settings(env=_env(vision, "deepseek-flash"))) as client:
            result = await client.call_tool("ocr", {"source": str(tmp_path / "scan.png"), "mode": "describe"})
        assert len(vision.chat_requests()) == 1 and vision.tool_requests("ocr") == []
    out = result.structured_content
    assert out is not None and (out["route"], out["provider"], out["model"]) == ("vision", "openai", "deepseek-flash")


async def test_an_explicit_model_wins_over_the_ocr_api(deepseek: FakeUpstream, tmp_path: Path) -> None:
    (tmp_path / "scan.png").write_bytes(png())
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "scan.png"), "model": "deepseek-flash"})
    out = result.structured_content
    assert out is not None and (out["route"], out["model"]) == ("vision", "deepseek-flash")
    assert deepseek.tool_requests("ocr") == [] and len(deepseek.chat_requests()) == 1


async def test_a_url_goes_through_chat_and_the_result_says_why(deepseek: FakeUpstream, atlas: FakeUpstream) -> None:
    async with connect(make_settings(deepseek, atlas)) as client:
        result = await client.call_tool("ocr", {"source": "https://example.com/scan.png"})
    out = result.structured_content
    assert out is not None and (out["route"], out["provider"]) == ("deepseek_ocr", "atlas")
    assert "reads only files this server uploads" in out["notices"][0] and out["notices"][0] in _texts(result)[-1]
    assert deepseek.requests == []


async def test_v4_pro_is_refused_for_ocr_with_what_to_do(deepseek: FakeUpstream, tmp_path: Path) -> None:
    (tmp_path / "scan.png").write_bytes(png())
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "scan.png"), "model": "deepseek-v4-pro"})
    assert result.is_error and "reads text only" in _texts(result)[0] and deepseek.requests == []
