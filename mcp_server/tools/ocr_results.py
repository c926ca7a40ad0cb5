"""What `ocr` returns, whichever route read the document: per-page markdown and boxes, the route, usage and cost."""

from __future__ import annotations

from typing import Literal

from mcp.types import CallToolResult, ContentBlock
from pydantic import BaseModel

from .common import CostOut, UsageOut, block, notice_blocks

# ocr_api: DeepSeek's OCR API read the file itself; deepseek_ocr: DeepSeek-OCR through chat, page images sent
# (Atlas Cloud, a self-hosted server); vision: a general vision model asked for the same output.
OcrRoute = Literal["ocr_api", "deepseek_ocr", "vision"]


class BoxOut(BaseModel):
    label: str
    text: str
    bbox: tuple[int, int, int, int]


class PageOut(BaseModel):
    page: int | None
    markdown: str
    boxes: list[BoxOut]
    width: int | None  # pixels of the frame the boxes are in: the image sent, or a PDF page at 144 dpi
    height: int | None
    original_width: int | None  # pixels of the page or image given, to map boxes back onto it
    original_height: int | None
    boxes_normalized: bool
    boxes_dropped: int  # past the cap of grounding.MAX_BOXES per page
    finish_reason: str | None


class OcrOutput(BaseModel):
    pages: list[PageOut]
    route: OcrRoute
    model: str
    provider: str
    usage: UsageOut
    cost: CostOut
    notices: list[str]


def page_out(
    number: int | None,
    raw: str,
    frame: tuple[int, int] | None,
    original: tuple[int, int] | None,
    boxes: bool,
    finish_reason: str | None,
) -> PageOut:
    """One page from the model's raw text: grounding markers parsed into boxes in `frame`'s pixels (0-999 without)."""
    from mcp_server import grounding

    parsed = grounding.parse(raw, *(frame or (None, None)))
    found = [BoxOut(label=b.label, text=b.text, bbox=b.bbox) for b in parsed.boxes] if boxes else []
    return PageOut(
        page=number,
        markdown=parsed.markdown,
        boxes=found,
        width=frame[0] if frame else None,
        height=frame[1] if frame else None,
        original_width=original[0] if original else None,
        original_height=original[1] if original else None,
        boxes_normalized=parsed.normalized,
        boxes_dropped=parsed.dropped if boxes else 0,
        finish_reason=finish_reason,
    )


def _where(page: PageOut) -> str:
    return f"page {page.page}" if page.page is not None else "the image"


def cut_notice(page: PageOut) -> str:
    return f"the text of {_where(page)} stopped at the output limit (finish_reason=length): it may be incomplete"


def ocr_result(out: OcrOutput, numbered: bool) -> CallToolResult:
    """The result: the pages' markdown as one document block (numbered pages for documents), notices after it."""
    out.notices += [cut_notice(page) for page in out.pages if page.finish_reason == "length"]
    out.notices += [
        f"{_where(p)}: {p.boxes_dropped} more layout boxes were left out" for p in out.pages if p.boxes_dropped
    ]
    if numbered:
        text = "\n\n".join(f"<!-- page {p.page} -->\n{p.markdown}" for p in out.pages)
    else:
        text = out.pages[0].markdown if out.pages else ""
    content: list[ContentBlock] = [block(text, "document"), *notice_blocks(out.notices)]
    return CallToolResult(content=content, structured_content=out.model_dump())
