"""The fake's OCR, Search and Fetch endpoints refuse and answer as DeepSeek's docs say (WIRE.md §13), so the tests
that drive the server against them prove something about the real wire."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.fake_upstream import FakeUpstream, Reply
from tests.samples import docx, pdf, png, pptx, xlsx


@pytest.fixture
def ds() -> Iterator[tuple[FakeUpstream, httpx2.Client]]:
    with (
        FakeUpstream("deepseek") as fake,
        httpx2.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {fake.api_key}"}, timeout=5) as c,
    ):
        yield fake, c


def _ocr(client: httpx2.Client, data: bytes, purpose: str = "rich_layout_recognition", **extra: Any) -> httpx2.Response:
    files = {"file": ("document.bin", data, "application/octet-stream")}
    return client.post("/v1/tools/ocr", data={"purpose": purpose, **extra}, files=files)


def _message(response: httpx2.Response) -> str:
    return str(response.json()["error"]["message"])


def test_the_ocr_api_answers_every_page_in_order_after_keep_alive_newlines(
    ds: tuple[FakeUpstream, httpx2.Client],
) -> None:
    fake, client = ds
    fake.script(Reply(keepalives=3))
    response = _ocr(client, pdf(100, 150, 200, width=200))
    assert response.status_code == 200 and response.content.startswith(b"\n\n\n{")
    body = response.json()
    assert body["object"] == "ocr.result" and body["purpose"] == "rich_layout_recognition"
    assert body["page_count"] == 3 and [p["index"] for p in body["pages"]] == [0, 1, 2]
    assert "<|ref|>title<|/ref|><|det|>[[115, 165, 465, 201]]<|/det|>" in body["pages"][0]["text"]
    assert "page 2 of 3, 200x150 pt" in body["pages"][1]["text"]
    assert {p["finish_reason"] for p in body["pages"]} == {"stop"}
    assert set(body["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}


def test_the_ocr_api_knobs_give_box_markers_and_pages_cut_at_the_limit(ds: tuple[FakeUpstream, httpx2.Client]) -> None:
    fake, client = ds
    fake.script(Reply(ocr_box_tag="box", length_pages=[1]))
    pages = _ocr(client, pdf(50, 50)).json()["pages"]
    assert "<|box|>[[115, 165, 465, 201]]<|/box|>" in pages[0]["text"] and "<|det|>" not in pages[0]["text"]
    assert [p["finish_reason"] for p in pages] == ["stop", "length"]


def test_text_recognition_reads_a_word_file_without_images_directly(ds: tuple[FakeUpstream, httpx2.Client]) -> None:
    _, client = ds
    plain = _ocr(client, docx("first page", "second page"), "text_recognition").json()["pages"]
    assert [p["text"] for p in plain] == ["first page", "second page"]
    with_image = _ocr(client, docx("only page", image=True), "text_recognition").json()["pages"]
    assert with_image[0]["text"] == "docx page 1 of 1\n\nonly page"
    slides = _ocr(client, pptx("one", "two", "three")).json()
    assert slides["page_count"] == 3 and "# pptx page 3 of 3" in slides["pages"][2]["text"]


@pytest.mark.parametrize(
    ("send", "status", "says"),
    [
        (lambda c: _ocr(c, png(), model="x"), 400, "Unknown field `model`"),
        (
            lambda c: c.post("/v1/tools/ocr", files={"file": ("a.png", png(), "image/png")}),
            400,
            "missing field `purpose`",
        ),
        (
            lambda c: c.post("/v1/tools/ocr", data={"purpose": "text_recognition"}, files={"x": ("a", b"1")}),
            400,
            "Unknown field `x`",
        ),
        (lambda c: _ocr(c, png(), "markdown"), 400, "Invalid purpose"),
        (lambda c: c.post("/v1/tools/ocr", json={"purpose": "text_recognition"}), 400, "multipart/form-data"),
        (lambda c: _ocr(c, b"just some text"), 400, "Unsupported file type"),
        (lambda c: _ocr(c, xlsx()), 400, "other than Word or PowerPoint"),
        (
            lambda c: c.post(
                "/v1/tools/ocr", data={"purpose": "text_recognition"}, files={"file": ("", png(), "image/png")}
            ),
            400,
            "file name",
        ),
    ],
)
def test_the_ocr_api_refuses_every_other_form(
    ds: tuple[FakeUpstream, httpx2.Client], send: Any, status: int, says: str
) -> None:
    _, client = ds
    response = send(client)
    assert response.status_code == status and says in _message(response), response.text


def test_the_ocr_api_answers_413_past_its_size_limit_and_408_and_413_as_knobs(
    ds: tuple[FakeUpstream, httpx2.Client],
) -> None:
    fake, client = ds
    fake.ocr_limits.max_bytes = 1000
    assert _ocr(client, png((400, 400))).status_code == 413
    fake.ocr_limits.max_bytes = 100 * 2**20
    fake.script(Reply(status=408), Reply(status=413))
    timed_out, too_big = _ocr(client, png()), _ocr(client, png())
    assert (timed_out.status_code, too_big.status_code) == (408, 413)
    assert "120 seconds" in _message(timed_out) and "100 MiB" in _message(too_big)


def test_search_validates_like_the_real_one_and_ignores_unknown_fields(ds: tuple[FakeUpstream, httpx2.Client]) -> None:
    _, client = ds
    ok = client.post(
        "/v1/tools/search", json={"query": "ocr", "count": 2, "model": "ignored", "localization": "8.8.8.8"}
    )
    assert ok.status_code == 200 and len(ok.json()["results"]) == 2
    first = ok.json()["results"][0]
    assert set(first) == {
        "title",
        "url",
        "snippet",
        "summary",
        "content",
        "rerank_score",
        "authority",
        "date",
        "site_name",
        "site_icon",
    }
    assert first["content"] == ""
    for body, says in [
        ({"query": "ocr", "localization": "en-US"}, "IP address"),
        ({"query": "x" * 129}, "1 to 128"),
        ({"query": "   "}, "whitespace"),
        ({"query": "ocr", "count": 51}, "1 to 50"),
        ({"count": 3}, "missing field `query`"),
        ({"query": "ocr", "ori_question": ""}, "ori_question"),
    ]:
        response = client.post("/v1/tools/search", json=body)
        assert response.status_code == 400 and says in _message(response), (body, response.text)
    assert client.post("/v1/tools/search", json={"query": "中" * 128}).status_code == 200


def test_fetch_takes_only_an_http_url_with_a_host_and_no_credentials(ds: tuple[FakeUpstream, httpx2.Client]) -> None:
    _, client = ds
    page = client.post("/v1/tools/fetch", json={"url": "https://example.com/doc"}).json()
    assert page == {
        "title": "Page at example.com",
        "content": "# Page at example.com\n\nThe body of https://example.com/doc, as Markdown.",
    }
    assert _message(client.post("/v1/tools/fetch", json={})) == "missing field 'url'"
    for url in [
        "ftp://example.com/a",
        "https://user:pw@example.com/",
        "https://",
        "x" * 10,
        "https://a.b/" + "x" * 8192,
    ]:
        response = client.post("/v1/tools/fetch", json={"url": url})
        assert response.status_code == 400 and "valid HTTP or HTTPS URL" in _message(response), url


def test_the_tool_apis_need_the_key_and_are_recorded_for_tests(ds: tuple[FakeUpstream, httpx2.Client]) -> None:
    fake, client = ds
    denied = httpx2.post(f"{fake.base_url}/v1/tools/search", json={"query": "x"}, timeout=5)
    assert denied.status_code == 401
    client.post("/v1/tools/fetch", json={"url": "https://example.com/"})
    started = time.monotonic()
    assert fake.wait_for(lambda f: len(f.tool_requests("fetch")) == 1) and time.monotonic() - started < 5
    assert json.loads(fake.tool_requests("fetch")[0].body) == {"url": "https://example.com/"}
    assert len(fake.tool_requests("search")) == 1  # the refused one is recorded too
