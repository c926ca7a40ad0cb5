"""ocr end to end: images and PDFs made here, through both routes (DeepSeek-OCR on Atlas Cloud, DeepSeek's own
vision model), checking what reached the upstream as well as what came back."""

from __future__ import annotations

import base64
import hashlib
from io import BytesIO
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp.types import TextContent
from PIL import Image

from mcp_server.core.config import Limits
from tests.conftest import connect, make_settings, upstream_env
from tests.fake_upstream import FakeUpstream, Recorded, Reply
from tests.samples import drawn, encode, encrypted_pdf, pdf, png
from tests.test_stdio import server_params

pytestmark = pytest.mark.anyio

TAGGED = (
    "<|ref|>title<|/ref|><|det|>[[115, 165, 465, 201]]<|/det|>\n# Invoice 42\n\n"
    "<|ref|>text<|/ref|><|det|>[[575, 179, 880, 216]]<|/det|>\nTotal: 12.00 EUR\n"
)


def _texts(result: Any) -> list[str]:
    return [b.text for b in result.content if isinstance(b, TextContent)]


def _images_sent(request: Recorded) -> list[bytes]:
    parts = request.json["messages"][0]["content"]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    return [base64.b64decode(u.partition(",")[2]) if u.startswith("data:") else u.encode() for u in urls]


def _prompt_sent(request: Recorded) -> str:
    return next(p["text"] for p in request.json["messages"][0]["content"] if p["type"] == "text")


def _px(v: int, extent: int) -> int:
    return round(v / 999 * extent)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


async def test_a_png_path_goes_to_deepseek_ocr_unchanged_and_boxes_come_back_in_pixels(
    atlas: FakeUpstream, tmp_path: Path, mode: str
) -> None:
    data = png((400, 300))
    (tmp_path / "scan.png").write_bytes(data)
    async with connect(make_settings(atlas=atlas), mode) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "scan.png")})
    assert not result.is_error, _texts(result)
    request = atlas.chat_requests()[0]
    assert request.json["model"] == "deepseek-ai/deepseek-ocr"
    assert _prompt_sent(request) == "<|grounding|>Convert the document to markdown."
    assert _images_sent(request) == [data]  # byte for byte
    assert _texts(result)[0] == f"# Page of image 400x300 sha={_sha(data)}\n\nComputational and Data Science"
    page = result.structured_content["pages"][0]  # type: ignore[index]
    assert (page["width"], page["height"], page["boxes_normalized"]) == (400, 300, False)
    title = page["boxes"][0]
    assert title["label"] == "title" and title["text"].startswith("# Page of image")
    assert title["bbox"] == [_px(115, 400), _px(165, 300), _px(465, 400), _px(201, 300)]
    assert [b["label"] for b in page["boxes"]] == ["title", "text", "image"]


async def test_a_jpeg_data_url_on_deepseeks_own_vision_model_parses_the_same_grounding(
    deepseek: FakeUpstream, mode: str
) -> None:
    data = encode(drawn((500, 250)), "JPEG")
    deepseek.script(Reply(content=TAGGED))
    source = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    async with connect(make_settings(deepseek), mode) as client:
        result = await client.call_tool("ocr", {"source": source, "model": "deepseek-flash"})
    assert not result.is_error, _texts(result)
    request = deepseek.chat_requests()[0]
    assert request.json["model"] == "deepseek-flash" and request.json["thinking"] == {"type": "disabled"}
    assert "<|ref|>" in _prompt_sent(request) and _images_sent(request) == [data]
    assert _texts(result)[0] == "# Invoice 42\n\nTotal: 12.00 EUR"
    boxes = result.structured_content["pages"][0]["boxes"]  # type: ignore[index]
    assert boxes[1] == {
        "label": "text",
        "text": "Total: 12.00 EUR",
        "bbox": [_px(575, 500), _px(179, 250), _px(880, 500), _px(216, 250)],
    }
    assert result.structured_content["provider"] == "deepseek"  # type: ignore[index]


async def test_a_url_is_passed_through_and_its_boxes_stay_normalised(atlas: FakeUpstream) -> None:
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("ocr", {"source": "https://example.com/page.png"})
    assert not result.is_error, _texts(result)
    assert _images_sent(atlas.chat_requests()[0]) == [b"https://example.com/page.png"]
    page = result.structured_content["pages"][0]  # type: ignore[index]
    assert page["boxes_normalized"] is True and page["boxes"][0]["bbox"] == [115, 165, 465, 201]
    assert "url=https://example.com/page.png" in _texts(result)[0]


