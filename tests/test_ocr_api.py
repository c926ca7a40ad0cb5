"""ocr through DeepSeek's OCR API, end to end: what the fake received (the multipart form, the file's own bytes or
just the selected pages) and what came back (pages in order, boxes in pixels, cuts flagged, the route and cost)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp.types import TextContent

from mcp_server.spending import pricing
from mcp_server.upstream import tool_apis
from tests.conftest import connect, make_settings, upstream_env
from tests.fake.multipart import Part, parse_form
from tests.fake_upstream import FakeUpstream, Recorded, Reply
from tests.samples import docx, drawn, encode, encrypted_pdf, pdf, png, pptx, xlsx
from tests.test_stdio import server_params

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _texts(result: Any) -> list[str]:
    return [b.text for b in result.content if isinstance(b, TextContent)]


def _form(request: Recorded) -> dict[str, Part]:
    parts = parse_form(request.headers["content-type"], request.body)
    assert len(parts) == 2, [p.name for p in parts]
    return {part.name: part for part in parts}


def _pdf_page_sizes(data: bytes) -> list[tuple[float, float]]:
    import pypdfium2  # type: ignore[import-untyped]

    document = pypdfium2.PdfDocument(data)
    try:
        return [document.get_page_size(i) for i in range(len(document))]
    finally:
        document.close()


def _px(v: int, extent: int) -> int:
    return round(v / 999 * extent)


async def test_a_three_page_pdf_goes_up_as_it_is_and_comes_back_page_by_page_with_boxes_in_pixels(
    deepseek: FakeUpstream, tmp_path: Path, mode: str
) -> None:
    data = pdf(100, 150, 200, width=200)
    (tmp_path / "spec.pdf").write_bytes(data)
    async with connect(make_settings(deepseek), mode) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "spec.pdf")})
    assert not result.is_error, _texts(result)
    assert deepseek.chat_requests() == [] and len(deepseek.tool_requests("ocr")) == 1
    form = _form(deepseek.tool_requests("ocr")[0])
    assert form["purpose"].data == b"rich_layout_recognition"
    assert form["file"].data == data and form["file"].filename == "document.pdf"  # the file as it is
    assert form["file"].content_type == "application/pdf"
    out = result.structured_content
    assert out is not None
    assert (out["route"], out["provider"], out["model"]) == ("ocr_api", "deepseek", "rich_layout_recognition")
    pages = out["pages"]
    assert [(p["page"], p["width"], p["height"]) for p in pages] == [(1, 400, 200), (2, 400, 300), (3, 400, 400)]
    assert pages[1]["markdown"] == "# page 2 of 3, 200x150 pt\n\nComputational and Data Science"
    assert pages[1]["boxes"][0] == {
        "label": "title",
        "text": "# page 2 of 3, 200x150 pt",
        "bbox": [_px(115, 400), _px(165, 300), _px(465, 400), _px(201, 300)],
    }
    assert not any(p["boxes_normalized"] for p in pages)
    text = _texts(result)[0]
    assert text.index("<!-- page 1 -->") < text.index("<!-- page 2 -->") < text.index("<!-- page 3 -->")
    assert out["cost"]["usd"] == pytest.approx(3 * 0.225 / 1000) and "3 pages" in out["cost"]["basis"]
    assert out["usage"]["prompt_tokens"] == 768 and out["notices"] == []


async def test_a_png_goes_up_byte_for_byte_and_its_boxes_are_in_its_own_pixels(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    data = png((400, 300))
    (tmp_path / "shot.png").write_bytes(data)
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "shot.png")})
    form = _form(deepseek.tool_requests("ocr")[0])
    assert form["file"].data == data and (form["file"].filename, form["file"].content_type) == (
        "document.png",
        "image/png",
    )
    page = result.structured_content["pages"][0]  # type: ignore[index]
    assert (page["page"], page["width"], page["height"]) == (None, 400, 300)
    assert page["boxes"][1]["bbox"] == [_px(575, 400), _px(179, 300), _px(880, 400), _px(216, 300)]
    assert _texts(result)[0].startswith("# image 400x300") and "<!-- page" not in _texts(result)[0]


async def test_a_pages_selection_uploads_only_those_pages_copied_into_a_pdf_of_their_own(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "long.pdf").write_bytes(pdf(100, 150, 200, 250, width=200))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "long.pdf"), "pages": "2,4"})
    assert not result.is_error, _texts(result)
    sent = _form(deepseek.tool_requests("ocr")[0])["file"].data
    assert _pdf_page_sizes(sent) == [(200, 150), (200, 250)]
    out = result.structured_content
    assert out is not None
    assert [(p["page"], p["height"]) for p in out["pages"]] == [(2, 300), (4, 500)]
    assert "page 1 of 2, 200x150 pt" in out["pages"][0]["markdown"]  # the API saw a two-page PDF
    assert out["notices"] == ["only the 2 selected of 4 pages were uploaded (copied into a PDF of their own)"]
    assert "2 pages" in out["cost"]["basis"]


async def test_a_word_file_built_here_is_read_and_text_mode_gets_its_own_text(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "notes.docx").write_bytes(docx("first page text", "second page text"))
    async with connect(make_settings(deepseek)) as client:
        text = await client.call_tool("ocr", {"source": str(tmp_path / "notes.docx"), "mode": "text"})
        laid_out = await client.call_tool("ocr", {"source": str(tmp_path / "notes.docx")})
    assert not text.is_error, _texts(text)
    form = _form(deepseek.tool_requests("ocr")[0])
    assert form["purpose"].data == b"text_recognition"
    assert (form["file"].filename, form["file"].content_type) == ("document.docx", DOCX_MIME)
    pages = text.structured_content["pages"]  # type: ignore[index]
    assert [(p["page"], p["markdown"]) for p in pages] == [(1, "first page text"), (2, "second page text")]
    boxed = laid_out.structured_content["pages"][0]  # type: ignore[index]
    assert boxed["boxes_normalized"] is True and boxed["width"] is None  # a Word page has no pixel size here
    assert boxed["boxes"][0]["bbox"] == [115, 165, 465, 201]


async def test_pages_on_a_powerpoint_file_is_applied_to_the_answer_and_says_so(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "deck.pptx").write_bytes(pptx("one", "two", "three"))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "deck.pptx"), "pages": "2,5"})
    out = result.structured_content
    assert not result.is_error and out is not None
    assert [p["page"] for p in out["pages"]] == [2] and "pptx page 2 of 3" in out["pages"][0]["markdown"]
    assert "read (and bills) all 3 pages" in out["notices"][0] and "pages 5 are not in it" in out["notices"][0]
    assert "3 pages" in out["cost"]["basis"]


async def test_other_zips_spreadsheets_and_locked_pdfs_are_refused_before_upload(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    plain = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("word/document.xml", "<no content types/>")
    cases = {
        "archive.docx": (plain.getvalue(), "a ZIP archive"),
        "sheet.xlsx": (xlsx(), "a ZIP archive"),
        "locked.pdf": (encrypted_pdf(b"secret"), "password"),
        "legacy.doc": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "legacy or password-protected Office"),
    }
    async with connect(make_settings(deepseek)) as client:
        for name, (data, says) in cases.items():
            (tmp_path / name).write_bytes(data)
            result = await client.call_tool("ocr", {"source": str(tmp_path / name)})
            assert result.is_error and says in _texts(result)[0], (name, _texts(result))
    assert deepseek.requests == []


async def test_a_word_file_on_the_chat_route_is_refused_with_the_way_to_the_ocr_api(
    atlas: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "notes.docx").write_bytes(docx("text"))
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "notes.docx")})
    assert result.is_error and "Word document" in _texts(result)[0] and "DEEPSEEK_API_KEY" in _texts(result)[0]
    assert atlas.requests == []


async def test_a_101_mib_file_is_refused_before_a_byte_is_uploaded(deepseek: FakeUpstream, tmp_path: Path) -> None:
    big = tmp_path / "scan.pdf"
    with big.open("wb") as file:
        file.write(b"%PDF-1.7\n")
        file.truncate(101 * MIB)  # sparse: no 101 MiB written to disk
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("ocr", {"source": str(big)})
    assert result.is_error and "101.0 MiB; the limit is 100.0 MiB" in _texts(result)[0], _texts(result)
    assert deepseek.requests == []


async def test_the_size_limit_is_the_providers_data_at_the_limit_sent_one_byte_more_refused(
    deepseek: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = png((60, 40))
    limit = len(image) + 100
    monkeypatch.setattr(tool_apis, "DEEPSEEK_OCR", dataclasses.replace(tool_apis.DEEPSEEK_OCR, max_bytes=limit))
    (tmp_path / "at.png").write_bytes(image + b"\0" * 100)  # PNG readers stop at IEND; the rest is padding
    (tmp_path / "over.png").write_bytes(image + b"\0" * 101)
    async with connect(make_settings(deepseek)) as client:
        at = await client.call_tool("ocr", {"source": str(tmp_path / "at.png")})
        over = await client.call_tool("ocr", {"source": str(tmp_path / "over.png")})
    assert not at.is_error and over.is_error and f"the limit is {limit:,} bytes" in _texts(over)[0]
    assert len(deepseek.tool_requests("ocr")) == 1


async def test_a_pdf_over_a_thousand_pages_is_refused_before_upload(deepseek: FakeUpstream, tmp_path: Path) -> None:
    import pypdfium2

    document = pypdfium2.PdfDocument.new()
    for _ in range(1001):
        document.new_page(72, 72).close()
    buffer = io.BytesIO()
    document.save(buffer)
    document.close()
    (tmp_path / "huge.pdf").write_bytes(buffer.getvalue())
    async with connect(make_settings(deepseek)) as client:
        refused = await client.call_tool("ocr", {"source": str(tmp_path / "huge.pdf")})
        chosen = await client.call_tool("ocr", {"source": str(tmp_path / "huge.pdf"), "pages": "1000-1001"})
    assert refused.is_error and "1001 pages, more than the 1000" in _texts(refused)[0]
    assert not chosen.is_error and [p["page"] for p in chosen.structured_content["pages"]] == [1000, 1001]  # type: ignore[index]
    assert len(deepseek.tool_requests("ocr")) == 1


async def test_a_page_cut_at_the_output_limit_is_flagged_in_the_structured_result_and_the_content(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "two.pdf").write_bytes(pdf(60, 60))
    deepseek.script(Reply(length_pages=[1]))
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "two.pdf")})
    out = result.structured_content
    assert out is not None and [p["finish_reason"] for p in out["pages"]] == ["stop", "length"]
    assert out["notices"] == [
        "the text of page 2 stopped at the output limit (finish_reason=length): it may be incomplete"
    ]
    assert _texts(result)[-1] == out["notices"][0] and result.content[-1].meta == {"deepseek-mcp/kind": "notice"}


@pytest.mark.parametrize("reply", [Reply(ocr_box_tag="box"), Reply(strip_special_tokens=True)])
async def test_box_markers_of_either_kind_and_tag_stripped_output_give_the_same_boxes(
    deepseek: FakeUpstream, tmp_path: Path, reply: Reply
) -> None:
    (tmp_path / "a.png").write_bytes(png((999, 999)))
    deepseek.script(reply)
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("ocr", {"source": str(tmp_path / "a.png")})
    boxes = result.structured_content["pages"][0]["boxes"]  # type: ignore[index]
    assert [b["bbox"] for b in boxes] == [[115, 165, 465, 201], [575, 179, 880, 216]]
    assert "<|" not in _texts(result)[0] and "[[" not in _texts(result)[0]


async def test_keep_alive_newlines_are_life_and_drive_progress(deepseek: FakeUpstream, tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png())
    deepseek.script(Reply(keepalives=5, keepalive_interval=0.4))
    seen: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        seen.append((value, message))

    # 2 s of newlines and no answer, against 1 s of silence allowed: the newlines keep the call alive.
    async with connect(make_settings(deepseek, timeout=1.0)) as client:
        with anyio.fail_after(10):
            result = await client.call_tool("ocr", {"source": str(tmp_path / "a.png")}, progress_callback=on_progress)
    assert not result.is_error, _texts(result)
    values = [v for v, _ in seen]
    assert len(seen) >= 3 and values == sorted(values) and all("waiting" in (m or "") for _, m in seen)


async def test_a_408_and_a_413_are_explained_in_the_apis_own_limits_and_an_upload_timeout_is_not_retried(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(png())
    deepseek.script(Reply(status=408), Reply(status=413))
    async with connect(make_settings(deepseek)) as client:
        timed_out = await client.call_tool("ocr", {"source": str(tmp_path / "a.png")})
        too_large = await client.call_tool("ocr", {"source": str(tmp_path / "a.png")})
        fine = await client.call_tool("ocr", {"source": str(tmp_path / "a.png")})
    assert timed_out.is_error and "within the 120 s the OCR API allows" in _texts(timed_out)[0]
    assert too_large.is_error and "over the 100 MiB the OCR API takes" in _texts(too_large)[0]
    assert not fine.is_error and len(deepseek.tool_requests("ocr")) == 3  # one attempt each


async def test_an_ocr_api_that_only_sends_newlines_is_abandoned_at_its_own_time_limit(
    deepseek: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick = dataclasses.replace(tool_apis.DEEPSEEK_OCR, total_seconds=0.4, grace_seconds=0.2)
    monkeypatch.setattr(tool_apis, "DEEPSEEK_OCR", quick)
    (tmp_path / "a.png").write_bytes(png())
    deepseek.script(Reply(keepalives=50, keepalive_interval=0.1))
    async with connect(make_settings(deepseek)) as client:
        with anyio.fail_after(5):
            result = await client.call_tool("ocr", {"source": str(tmp_path / "a.png")})
    assert result.is_error and "no answer within 0.6 s (it allows 0.4 s per file" in _texts(result)[0]
    assert deepseek.wait_for(lambda f: f.tool_requests("ocr")[0].client_disconnected)


@pytest.mark.parametrize(
    ("body", "says"),
    [(b'{"pages": "none"}', "unknown shape"), (b'\n{"pages": [{"index": "0", "text": 1}]}', "malformed page")],
)
async def test_an_answer_of_another_shape_is_an_error_naming_deepseek(
    deepseek: FakeUpstream, tmp_path: Path, body: bytes, says: str
) -> None:
    (tmp_path / "a.png").write_bytes(png())
    deepseek.script(Reply(body=body, path="/v1/tools/ocr"))
    async with connect(make_settings(deepseek)) as client:
        bad = await client.call_tool("ocr", {"source": str(tmp_path / "a.png")})
        good = await client.call_tool("ocr", {"source": str(tmp_path / "a.png")})
    assert bad.is_error and "ocr: DeepSeek: " in _texts(bad)[0] and says in _texts(bad)[0]
    assert not good.is_error


async def test_a_data_url_and_base64_go_to_the_ocr_api_too(deepseek: FakeUpstream) -> None:
    import base64

    jpeg = encode(drawn((200, 100)), "JPEG")
    sources = ["data:image/jpeg;base64," + base64.b64encode(jpeg).decode(), base64.b64encode(jpeg).decode()]
    async with connect(make_settings(deepseek)) as client:
        results = [await client.call_tool("ocr", {"source": source}) for source in sources]
    assert [r.is_error for r in results] == [False, False]
    assert [_form(r)["file"].data for r in deepseek.tool_requests("ocr")] == [jpeg, jpeg]
    assert results[0].structured_content["pages"][0]["width"] == 200  # type: ignore[index]


async def test_native_ocr_over_the_installed_stdio_server(deepseek: FakeUpstream, tmp_path: Path) -> None:
    (tmp_path / "three.pdf").write_bytes(pdf(100, 150, 200, width=100))
    (tmp_path / "shot.png").write_bytes(png((300, 200)))
    (tmp_path / "notes.docx").write_bytes(docx("alpha", "beta"))
    with (tmp_path / "huge.pdf").open("wb") as file:
        file.write(b"%PDF-1.7\n")
        file.truncate(101 * MIB)
    with (tmp_path / "stderr.txt").open("w") as err:
        async with Client(stdio_client(server_params(upstream_env(deepseek)), errlog=err)) as client:
            whole = await client.call_tool("ocr", {"source": str(tmp_path / "three.pdf")})
            image = await client.call_tool("ocr", {"source": str(tmp_path / "shot.png")})
            chosen = await client.call_tool("ocr", {"source": str(tmp_path / "three.pdf"), "pages": "3"})
            word = await client.call_tool("ocr", {"source": str(tmp_path / "notes.docx"), "mode": "text"})
            before = len(deepseek.requests)
            huge = await client.call_tool("ocr", {"source": str(tmp_path / "huge.pdf")})
            after = len(deepseek.requests)
    assert [r.is_error for r in (whole, image, chosen, word, huge)] == [False, False, False, False, True]
    assert [p["page"] for p in whole.structured_content["pages"]] == [1, 2, 3]  # type: ignore[index]
    assert image.structured_content["pages"][0]["boxes"][0]["bbox"] == [
        _px(115, 300),
        _px(165, 200),
        _px(465, 300),
        _px(201, 200),
    ]  # type: ignore[index]
    assert [p["page"] for p in chosen.structured_content["pages"]] == [3]  # type: ignore[index]
    assert _pdf_page_sizes(_form(deepseek.tool_requests("ocr")[2])["file"].data) == [(100, 200)]
    assert [p["markdown"] for p in word.structured_content["pages"]] == ["alpha", "beta"]  # type: ignore[index]
    assert {r.structured_content["route"] for r in (whole, image, chosen, word)} == {"ocr_api"}  # type: ignore[index]
    assert "100.0 MiB" in _texts(huge)[0] and after == before == 4
    assert whole.structured_content["cost"]["usd"] == pytest.approx(3 * pricing.OCR_API_PER_PAGE)  # type: ignore[index]
