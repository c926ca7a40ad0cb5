"""`ocr` through DeepSeek's OCR API (WIRE.md §13): the file itself is uploaded (`file` and `purpose`, nothing else),
DeepSeek recognises it page by page, writes newlines while it works and answers with every page in one JSON body.

The limits the API states are checked before a byte is sent where they can be (size, PDF page count); the 180 s it
allows in all is enforced here too, since its keep-alive newlines would otherwise hold a call open indefinitely.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from mcp.types import CallToolResult

from mcp_server.media.pages import parse_pages
from mcp_server.serving.app import ToolContext, app_of, reporter_for
from mcp_server.spending import pricing
from mcp_server.tools.common import CostOut, UsageOut, charged
from mcp_server.tools.ocr.model import OcrOutput, PageOut
from mcp_server.tools.ocr.parts import Split, answers_limiter, keep
from mcp_server.tools.ocr.results import finish, ocr_result, page_out
from mcp_server.upstream.client import Upload
from mcp_server.upstream.completion import Usage
from mcp_server.upstream.errors import APIStatusError, UpstreamError
from mcp_server.upstream.providers import Provider
from mcp_server.upstream.tool_apis import OcrApi

if TYPE_CHECKING:
    from mcp_server.media import Document
    from mcp_server.serving.progress import ProgressReporter


@dataclass(frozen=True)
class RawPage:
    index: int  # 0-based, in upload order
    text: str
    finish_reason: str | None


async def read_with_ocr_api(
    ctx: ToolContext, provider: Provider, mode: str, source: str, pages: str | None, include_boxes: bool | None
) -> CallToolResult:
    """Upload `source` to the provider's OCR API and return its pages as `ocr` results."""
    from mcp_server import media

    app = app_of(ctx)
    api = provider.ocr_api
    purpose = api.purpose(mode) if api is not None else None
    assert api is not None and purpose is not None  # routing chose this provider for this mode
    opening = media.open_document(
        source,
        pages=pages,
        max_bytes=api.max_bytes,
        max_pages=api.max_pages,
        base_dir=Path.cwd(),
        files=app.files,
        renderer=app.renderer(),
    )
    document = await opening  # its reading and sniffing hold threads of the caller's share (core/threads.py)
    boxes = include_boxes if include_boxes is not None else mode == "markdown"
    held = pricing.ocr_pages(_most_pages(document, api.max_pages)).usd
    try:
        # Held like every tool's estimate before a byte is sent, and settled with the pages the API read.
        async with charged(ctx, "ocr", held) as hold:
            reporter = reporter_for(ctx, "ocr")
            async with reporter.running():
                body = await _upload(ctx, provider, api, purpose, document, reporter)
            document.close()
            # A 1,000-page answer with hundreds of boxes a page takes seconds to parse and serialise: never on the
            # event loop, where it would hold up every other call, and one answer at a time (answers_limiter).
            work = functools.partial(_answer, body, provider, purpose, document, boxes, api.max_pages)
            try:
                out, split = await anyio.to_thread.run_sync(work, limiter=answers_limiter(app))
            except UpstreamError:
                await hold.settle(held)  # answered, so billed: its pages cannot be counted, the estimate stands
                raise
            await hold.settle(out.cost.usd)
    finally:
        document.close()
    del body
    result, ranges = keep(ctx, split, out.notices)
    return ocr_result(out, document.kind in ("pdf", "docx", "pptx"), result, ranges)


def _most_pages(document: Document, max_pages: int) -> int:
    """The pages the API will read and bill: known for a PDF or an image; for a Word or PowerPoint file only the
    API counts them, so its limit is held until the answer says."""
    return len(document.numbers) if document.numbers is not None else max_pages


def _answer(
    body: Any, provider: Provider, purpose: str, document: Document, boxes: bool, max_pages: int
) -> tuple[OcrOutput, Split]:
    """The answer's pages as `ocr` output, split into the inline pages and parts (runs in a worker thread)."""
    raw, usage = _parse(body, provider)
    pages, notices = _pages(raw, document, boxes, max_pages)
    out = OcrOutput(
        pages=[],
        route="ocr_api",
        model=purpose,
        provider=provider.name,
        usage=UsageOut.of(usage),
        cost=CostOut.from_cost(pricing.ocr_pages(len(raw))),
        notices=document.notes + notices,
    )
    return finish(out, pages)