async def test_selected_pdf_pages_are_rasterised_at_144_dpi_and_joined_in_page_order(
    atlas: FakeUpstream, tmp_path: Path, mode: str
) -> None:
    (tmp_path / "spec.pdf").write_bytes(pdf(100, 150, 200, width=200))
    progress: list[tuple[float, float | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total))

    async with connect(make_settings(atlas=atlas), mode) as client:
        result = await client.call_tool(
            "ocr", {"source": str(tmp_path / "spec.pdf"), "pages": "2-3"}, progress_callback=on_progress
        )
    assert not result.is_error, _texts(result)
    sizes = sorted(Image.open(BytesIO(_images_sent(r)[0])).size for r in atlas.chat_requests())
    assert sizes == [(400, 300), (400, 400)]  # 200 pt wide at 144 dpi; pages 2 and 3 only
    pages = result.structured_content["pages"]  # type: ignore[index]
    assert [(p["page"], p["width"], p["height"]) for p in pages] == [(2, 400, 300), (3, 400, 400)]
    text = _texts(result)[0]
    assert text.index("<!-- page 2 -->") < text.index("image 400x300") < text.index("<!-- page 3 -->")
    assert text.index("<!-- page 3 -->") < text.index("image 400x400")
    assert progress[-1] == (2, 2)


@pytest.mark.parametrize(
    ("mode", "extra", "prompt"),
    [
        ("text", {}, "Free OCR."),
        ("figure", {}, "Parse the figure."),
        ("describe", {}, "Describe this image in detail."),
        ("locate", {"target": "Total"}, "Locate <|ref|>Total<|/ref|> in the image."),
    ],
)
async def test_each_mode_sends_deepseek_ocrs_own_prompt(
    atlas: FakeUpstream, tmp_path: Path, mode: str, extra: dict[str, str], prompt: str
) -> None:
    (tmp_path / "a.png").write_bytes(png((200, 100)))
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "a.png"), "mode": mode, **extra})
    assert not result.is_error, _texts(result)
    assert _prompt_sent(atlas.chat_requests()[0]) == prompt
    boxes = result.structured_content["pages"][0]["boxes"]  # type: ignore[index]
    if mode == "locate":
        assert boxes == [
            {"label": "Total", "text": "", "bbox": [_px(100, 200), _px(200, 100), _px(300, 200), _px(400, 100)]}
        ]
    else:
        assert boxes == [] and "<|" not in _texts(result)[0]


async def test_tag_stripped_output_from_servers_that_skip_special_tokens_still_gives_boxes(
    atlas: FakeUpstream, tmp_path: Path
) -> None:
    atlas.script(Reply(strip_special_tokens=True))
    (tmp_path / "a.png").write_bytes(png((999, 999)))
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "a.png")})
    boxes = result.structured_content["pages"][0]["boxes"]  # type: ignore[index]
    assert [b["label"] for b in boxes] == ["title", "text", "image"]
    assert boxes[0]["bbox"] == [115, 165, 465, 201] and "title[[" not in _texts(result)[0]


async def test_a_large_image_is_downscaled_and_the_result_says_so(atlas: FakeUpstream, tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(png((6000, 1500)))
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "big.png")})
    assert not result.is_error
    sent = Image.open(BytesIO(_images_sent(atlas.chat_requests()[0])[0]))
    assert sent.size[0] < 6000 and abs(sent.size[0] / sent.size[1] - 4.0) < 0.01
    assert result.structured_content["notices"] and "downscaled" in _texts(result)[-1]  # type: ignore[index]


def _bad_inputs(tmp_path: Path) -> list[tuple[dict[str, Any], str]]:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "id_rsa.png").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n")
    (tmp_path / "notes.pdf").write_text("just text")
    (tmp_path / "broken.pdf").write_bytes(pdf(100, 100)[:300])
    (tmp_path / "locked.pdf").write_bytes(encrypted_pdf(b"secret"))
    (tmp_path / "three.pdf").write_bytes(pdf(100, 100, 100))
    (tmp_path / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (33 * 1024 * 1024))
    (tmp_path / "dir").mkdir()
    return [
        ({"source": str(tmp_path / "missing.png")}, "does not exist"),
        ({"source": str(tmp_path / "dir")}, "directory"),
        ({"source": str(tmp_path / "empty.png")}, "empty"),
        ({"source": str(tmp_path / "id_rsa.png")}, "not an image or PDF"),
        ({"source": str(tmp_path / "notes.pdf")}, "not an image or PDF"),
        ({"source": str(tmp_path / "broken.pdf")}, "PDF"),
        ({"source": str(tmp_path / "locked.pdf")}, "password"),
        ({"source": str(tmp_path / "three.pdf"), "pages": "4"}, "3 page"),
        ({"source": str(tmp_path / "three.pdf"), "pages": "2-x"}, "pages"),
        ({"source": str(tmp_path / "huge.png")}, "MiB"),
        ({"source": "file:///etc/passwd"}, "http"),
        ({"source": "ftp://example.com/a.png"}, "http"),
        ({"source": str(tmp_path / "three.pdf"), "mode": "locate"}, "target"),
        ({"source": str(tmp_path / "three.pdf"), "mode": "poster"}, "mode"),
    ]


