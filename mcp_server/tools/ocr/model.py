"""What `ocr` returns, whichever route read the document: per-page markdown and boxes, the route, usage and cost."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from mcp_server.tools.common import CostOut, UsageOut

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
    # Pages not inline (ocr_parts.py): `parts_uri` with {part} = 1, 2, ... for each [first, last] page range.
    parts_uri: str | None = None
    parts: list[tuple[int, int]] = []
