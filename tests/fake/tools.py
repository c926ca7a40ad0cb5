"""DeepSeek's tool APIs in the fake (WIRE.md §13, checked against api-docs.deepseek.com's guides/ocr, api/search
and api/fetch): validation and refusals as documented, answers shaped like the documented examples.

REPORTED shapes are knobs rather than fixed behaviour: the OCR API's box markers (`<|det|>` as DeepSeek-OCR
writes them, or `<|box|>` as the OCR guide's example shows), pages cut at the output limit, keep-alive newlines.
"""

from __future__ import annotations

import ipaddress
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from tests.fake.documents import Unsupported, Uploaded, recognise
from tests.fake.multipart import FormError, Part, parse_form

PURPOSES = ("text_recognition", "rich_layout_recognition")
OCR_FIELDS = ("file", "purpose")
MAX_QUERY_CHARS = 128
MAX_URL_CHARS = 8192


class Refusal(Exception):
    """An error answer: HTTP status and message, in the flavour's envelope."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Knobs(Protocol):
    """The fields of the fake's `Reply` these endpoints read."""

    content: str | None
    title: str | None
    results: list[dict[str, Any]] | None
    ocr_box_tag: str
    length_pages: list[int]
    strip_special_tokens: bool


@dataclass
class OcrLimits:
    max_bytes: int = 100 * 1024 * 1024
    max_pages: int = 1000


# --- OCR ---------------------------------------------------------------------------------------------------------


def ocr(content_type: str, body: bytes, knobs: Knobs, limits: OcrLimits) -> dict[str, Any]:
    """POST /v1/tools/ocr: exactly `file` (with a file name) and `purpose`; anything else is a 400."""
    if len(body) > limits.max_bytes:
        raise Refusal(413, f"File too large: the limit is {limits.max_bytes // 2**20} MiB")
    try:
        parts = parse_form(content_type, body)
    except FormError as exc:
        raise Refusal(400, str(exc)) from None
    fields = _fields(parts)
    purpose = fields["purpose"].data.decode("utf-8", errors="replace")
    if purpose not in PURPOSES:
        raise Refusal(
            400, f"Invalid purpose `{purpose[:40]}`: expected `text_recognition` or `rich_layout_recognition`"
        )
    upload = fields["file"]
    if not upload.filename:
        raise Refusal(400, "The `file` field must be sent with a file name")
    if len(upload.data) > limits.max_bytes:
        raise Refusal(413, f"File too large: the limit is {limits.max_bytes // 2**20} MiB")
    try:
        document = recognise(upload.data)
    except Unsupported as exc:
        raise Refusal(400, str(exc)) from None
    if len(document.pages) > limits.max_pages:
        raise Refusal(400, f"The file has {len(document.pages)} pages; at most {limits.max_pages} are accepted")
    pages = [_page(index, document, purpose, knobs) for index in range(len(document.pages))]
    output = sum(len(p["text"].split()) for p in pages)
    return {
        "id": f"ocr-{uuid.uuid4()}",
        "object": "ocr.result",
        "created": int(time.time()),
        "purpose": purpose,
        "page_count": len(pages),
        "pages": pages,
        "usage": {"input_tokens": 256 * len(pages), "output_tokens": output, "total_tokens": 256 * len(pages) + output},
    }


def _fields(parts: list[Part]) -> dict[str, Part]:
    found: dict[str, Part] = {}
    for part in parts:
        if part.name not in OCR_FIELDS:
            raise Refusal(400, f"Unknown field `{part.name[:40]}`: only `file` and `purpose` are accepted")
        if part.name in found:
            raise Refusal(400, f"The field `{part.name}` was sent twice")
        found[part.name] = part
    for name in OCR_FIELDS:
        if name not in found:
            raise Refusal(400, f"missing field `{name}`")
    return found


_RECOGNISED = "Computational and Data Science"  # what the fake "reads" on a page it cannot read (as the chat OCR)