async def test_every_bad_input_is_a_clear_error_sent_nowhere_and_the_server_keeps_serving(
    atlas: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "ok.png").write_bytes(png())
    async with connect(make_settings(atlas=atlas)) as client:
        for arguments, expected in _bad_inputs(tmp_path):
            result = await client.call_tool("ocr", arguments)
            assert result.is_error, arguments
            assert expected.lower() in _texts(result)[0].lower(), (arguments, _texts(result))
            assert "OPENSSH" not in _texts(result)[0] and "b3BlbnNzaC1" not in _texts(result)[0]
        assert atlas.chat_requests() == []  # nothing left the machine
        good = await client.call_tool("ocr", {"source": str(tmp_path / "ok.png")})
    assert not good.is_error


async def test_an_upstream_failure_on_one_page_names_the_page(atlas: FakeUpstream, tmp_path: Path) -> None:
    (tmp_path / "two.pdf").write_bytes(pdf(100, 100))
    atlas.script(Reply(status=402, error="insufficient balance"), Reply(status=402, error="insufficient balance"))
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "two.pdf")})
    assert result.is_error and "top up" in _texts(result)[0] and "page " in _texts(result)[0]


@pytest.mark.parametrize("route", ["atlas", "deepseek"])
async def test_ocr_over_the_real_stdio_server_for_both_chat_routes(
    deepseek: FakeUpstream, atlas: FakeUpstream, tmp_path: Path, route: str
) -> None:
    png_data = png((300, 200))
    (tmp_path / "shot.png").write_bytes(png_data)
    (tmp_path / "doc.pdf").write_bytes(pdf(100, 150, 200, width=100))
    jpeg_url = "data:image/jpeg;base64," + base64.b64encode(encode(drawn((200, 100)), "JPEG")).decode()
    env = upstream_env(deepseek) if route == "deepseek" else upstream_env(atlas=atlas)
    fake = deepseek if route == "deepseek" else atlas
    # With a DeepSeek key alone, markdown and text go to its OCR API (tests/test_ocr_api.py); naming the vision
    # model keeps them on the chat route this test is about.
    extra = {"model": "deepseek-flash"} if route == "deepseek" else {}
    if route == "deepseek":
        deepseek.script(*[Reply(content=TAGGED) for _ in range(5)])
    with (tmp_path / "stderr.txt").open("w") as err:
        async with Client(stdio_client(server_params(env), errlog=err)) as client:
            results = [
                await client.call_tool("ocr", {"source": str(tmp_path / "shot.png"), **extra}),
                await client.call_tool("ocr", {"source": jpeg_url, **extra}),
                await client.call_tool("ocr", {"source": "https://example.com/x.png", **extra}),
                await client.call_tool("ocr", {"source": str(tmp_path / "doc.pdf"), "pages": "2-3", **extra}),
                await client.call_tool("ocr", {"source": str(tmp_path / "missing.png"), **extra}),
                await client.call_tool("ocr", {"source": str(tmp_path / "shot.png"), "mode": "text", **extra}),
            ]
    assert [r.is_error for r in results] == [False, False, False, False, True, False]
    assert [len(r.structured_content["pages"]) for r in results if not r.is_error] == [1, 1, 1, 2, 1]  # type: ignore[index]
    first_page = results[0].structured_content["pages"][0]  # type: ignore[index]
    assert first_page["boxes"][0]["bbox"] == [_px(115, 300), _px(165, 200), _px(465, 300), _px(201, 200)]
    assert [p["page"] for p in results[3].structured_content["pages"]] == [2, 3]  # type: ignore[index]
    assert "<!-- page 2 -->" in _texts(results[3])[0]
    assert len(fake.chat_requests()) == 6


async def test_a_relative_path_is_read_from_the_servers_working_directory(
    atlas: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.png").write_bytes(png((120, 80)))
    monkeypatch.chdir(tmp_path)
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("ocr", {"source": "docs/page.png"})
    assert not result.is_error and result.structured_content["pages"][0]["width"] == 120  # type: ignore[index]


async def test_cancelling_a_pdf_stops_the_remaining_pages(atlas: FakeUpstream, tmp_path: Path) -> None:
    (tmp_path / "long.pdf").write_bytes(pdf(*[60] * 12, width=60))
    atlas.script(*[Reply(token_delay=0.5) for _ in range(12)])
    async with connect(make_settings(atlas=atlas)) as client:
        with anyio.move_on_after(0.8):
            await client.call_tool("ocr", {"source": str(tmp_path / "long.pdf")})
        await anyio.to_thread.run_sync(
            lambda: atlas.wait_for(lambda f: all(r.client_disconnected for r in f.chat_requests()), 3.0)
        )
        after = len(atlas.chat_requests())
        await anyio.sleep(0.5)
    assert 1 <= after <= Limits().ocr_concurrency  # the pages in flight at most, and none started after the cancel
    assert len(atlas.chat_requests()) == after
    assert all(r.client_disconnected for r in atlas.chat_requests())