async def _upload(
    ctx: ToolContext, provider: Provider, api: OcrApi, purpose: str, document: Document, reporter: ProgressReporter
) -> Any:
    upload = Upload("file", document.filename, document.upload, document.mime)
    url = provider.root_url(api.path)
    limit = api.total_seconds + api.grace_seconds
    try:
        with anyio.fail_after(limit):
            return await app_of(ctx).upstream.post_form(
                provider, url, {"purpose": purpose}, upload, observer=reporter, on_retry=reporter.notice
            )
    except TimeoutError:
        raise UpstreamError(
            f"the OCR API gave no answer within {limit:g} s (it allows {api.total_seconds:g} s per file, upload "
            "included), so the call was abandoned; send fewer pages at once with `pages`.",
            origin=provider.origin,
        ) from None
    except APIStatusError as exc:
        raise _explained(exc, api, document) from None


def _explained(exc: APIStatusError, api: OcrApi, document: Document) -> UpstreamError:
    """408 and 413 in the words of the OCR API's own limits; other errors as the client classified them."""
    if exc.status == 413:
        advice = f"the file is over the {api.max_bytes // 2**20} MiB the OCR API takes; send fewer pages with `pages`"
    elif exc.status == 408:
        advice = (
            f"the {document.size / 2**20:.1f} MiB upload did not finish within the 120 s the OCR API allows; "
            "send fewer pages with `pages`, or try again on a faster connection"
        )
    else:
        return exc
    return APIStatusError(
        f"HTTP {exc.status}: {exc.upstream_message}: {advice}.",
        origin=exc.origin,
        status=exc.status,
        upstream_message=exc.upstream_message,
        request_id=exc.request_id,
    )


def _parse(body: Any, provider: Provider) -> tuple[list[RawPage], Usage]:
    """The pages of an answer, by index; an answer of any other shape is an error naming the provider."""
    items = body.get("pages") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise UpstreamError(
            "answered the OCR API in an unknown shape (no `pages` list); try again.", origin=provider.origin
        )
    raw: dict[int, RawPage] = {}
    for item in items:
        index = item.get("index") if isinstance(item, dict) else None
        text = item.get("text") if isinstance(item, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not isinstance(text, str):
            raise UpstreamError("answered the OCR API with a malformed page; try again.", origin=provider.origin)
        finish = item.get("finish_reason")
        raw[index] = RawPage(index, text, finish if isinstance(finish, str) else None)
    return [raw[i] for i in sorted(raw)], _usage(body.get("usage"))


def _usage(raw: Any) -> Usage:
    # The OCR API reports input/output tokens "for reference, not billing"; the cost is per page.
    fields = raw if isinstance(raw, dict) else {}
    numbers = {k: v for k, v in fields.items() if isinstance(v, int) and not isinstance(v, bool) and v >= 0}
    tokens_in, tokens_out = numbers.get("input_tokens", 0), numbers.get("output_tokens", 0)
    total = numbers.get("total_tokens", tokens_in + tokens_out)
    return Usage(prompt_tokens=tokens_in, completion_tokens=tokens_out, cache_miss_tokens=tokens_in, total_tokens=total)


def _pages(raw: list[RawPage], document: Document, boxes: bool, max_pages: int) -> tuple[Iterator[PageOut], list[str]]:
    """Each answered page under its page number, with boxes in its frame's pixels, made one at a time as the
    iterator is read; notices for what did not map."""
    numbered: list[tuple[int, RawPage]] = []
    notices: list[str] = []
    sent = document.numbers
    for page in raw:
        if sent is None:
            numbered.append((page.index + 1, page))
        elif 0 <= page.index < len(sent):
            numbered.append((sent[page.index], page))
    if sent is not None and len(numbered) != len(sent):
        notices.append(f"the OCR API answered {len(numbered)} of the {len(sent)} pages sent")
    if document.selection is not None:
        numbered, remark = _selected(numbered, document.selection, max_pages)
        notices.append(remark)
    single = document.kind not in ("pdf", "docx", "pptx")
    out = (
        page_out(None if single else n, p.text, document.sizes.get(n), document.sizes.get(n), boxes, p.finish_reason)
        for n, p in numbered
    )
    return out, notices


def _selected(
    numbered: list[tuple[int, RawPage]], selection: str, max_pages: int
) -> tuple[list[tuple[int, RawPage]], str]:
    """A Word or PowerPoint file's `pages`, applied to the answer: the API reads (and bills) every page."""
    wanted = set(parse_pages(selection, max_pages, max_pages))
    kept = [(n, p) for n, p in numbered if n in wanted]
    remark = (
        f"`pages` was applied to the answer: the OCR API read (and bills) all {len(numbered)} pages of a Word or "
        "PowerPoint file"
    )
    missing = sorted(wanted - {n for n, _ in numbered})
    if missing:
        remark += f"; pages {_ranges(missing)} are not in it"
    return kept, remark


def _ranges(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")