def _page(index: int, document: Uploaded, purpose: str, knobs: Knobs) -> dict[str, Any]:
    page = document.pages[index]
    body = page.text or _RECOGNISED
    if knobs.content is not None:
        text = knobs.content
    elif purpose == "text_recognition":
        direct = document.kind in ("docx", "pptx") and not document.has_images and page.text is not None
        text = page.text if direct and page.text is not None else f"{page.ident}\n\n{body}"
    else:
        tag = knobs.ocr_box_tag
        text = (
            f"<|ref|>title<|/ref|><|{tag}|>[[115, 165, 465, 201]]<|/{tag}|>\n# {page.ident}\n\n"
            f"<|ref|>text<|/ref|><|{tag}|>[[575, 179, 880, 216]]<|/{tag}|>\n{body}\n"
        )
    if knobs.strip_special_tokens:
        text = text.replace("<|ref|>", "").replace("<|/ref|>", "")
        text = text.replace(f"<|{knobs.ocr_box_tag}|>", "").replace(f"<|/{knobs.ocr_box_tag}|>", "")
    finish = "length" if index in knobs.length_pages else "stop"
    return {"index": index, "text": text, "finish_reason": finish}


# --- Search and Fetch --------------------------------------------------------------------------------------------


def search(body: bytes, knobs: Knobs) -> dict[str, Any]:
    """POST /v1/tools/search (api-docs.deepseek.com/api/search): unknown fields ignored, no `model`."""
    request = _object(body)
    query = request.get("query")
    if query is None:
        raise Refusal(400, "missing field `query`")
    if not isinstance(query, str) or not 1 <= len(query) <= MAX_QUERY_CHARS or not query.strip():
        raise Refusal(400, "`query` must be 1 to 128 characters and not only whitespace")
    count = request.get("count", 10)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 50:
        raise Refusal(400, "`count` must be an integer from 1 to 50")
    need_content = request.get("need_content", False)
    if not isinstance(need_content, bool):
        raise Refusal(400, "`need_content` must be a boolean")
    question = request.get("ori_question")
    if question is not None and (not isinstance(question, str) or not 1 <= len(question) <= MAX_QUERY_CHARS):
        raise Refusal(400, "`ori_question` must be 1 to 128 characters")
    _check_localization(request.get("localization"))
    if knobs.results is not None:
        return {"results": knobs.results}
    return {"results": [_result(query, n, need_content) for n in range(1, count + 1)]}


def _check_localization(value: Any) -> None:
    # The end user's IP address, not a locale: "en-US" is a 400 (WIRE.md §13, gateways' docs).
    if value is None:
        return
    try:
        ipaddress.ip_address(value if isinstance(value, str) else "")
    except ValueError:
        raise Refusal(400, "`localization` must be the end user's IP address (such as 8.8.8.8), not a locale") from None


def _result(query: str, n: int, need_content: bool) -> dict[str, Any]:
    slug = "-".join(query.lower().split())[:40]
    return {
        "rerank_score": round(2.9 - 0.1 * n, 2),
        "title": f"Result {n} for {query}",
        "url": f"https://example.com/{slug}/{n}",
        "snippet": f"Snippet {n}: a short summary of a page about {query}.",
        "summary": f"Summary {n}: a longer summary of a page about {query}, written for a model to judge it by.",
        "content": f"# Result {n}\n\nThe page about {query}, as Markdown." if need_content else "",
        "site_name": f"Example {n}",
        "site_icon": "https://example.com/favicon.ico",
        "date": "2026-10-20T08:00:00+00:00",
        "authority": 3,
    }


def fetch(body: bytes, knobs: Knobs) -> dict[str, Any]:
    """POST /v1/tools/fetch (api-docs.deepseek.com/api/fetch): an http(s) URL with a host, no user or password."""
    request = _object(body)
    url = request.get("url")
    if url is None:
        raise Refusal(400, "missing field 'url'")
    if not isinstance(url, str) or not _fetchable(url):
        raise Refusal(400, "'url' must be a valid HTTP or HTTPS URL")
    host = urlsplit(url).hostname or ""
    title = knobs.title if knobs.title is not None else f"Page at {host}"
    content = knobs.content if knobs.content is not None else f"# {title}\n\nThe body of {url}, as Markdown."
    return {"title": title, "content": content}


def _fetchable(url: str) -> bool:
    if not 1 <= len(url) <= MAX_URL_CHARS:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.username is None


def _object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        raise Refusal(400, "Failed to deserialize the JSON body") from None
    if not isinstance(parsed, dict):
        raise Refusal(400, "Failed to deserialize the JSON body: expected an object")
    return parsed
